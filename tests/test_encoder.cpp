// The W1 encoder (examples/encoder_model.h) against PyTorch: the fixture was
// made by scripts/make-encoder-fixture.py (weights, input, and PyTorch's
// float64 output for float32 weights).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "encoder_model.h"

using namespace rill;

namespace {

struct Fixture {
  examples::EncoderConfig config;
  std::vector<examples::EncoderLayer> layers;
  array input = array(0.0f);
  array output = array(0.0f);
};

Fixture load_fixture() {
  std::string file = std::string(RILL_TEST_DATA) + "/encoder_fixture.safetensors";
  auto [tensors, meta] = load_safetensors(file);
  Fixture f;
  f.config.batch = std::stoi(meta.at("batch"));
  f.config.seq = std::stoi(meta.at("seq"));
  f.config.dim = std::stoi(meta.at("dim"));
  f.config.heads = std::stoi(meta.at("heads"));
  f.config.layers = std::stoi(meta.at("layers"));
  f.config.dtype = float32;
  f.layers = examples::load_encoder(file, f.config);
  f.input = tensors.at("input");
  f.output = tensors.at("output");
  return f;
}

double relative_error(const array& got, const array& want) {
  array g = astype(got, float64), w = astype(want, float64);
  double num = std::sqrt(sum(square(subtract(g, w))).item<double>());
  double den = std::sqrt(sum(square(w)).item<double>());
  return num / den;
}

}  // namespace

TEST(Encoder, MatchesPyTorch) {
  Fixture f = load_fixture();
  array y = examples::encoder_forward(f.config, f.layers, f.input);
  ASSERT_EQ(y.shape(), f.output.shape());
  double err = relative_error(y, f.output);
  std::ostringstream os;
  os << std::scientific << err;
  RecordProperty("relative_error", os.str());
  std::cout << "relative error against PyTorch: " << os.str() << "\n";
  EXPECT_LE(err, 1e-5) << "relative error " << err;
}

// Weights copied into [in, out] order (what rill-encoder does on the CPU).
TEST(Encoder, TransposedWeightsMatchPyTorch) {
  Fixture f = load_fixture();
  examples::transpose_linear_weights(f.layers);
  ASSERT_TRUE(f.layers[0].transposed);
  EXPECT_EQ(f.layers[0].fc1_w.shape(), (Shape{f.config.dim, 4 * f.config.dim}));
  array y = examples::encoder_forward(f.config, f.layers, f.input);
  double err = relative_error(y, f.output);
  EXPECT_LE(err, 1e-5) << "relative error " << err;
  // Once only: a second call leaves the layers as they are.
  examples::transpose_linear_weights(f.layers);
  EXPECT_EQ(f.layers[0].fc1_w.shape(), (Shape{f.config.dim, 4 * f.config.dim}));
}

TEST(Encoder, SameResultOnEveryThread) {
  Fixture f = load_fixture();
  array ref = examples::encoder_forward(f.config, f.layers, f.input);
  eval(ref);
  std::vector<std::thread> ts;
  std::vector<int> equal(8, 0);
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        array y = examples::encoder_forward(f.config, f.layers, f.input);
        equal[t] += array_equal(y, ref).item<bool>() ? 1 : 0;
      }
    });
  }
  for (auto& th : ts) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(equal[t], 5) << "thread " << t;
}

// rill-encoder --compile: the compiled forward pass (traced once, elementwise
// chains fused) gives the uncompiled one's result bit for bit, from 8 threads.
TEST(Encoder, CompiledForwardIsTheSameOnEveryThread) {
  Fixture f = load_fixture();
  array ref = examples::encoder_forward(f.config, f.layers, f.input);
  eval(ref);
  CompiledFunction forward = compile([&](const std::vector<array>& in) {
    return std::vector<array>{examples::encoder_forward(f.config, f.layers, in[0])};
  });
  std::vector<std::thread> ts;
  std::vector<int> equal(8, 0);
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        array y = forward({f.input})[0];
        equal[t] += array_equal(y, ref).item<bool>() ? 1 : 0;
      }
    });
  }
  for (auto& th : ts) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(equal[t], 5) << "thread " << t;
  EXPECT_LE(relative_error(forward({f.input})[0], f.output), 1e-5);
}

TEST(Encoder, WrongWeightsFileIsAClearError) {
  examples::EncoderConfig c;
  c.dim = 64;  // the fixture has 32
  c.layers = 2;
  std::string file = std::string(RILL_TEST_DATA) + "/encoder_fixture.safetensors";
  EXPECT_THROW(examples::load_encoder(file, c), std::runtime_error);
}
