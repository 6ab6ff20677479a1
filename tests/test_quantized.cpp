// MLX's quantization: quantize / dequantize bit for bit against MLX's own
// outputs (tests/data/quantized_mlx.safetensors, written by
// scripts/make-quantized-fixture.py with MLX 0.32.4) for every mode, bits and
// group size in float32, float16 and bfloat16; quantized_matmul against MLX's
// products and against dequantize + matmul (transposed and not, few and many
// rows, batched and broadcast weights, non-contiguous inputs); gather_qmm,
// qqmm and gather_qqmm against their compositions; the documented errors.
// On the default device (the GPU in a suite run with RILL_DEVICE=gpu).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "ops_helpers.h"
#include "rill/rill.h"

namespace rill::test {
namespace {

const std::string kFixture = std::string(RILL_TEST_DATA) + "/quantized_mlx.safetensors";

struct Case {
  std::string mode;
  int bits, group;
};

std::vector<Case> all_cases() {
  std::vector<Case> c;
  for (int b : {2, 3, 4, 5, 6, 8}) {
    for (int g : {32, 64, 128}) c.push_back({"affine", b, g});
  }
  c.push_back({"mxfp4", 4, 32});
  c.push_back({"mxfp8", 8, 32});
  c.push_back({"nvfp4", 4, 16});
  return c;
}

std::string tag_of(const Case& c, Dtype t) {
  return c.mode + "_b" + std::to_string(c.bits) + "_g" + std::to_string(c.group) + "_" +
         dtype_name(t);
}

// Largest |a - b| over the largest |b|.
double rel_error(const array& a, const array& b) {
  std::vector<double> x = to_doubles(a), y = to_doubles(b);
  double err = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err = std::max(err, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return scale > 0 ? err / scale : err;
}

double tol_of(Dtype t) { return t == float32 ? 1e-5 : (t == float16 ? 4e-3 : 2e-2); }

template <typename F>
bool throws_with(F&& f, const std::string& what) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(what) != std::string::npos) return true;
    ADD_FAILURE() << "message: " << e.what();
    return false;
  }
  return false;
}

TEST(Quantized, QuantizeAndDequantizeAreMlxsBitForBit) {
  auto [arrays, meta] = load_safetensors(kFixture);
  ASSERT_EQ(meta["mlx"], "0.32.4");
  for (Dtype t : {float32, float16, bfloat16}) {
    array w = astype(arrays.at("w_float32"), t);
    for (const Case& c : all_cases()) {
      const std::string tag = tag_of(c, t);
      SCOPED_TRACE(tag);
      auto q = quantize(w, c.group, c.bits, c.mode);
      ASSERT_EQ(q.size(), c.mode == "affine" ? 3u : 2u);
      EXPECT_EQ(q[0].dtype(), uint32);
      EXPECT_EQ(q[0].shape(), arrays.at(tag + "_codes").shape());
      EXPECT_EQ(to_doubles(q[0]), to_doubles(arrays.at(tag + "_codes")));
      EXPECT_EQ(q[1].dtype(), arrays.at(tag + "_scales").dtype());
      EXPECT_EQ(to_doubles(q[1]), to_doubles(arrays.at(tag + "_scales")));
      std::optional<array> biases;
      if (c.mode == "affine") {
        EXPECT_EQ(to_doubles(q[2]), to_doubles(arrays.at(tag + "_biases")));
        biases = q[2];
      }
      // MLX's codes, scales and biases back to values: MLX's values.
      std::optional<array> mb;
      if (c.mode == "affine") mb = arrays.at(tag + "_biases");
      array deq = dequantize(arrays.at(tag + "_codes"), arrays.at(tag + "_scales"), mb, c.group,
                             c.bits, c.mode);
      const array& want = arrays.at(tag + "_deq");
      EXPECT_EQ(deq.dtype(), want.dtype());
      EXPECT_EQ(to_doubles(deq), to_doubles(want));
      if (c.mode != "nvfp4") {
        array x = astype(arrays.at("x_float32"), t);
        array y = quantized_matmul(x, q[0], q[1], biases, true, c.group, c.bits, c.mode);
        EXPECT_LE(rel_error(y, arrays.at(tag + "_qmm")), tol_of(t) * 4);
      }
    }
  }
}

