// Random numbers: keys, the per-thread implicit key sequence, and the ops that
// turn Threefry-2x32 bits into distributions.
#include "rill/random.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <type_traits>

#include "core/dispatch.h"
#include "core/format.h"
#include "common/threefry.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill::random {

using detail::cat;
using detail::tuple_str;

namespace {

// Fills out (uint8, uint16 or uint32 for widths 1, 2, 4) with MLX's bits
// under the key in input 0 (common/threefry.h).
class RandomBits : public detail::Primitive {
 public:
  explicit RandomBits(int width) : width_(width) {}
  const char* name() const override { return "bits"; }
  void eval(const detail::Kernels& k, const std::vector<array>& in,
            detail::Node& out) override {
    k.random_bits(detail::node_of(in[0]), width_, out);
  }

 private:
  int width_;
};

// uniform and normal, drawn straight into their floating output (no array of
// words or of float32 in between), two numbers per Threefry counter
// (common/threefry.h, random_pair); lo and hi are float32 scalars in inputs
// 1 and 2, or 0 and 1 without them.
class RandomFloats : public detail::Primitive {
 public:
  RandomFloats(bool normal, double scale, double loc)
      : normal_(normal), scale_(scale), loc_(loc) {}
  const char* name() const override { return normal_ ? "normal" : "uniform"; }
  void eval(const detail::Kernels& k, const std::vector<array>& in,
            detail::Node& out) override {
    k.random_floats(detail::node_of(in[0]), in.size() > 2 ? &detail::node_of(in[1]) : nullptr,
                    in.size() > 2 ? &detail::node_of(in[2]) : nullptr, normal_, scale_, loc_,
                    out);
  }

 private:
  bool normal_;
  double scale_, loc_;
};

// The calling thread's implicit key sequence.
struct KeySequence {
  uint64_t seed;
  uint64_t counter = 0;
};

uint64_t fresh_seed() {
  // Distinct per thread even when threads start at the same instant.
  static std::atomic<uint64_t> threads{0};
  uint64_t n = threads.fetch_add(1, std::memory_order_relaxed);
  uint64_t t = static_cast<uint64_t>(
      std::chrono::high_resolution_clock::now().time_since_epoch().count());
  return t ^ (n * 0x9E3779B97F4A7C15ull) ^ std::random_device{}();
}

KeySequence& thread_sequence() {
  thread_local KeySequence seq{fresh_seed()};
  return seq;
}

array next_key() {
  KeySequence& seq = thread_sequence();
  uint32_t a, b;
  detail::threefry_at(static_cast<uint32_t>(seq.seed), static_cast<uint32_t>(seq.seed >> 32),
                      seq.counter, a, b);
  ++seq.counter;
  uint32_t k[2] = {a, b};
  return array(std::vector<uint32_t>(k, k + 2), {2}, uint32);
}

array check_key(const std::optional<array>& key, const char* op) {
  if (!key) return next_key();
  if (key->dtype() != uint32 || key->shape() != Shape{2}) {
    throw std::invalid_argument(cat("[", op, "] a key is a uint32 array of shape (2,), got ",
                                    key->dtype(), " of shape ", tuple_str(key->shape()), "."));
  }
  return *key;
}

void check_shape(const Shape& shape, const char* op) {
  for (int32_t d : shape) {
    if (d < 0) {
      throw std::invalid_argument(cat("[", op, "] negative dimension in shape ",
                                      tuple_str(shape), "."));
    }
  }
}

}  // namespace

array key(uint64_t seed) {
  uint32_t k[2] = {static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed)};
  return array(std::vector<uint32_t>(k, k + 2), {2}, uint32);
}

void seed(uint64_t seed) {
  KeySequence& seq = thread_sequence();
  seq.seed = seed;
  seq.counter = 0;
}

array bits(const Shape& shape, int width, const std::optional<array>& key, StreamOrDevice s) {
  check_shape(shape, "bits");
  if (width != 1 && width != 2 && width != 4) {
    throw std::invalid_argument(cat("[bits] width must be 1, 2 or 4 bytes, got ", width, "."));
  }
  array k = check_key(key, "bits");
  return detail::make_array(shape, width == 1 ? uint8 : (width == 2 ? uint16 : uint32),
                            std::make_shared<RandomBits>(width), {k}, s, "bits");
}

array split(const array& key, int num, StreamOrDevice s) {
  detail::OuterOp outer("split");
  if (num < 1) throw std::invalid_argument(cat("[split] num must be at least 1, got ", num, "."));
  return bits({num, 2}, 4, check_key(key, "split"), s);
}

std::pair<array, array> split(const array& key, StreamOrDevice s) {
  detail::OuterOp outer("split");
  array both = random::split(key, 2, s);
  return {reshape(slice(both, {0, 0}, {1, 2}, s), {2}, s),
          reshape(slice(both, {1, 0}, {2, 2}, s), {2}, s)};
}

array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype,
              const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("uniform");
  check_shape(shape, "uniform");
  if (!is_floating_point(dtype)) {
    throw std::invalid_argument(cat("[uniform] dtype must be floating point, got ", dtype, "."));
  }
  Shape b = broadcast_shapes(broadcast_shapes(low.shape(), high.shape()), shape);
  if (b != shape) {
    throw std::invalid_argument(cat("[uniform] low and high of shapes ", tuple_str(low.shape()),
                                    " and ", tuple_str(high.shape()),
                                    " do not broadcast to shape ", tuple_str(shape), "."));
  }
  array k = check_key(key, "uniform");
  array lo = astype(low, float32, s), hi = astype(high, float32, s);
  if (lo.size() == 1 && hi.size() == 1) {
    // Drawn in place, in the output's dtype.
    return detail::make_array(shape, dtype, std::make_shared<RandomFloats>(false, 1.0, 0.0),
                              {k, reshape(lo, {}, s), reshape(hi, {}, s)}, s, "uniform");
  }
  array u = detail::make_array(shape, float32, std::make_shared<RandomFloats>(false, 1.0, 0.0),
                               {k}, s, "uniform");
  return astype(add(lo, multiply(u, subtract(hi, lo, s), s), s), dtype, s);
}

array uniform(const Shape& shape, Dtype dtype, const std::optional<array>& key,
              StreamOrDevice s) {
  return uniform(array(0.0f), array(1.0f), shape, dtype, key, s);
}
array uniform(const Shape& shape, const std::optional<array>& key, StreamOrDevice s) {
  return uniform(shape, float32, key, s);
}

array normal(const Shape& shape, Dtype dtype, float loc, float scale,
             const std::optional<array>& key, StreamOrDevice s) {
  detail::OuterOp outer("normal");
  check_shape(shape, "normal");
  if (!is_floating_point(dtype)) {
    throw std::invalid_argument(cat("[normal] dtype must be floating point, got ", dtype, "."));
  }
  return detail::make_array(shape, dtype, std::make_shared<RandomFloats>(true, scale, loc),
                            {check_key(key, "normal")}, s, "normal");
}
array normal(const Shape& shape, Dtype dtype, const std::optional<array>& key,
             StreamOrDevice s) {
  return normal(shape, dtype, 0.0f, 1.0f, key, s);
}
array normal(const Shape& shape, float loc, float scale, const std::optional<array>& key,
             StreamOrDevice s) {
  return normal(shape, float32, loc, scale, key, s);
}
array normal(const Shape& shape, const std::optional<array>& key, StreamOrDevice s) {
  return normal(shape, float32, 0.0f, 1.0f, key, s);
}

}  // namespace rill::random
