// random::bits, uniform and normal on the CPU: counter c of the key's
// Threefry stream gives output words 2c and 2c + 1 (common/threefry.h).
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
  const size_t n = out.size;
  uint32_t a, b;
  if (width == 1) {
    uint8_t* o = static_cast<uint8_t*>(out.mutable_data());
    for (size_t c = 0; 8 * c < n; ++c) {
      threefry_at(k0, k1, c, a, b);
      for (size_t u = 0; u < 8 && 8 * c + u < n; ++u) {
        o[8 * c + u] = static_cast<uint8_t>((u < 4 ? a : b) >> (8 * (u % 4)));
      }
    }
    return;
  }
  uint32_t* o = static_cast<uint32_t*>(out.mutable_data());
  const uint32_t mask = width == 2 ? 0xffffu : 0xffffffffu;
  for (size_t c = 0; 2 * c < n; ++c) {
    threefry_at(k0, k1, c, a, b);
    o[2 * c] = a & mask;
    if (2 * c + 1 < n) o[2 * c + 1] = b & mask;
  }
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
