// Fused ops (layer_norm, rms_norm, rope, scaled_dot_product_attention) and the
// nn activations against plain reference loops in double on the same (rounded)
// inputs; attention also on views, masks, grouped heads, every float dtype, and
// in memory linear in the sequence length.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "backend/cpu/kernels.h"
#include "ops_helpers.h"

namespace rill {
namespace {

using test::all_close;
using test::eps_of;
using test::numel;
using test::random_array;
using test::throws_invalid;
using test::to_doubles;

constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<Dtype> kTypes = {float32, float16, bfloat16, float64};

// Relative tolerance for a result rounded once to `t` from float32 work
// (float64 works in double).
double tol_of(Dtype t) {
  return t == float32 ? 1e-5 : t == float64 ? 1e-12 : eps_of(t);
}

// |got - want| <= rtol * (|want| + 0.1 * max |want|): relative, with a floor
// for outputs that cancel to near zero (their rounding error scales with the
// terms, not the sum).
::testing::AssertionResult close_to(const std::vector<double>& got,
                                    const std::vector<double>& want, double rtol) {
  double peak = 0;
  for (double w : want) peak = std::max(peak, std::abs(w));
  return all_close(got, want, rtol, rtol * 0.1 * peak);
}

// The op takes float parameters; references use the same values.
double f32(double v) {
  return static_cast<float>(v);
}

// ---------------------------------------------------------------- norms

std::vector<double> ref_norm(const std::vector<double>& x, int64_t n,
                             const std::vector<double>* w, const std::vector<double>* b,
                             double eps, bool rms) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / n; ++r) {
    const double* row = x.data() + r * n;
    double mean = 0, sq = 0;
    if (!rms) {
      for (int64_t j = 0; j < n; ++j) mean += row[j];
      mean /= n;
    }
    for (int64_t j = 0; j < n; ++j) sq += (row[j] - mean) * (row[j] - mean);
    double inv = 1 / std::sqrt(sq / n + eps);
    for (int64_t j = 0; j < n; ++j) {
      out[r * n + j] = (row[j] - mean) * inv * (w ? (*w)[j] : 1) + (b ? (*b)[j] : 0);
    }
  }
  return out;
}

TEST(LayerNorm, MatchesReferenceWithAndWithoutWeightAndBias) {
  for (Dtype t : kTypes) {
    for (int n : {1, 7, 64, 257, 700, 1025}) {  // a warp per row up to 1024 (GPU)
      SCOPED_TRACE(dtype_name(t) + " n=" + std::to_string(n));
      array x = random_array({3, 2, n}, t, n, -3, 5);
      array w = random_array({n}, t, n + 1, 0.5, 2);
      array b = random_array({n}, t, n + 2, -1, 1);
      auto xv = to_doubles(x), wv = to_doubles(w), bv = to_doubles(b);
      array y = fast::layer_norm(x, w, b, 1e-5f);
      EXPECT_EQ(y.dtype(), t);
      EXPECT_EQ(y.shape(), x.shape());
      EXPECT_TRUE(close_to(to_doubles(y), ref_norm(xv, n, &wv, &bv, f32(1e-5), false),
                           4 * tol_of(t)));
      EXPECT_TRUE(
          close_to(to_doubles(fast::layer_norm(x, std::nullopt, std::nullopt, 1e-5f)),
                   ref_norm(xv, n, nullptr, nullptr, f32(1e-5), false), 4 * tol_of(t)));
      EXPECT_TRUE(close_to(to_doubles(fast::layer_norm(x, w, std::nullopt, 1e-2f)),
                           ref_norm(xv, n, &wv, nullptr, f32(1e-2), false),
                           4 * tol_of(t)));
      EXPECT_TRUE(close_to(to_doubles(fast::layer_norm(x, std::nullopt, b, 1e-5f)),
                           ref_norm(xv, n, nullptr, &bv, f32(1e-5), false),
                           4 * tol_of(t)));
    }
  }
}

TEST(LayerNorm, LargeOffsetDoesNotCancel) {
  // A mean of 1e4 with unit spread keeps float32 precision.
  std::vector<double> v(256);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 1e4 + std::sin(static_cast<double>(i));
  array x(v, {1, 256}, float32);
  EXPECT_TRUE(close_to(to_doubles(fast::layer_norm(x, std::nullopt, std::nullopt, 1e-5f)),
                       ref_norm(to_doubles(x), 256, nullptr, nullptr, f32(1e-5), false),
                       1e-5));
}

