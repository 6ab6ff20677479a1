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
#include "backend/gpu_kernels.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill::random {

using detail::cat;
using detail::tuple_str;

namespace {

uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// A uniform float in [0, 1) from a 32-bit word: its top 23 bits over 2^23,
// exact.
float unit_float(uint32_t w) { return static_cast<float>(w >> 9) * 0x1p-23f; }

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

// The two words of a key (uint32, shape {2}, any stride).
std::pair<uint32_t, uint32_t> key_words(const detail::Node& k) {
  const uint32_t* kp = static_cast<const uint32_t*>(k.data());
  return {kp[0], kp[k.strides.empty() ? 1 : k.strides.back()]};
}

// Fills out (uint32 for widths 4 and 2, which keeps the low 16 bits; uint8
// for 1) with the bits of counters 0, 1, ... under the key in input 0:
// counter c gives words 2c and 2c + 1.
class RandomBits : public detail::Primitive {
 public:
  explicit RandomBits(int width) : width_(width) {}
  const char* name() const override { return "bits"; }
  void eval_gpu(const std::vector<array>& in, detail::Node& out) override {
    detail::gpu::random_bits(detail::node_of(in[0]), width_, out);
  }
  void eval_cpu(const std::vector<array>& in, detail::Node& out) override {
    auto [k0, k1] = key_words(detail::node_of(in[0]));
    detail::allocate(out);
    const size_t n = out.size;
    if (width_ == 1) {
      uint8_t* o = static_cast<uint8_t*>(out.mutable_data());
      for (size_t c = 0; 8 * c < n; ++c) {
        auto [a, b] = threefry(k0, k1, static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32));
        for (size_t u = 0; u < 8 && 8 * c + u < n; ++u) {
          o[8 * c + u] = static_cast<uint8_t>((u < 4 ? a : b) >> (8 * (u % 4)));
        }
      }
      return;
    }
    uint32_t* o = static_cast<uint32_t*>(out.mutable_data());
    const uint32_t mask = width_ == 2 ? 0xffffu : 0xffffffffu;
    for (size_t c = 0; 2 * c < n; ++c) {
      auto [a, b] = threefry(k0, k1, static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32));
      o[2 * c] = a & mask;
      if (2 * c + 1 < n) o[2 * c + 1] = b & mask;
    }
  }

 private:
  int width_;
};

// uniform and normal, drawn straight into their floating output (no array of
// words or of float32 in between), two numbers per Threefry counter:
//   uniform: u = unit_float(word) in [0, 1), then lo + u (hi - lo) rounded as
//            float32 arithmetic rounds it (lo and hi: float32 scalars in
//            inputs 1 and 2, or 0 and 1 without them);
//   normal:  a Box-Muller pair from the counter's two words in double, then
//            loc + scale z (one fused multiply-add), rounded once.
// The GPU's kernel (backend/cuda/gather.cu) computes the same values.
class RandomFloats : public detail::Primitive {
 public:
  RandomFloats(bool normal, double scale, double loc)
      : normal_(normal), scale_(scale), loc_(loc) {}
  const char* name() const override { return normal_ ? "normal" : "uniform"; }
  void eval_gpu(const std::vector<array>& in, detail::Node& out) override {
    detail::gpu::random_floats(detail::node_of(in[0]),
                               in.size() > 2 ? &detail::node_of(in[1]) : nullptr,
                               in.size() > 2 ? &detail::node_of(in[2]) : nullptr, normal_,
                               scale_, loc_, out);
  }
  void eval_cpu(const std::vector<array>& in, detail::Node& out) override {
    const std::pair<uint32_t, uint32_t> key = key_words(detail::node_of(in[0]));
    const uint32_t k0 = key.first, k1 = key.second;  // captured below
    float lo = 0.0f, hi = 1.0f;
    if (in.size() > 2) {
      lo = *static_cast<const float*>(detail::node_of(in[1]).data());
      hi = *static_cast<const float*>(detail::node_of(in[2]).data());
    }
    detail::allocate(out);
    const size_t n = out.size;
    detail::dispatch(out.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_floating_point_v<detail::compute_t<T>>) {
        T* o = static_cast<T*>(out.mutable_data());
        for (size_t c = 0; 2 * c < n; ++c) {
          auto [a, b] =
              threefry(k0, k1, static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32));
          double v[2];
          if (normal_) {
            const double r = std::sqrt(-2.0 * std::log(1.0 - double(unit_float(a))));
            const double t = 6.283185307179586 * double(unit_float(b));
            v[0] = std::fma(scale_, r * std::cos(t), loc_);
            v[1] = std::fma(scale_, r * std::sin(t), loc_);
          } else {
            // float32 arithmetic, each step rounded (a product of two floats
            // and a sum of two are exact in double before the rounding).
            const float d = hi - lo;
            for (int j = 0; j < 2; ++j) {
              const float m = static_cast<float>(double(unit_float(j ? b : a)) * double(d));
              v[j] = static_cast<float>(double(lo) + double(m));
            }
          }
          o[2 * c] = detail::convert<T>(v[0]);
          if (2 * c + 1 < n) o[2 * c + 1] = detail::convert<T>(v[1]);
        }
      } else {
        throw std::logic_error("random floats of a non-floating dtype");
      }
    });
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
array normal(const Shape& shape, const std::optional<array>& key, StreamOrDevice s) {
  return normal(shape, float32, 0.0f, 1.0f, key, s);
}

}  // namespace rill::random
