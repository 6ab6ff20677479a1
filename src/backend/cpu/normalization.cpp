// LayerNorm and RMSNorm over the last axis: each row is converted once into a
// compute-type buffer, then reduced in two passes (mean, then squared
// deviations), which avoids the cancellation of E[x^2] - E[x]^2.
#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/vmath.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {


template <typename C>
C lane_sum_squares(const C* x, int64_t n) {
  C acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += x[i + k] * x[i + k];
  }
  C s = 0;
  for (; i < n; ++i) s += x[i] * x[i];
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
         ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Calls fn(row, offset) for every row along x's last axis, in row-major order.
template <typename F>
void for_each_last_axis_row(const Node& x, F&& fn) {
  Shape lead(x.shape.begin(), x.shape.end() - 1);
  Strides lead_strides(x.strides.begin(), x.strides.end() - 1);
  int64_t row = 0;
  for_each_row<1>(lead, {lead_strides},
                  [&](const std::array<int64_t, 1>& off, int64_t n,
                      const std::array<int64_t, 1>& inner) {
                    for (int64_t j = 0; j < n; ++j) fn(row++, off[0] + j * inner[0]);
                  });
}

// A 1-D parameter as compute-type values, or `fill` repeated when absent.
template <typename T, typename C>
std::vector<C> parameter(const Node* p, int64_t n, C fill) {
  std::vector<C> v(n, fill);
  if (p) {
    const T* d = static_cast<const T*>(p->data());
    int64_t st = p->strides.empty() ? 0 : p->strides[0];
    for (int64_t i = 0; i < n; ++i) v[i] = convert<C>(d[i * st]);
  }
  return v;
}

// One contiguous float32 row, the same arithmetic as the general loop below,
// compiled for AVX2 too (the general loop is a template, which cannot be
// cloned; this file is built without contraction, so every clone rounds alike).
// The sums are lane_sum's and lane_sum_squares' (same order, same bits),
// written out so that they are compiled with the clone, not called.
RILL_AVX2_CLONES
void normalize_row_f32(bool rms, const float* src, int64_t n, const float* __restrict w,
                       const float* __restrict b, float eps, float* __restrict buf,
                       float* dst) {
  auto sum = [&](bool squares) {
    float acc[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int k = 0; k < 8; ++k) acc[k] += squares ? buf[i + k] * buf[i + k] : buf[i + k];
    }
    float s = 0;
    for (; i < n; ++i) s += squares ? buf[i] * buf[i] : buf[i];
    return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  };
  if (rms) {
    for (int64_t j = 0; j < n; ++j) buf[j] = src[j];
    const float ms = sum(true) / static_cast<float>(n);
    const float r = 1.0f / std::sqrt(ms + eps);
    for (int64_t j = 0; j < n; ++j) dst[j] = buf[j] * r * w[j];
    return;
  }
  const float pivot = src[0];
  for (int64_t j = 0; j < n; ++j) buf[j] = src[j] - pivot;
  const float mean = sum(false) / static_cast<float>(n);
  for (int64_t j = 0; j < n; ++j) buf[j] -= mean;
  const float var = sum(true) / static_cast<float>(n);
  const float r = 1.0f / std::sqrt(var + eps);
  for (int64_t j = 0; j < n; ++j) dst[j] = buf[j] * r * w[j] + b[j];
}

template <bool kRms, typename T>
void normalize(const Node& x, const Node* w, const Node* b, float eps, Node& out) {
  using C = compute_t<T>;
  // Each row is read whole (into buf) before it is written: x may donate.
  allocate_or_donate(out, {&x}, false);
  if (out.size == 0) return;
  const int64_t n = x.shape.back();
  const int64_t ls = x.strides.back();
  std::vector<C> wv = parameter<T, C>(w, n, C(1));
  std::vector<C> bv = parameter<T, C>(b, n, C(0));
  std::vector<C> buf(n);
  const T* in = static_cast<const T*>(x.data());
  T* o = static_cast<T*>(out.mutable_data());
  for_each_last_axis_row(x, [&](int64_t row, int64_t offset) {
    const T* src = in + offset;
    T* dst = o + row * n;
    if constexpr (std::is_same_v<T, float>) {
      if (ls == 1) {
        normalize_row_f32(kRms, src, n, wv.data(), bv.data(), eps, buf.data(), dst);
        return;
      }
    }
    if constexpr (kRms) {
      for (int64_t j = 0; j < n; ++j) buf[j] = convert<C>(src[j * ls]);
      C ms = lane_sum_squares(buf.data(), n) / static_cast<C>(n);
      C r = C(1) / std::sqrt(ms + static_cast<C>(eps));
      for (int64_t j = 0; j < n; ++j) dst[j] = convert<T>(buf[j] * r * wv[j]);
    } else {
      // Shifted by the first element, the sums stay small when the mean is
      // large next to the spread.
      const C pivot = convert<C>(src[0]);
      for (int64_t j = 0; j < n; ++j) buf[j] = convert<C>(src[j * ls]) - pivot;
      C mean = lane_sum(buf.data(), n) / static_cast<C>(n);
      for (int64_t j = 0; j < n; ++j) buf[j] -= mean;
      C var = lane_sum_squares(buf.data(), n) / static_cast<C>(n);
      C r = C(1) / std::sqrt(var + static_cast<C>(eps));
      for (int64_t j = 0; j < n; ++j) dst[j] = convert<T>(buf[j] * r * wv[j] + bv[j]);
    }
  });
}

template <bool kRms>
void normalize(const Node& x, const Node* w, const Node* b, float eps, Node& out) {
  dispatch(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      normalize<kRms, T>(x, w, b, eps, out);
    } else {
      throw std::logic_error("normalization of a non-floating dtype");
    }
  });
}

}  // namespace

void layer_norm(const Node& x, const Node* w, const Node* b, float eps, Node& out) {
  normalize<false>(x, w, b, eps, out);
}

void rms_norm(const Node& x, const Node* w, float eps, Node& out) {
  normalize<true>(x, w, nullptr, eps, out);
}

}  // namespace rill::detail::cpu