TEST(RmsNorm, MatchesReference) {
  for (Dtype t : kTypes) {
    SCOPED_TRACE(dtype_name(t));
    array x = random_array({4, 3, 96}, t, 7);
    array w = random_array({96}, t, 8, 0.5, 2);
    auto xv = to_doubles(x), wv = to_doubles(w);
    array y = fast::rms_norm(x, w, 1e-6f);
    EXPECT_EQ(y.dtype(), t);
    EXPECT_TRUE(close_to(to_doubles(y), ref_norm(xv, 96, &wv, nullptr, f32(1e-6), true),
                         4 * tol_of(t)));
    EXPECT_TRUE(close_to(to_doubles(fast::rms_norm(x, std::nullopt, 1e-6f)),
                         ref_norm(xv, 96, nullptr, nullptr, f32(1e-6), true),
                         4 * tol_of(t)));
  }
}

TEST(Norms, NonContiguousInputsAndParameters) {
  // x is a transposed view; weight and bias are strided slices.
  array base = random_array({48, 5, 2}, float32, 11);
  array x = transpose(base, {2, 1, 0});  // (2, 5, 48), last axis strided
  array wb = random_array({48, 2}, float32, 12, 0.5, 2);
  array w = squeeze(slice(wb, {0, 0}, {48, 1}), 1);
  array b = squeeze(slice(wb, {0, 1}, {48, 2}), 1);
  auto xv = to_doubles(x), wv = to_doubles(w), bv = to_doubles(b);
  EXPECT_TRUE(close_to(to_doubles(fast::layer_norm(x, w, b, 1e-5f)),
                       ref_norm(xv, 48, &wv, &bv, f32(1e-5), false), 1e-5));
  EXPECT_TRUE(close_to(to_doubles(fast::rms_norm(x, w, 1e-5f)),
                       ref_norm(xv, 48, &wv, nullptr, f32(1e-5), true), 1e-5));
}

TEST(Norms, PromoteToTheParameterDtype) {
  array x = random_array({2, 8}, float16, 1);
  array w = random_array({8}, float32, 2);
  EXPECT_EQ(fast::layer_norm(x, w, std::nullopt, 1e-5f).dtype(), float32);
  EXPECT_EQ(fast::rms_norm(x, w, 1e-5f).dtype(), float32);
}

TEST(Norms, BadInputsNameTheOp) {
  array x = random_array({2, 8}, float32, 1);
  EXPECT_TRUE(throws_invalid(
      [&] { fast::layer_norm(array(1.0f), std::nullopt, std::nullopt, 1e-5f); },
      "[layer_norm]"));
  EXPECT_TRUE(throws_invalid([&] { fast::layer_norm(x, ones({7}), std::nullopt, 1e-5f); },
                             "[layer_norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        fast::layer_norm(x, std::nullopt, ones({2, 8}), 1e-5f);
      },
      "[layer_norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] {
        fast::layer_norm(ones({2, 8}, int32), std::nullopt, std::nullopt, 1e-5f);
      },
      "[layer_norm]"));
  EXPECT_TRUE(throws_invalid([&] { fast::rms_norm(x, ones({9}), 1e-5f); }, "[rms_norm]"));
  EXPECT_TRUE(throws_invalid(
      [&] { fast::rms_norm(ones({3}, int32), std::nullopt, 1e-5f); }, "[rms_norm]"));
  EXPECT_TRUE(
      throws_invalid([&] { fast::rms_norm(x, std::nullopt, -1.0f); }, "[rms_norm]"));
}

// ---------------------------------------------------------------- rope

struct RopeCase {
  int dims;
  bool traditional;
  double scale;
};

