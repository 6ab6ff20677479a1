// The CPU's quantization kernels (backend/kernels.h): quantize and dequantize
// group by group with common/quantize_math.h, and quantized_matmul: a few
// rows of x against each dequantized row of w in float32 (decoding's case,
// bound by reading w), many rows through quantized_matmul_dequantized (the
// packed product). Compiled without contracted multiply-adds, so that
// dequantize's code * scale + bias rounds as MLX's does.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {

namespace {

template <typename T>
float to_float(T v) {
  return static_cast<float>(static_cast<compute_t<T>>(v));
}

// Rounds a float to T's precision (and back).
template <typename T>
struct RoundTo {
  float operator()(float f) const {
    if constexpr (std::is_same_v<T, float>) {
      return f;
    } else {
      return static_cast<float>(T(f));
    }
  }
};

// The float32 global scale of nvfp4 (1 without one).
float global_of(const Node* g) {
  return g ? *static_cast<const float*>(g->data()) : 1.0f;
}

// Row r of a quantized matrix dequantized into `dst` (len values) in float32:
// affine's code * scale + bias, the float modes' element * group scale.
template <typename S>
void dequantize_row(const uint32_t* words, const S* scales, const S* biases,
                    const QuantParams& p, int64_t len, float* dst) {
  const int64_t groups = len / p.group_size;
  int64_t j = 0;
  for (int64_t g = 0; g < groups; ++g) {
    if (p.mode == QuantMode::affine) {
      const float s = to_float(scales[g]), b = to_float(biases[g]);
      for (int i = 0; i < p.group_size; ++i, ++j) {
        dst[j] = static_cast<float>(code_at(words, j, p.bits)) * s + b;
      }
    } else {
      const float s =
          fp_group_scale(p.mode, static_cast<uint32_t>(scales[g]), RoundTo<float>{}, 1.0f);
      for (int i = 0; i < p.group_size; ++i, ++j) {
        dst[j] = fp_element(p.mode, code_at(words, j, p.bits)) * s;
      }
    }
  }
}

}  // namespace

void quantize(const Node& w, const Node* global_scale, const QuantParams& p, int part,
              Node& out) {
  allocate(out);
  if (w.size == 0) return;
  const int64_t K = w.shape.back(), rows = static_cast<int64_t>(w.size) / K;
  const int64_t groups = K / p.group_size, words_per_row = K * p.bits / 32;
  const int64_t words_per_group = int64_t(p.group_size) * p.bits / 32;
  const float scale_encode = global_scale ? 448.0f * 6.0f / global_of(global_scale) : 1.0f;
  dispatch(w.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      const T* x = static_cast<const T*>(w.data());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t g = 0; g < groups; ++g) {
          const T* v = x + r * K + g * p.group_size;
          const int64_t gi = r * groups + g;
          uint32_t* codes = part == 0 ? static_cast<uint32_t*>(out.mutable_data()) +
                                            r * words_per_row + g * words_per_group
                                      : nullptr;
          CodeWriter writer(codes, p.bits);
          if (p.mode == QuantMode::affine) {
            float lo = to_float(v[0]), hi = lo;
            for (int j = 1; j < p.group_size; ++j) {
              lo = std::min(lo, to_float(v[j]));
              hi = std::max(hi, to_float(v[j]));
            }
            const AffineGroup a = affine_group(lo, hi, p.bits);
            if (part == 0) {
              for (int j = 0; j < p.group_size; ++j) {
                writer.put(affine_code(to_float(v[j]), a.scale, a.bias, p.bits));
              }
            } else {
              static_cast<T*>(out.mutable_data())[gi] = T(part == 1 ? a.scale : a.bias);
            }
          } else {
            auto load = [&](int j) { return to_float(v[j]); };
            auto put = [&](uint32_t c) {
              if (part == 0) writer.put(c);
            };
            const uint32_t stored = fp_quantize_group(p.mode, p.group_size, load, RoundTo<T>{},
                                                      scale_encode, put);
            if (part == 1) static_cast<uint8_t*>(out.mutable_data())[gi] = uint8_t(stored);
          }
        }
      }
    }
  });
}

