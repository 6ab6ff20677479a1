// The CPU's quantization kernels (backend/kernels.h): quantize and dequantize
// group by group with common/quantize_math.h, and quantized_matmul: up to 8
// rows of x against w decoded 32 codes at a time (the bit width a template
// argument) in float32 (decoding's case), more rows through w dequantized
// into float32 and the float32 product. Compiled without contracted multiply-adds, so that
// dequantize's code * scale + bias rounds as MLX's does.
#include <algorithm>
#include <cstdint>
#include <cstring>
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

#define RILL_QINLINE inline __attribute__((always_inline))

// The 32 codes of a pack (`Bits` whole words) as floats: the codes
// themselves (affine) or the float mode's element values. Widths that divide
// 32 take a word at a time (shifts the vector units do 8 or 16 at once).
template <int Bits>
RILL_QINLINE void decode32(const uint32_t* words, QuantMode mode, float* out) {
  constexpr uint32_t kMask = (1u << Bits) - 1u;
  if constexpr (32 % Bits == 0) {
    constexpr int kPer = 32 / Bits;
    for (int wi = 0; wi < Bits; ++wi) {
      const uint32_t v = words[wi];
      for (int k = 0; k < kPer; ++k) out[wi * kPer + k] = static_cast<float>((v >> (k * Bits)) & kMask);
    }
  } else {
#pragma GCC unroll 32
    for (int j = 0; j < 32; ++j) {
      const int bit = j * Bits, wi = bit / 32, off = bit % 32;
      uint64_t v = words[wi] >> off;
      if (off + Bits > 32) v |= static_cast<uint64_t>(words[wi + 1]) << (32 - off);
      out[j] = static_cast<float>(static_cast<uint32_t>(v) & kMask);
    }
  }
  if (mode != QuantMode::affine) {
    for (int j = 0; j < 32; ++j) out[j] = fp_element(mode, static_cast<uint32_t>(out[j]));
  }
}

template <typename F>
void with_bits(int bits, F&& f) {
  switch (bits) {
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

// A group's float32 multiplier and addend: affine's scale and bias, the float
// modes' scale (and 0).
template <typename S>
RILL_QINLINE void group_of(const S* scales, const S* biases, QuantMode mode, int64_t g, float& s,
                     float& b) {
  if (mode == QuantMode::affine) {
    s = to_float(scales[g]);
    b = to_float(biases[g]);
  } else {
    s = fp_group_scale(mode, static_cast<uint32_t>(scales[g]), RoundTo<float>{}, 1.0f);
    b = 0.0f;
  }
}

// Eight floats as one value (GCC's vector extension): the width the AVX2
// and AVX-512 builds below give the vector units (the baseline build two
// SSE halves).
using F8 = float __attribute__((vector_size(32)));

RILL_QINLINE F8 load8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
RILL_QINLINE float sum8(F8 v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// out[b, m, n] = x[b, m, :] . w[n, :] for up to 8 rows of x: per group, the
// dot product of x with the codes (decoded 32 at a time into floats), times
// the scale, plus the bias times the sum of x over the group (computed once).
// kRows: the number of rows when fixed (1), else 0 (M of them).
template <int Bits, int kRows, typename T, typename S>
RILL_QINLINE void qmv_rows_of(const float* xf, int64_t rows_of_x, int64_t K, const uint32_t* w,
                              const S* scales, const S* biases, const QuantParams& p, int64_t N,
                              T* out) {
  const int64_t M = kRows ? kRows : rows_of_x;
  const int64_t groups = K / p.group_size, packs_per_group = p.group_size / 32;
  const int64_t words = K * Bits / 32;
  std::vector<float> xsum(static_cast<size_t>(M * groups), 0.0f);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < K; ++k) xsum[m * groups + k / p.group_size] += xf[m * K + k];
  }
  alignas(64) float vals[32];
  for (int64_t n = 0; n < N; ++n) {
    const uint32_t* row = w + n * words;
    float acc[8] = {};
    for (int64_t g = 0; g < groups; ++g) {
      float s, b;
      group_of(scales + n * groups, biases ? biases + n * groups : nullptr, p.mode, g, s, b);
      F8 dot[8] = {};
      for (int64_t q = 0; q < packs_per_group; ++q) {
        const int64_t pk = g * packs_per_group + q;
        decode32<Bits>(row + pk * Bits, p.mode, vals);
        const F8 v0 = load8(vals), v1 = load8(vals + 8), v2 = load8(vals + 16),
                 v3 = load8(vals + 24);
        for (int64_t m = 0; m < M; ++m) {
          const float* xm = xf + m * K + pk * 32;
          dot[m] += (load8(xm) * v0 + load8(xm + 8) * v1) +
                    (load8(xm + 16) * v2 + load8(xm + 24) * v3);
        }
      }
      for (int64_t m = 0; m < M; ++m) acc[m] += s * sum8(dot[m]) + b * xsum[m * groups + g];
    }
    for (int64_t m = 0; m < M; ++m) out[m * N + n] = T(acc[m]);
  }
}

template <int Bits, typename T, typename S>
RILL_QINLINE void qmv_rows(const float* xf, int64_t rows_of_x, int64_t K, const uint32_t* w,
                           const S* scales, const S* biases, const QuantParams& p, int64_t N,
                           T* out) {
  // One row (a single request's decoding step): its sums stay in registers.
  if (rows_of_x == 1) return qmv_rows_of<Bits, 1>(xf, 1, K, w, scales, biases, p, N, out);
  qmv_rows_of<Bits, 0>(xf, rows_of_x, K, w, scales, biases, p, N, out);
}

// out[b, m, :] = sum_k x[b, m, k] w[k, :] for up to 8 rows of x: each row of
// w decoded once into floats, then added into every row's sums.
template <int Bits, typename T, typename S>
RILL_QINLINE void qmv_cols(const float* xf, int64_t M, int64_t K, const uint32_t* w, const S* scales,
              const S* biases, const QuantParams& p, int64_t N, T* out) {
  const int64_t groups = N / p.group_size, packs_per_group = p.group_size / 32;
  const int64_t words = N * Bits / 32;
  std::vector<float> row(static_cast<size_t>(N)), acc(static_cast<size_t>(M * N), 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t g = 0; g < groups; ++g) {
      float s, b;
      group_of(scales + k * groups, biases ? biases + k * groups : nullptr, p.mode, g, s, b);
      for (int64_t q = 0; q < packs_per_group; ++q) {
        const int64_t pk = g * packs_per_group + q;
        float* dst = row.data() + pk * 32;
        decode32<Bits>(w + k * words + pk * Bits, p.mode, dst);
        for (int j = 0; j < 32; ++j) dst[j] = dst[j] * s + b;
      }
    }
    for (int64_t m = 0; m < M; ++m) {
      const float xv = xf[m * K + k];
      float* am = acc.data() + m * N;
      for (int64_t n = 0; n < N; ++n) am[n] += xv * row[n];
    }
  }
  for (int64_t i = 0; i < M * N; ++i) out[i] = T(acc[i]);
}