// x is [N, L, D] (leading dims flattened); offsets has one value or one per
// index of the first of `lead` dims.
std::vector<double> ref_rope(const std::vector<double>& x, const Shape& shape, int dims,
                             bool traditional, const std::vector<double>& inv_freq,
                             double scale, const std::vector<int64_t>& offsets) {
  const int64_t d = shape.back(), len = shape[shape.size() - 2];
  const int64_t mats = static_cast<int64_t>(x.size()) / (d * len);
  const int64_t per_first = shape.size() >= 3 ? mats / shape[0] : mats;
  std::vector<double> out = x;
  const int half = dims / 2;
  for (int64_t m = 0; m < mats; ++m) {
    int64_t off = offsets.size() == 1 ? offsets[0] : offsets[m / per_first];
    for (int64_t l = 0; l < len; ++l) {
      const double* src = x.data() + (m * len + l) * d;
      double* dst = out.data() + (m * len + l) * d;
      for (int i = 0; i < half; ++i) {
        double a = (off + l) * scale * inv_freq[i];
        int ia = traditional ? 2 * i : i, ib = traditional ? 2 * i + 1 : i + half;
        dst[ia] = src[ia] * std::cos(a) - src[ib] * std::sin(a);
        dst[ib] = src[ia] * std::sin(a) + src[ib] * std::cos(a);
      }
    }
  }
  return out;
}

std::vector<double> base_inv_freq(int dims, double base) {
  std::vector<double> f(dims / 2);
  for (int i = 0; i < dims / 2; ++i) f[i] = std::pow(base, -2.0 * i / dims);
  return f;
}

TEST(Rope, MatchesReferenceTraditionalAndNot) {
  const Shape shape{2, 3, 10, 64};
  for (Dtype t : kTypes) {
    array x = random_array(shape, t, 3);
    auto xv = to_doubles(x);
    for (RopeCase c : {RopeCase{64, false, 1.0}, RopeCase{64, true, 1.0},
                       RopeCase{32, false, 0.5}, RopeCase{16, true, 2.0}}) {
      SCOPED_TRACE(dtype_name(t) + " dims=" + std::to_string(c.dims) +
                   " traditional=" + std::to_string(c.traditional));
      array y =
          fast::rope(x, c.dims, c.traditional, 10000.0f, static_cast<float>(c.scale), 5);
      EXPECT_EQ(y.dtype(), t);
      EXPECT_EQ(y.shape(), shape);
      auto want = ref_rope(xv, shape, c.dims, c.traditional, base_inv_freq(c.dims, 10000),
                           c.scale, {5});
      EXPECT_TRUE(close_to(to_doubles(y), want, 2 * tol_of(t)));
    }
  }
}

TEST(Rope, ArrayOffsetsAndFreqs) {
  const Shape shape{3, 2, 6, 32};
  array x = random_array(shape, float32, 4);
  auto xv = to_doubles(x);
  // One offset for all, then one per batch entry.
  array y1 = fast::rope(x, 32, false, 500.0f, 1.0f, array(7), std::nullopt);
  EXPECT_TRUE(close_to(to_doubles(y1),
                       ref_rope(xv, shape, 32, false, base_inv_freq(32, 500), 1.0, {7}),
                       1e-5));
  array per_batch = array({0, 100, 4096}, int32);
  array y2 = fast::rope(x, 32, true, 10000.0f, 1.0f, per_batch, std::nullopt);
  EXPECT_TRUE(close_to(
      to_doubles(y2),
      ref_rope(xv, shape, 32, true, base_inv_freq(32, 10000), 1.0, {0, 100, 4096}),
      1e-5));
  // freqs are periods: angle = position * scale / freqs[i].
  std::vector<double> periods(12), inv(12);
  for (int i = 0; i < 12; ++i) {
    periods[i] = 1.0 + 3.0 * i;
    inv[i] = 1.0 / periods[i];
  }
  array freqs(periods, {12}, float32);
  array y3 = fast::rope(x, 24, false, std::nullopt, 0.25f, 3, freqs);
  EXPECT_TRUE(
      close_to(to_doubles(y3), ref_rope(xv, shape, 24, false, inv, 0.25, {3}), 1e-5));
}

