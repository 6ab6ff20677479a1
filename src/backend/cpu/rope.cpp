// Rotary position embedding. The angles are computed in double (large
// positions times small frequencies lose digits in float) into a cos/sin table
// per distinct offset, shared by every matrix of the batch.
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

std::vector<int64_t> offsets_of(const Node& offset) {
  std::vector<int64_t> v(offset.size);
  dispatch(offset.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T>) {
      const T* d = static_cast<const T*>(offset.data());
      int64_t st = offset.strides.empty() ? 0 : offset.strides.back();
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(d[i * st]);
    } else {
      throw std::logic_error("rope offset of a non-integer dtype");
    }
  });
  return v;
}

template <typename T>
void rope(const Node& x, const Node* offset, const Node* freqs, const RopeParams& p,
          Node& out) {
  using C = compute_t<T>;
  allocate(out);
  if (out.size == 0) return;
  const size_t nd = x.shape.size();
  const int64_t len = x.shape[nd - 2], d = x.shape[nd - 1];
  const int64_t ls = x.strides[nd - 2], ds = x.strides[nd - 1];
  const int half = p.dims / 2;

  std::vector<double> inv_freq(half);
  if (freqs) {
    const int64_t fs = freqs->strides.empty() ? 0 : freqs->strides[0];
    dispatch(freqs->dtype, [&](auto tag) {
      using F = typename decltype(tag)::type;
      const F* f = static_cast<const F*>(freqs->data());
      for (int i = 0; i < half; ++i) inv_freq[i] = 1.0 / convert<double>(f[i * fs]);
    });
  } else {
    const double log_base = std::log(static_cast<double>(p.base));
    for (int i = 0; i < half; ++i) inv_freq[i] = std::exp(-(2.0 * i / p.dims) * log_base);
  }

  std::vector<int64_t> offsets =
      offset ? offsets_of(*offset) : std::vector<int64_t>{p.offset};
  // Matrices per index of the first axis, for per-batch offsets.
  int64_t per_first = 1;
  for (size_t i = 1; i + 2 < nd; ++i) per_first *= x.shape[i];

  std::vector<C> cos_t(len * half), sin_t(len * half);
  bool have_table = false;
  int64_t table_offset = 0;
  auto build_table = [&](int64_t off) {
    for (int64_t l = 0; l < len; ++l) {
      double pos = static_cast<double>(off + l) * p.scale;
      for (int i = 0; i < half; ++i) {
        double a = pos * inv_freq[i];
        cos_t[l * half + i] = static_cast<C>(std::cos(a));
        sin_t[l * half + i] = static_cast<C>(std::sin(a));
      }
    }
    have_table = true;
    table_offset = off;
  };

  const T* in = static_cast<const T*>(x.data());
  T* o = static_cast<T*>(out.mutable_data());
  // Index pairs (a, b) rotated together.
  const int64_t stride_a = p.traditional ? 2 : 1;
  const int64_t b_shift = p.traditional ? 1 : half;
  Shape lead(x.shape.begin(), x.shape.end() - 2);
  Strides lead_strides(x.strides.begin(), x.strides.end() - 2);
  int64_t matrix = 0;
  auto rotate = [&](int64_t src_offset) {
    const int64_t off = offsets.size() == 1 ? offsets[0] : offsets[matrix / per_first];
    if (!have_table || off != table_offset) build_table(off);
    for (int64_t l = 0; l < len; ++l) {
      const T* src = in + src_offset + l * ls;
      T* dst = o + (matrix * len + l) * d;
      const C* c = cos_t.data() + l * half;
      const C* s = sin_t.data() + l * half;
      for (int i = 0; i < half; ++i) {
        const int64_t ia = i * stride_a, ib = ia + b_shift;
        const C x1 = convert<C>(src[ia * ds]), x2 = convert<C>(src[ib * ds]);
        dst[ia] = convert<T>(x1 * c[i] - x2 * s[i]);
        dst[ib] = convert<T>(x1 * s[i] + x2 * c[i]);
      }
      for (int64_t j = p.dims; j < d; ++j) dst[j] = src[j * ds];
    }
    ++matrix;
  };
  for_each_row<1>(lead, {lead_strides},
                  [&](const auto& base, int64_t n, const auto& inner) {
                    for (int64_t m = 0; m < n; ++m) rotate(base[0] + m * inner[0]);
                  });
}

}  // namespace

void rope(const Node& x, const Node* offset, const Node* freqs, const RopeParams& p,
          Node& out) {
  dispatch(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      rope<T>(x, offset, freqs, p, out);
    } else {
      throw std::logic_error("rope of a non-floating dtype");
    }
  });
}

}  // namespace rill::detail::cpu
