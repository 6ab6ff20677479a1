// Random numbers: keys, the per-thread implicit key sequence, and the ops that
// turn Threefry-2x32 bits into distributions.
#include "rill/random.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>

#include "core/format.h"
#include "backend/gpu_kernels.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill::random {

using detail::cat;
using detail::tuple_str;

namespace {

uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Threefry-2x32 with 20 rounds: the (k0, k1) key encrypts the counter (c0, c1).
std::pair<uint32_t, uint32_t> threefry(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1) {
  static constexpr int kRot[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  uint32_t ks[3] = {k0, k1, 0x1BD11BDAu ^ k0 ^ k1};
  uint32_t x0 = c0 + ks[0], x1 = c1 + ks[1];
  for (int i = 0; i < 20; ++i) {
    x0 += x1;
    x1 = rotl(x1, kRot[i % 8]);
    x1 ^= x0;
    if (i % 4 == 3) {
      uint32_t j = static_cast<uint32_t>(i / 4 + 1);
      x0 += ks[j % 3];
      x1 += ks[(j + 1) % 3] + j;
    }
  }
  return {x0, x1};
}

// Fills out (uint32, or uint8 for width 1) with the bits of counters 0, 1, ...
// under the key in input 0.
class RandomBits : public detail::Primitive {
 public:
  explicit RandomBits(int width) : width_(width) {}
  const char* name() const override { return "bits"; }
  void eval_gpu(const std::vector<array>& in, detail::Node& out) override {
    detail::gpu::random_bits(detail::node_of(in[0]), width_, out);
  }
  void eval_cpu(const std::vector<array>& in, detail::Node& out) override {
    const detail::Node& k = detail::node_of(in[0]);
    const uint32_t* kp = static_cast<const uint32_t*>(k.data());
    uint32_t k0 = kp[0], k1 = kp[k.strides.empty() ? 1 : k.strides.back()];
    detail::allocate(out);
    size_t n = out.size;
    // Each counter pair yields two 32-bit words.
    auto word = [&](size_t w) {
      auto [a, b] = threefry(k0, k1, static_cast<uint32_t>(w / 2),
                             static_cast<uint32_t>((w / 2) >> 32));
      return (w & 1) ? b : a;
    };
    if (width_ == 1) {
      uint8_t* o = static_cast<uint8_t*>(out.mutable_data());
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint8_t>(word(i / 4) >> (8 * (i % 4)));
    } else {
      uint32_t* o = static_cast<uint32_t*>(out.mutable_data());
      for (size_t i = 0; i + 1 < n; i += 2) {
        auto [a, b] = threefry(k0, k1, static_cast<uint32_t>(i / 2),
                               static_cast<uint32_t>((i / 2) >> 32));
        o[i] = a;
        o[i + 1] = b;
      }
      if (n % 2) o[n - 1] = word(n - 1);
      if (width_ == 2) {
        for (size_t i = 0; i < n; ++i) o[i] &= 0xffffu;
      }
    }
  }

 private:
  int width_;
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
  auto [a, b] = threefry(static_cast<uint32_t>(seq.seed), static_cast<uint32_t>(seq.seed >> 32),
                         static_cast<uint32_t>(seq.counter),
                         static_cast<uint32_t>(seq.counter >> 32));
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

// Uniform floats in [0, 1) from 32-bit words: 23 random mantissa bits.
array unit_uniform(const Shape& shape, const array& k, const StreamOrDevice& s) {
  array b = bits(shape, 4, k, s);
  // (b >> 9) / 2^23, computed in float64 so every step is exact.
  array top = floor(divide(astype(b, float64, s), array(512.0), s), s);
  return astype(divide(top, array(8388608.0), s), float32, s);
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
  return detail::make_array(shape, width == 1 ? uint8 : uint32,
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
  array u = unit_uniform(shape, check_key(key, "uniform"), s);
  array lo = astype(low, float32, s), hi = astype(high, float32, s);
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
  // Box-Muller on two independent uniform streams from one key.
  auto [k1, k2] = random::split(check_key(key, "normal"), s);
  array u1 = subtract(array(1.0f), unit_uniform(shape, k1, s), s);  // (0, 1]
  array u2 = unit_uniform(shape, k2, s);
  array r = sqrt(multiply(array(-2.0f), log(u1, s), s), s);
  array z = multiply(r, cos(multiply(array(6.283185307179586f), u2, s), s), s);
  return astype(add(multiply(z, array(scale), s), array(loc), s), dtype, s);
}
array normal(const Shape& shape, Dtype dtype, const std::optional<array>& key,
             StreamOrDevice s) {
  return normal(shape, dtype, 0.0f, 1.0f, key, s);
}
array normal(const Shape& shape, const std::optional<array>& key, StreamOrDevice s) {
  return normal(shape, float32, 0.0f, 1.0f, key, s);
}

}  // namespace rill::random
