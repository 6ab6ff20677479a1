// Random numbers from counter-based keys (Threefry-2x32). Explicit keys always
// give the same numbers; without a key, each thread draws from its own key
// sequence, seeded by random::seed on that thread or, unseeded, differently
// per thread.
#pragma once

#include <optional>
#include <utility>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill::random {

// A key (uint32, shape {2}) from a seed.
array key(uint64_t seed);

// Seeds the calling thread's implicit key sequence.
void seed(uint64_t seed);

// Random bits: uint32 for width 4, uint8 for 1 (and raw uint32 words for 2,
// stored as the low 16 bits). Throws std::invalid_argument for other widths.
array bits(const Shape& shape, int width = 4, const std::optional<array>& key = std::nullopt,
           StreamOrDevice s = {});

// Two new keys from one, or `num` keys stacked as shape {num, 2}.
std::pair<array, array> split(const array& key, StreamOrDevice s = {});
array split(const array& key, int num, StreamOrDevice s = {});

// Uniform in [low, high).
array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype = float32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
array uniform(const Shape& shape, Dtype dtype, const std::optional<array>& key = std::nullopt,
              StreamOrDevice s = {});
array uniform(const Shape& shape, const std::optional<array>& key = std::nullopt,
              StreamOrDevice s = {});

// Normal with mean `loc` and standard deviation `scale`.
array normal(const Shape& shape, Dtype dtype, float loc, float scale,
             const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
array normal(const Shape& shape, Dtype dtype, const std::optional<array>& key = std::nullopt,
             StreamOrDevice s = {});
array normal(const Shape& shape, const std::optional<array>& key = std::nullopt,
             StreamOrDevice s = {});

}  // namespace rill::random