TEST(Rope, NonContiguousInputAndTwoDims) {
  // [B, L, H, D] seen as [B, H, L, D], as attention code does.
  array base = random_array({2, 9, 3, 16}, float32, 5);
  array x = swapaxes(base, 1, 2);
  auto xv = to_doubles(x);
  EXPECT_TRUE(close_to(
      to_doubles(fast::rope(x, 16, false, 10000.0f, 1.0f, 2)),
      ref_rope(xv, x.shape(), 16, false, base_inv_freq(16, 10000), 1.0, {2}), 1e-5));
  array x2 = random_array({5, 8}, bfloat16, 6);
  EXPECT_TRUE(
      close_to(to_doubles(fast::rope(x2, 8, true, 100.0f, 1.0f, 0)),
               ref_rope(to_doubles(x2), {5, 8}, 8, true, base_inv_freq(8, 100), 1.0, {0}),
               2 * eps_of(bfloat16)));
}

TEST(Rope, BadInputsNameTheOp) {
  array x = random_array({1, 4, 16}, float32, 1);
  const char* tag = "[rope]";
  EXPECT_TRUE(
      throws_invalid([&] { fast::rope(ones({16}), 16, false, 1e4f, 1.0f, 0); }, tag));
  EXPECT_TRUE(throws_invalid(
      [&] {
        fast::rope(ones({2, 16}, int32), 16, false, 1e4f, 1.0f, 0);
      },
      tag));
  EXPECT_TRUE(throws_invalid([&] { fast::rope(x, 15, false, 1e4f, 1.0f, 0); }, tag));
  EXPECT_TRUE(throws_invalid([&] { fast::rope(x, 18, false, 1e4f, 1.0f, 0); }, tag));
  EXPECT_TRUE(throws_invalid([&] { fast::rope(x, 0, false, 1e4f, 1.0f, 0); }, tag));
  EXPECT_TRUE(
      throws_invalid([&] { fast::rope(x, 16, false, std::nullopt, 1.0f, 0); }, tag));
  EXPECT_TRUE(
      throws_invalid([&] { fast::rope(x, 16, false, 1e4f, 1.0f, 0, ones({8})); }, tag));
  EXPECT_TRUE(throws_invalid(
      [&] { fast::rope(x, 16, false, std::nullopt, 1.0f, 0, ones({7})); }, tag));
  EXPECT_TRUE(
      throws_invalid([&] { fast::rope(x, 16, false, 1e4f, 1.0f, array(1.5f)); }, tag));
  EXPECT_TRUE(throws_invalid(
      [&] {
        fast::rope(x, 16, false, 1e4f, 1.0f, array({1, 2}, int32));
      },
      tag));
}

// ---------------------------------------------------------------- attention

struct Attn {
  int b, hq, hkv, lq, lk, d, dv;
};

std::string str(const Attn& a) {
  std::ostringstream os;
  os << "B=" << a.b << " Hq=" << a.hq << " Hkv=" << a.hkv << " Lq=" << a.lq
     << " Lk=" << a.lk << " D=" << a.d << " Dv=" << a.dv;
  return os.str();
}

// A mask's values (row-major, its own shape), read as broadcast to the scores.
struct Mask {
  std::vector<double> vals;
  Shape shape;
  bool boolean;
  double at(int b, int h, int i, int j) const {
    const int idx[4] = {b, h, i, j};
    int64_t flat = 0;
    const size_t lead = 4 - shape.size();
    for (size_t k = 0; k < shape.size(); ++k) {
      flat = flat * shape[k] + (shape[k] == 1 ? 0 : idx[lead + k]);
    }
    return vals[flat];
  }
};

