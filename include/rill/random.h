// Random numbers from counter-based keys (Threefry-2x32). Explicit keys always
// give the same numbers; without a key, each thread draws from its own key
// sequence, seeded by random::seed on that thread or, unseeded, differently
// per thread.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill::random {

// A key (uint32, shape {2}) from a seed.
array key(uint64_t seed);

// Seeds the calling thread's implicit key sequence.
void seed(uint64_t seed);

// Random bits: uint8, uint16 or uint32 for width 1, 2 or 4, MLX's bits for
// the same key (so split and key derivation match MLX's). Throws
// std::invalid_argument for other widths.
array bits(const Shape& shape, int width = 4, const std::optional<array>& key = std::nullopt,
           StreamOrDevice s = {});

// Two new keys from one, or `num` keys stacked as shape {num, 2}.
std::pair<array, array> split(const array& key, StreamOrDevice s = {});
array split(const array& key, int num, StreamOrDevice s = {});

// Uniform in [low, high).
array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype = float32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
template <typename T, typename U>
array uniform(T low, U high, const Shape& shape, Dtype dtype = float32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return uniform(array(low), array(high), shape, dtype, key, s);
}
array uniform(const Shape& shape, Dtype dtype, const std::optional<array>& key = std::nullopt,
              StreamOrDevice s = {});
array uniform(const Shape& shape, const std::optional<array>& key = std::nullopt,
              StreamOrDevice s = {});

// Normal with mean `loc` and standard deviation `scale`.
array normal(const Shape& shape, Dtype dtype, float loc, float scale,
             const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
array normal(const Shape& shape, Dtype dtype, const std::optional<array>& key = std::nullopt,
             StreamOrDevice s = {});
array normal(const Shape& shape, float loc, float scale,
             const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
// loc and scale (either may be absent) broadcast to `shape`.
array normal(const Shape& shape, Dtype dtype, const std::optional<array>& loc,
             const std::optional<array>& scale, const std::optional<array>& key,
             StreamOrDevice s = {});

// Samples of N(mean, cov) (float32 only): mean [..., n] and cov [..., n, n]
// broadcast with `shape` to the batch, the result [batch..., n]. The
// covariance's square root comes from linalg::svd, so, as in MLX, the
// stream must be a CPU one.
array multivariate_normal(const array& mean, const array& cov, const Shape& shape, Dtype dtype,
                          const std::optional<array>& key = std::nullopt,
                          StreamOrDevice s = {});

// Integers drawn uniformly from [low, high) (broadcast to shape).
array randint(const array& low, const array& high, const Shape& shape, Dtype dtype = int32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
template <typename T, typename U>
array randint(T low, U high, const Shape& shape, Dtype dtype = int32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return randint(array(low), array(high), shape, dtype, key, s);
}

// true with probability p (floating, broadcast to shape; 0.5 without one).
// As in MLX, bernoulli(key) takes the key as p: the keyed draw with p = 0.5
// is bernoulli(std::optional<array>(key)).
array bernoulli(const array& p, const Shape& shape, const std::optional<array>& key = std::nullopt,
                StreamOrDevice s = {});
array bernoulli(const array& p, const std::optional<array>& key = std::nullopt,
                StreamOrDevice s = {});
template <typename T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
array bernoulli(T p, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return bernoulli(array(p), key, s);
}
template <typename T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
array bernoulli(T p, const Shape& shape, const std::optional<array>& key = std::nullopt,
                StreamOrDevice s = {}) {
  return bernoulli(array(p), shape, key, s);
}
array bernoulli(const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

// Standard normal values restricted to [lower, upper].
array truncated_normal(const array& lower, const array& upper, const Shape& shape,
                       Dtype dtype = float32, const std::optional<array>& key = std::nullopt,
                       StreamOrDevice s = {});
array truncated_normal(const array& lower, const array& upper, Dtype dtype = float32,
                       const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

// The standard Gumbel distribution.
array gumbel(const Shape& shape, Dtype dtype = float32,
             const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

// Indices drawn from the categorical distributions of unnormalised log
// probabilities along `axis` (uint32): of `shape` (the other axes of logits
// broadcast to it), `num_samples` per distribution, or one.
array categorical(const array& logits, int axis, const Shape& shape,
                  const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
array categorical(const array& logits, int axis, int num_samples,
                  const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
array categorical(const array& logits, int axis = -1,
                  const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

// The Laplace distribution.
array laplace(const Shape& shape, Dtype dtype, const float loc, const float scale,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
inline array laplace(const Shape& shape, const float loc, const float scale,
                     const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return laplace(shape, float32, loc, scale, key, s);
}
inline array laplace(const Shape& shape, const Dtype dtype,
                     const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return laplace(shape, dtype, 0.0f, 1.0f, key, s);
}
inline array laplace(const Shape& shape, const std::optional<array>& key = std::nullopt,
                     StreamOrDevice s = {}) {
  return laplace(shape, float32, 0.0f, 1.0f, key, s);
}

// x shuffled along `axis`; or a random order of 0 .. x - 1.
array permutation(const array& x, int axis = 0, const std::optional<array>& key = std::nullopt,
                  StreamOrDevice s = {});
array permutation(int x, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
array normal(const Shape& shape, const std::optional<array>& key = std::nullopt,
             StreamOrDevice s = {});

}  // namespace rill::random