// Rows of codes (`words` per row, `len` values) into float32 values,
// decoded 32 at a time (quantized_matmul's many-rows path).
template <int Bits, typename S>
void decode_rows(const uint32_t* w, const S* scales, const S* biases, const QuantParams& p,
                 int64_t rows, int64_t len, float* dst) {
  const int64_t groups = len / p.group_size, packs_per_group = p.group_size / 32;
  const int64_t words = len * Bits / 32;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      float s, b;
      group_of(scales + r * groups, biases ? biases + r * groups : nullptr, p.mode, g, s, b);
      for (int64_t q = 0; q < packs_per_group; ++q) {
        const int64_t pk = g * packs_per_group + q;
        float* d = dst + r * len + pk * 32;
        decode32<Bits>(w + r * words + pk * Bits, p.mode, d);
        for (int j = 0; j < 32; ++j) d[j] = d[j] * s + b;
      }
    }
  }
}

// The vector loops compiled for AVX-512, for AVX2 with FMA, and for the
// baseline; the widest the CPU has runs.
enum class Isa { base, avx2, avx512 };

Isa isa_of_cpu() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
    return Isa::base;
  }();
  return isa;
}

template <int Bits, typename T, typename S>
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))) void qmv_avx512(
    bool rows, const float* xf, int64_t M, int64_t K, const uint32_t* w, const S* sc,
    const S* bi, const QuantParams& p, int64_t N, T* out) {
  if (rows) {
    qmv_rows<Bits>(xf, M, K, w, sc, bi, p, N, out);
  } else {
    qmv_cols<Bits>(xf, M, K, w, sc, bi, p, N, out);
  }
}
template <int Bits, typename T, typename S>
__attribute__((target("avx2,fma"))) void qmv_avx2(bool rows, const float* xf, int64_t M,
                                                  int64_t K, const uint32_t* w, const S* sc,
                                                  const S* bi, const QuantParams& p, int64_t N,
                                                  T* out) {
  if (rows) {
    qmv_rows<Bits>(xf, M, K, w, sc, bi, p, N, out);
  } else {
    qmv_cols<Bits>(xf, M, K, w, sc, bi, p, N, out);
  }
}
template <int Bits, typename T, typename S>
void qmv(bool rows, const float* xf, int64_t M, int64_t K, const uint32_t* w, const S* sc,
         const S* bi, const QuantParams& p, int64_t N, T* out) {
  switch (isa_of_cpu()) {
    case Isa::avx512: return qmv_avx512<Bits>(rows, xf, M, K, w, sc, bi, p, N, out);
    case Isa::avx2: return qmv_avx2<Bits>(rows, xf, M, K, w, sc, bi, p, N, out);
    case Isa::base: break;
  }
  if (rows) {
    qmv_rows<Bits>(xf, M, K, w, sc, bi, p, N, out);
  } else {
    qmv_cols<Bits>(xf, M, K, w, sc, bi, p, N, out);
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
            // In T, rounded after the product and after the sum, as MLX's ops
            // (the scales and biases read in their own type).
            float s = 0, b = 0;
            dispatch(scales.dtype, [&](auto st) {
              using S = typename decltype(st)::type;
              s = to_float(static_cast<const S*>(scales.data())[gi]);
              b = to_float(static_cast<const S*>(biases->data())[gi]);
            });
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
  const int64_t along = transpose ? K : N;
  // Past a few rows (or groups that are not whole packs of 32) the
  // dequantized matrix pays for itself: float32 through the float32 product
  // (the half types' products convert their operands on every call).
  if (M > 8 || p.group_size % 32 != 0 || along % 32 != 0) {
    const Stream sid = out.stream_id;
    const int32_t Bw = w.shape[0], rows = w.shape[1];
    const int32_t cols = static_cast<int32_t>(int64_t(w.shape[2]) * 32 / p.bits);
    Node wd({Bw, rows, cols}, float32, nullptr, sid);
    if (p.group_size % 32 == 0) {
      allocate(wd);
      dispatch(p.mode == QuantMode::affine ? scales.dtype : uint8, [&](auto st) {
        using S = typename decltype(st)::type;
        if constexpr (std::is_floating_point_v<compute_t<S>> || std::is_same_v<S, uint8_t>) {
          with_bits(p.bits, [&](auto bits_c) {
            decode_rows<decltype(bits_c)::value>(
                static_cast<const uint32_t*>(w.data()), static_cast<const S*>(scales.data()),
                biases ? static_cast<const S*>(biases->data()) : nullptr, p,
                int64_t(Bw) * rows, cols, static_cast<float*>(wd.mutable_data()));
          });
        }
      });
    } else {
      dequantize(w, scales, biases, nullptr, p, wd);
    }
    if (out.dtype == float32) {
      matmul_dequantized(cpu_backend, x, wd, transpose, out);
      return;
    }
    Node xf(x.shape, float32, nullptr, sid), of(out.shape, float32, nullptr, sid);
    copy(x, xf);
    matmul_dequantized(cpu_backend, xf, wd, transpose, of);
    copy(of, out);
    return;
  }
  allocate(out);
  if (out.size == 0) return;
  const int64_t Bw = w.shape[0], wrows = w.shape[1], wwords = w.shape[2];
  const int64_t sgroups = scales.shape[2];
  dispatch(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<compute_t<T>> && !std::is_same_v<T, double>) {
      const T* xp = static_cast<const T*>(x.data());
      T* op = static_cast<T*>(out.mutable_data());
      std::vector<float> xf(static_cast<size_t>(M * K));
      auto run = [&](auto stag) {
        using S = typename decltype(stag)::type;
        with_bits(p.bits, [&](auto bits_c) {
          constexpr int kBits = decltype(bits_c)::value;
          for (int64_t b = 0; b < B; ++b) {
            const int64_t wb = Bw == 1 ? 0 : b;
            for (int64_t i = 0; i < M * K; ++i) xf[i] = to_float(xp[b * M * K + i]);
            const uint32_t* wp = static_cast<const uint32_t*>(w.data()) + wb * wrows * wwords;
            const S* sp = static_cast<const S*>(scales.data()) + wb * wrows * sgroups;
            const S* bp = biases ? static_cast<const S*>(biases->data()) + wb * wrows * sgroups
                                 : nullptr;
            qmv<kBits>(transpose, xf.data(), M, K, wp, sp, bp, p, N, op + b * M * N);
          }
        });
      };
      if (p.mode == QuantMode::affine) {
        run(TypeTag<T>{});
      } else {
        run(TypeTag<uint8_t>{});
      }
    }
  });
}

}  // namespace rill::detail::cpu
