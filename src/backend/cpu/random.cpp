// random::bits (MLX's words, bit for bit: common/threefry.h), uniform and
// normal on the CPU: counter c of the key's Threefry stream gives values 2c
// and 2c + 1.
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "common/threefry.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

// The two words of a key (uint32, shape {2}, any stride).
void key_words(const Node& k, uint32_t& k0, uint32_t& k1) {
  const uint32_t* kp = static_cast<const uint32_t*>(k.data());
  k0 = kp[0];
  k1 = kp[k.strides.empty() ? 1 : k.strides.back()];
}

}  // namespace

void random_bits(const Node& key, int width, Node& out) {
  uint32_t k0, k1;
  key_words(key, k0, k1);
  allocate(out);
  // The output's bytes are those of MLX's words (threefry.h), the last one cut.
  const uint64_t bytes = uint64_t(out.size) * width, words = (bytes + 3) / 4;
  const uint64_t half = words / 2, odd = words % 2;
  uint8_t* o = static_cast<uint8_t*>(out.mutable_data());
  auto put = [&](uint64_t j, uint32_t w) {
    const uint64_t at = 4 * j, n = bytes - at < 4 ? bytes - at : 4;
    std::memcpy(o + at, &w, static_cast<size_t>(n));
  };
  uint32_t a, b;
  for (uint64_t i = 0; i < half; ++i) {
    threefry(k0, k1, static_cast<uint32_t>(i), static_cast<uint32_t>(half + odd + i), a, b);
    put(i, a);
    put(half + odd + i, b);
  }
  if (odd) put(half, mlx_bits_word(k0, k1, words, half));
}

void random_floats(const Node& key, const Node* lo_p, const Node* hi_p, bool normal,
                   double scale, double loc, Node& out) {
  uint32_t k0, k1;
  key_words(key, k0, k1);
  const float lo = lo_p ? *static_cast<const float*>(lo_p->data()) : 0.0f;
  const float hi = hi_p ? *static_cast<const float*>(hi_p->data()) : 1.0f;
  allocate(out);
  const size_t n = out.size;
  dispatch(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      T* o = static_cast<T*>(out.mutable_data());
      for (size_t c = 0; 2 * c < n; ++c) {
        uint32_t a, b;
        threefry_at(k0, k1, c, a, b);
        double v0, v1;
        random_pair(a, b, normal, lo, hi, scale, loc, v0, v1);
        o[2 * c] = convert<T>(v0);
        if (2 * c + 1 < n) o[2 * c + 1] = convert<T>(v1);
      }
    } else {
      throw std::logic_error("random floats of a non-floating dtype");
    }
  });
}

}  // namespace rill::detail::cpu