// softmax(q k^T * scale + mask) v with plain loops in double: scores, then a
// softmax over each row, then the product with v. Rows that see no key give 0.
std::vector<double> ref_attention(const Attn& a, const std::vector<double>& q,
                                  const std::vector<double>& k,
                                  const std::vector<double>& v, double scale, bool causal,
                                  const Mask* mask = nullptr, int only_row = -1,
                                  std::vector<double>* terms = nullptr) {
  std::vector<double> out(static_cast<size_t>(a.b) * a.hq * a.lq * a.dv, 0.0);
  if (terms) terms->assign(out.size(), 0.0);
  std::vector<double> s(a.lk);
  const int group = a.hq / a.hkv;
  for (int b = 0; b < a.b; ++b) {
    for (int h = 0; h < a.hq; ++h) {
      const int hk = h / group;
      for (int i = 0; i < a.lq; ++i) {
        if (only_row >= 0 && i != only_row) continue;
        const double* qi =
            q.data() + ((static_cast<int64_t>(b) * a.hq + h) * a.lq + i) * a.d;
        double mx = -kInf;
        for (int j = 0; j < a.lk; ++j) {
          const double* kj =
              k.data() + ((static_cast<int64_t>(b) * a.hkv + hk) * a.lk + j) * a.d;
          double dot = 0;
          for (int c = 0; c < a.d; ++c) dot += qi[c] * kj[c];
          s[j] = dot * scale;
          if (mask) {
            double m = mask->at(b, h, i, j);
            if (mask->boolean) {
              if (m == 0) s[j] = -kInf;
            } else {
              s[j] += m;
            }
          }
          if (causal && j > i + a.lk - a.lq) s[j] = -kInf;
          mx = std::max(mx, s[j]);
        }
        double* o = out.data() + ((static_cast<int64_t>(b) * a.hq + h) * a.lq + i) * a.dv;
        if (mx == -kInf) continue;
        double sum = 0;
        for (int j = 0; j < a.lk; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int j = 0; j < a.lk; ++j) {
          const double* vj =
              v.data() + ((static_cast<int64_t>(b) * a.hkv + hk) * a.lk + j) * a.dv;
          for (int c = 0; c < a.dv; ++c) o[c] += s[j] / sum * vj[c];
          if (terms) {
            double* m = terms->data() + (o - out.data());
            for (int c = 0; c < a.dv; ++c) m[c] += s[j] / sum * std::abs(vj[c]);
          }
        }
      }
    }
  }
  return out;
}

struct Inputs {
  array q, k, v;
};
Inputs make_inputs(const Attn& a, Dtype t, uint32_t seed) {
  return {random_array({a.b, a.hq, a.lq, a.d}, t, seed, -1, 1),
          random_array({a.b, a.hkv, a.lk, a.d}, t, seed + 1, -1, 1),
          random_array({a.b, a.hkv, a.lk, a.dv}, t, seed + 2, -1, 1)};
}