void dequantize(const Node& w, const Node& scales, const Node* biases,
                const Node* global_scale, const QuantParams& p, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  const int64_t K = out.shape.back(), rows = static_cast<int64_t>(out.size) / K;
  const int64_t groups = K / p.group_size, words_per_row = w.shape.back();
  const uint32_t* codes = static_cast<const uint32_t*>(w.data());
  const float inv_encode = global_scale ? global_of(global_scale) / (448.0f * 6.0f) : 1.0f;
  dispatch(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>>) {
      T* o = static_cast<T*>(out.mutable_data());
      const RoundTo<T> round_t;
      for (int64_t r = 0; r < rows; ++r) {
        const uint32_t* row = codes + r * words_per_row;
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t gi = r * groups + g;
          if (p.mode == QuantMode::affine) {
            // In T, rounded after the product and after the sum, as MLX's ops.
            const float s = to_float(static_cast<const T*>(scales.data())[gi]);
            const float b = to_float(static_cast<const T*>(biases->data())[gi]);
            for (int j = 0; j < p.group_size; ++j) {
              const int64_t k = g * p.group_size + j;
              const float q = round_t(static_cast<float>(code_at(row, k, p.bits)) * s);
              o[r * K + k] = T(q + b);
            }
          } else {
            const uint32_t stored = static_cast<const uint8_t*>(scales.data())[gi];
            const float s = fp_group_scale(p.mode, stored, round_t, inv_encode);
            for (int j = 0; j < p.group_size; ++j) {
              const int64_t k = g * p.group_size + j;
              o[r * K + k] = T(fp_element(p.mode, code_at(row, k, p.bits)) * s);
            }
          }
        }
      }
    }
  });
}

void quantized_matmul(const Node& x, const Node& w, const Node& scales, const Node* biases,
                      const QuantParams& p, bool transpose, Node& out) {
  const int64_t B = x.shape[0], M = x.shape[1], K = x.shape[2], N = out.shape[2];
  // Past a few rows the dequantized matrix pays for itself.
  if (M > 8) {
    quantized_matmul_dequantized(cpu_backend, x, w, scales, biases, p, transpose, out);
    return;
  }
  allocate(out);
  if (out.size == 0) return;
  const int64_t Bw = w.shape[0], wrows = w.shape[1], wwords = w.shape[2];
  const int64_t wlen = wwords * 32 / p.bits, sgroups = scales.shape[2];
  dispatch(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>> && !std::is_same_v<T, double>) {
      const T* xp = static_cast<const T*>(x.data());
      T* op = static_cast<T*>(out.mutable_data());
      std::vector<float> xf(static_cast<size_t>(M * K)), row(static_cast<size_t>(wlen));
      std::vector<float> acc(transpose ? 0 : static_cast<size_t>(M * N));
      for (int64_t b = 0; b < B; ++b) {
        const int64_t wb = Bw == 1 ? 0 : b;
        for (int64_t i = 0; i < M * K; ++i) xf[i] = to_float(xp[b * M * K + i]);
        const uint32_t* wp = static_cast<const uint32_t*>(w.data()) + wb * wrows * wwords;
        auto row_of = [&](int64_t r) {
          const int64_t si = (wb * wrows + r) * sgroups;
          if (p.mode == QuantMode::affine) {
            dequantize_row(wp + r * wwords, static_cast<const T*>(scales.data()) + si,
                           static_cast<const T*>(biases->data()) + si, p, wlen, row.data());
          } else {
            dequantize_row<uint8_t>(wp + r * wwords,
                                    static_cast<const uint8_t*>(scales.data()) + si, nullptr,
                                    p, wlen, row.data());
          }
        };
        if (transpose) {  // out[m, n] = x[m, :] . row n
          for (int64_t n = 0; n < N; ++n) {
            row_of(n);
            for (int64_t m = 0; m < M; ++m) {
              const float* xm = xf.data() + m * K;
              float part[8] = {};
              int64_t k = 0;
              for (; k + 8 <= K; k += 8) {
                for (int u = 0; u < 8; ++u) part[u] += xm[k + u] * row[k + u];
              }
              float sum = 0;
              for (; k < K; ++k) sum += xm[k] * row[k];
              for (int u = 0; u < 8; ++u) sum += part[u];
              op[(b * M + m) * N + n] = T(sum);
            }
          }
        } else {  // out[m, :] += x[m, k] row k
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (int64_t k = 0; k < K; ++k) {
            row_of(k);
            for (int64_t m = 0; m < M; ++m) {
              const float xv = xf[m * K + k];
              float* am = acc.data() + m * N;
              for (int64_t n = 0; n < N; ++n) am[n] += xv * row[n];
            }
          }
          for (int64_t i = 0; i < M * N; ++i) op[b * M * N + i] = T(acc[i]);
        }
      }
    }
  });
}

}  // namespace rill::detail::cpu