// quantized_matmul against dequantize + matmul: x [.., M, K], rows from 1
// (the vector kernels) to 24 (the dequantized product), both layouts.
TEST(Quantized, MatmulMatchesDequantizeThenMatmul) {
  for (Dtype t : {float32, bfloat16}) {
    for (const Case& c : all_cases()) {
      for (bool tr : {true, false}) {
        for (int M : {1, 3, 8, 24}) {
          SCOPED_TRACE(tag_of(c, t) + (tr ? " transposed" : "") + " M " + std::to_string(M));
          const int K = 256, N = tr ? 99 : 128;  // untransposed, N holds the groups
          array w = random_array(tr ? Shape{N, K} : Shape{K, N}, t, 3, -1, 1);
          auto q = quantize(w, c.group, c.bits, c.mode);
          std::optional<array> b;
          if (c.mode == "affine") b = q[2];
          array wd = dequantize(q[0], q[1], b, c.group, c.bits, c.mode, std::nullopt, t);
          array x = random_array({2, M, K}, t, 4, -1, 1);
          array y = quantized_matmul(x, q[0], q[1], b, tr, c.group, c.bits, c.mode);
          array want = matmul(astype(x, float32), astype(tr ? transpose(wd) : wd, float32));
          EXPECT_EQ(y.shape(), (Shape{2, M, N}));
          EXPECT_EQ(y.dtype(), t);
          EXPECT_LE(rel_error(y, want), tol_of(t));
        }
      }
    }
  }
}

// Many rows of w against one or two rows of x, every affine width: on the GPU
// the decoding kernels then give a warp several rows of w (the count not a
// multiple of it), in float16 too.
TEST(Quantized, WideMatrixTimesFewRows) {
  const int K = 128, N = 8451;
  for (Dtype t : {float32, bfloat16, float16}) {
    array w = random_array({N, K}, t, 11, -1, 1);
    for (int bits : {2, 3, 4, 5, 6, 8}) {
      auto q = quantize(w, 32, bits);
      array wd = astype(dequantize(q[0], q[1], q[2], 32, bits), float32);
      for (int M : {1, 2}) {
        SCOPED_TRACE(dtype_name(t) + " bits " + std::to_string(bits) + " M " + std::to_string(M));
        array x = random_array({M, K}, t, 12, -1, 1);
        array y = quantized_matmul(x, q[0], q[1], q[2], true, 32, bits);
        EXPECT_EQ(y.dtype(), t);
        EXPECT_LE(rel_error(y, matmul(astype(x, float32), transpose(wd))), tol_of(t));
      }
    }
  }
}

TEST(Quantized, BatchedBroadcastAndStridedOperands) {
  const int K = 128, N = 64;
  array w = random_array({3, N, K}, float32, 5, -2, 2);
  auto q = quantize(w, 64, 4);
  array wd = dequantize(q[0], q[1], q[2], 64, 4);
  // x's batch [2, 1] against w's [3]: broadcast to [2, 3].
  array x = random_array({2, 1, 5, K}, float32, 6, -1, 1);
  array y = quantized_matmul(x, q[0], q[1], q[2], true, 64, 4);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 5, N}));
  EXPECT_LE(rel_error(y, matmul(x, swapaxes(wd, -1, -2))), 1e-5);
  // A transposed view of x, and a 1-D x.
  array xt = transpose(random_array({K, 4}, float32, 7, -1, 1));
  array w2 = random_array({N, K}, float32, 8, -1, 1);
  auto q2 = quantize(w2, 32, 3);
  array wd2 = dequantize(q2[0], q2[1], q2[2], 32, 3);
  EXPECT_LE(rel_error(quantized_matmul(xt, q2[0], q2[1], q2[2], true, 32, 3),
                      matmul(xt, transpose(wd2))),
            1e-5);
  array v = random_array({K}, float32, 9, -1, 1);
  array yv = quantized_matmul(v, q2[0], q2[1], q2[2], true, 32, 3);
  EXPECT_EQ(yv.shape(), (Shape{N}));
  EXPECT_LE(rel_error(yv, matmul(reshape(v, {1, K}), transpose(wd2))), 1e-5);
  // Integer x computes in the scales' type (MLX's promotion).
  EXPECT_EQ(quantized_matmul(astype(v, int32), q2[0], q2[1], q2[2], true, 32, 3).dtype(),
            float32);
}