::testing::AssertionResult attention_matches(const Attn& a, const Inputs& in, Dtype t,
                                             bool causal,
                                             const std::optional<array>& mask = {},
                                             double scale = 0) {
  if (scale == 0) scale = f32(1.0 / std::sqrt(static_cast<double>(a.d)));
  array out = fast::scaled_dot_product_attention(
      in.q, in.k, in.v, static_cast<float>(scale), causal ? "causal" : "", mask);
  if (out.shape() != Shape{a.b, a.hq, a.lq, a.dv}) {
    return ::testing::AssertionFailure() << "shape " << test::str(out.shape());
  }
  if (out.dtype() != t) return ::testing::AssertionFailure() << "dtype " << out.dtype();
  std::optional<Mask> m;
  if (mask) {
    // An additive mask is cast to the inputs' dtype.
    bool boolean = mask->dtype() == bool_;
    m = Mask{to_doubles(boolean ? *mask : astype(*mask, t)), mask->shape(), boolean};
  }
  std::vector<double> terms;
  auto want = ref_attention(a, to_doubles(in.q), to_doubles(in.k), to_doubles(in.v),
                            scale, causal, m ? &*m : nullptr, -1, &terms);
  if (t == float32 || t == float64) return close_to(to_doubles(out), want, tol_of(t));
  // Half types: the probabilities may be rounded to the input type before
  // the product with V, as every fast kernel does (the GPU's Hopper kernel
  // among them), so the bound is the type's rounding of each term p |v|
  // summed, not of the sum.
  std::vector<double> got = to_doubles(out);
  const double rtol = tol_of(t);
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = rtol * (std::abs(want[i]) + terms[i]) + 1e-12;
    if (!(std::abs(got[i] - want[i]) <= bound)) {
      return ::testing::AssertionFailure() << "element " << i << ": got " << got[i]
                                           << ", expected " << want[i] << " (bound " << bound
                                           << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// Lq != Lk, several blocks each way, causal with Lq < Lk and Lq > Lk (rows
// that see nothing), grouped heads, every head dim, Dv != D, decoding.
const std::vector<Attn> kShapes = {
    {1, 4, 4, 128, 128, 64, 64},  // W1
    {2, 2, 2, 7, 19, 80, 80},    {1, 2, 2, 33, 300, 96, 96},  {1, 8, 2, 17, 17, 128, 128},
    {1, 2, 1, 5, 140, 256, 256}, {1, 2, 2, 200, 150, 64, 32}, {2, 4, 2, 1, 260, 64, 64},
    {1, 3, 3, 130, 129, 8, 16},
    // Query rows past the product kernel's 8-row tiles: 3, 4 and 6 left over.
    {1, 2, 2, 11, 40, 64, 64},   {1, 2, 1, 76, 70, 64, 48},   {1, 2, 2, 30, 33, 32, 96},
};

void expect_float32_shapes_match() {
  uint32_t seed = 10;
  for (const Attn& a : kShapes) {
    Inputs in = make_inputs(a, float32, seed += 3);
    for (bool causal : {false, true}) {
      SCOPED_TRACE(str(a) + (causal ? " causal" : ""));
      EXPECT_TRUE(attention_matches(a, in, float32, causal));
    }
  }
}

TEST(Attention, MatchesReferenceAcrossShapesFloat32) { expect_float32_shapes_match(); }

// The same through BLAS, the float32 block products' other path (CPUs without
// AVX-512 take it; elsewhere the register-blocked kernel does).
TEST(Attention, MatchesReferenceWithBlasProducts) {
  struct Force {
    Force() { detail::cpu::attention_products_on_blas_for_testing(true); }
    ~Force() { detail::cpu::attention_products_on_blas_for_testing(false); }
  } force;
  expect_float32_shapes_match();
}

TEST(Attention, HalfTypesAndFloat64) {
  const std::vector<Attn> shapes = {{1, 4, 2, 40, 130, 64, 64},
                                    {1, 2, 2, 129, 129, 128, 128},
                                    {1, 2, 1, 9, 33, 256, 80}};
  for (Dtype t : {float16, bfloat16, float64}) {
    for (const Attn& a : shapes) {
      Inputs in = make_inputs(a, t, 77);
      for (bool causal : {false, true}) {
        SCOPED_TRACE(dtype_name(t) + " " + str(a) + (causal ? " causal" : ""));
        EXPECT_TRUE(attention_matches(a, in, t, causal));
      }
    }
  }
}

TEST(Attention, BooleanMasksBroadcast) {
  const Attn a{2, 4, 2, 21, 150, 64, 64};
  Inputs in = make_inputs(a, float32, 40);
  for (Shape ms : {Shape{21, 150}, Shape{2, 1, 21, 150}, Shape{1, 4, 1, 150},
                   Shape{2, 4, 21, 150}, Shape{150}}) {
    SCOPED_TRACE(test::str(ms));
    // About a quarter masked out; some rows of the full mask see nothing.
    auto vals = test::random_values(numel(ms), float32, 41, 0, 1);
    std::vector<bool> keep(vals.size());
    for (size_t i = 0; i < vals.size(); ++i) keep[i] = vals[i] > 0.25;
    if (ms.size() == 4 && ms[1] == 4) {
      for (int j = 0; j < 150; ++j) keep[3 * 150 + j] = false;
    }
    array mask(keep, ms, bool_);
    EXPECT_TRUE(attention_matches(a, in, float32, false, mask));
    EXPECT_TRUE(attention_matches(a, in, float32, true, mask));
  }
}

TEST(Attention, AdditiveMasksBroadcast) {
  const Attn a{1, 4, 4, 30, 140, 80, 80};
  for (Dtype t : {float32, float16, bfloat16}) {
    Inputs in = make_inputs(a, t, 50);
    for (Shape ms : {Shape{30, 140}, Shape{1, 4, 30, 140}, Shape{4, 1, 1}}) {
      SCOPED_TRACE(dtype_name(t) + " " + test::str(ms));
      auto vals = test::random_values(numel(ms), float32, 51, -3, 1);
      for (size_t i = 0; i < vals.size(); i += 7) vals[i] = -kInf;
      // A float32 mask with half inputs is cast to their dtype.
      EXPECT_TRUE(attention_matches(a, in, t, false, array(vals, ms, float32)));
      EXPECT_TRUE(attention_matches(a, in, t, false, array(vals, ms, t)));
    }
  }
}

TEST(Attention, NonContiguousViews) {
  // The encoder's pattern: one fused [B, L, 3, H, D] projection split into
  // [B, H, L, D] views with a strided row.
  const int b = 2, l = 37, h = 3, d = 64;
  for (Dtype t : {float32, bfloat16}) {
    SCOPED_TRACE(dtype_name(t));
    array qkv = transpose(random_array({b, l, 3, h, d}, t, 60, -1, 1), {2, 0, 3, 1, 4});
    auto part = [&](int i) {
      return squeeze(slice(qkv, {i, 0, 0, 0, 0}, {i + 1, b, h, l, d}), 0);
    };
    Attn a{b, h, h, l, l, d, d};
    EXPECT_TRUE(attention_matches(a, {part(0), part(1), part(2)}, t, false));
    EXPECT_TRUE(attention_matches(a, {part(0), part(1), part(2)}, t, true));
  }
  // Keys stored transposed ([B, H, D, L]): unit stride along L, not D. A
  // transposed boolean mask.
  const Attn a{1, 2, 2, 19, 45, 96, 96};
  Inputs in = make_inputs(a, float32, 70);
  in.k = swapaxes(random_array({1, 2, 96, 45}, float32, 71, -1, 1), 2, 3);
  in.v = swapaxes(random_array({45, 2, 1, 96}, float32, 72, -1, 1), 0, 2);
  auto vals = test::random_values(45 * 19, float32, 73, 0, 1);
  std::vector<bool> keep(vals.size());
  for (size_t i = 0; i < vals.size(); ++i) keep[i] = vals[i] > 0.3;
  array mask = transpose(array(keep, {45, 19}, bool_));
  EXPECT_TRUE(attention_matches(a, in, float32, false, mask));
}

TEST(Attention, MixedDtypesPromote) {
  const Attn a{1, 2, 2, 8, 8, 16, 16};
  Inputs in = make_inputs(a, float32, 80);
  in.k = astype(in.k, float16);
  array out = fast::scaled_dot_product_attention(in.q, in.k, in.v, 0.25f);
  EXPECT_EQ(out.dtype(), float32);
}

long status_kib(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

TEST(Attention, LongSequenceMemoryIsLinear) {
  // Host memory (RSS); test_gpu.cpp checks the GPU's own memory.
  StreamContext on_cpu(Device(Device::cpu));
  // 4096 x 4096 scores would be 64 MiB of float32; the kernel must not make them.
  const Attn a{1, 1, 1, 4096, 4096, 64, 64};
  Inputs in = make_inputs(a, float32, 90);
  eval(in.q, in.k, in.v);
  auto qv = to_doubles(in.q), kv = to_doubles(in.k), vv = to_doubles(in.v);
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    {
      std::ofstream reset("/proc/self/clear_refs");
      reset << "5";
      reset.flush();
      if (!reset) GTEST_SKIP() << "cannot reset the peak RSS";
    }
    long before = status_kib("VmRSS");
    array out = fast::scaled_dot_product_attention(in.q, in.k, in.v, 0.125f,
                                                   causal ? "causal" : "");
    out.eval();
    long growth_kib = status_kib("VmHWM") - before;
    EXPECT_LT(growth_kib, 16 * 1024) << "peak RSS grew by " << growth_kib << " KiB";
    auto got = to_doubles(out);
    for (int row : {0, 1, 2047, 4095}) {
      auto want = ref_attention(a, qv, kv, vv, 0.125, causal, nullptr, row);
      std::vector<double> g(got.begin() + row * 64, got.begin() + (row + 1) * 64);
      std::vector<double> w(want.begin() + row * 64, want.begin() + (row + 1) * 64);
      EXPECT_TRUE(close_to(g, w, 1e-5)) << "row " << row;
    }
  }
}

TEST(Attention, BadInputsNameTheOp) {
  const char* tag = "[scaled_dot_product_attention]";
  array q = ones({1, 4, 8, 16}), k = ones({1, 2, 10, 16}), v = ones({1, 2, 10, 16});
  auto sdpa = [](const array& q, const array& k, const array& v,
                 const std::string& mode = "",
                 const std::optional<array>& mask = std::nullopt) {
    return fast::scaled_dot_product_attention(q, k, v, 0.25f, mode, mask);
  };
  EXPECT_TRUE(throws_invalid([&] { sdpa(ones({4, 8, 16}), k, v); }, tag));
  EXPECT_TRUE(throws_invalid(
      [&] {
        sdpa(q, ones({2, 2, 10, 16}), ones({2, 2, 10, 16}));
      },
      tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(ones({1, 3, 8, 16}), k, v); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, ones({1, 2, 10, 8}), v); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, ones({1, 2, 11, 16})); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, ones({1, 1, 10, 16})); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(ones({1, 4, 8, 16}, int32), k, v); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, v, "upper"); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, v, "array"); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, v, "", ones({8, 9})); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, v, "", ones({2, 4, 8, 10})); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, v, "", ones({1, 1, 4, 8, 10})); }, tag));
  EXPECT_TRUE(throws_invalid([&] { sdpa(q, k, v, "", ones({8, 10}, int32)); }, tag));
  // Valid: Dv != D, broadcast masks of both kinds.
  EXPECT_EQ(sdpa(q, k, ones({1, 2, 10, 5})).shape(), (Shape{1, 4, 8, 5}));
  EXPECT_NO_THROW(sdpa(q, k, v, "causal", ones({10}, bool_)));
  EXPECT_NO_THROW(sdpa(q, k, v, "", zeros({4, 1, 10})));
  EXPECT_NO_THROW(sdpa(q, k, v, "array", zeros({4, 1, 10})));
}