TEST(Quantized, GatherQmmPicksMatrices) {
  const int K = 64, N = 32;
  array w = random_array({4, N, K}, float32, 10, -1, 1);
  auto q = quantize(w, 32, 8);
  array wd = dequantize(q[0], q[1], q[2], 32, 8);
  array x = random_array({3, 2, K}, float32, 11, -1, 1);
  array li = array({2, 0, 1, 1}, Shape{4}, uint32);
  array ri = array({3, 3, 0, 2}, Shape{4}, uint32);
  array y = gather_qmm(x, q[0], q[1], q[2], li, ri, true, 32, 8);
  array want = gather_mm(x, swapaxes(wd, -1, -2), li, ri);
  EXPECT_EQ(y.shape(), (Shape{4, 2, N}));
  EXPECT_LE(rel_error(y, want), 1e-5);
  // No indices: quantized_matmul (x's batch and w's broadcast).
  array x4 = random_array({4, 2, K}, float32, 17, -1, 1);
  EXPECT_LE(rel_error(gather_qmm(x4, q[0], q[1], q[2], std::nullopt, std::nullopt, true, 32, 8,
                                 "affine", std::nullopt, false),
                      quantized_matmul(x4, q[0], q[1], q[2], true, 32, 8)),
            0.0);
}

TEST(Quantized, QqmmRoundsBothOperandsThroughTheFormat) {
  const int K = 64, N = 16;
  array x = random_array({3, K}, float32, 12, -4, 4);
  array w = random_array({N, K}, float32, 13, -4, 4);
  for (std::string mode : {"mxfp8", "nvfp4", "mxfp4"}) {
    SCOPED_TRACE(mode);
    auto qx = quantize(x, std::nullopt, std::nullopt, mode);
    array xr = dequantize(qx[0], qx[1], std::nullopt, std::nullopt, std::nullopt, mode,
                          std::nullopt, float32);
    auto qw = quantize(w, std::nullopt, std::nullopt, mode);
    array wr = dequantize(qw[0], qw[1], std::nullopt, std::nullopt, std::nullopt, mode,
                          std::nullopt, float32);
    array want = matmul(xr, transpose(wr));
    EXPECT_LE(rel_error(qqmm(x, qw[0], qw[1], std::nullopt, std::nullopt, mode), want), 1e-6);
    EXPECT_LE(rel_error(qqmm(x, w, std::nullopt, std::nullopt, std::nullopt, mode), want), 1e-6);
  }
  // nvfp4 over global scales.
  array gx = array(3.0f), gw = array(5.0f);
  auto qw = quantize(w, std::nullopt, std::nullopt, "nvfp4", gw);
  array wr = dequantize(qw[0], qw[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", gw,
                        float32);
  auto qx = quantize(x, std::nullopt, std::nullopt, "nvfp4", gx);
  array xr = dequantize(qx[0], qx[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", gx,
                        float32);
  EXPECT_LE(rel_error(qqmm(x, qw[0], qw[1], std::nullopt, std::nullopt, "nvfp4", gx, gw),
                      matmul(xr, transpose(wr))),
            1e-6);
  EXPECT_LE(rel_error(wr, w), 0.2);  // the round trip stays near w
  array li = array({1, 0}, Shape{2}, uint32);
  array x3 = random_array({2, 1, K}, float32, 14, -1, 1);
  array w3 = random_array({2, N, K}, float32, 15, -1, 1);
  array g = gather_qqmm(x3, w3, std::nullopt, li, std::nullopt, std::nullopt, std::nullopt,
                        "mxfp8");
  EXPECT_EQ(g.shape(), (Shape{2, 1, N}));
}

TEST(Quantized, ManyThreadsAtOnce) {
  const int K = 256, N = 128;
  array w = random_array({N, K}, bfloat16, 16, -1, 1);
  auto q = quantize(w, 64, 4);
  array wd = astype(dequantize(q[0], q[1], q[2], 64, 4), float32);
  eval(q);
  std::vector<std::thread> threads;
  std::vector<double> errors(8, 1.0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 5; ++rep) {
        array x = random_array({1 + i, K}, bfloat16, 100 + i, -1, 1);
        array y = quantized_matmul(x, q[0], q[1], q[2], true, 64, 4);
        errors[i] = rel_error(y, matmul(astype(x, float32), transpose(wd)));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (double e : errors) EXPECT_LE(e, tol_of(bfloat16));
}

TEST(Quantized, EmptyMatrices) {
  auto q = quantize(zeros({0, 64}), 64, 4);
  EXPECT_EQ(q[0].shape(), (Shape{0, 8}));
  EXPECT_EQ(q[1].shape(), (Shape{0, 1}));
  array y = quantized_matmul(zeros({0, 64}), quantize(ones({8, 64}), 64, 4)[0],
                             quantize(ones({8, 64}), 64, 4)[1], quantize(ones({8, 64}), 64, 4)[2]);
  EXPECT_EQ(y.shape(), (Shape{0, 8}));
  y.eval();
}

TEST(Quantized, ErrorsNameTheOpAndTheValues) {
  array w = ones({8, 64});
  auto q = quantize(w);
  EXPECT_TRUE(throws_with([&] { quantize(w, 64, 4, "fp4"); }, "[quantize] invalid quantization mode 'fp4'"));
  EXPECT_TRUE(throws_with([&] { quantize(w, 48, 4); }, "group size 48"));
  EXPECT_TRUE(throws_with([&] { quantize(w, 64, 7); }, "number of bits 7"));
  EXPECT_TRUE(throws_with([&] { quantize(ones({64})); }, "at least 2 dimensions"));
  EXPECT_TRUE(throws_with([&] { quantize(ones({8, 60}), 32, 4); }, "divisible by the quantization group size 32"));
  EXPECT_TRUE(throws_with([&] { quantize(ones({8, 64}, int32)); }, "only real floating types"));
  EXPECT_TRUE(throws_with([&] { quantize(w, 16, 4, "mxfp4"); }, "mxfp4 quantization requires group size 32"));
  EXPECT_TRUE(throws_with([&] { quantize(w, 32, 4, "mxfp8"); }, "mxfp8 quantization requires bits to be 8"));
  EXPECT_TRUE(throws_with([&] { quantize(w, 32, 4, "mxfp4", array(1.0f)); }, "global scale is only supported for 'nvfp4'"));
  EXPECT_TRUE(throws_with([&] { dequantize(q[0], q[1]); }, "[dequantize] biases must be provided"));
  EXPECT_TRUE(throws_with([&] { dequantize(astype(q[0], int32), q[1], q[2]); }, "uint32"));
  EXPECT_TRUE(throws_with([&] { dequantize(q[0], q[1], q[2], 32, 4); }, "incompatible based on bits and group_size"));
  EXPECT_TRUE(throws_with([&] { dequantize(q[0], q[1], q[2], 64, 4, "mxfp4"); }, "scale type must be uint8"));
  EXPECT_TRUE(throws_with([&] { quantized_matmul(ones({2, 32}), q[0], q[1], q[2]); },
                          "[quantized_matmul] last dimension of first input with shape (2, 32) does not match"));
  EXPECT_TRUE(throws_with([&] { quantized_matmul(ones({2, 64}), q[0], q[1], ones({8, 2})); },
                          "scales and biases should have the same shape"));
  EXPECT_TRUE(throws_with([&] { gather_qmm(ones({2, 64}), q[0], q[1], q[2], array({1.5f})); },
                          "Indices must be integral"));
  EXPECT_TRUE(throws_with([&] { qqmm(ones({2, 64}), q[0], q[1], 64, 4, "affine"); },
                          "[qqmm] affine quantization is not supported"));
  EXPECT_TRUE(throws_with([&] { qqmm(ones({2, 2, 64}), ones({8, 64})); }, "only 2D inputs"));
}

}  // namespace
}  // namespace rill::test