// ---------------------------------------------------------------- nn

TEST(Nn, ActivationsMatchFormulas) {
  for (Dtype t : {float32, float16, bfloat16, float64}) {
    SCOPED_TRACE(dtype_name(t));
    array x = random_array({5, 40}, t, 100, -6, 6);
    auto xv = to_doubles(x);
    std::vector<double> gelu, approx, silu, relu;
    for (double v : xv) {
      gelu.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
      approx.push_back(0.5 * v *
                       (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
      silu.push_back(v / (1 + std::exp(-v)));
      relu.push_back(std::max(v, 0.0));
    }
    // Composed ops round at each step in half types (and 1 + erf cancels).
    double rtol = t == float32 ? 1e-5 : 8 * tol_of(t);
    double atol = t == float32 ? 1e-6 : 4 * tol_of(t);
    for (const array& y : {nn::gelu(x), nn::gelu_approx(x), nn::silu(x), nn::relu(x)}) {
      EXPECT_EQ(y.dtype(), t);
    }
    EXPECT_TRUE(all_close(to_doubles(nn::gelu(x)), gelu, rtol, atol));
    EXPECT_TRUE(all_close(to_doubles(nn::gelu_approx(x)), approx, rtol, atol));
    EXPECT_TRUE(all_close(to_doubles(nn::silu(x)), silu, rtol, atol));
    EXPECT_TRUE(all_close(to_doubles(nn::relu(x)), relu));
  }
}

// nn::gelu is one fused kernel; it must agree with the composition of ops it
// replaced (0.5 x + 0.5 x erf(x / sqrt 2), each op rounding to the dtype).
TEST(Nn, FusedGeluMatchesComposedOps) {
  array x = random_array({64, 300}, float32, 101, -8, 8);
  array half_x = multiply(x, array(0.5f));
  array e = erf(multiply(x, array(0.7071067811865476f)));
  array composed = add(half_x, multiply(half_x, e));
  // Strided input: the fused kernel's generic loop.
  array xt = transpose(x);
  array composed_t = transpose(composed);
  EXPECT_TRUE(all_close(to_doubles(nn::gelu(x)), to_doubles(composed), 1e-6));
  EXPECT_TRUE(all_close(to_doubles(nn::gelu(xt)), to_doubles(composed_t), 1e-6));
  EXPECT_EQ(nn::gelu(array(0.0f)).item<float>(), 0.0f);
  EXPECT_TRUE(std::isnan(nn::gelu(array(std::nanf(""))).item<float>()));
  EXPECT_EQ(nn::gelu(array(-100.0f)).item<float>(), 0.0f);
  EXPECT_EQ(nn::gelu(array(100.0f)).item<float>(), 100.0f);
  // Integers compute in float32.
  array xi = array({-2, 0, 3}, int32);
  EXPECT_EQ(nn::gelu(xi).dtype(), float32);
  EXPECT_TRUE(
      all_close(to_doubles(nn::gelu(xi)), to_doubles(nn::gelu(astype(xi, float32)))));
}

}  // namespace
}  // namespace rill
