// Workload W1 of SPEC.md: a pre-norm transformer encoder, written with rill's
// public API only. Shared by the rill-encoder demo, its peer benchmark and the
// test that checks it against PyTorch.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "rill/rill.h"

namespace rill::examples {

struct EncoderConfig {
  int batch = 1;
  int seq = 128;
  int dim = 256;
  int heads = 4;
  int layers = 2;
  Dtype dtype = float32;

  static EncoderConfig cpu() { return {}; }
  static EncoderConfig gpu() { return {4, 128, 512, 8, 4, bfloat16}; }
};

struct EncoderLayer {
  array ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  // The linear weights are held as [in, out] (see transpose_linear_weights)
  // rather than as stored, [out, in].
  bool transposed = false;
};

// The names of one layer's tensors in a safetensors file, in EncoderLayer order.
inline const std::vector<std::string>& encoder_tensor_names() {
  static const std::vector<std::string> names = {
      "ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "out.weight", "out.bias",
      "ln2.weight", "ln2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
  return names;
}

inline std::vector<array*> layer_slots(EncoderLayer& l) {
  return {&l.ln1_w, &l.ln1_b, &l.qkv_w, &l.qkv_b, &l.out_w, &l.out_b,
          &l.ln2_w, &l.ln2_b, &l.fc1_w, &l.fc1_b, &l.fc2_w, &l.fc2_b};
}

// Expected shapes, in EncoderLayer order (linear weights are [out, in]).
inline std::vector<Shape> layer_shapes(const EncoderConfig& c) {
  int d = c.dim;
  return {{d}, {d}, {3 * d, d}, {3 * d}, {d, d}, {d}, {d}, {d}, {4 * d, d}, {4 * d}, {d, 4 * d}, {d}};
}

// Seeded random weights (normal * 0.02 for matrices, LayerNorm weights near 1).
inline std::vector<EncoderLayer> random_encoder(const EncoderConfig& c, uint64_t seed,
                                                StreamOrDevice s = {}) {
  std::vector<EncoderLayer> layers(c.layers, EncoderLayer{
      array(0.0f), array(0.0f), array(0.0f), array(0.0f), array(0.0f), array(0.0f),
      array(0.0f), array(0.0f), array(0.0f), array(0.0f), array(0.0f), array(0.0f)});
  array key = random::key(seed);
  std::vector<Shape> shapes = layer_shapes(c);
  for (int i = 0; i < c.layers; ++i) {
    auto slots = layer_slots(layers[i]);
    for (size_t t = 0; t < slots.size(); ++t) {
      auto [k1, k2] = random::split(key, s);
      key = k1;
      bool is_norm_weight = t == 0 || t == 6;
      float scale = shapes[t].size() == 2 ? 0.02f : 0.1f;
      array w = random::normal(shapes[t], float32, is_norm_weight ? 1.0f : 0.0f, scale, k2, s);
      *slots[t] = astype(w, c.dtype, s);
    }
  }
  std::vector<array> all;
  for (auto& l : layers) {
    for (array* a : layer_slots(l)) all.push_back(*a);
  }
  eval(all);
  return layers;
}

// Weights from a safetensors file with SPEC.md's names (layers.{i}.{name}).
inline std::vector<EncoderLayer> load_encoder(const std::string& file, const EncoderConfig& c,
                                              StreamOrDevice s = {}) {
  auto [tensors, meta] = load_safetensors(file, s);
  std::vector<EncoderLayer> layers;
  std::vector<Shape> shapes = layer_shapes(c);
  for (int i = 0; i < c.layers; ++i) {
    layers.push_back(EncoderLayer{array(0.0f), array(0.0f), array(0.0f), array(0.0f),
                                  array(0.0f), array(0.0f), array(0.0f), array(0.0f),
                                  array(0.0f), array(0.0f), array(0.0f), array(0.0f)});
    auto slots = layer_slots(layers.back());
    for (size_t t = 0; t < slots.size(); ++t) {
      std::string name = "layers." + std::to_string(i) + "." + encoder_tensor_names()[t];
      auto it = tensors.find(name);
      if (it == tensors.end()) throw std::runtime_error(file + ": missing tensor " + name);
      if (it->second.shape() != shapes[t]) {
        throw std::runtime_error(file + ": tensor " + name + " has the wrong shape");
      }
      *slots[t] = astype(it->second, c.dtype, s);
    }
  }
  return layers;
}

// Copies each layer's linear weights, once, into [in, out] row-major order.
// Same results; on the CPU the matrix products then read both operands
// row-major, which OpenBLAS does faster than a transposed weight (the
// D -> 4D -> D products most: about 15% for fc2 on a Zen 4 core).
inline void transpose_linear_weights(std::vector<EncoderLayer>& layers,
                                     StreamOrDevice s = {}) {
  std::vector<array> all;
  for (EncoderLayer& l : layers) {
    if (l.transposed) continue;
    for (array* w : {&l.qkv_w, &l.out_w, &l.fc1_w, &l.fc2_w}) {
      *w = copy(transpose(*w, s), s);
      all.push_back(*w);
    }
    l.transposed = true;
  }
  eval(all);
}

// x @ w^T + b for w as stored ([out, in]: its transpose is a view that BLAS
// reads as transposed, not a copy), x @ w + b for a transposed layer; the bias
// is added by the product itself.
inline array linear(const array& x, const array& w, const array& b, bool transposed,
                    StreamOrDevice s) {
  return addmm(b, x, transposed ? w : transpose(w, s), 1.0f, 1.0f, s);
}

// One forward pass: x [B, S, D] -> [B, S, D]. Lazy: the caller evaluates.
inline array encoder_forward(const EncoderConfig& c, const std::vector<EncoderLayer>& layers,
                             array x, StreamOrDevice s = {}) {
  int B = c.batch, S = c.seq, D = c.dim, H = c.heads, Dh = D / H;
  float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  for (const EncoderLayer& l : layers) {
    array h = fast::layer_norm(x, l.ln1_w, l.ln1_b, 1e-5f, s);
    array qkv =
        reshape(linear(h, l.qkv_w, l.qkv_b, l.transposed, s), {B, S, 3, H, Dh}, s);
    qkv = transpose(qkv, {2, 0, 3, 1, 4}, s);  // [3, B, H, S, Dh]
    auto part = [&](int i) {
      return reshape(slice(qkv, {i, 0, 0, 0, 0}, {i + 1, B, H, S, Dh}, s), {B, H, S, Dh}, s);
    };
    array o = fast::scaled_dot_product_attention(part(0), part(1), part(2), scale, "",
                                                 std::nullopt, s);
    o = reshape(transpose(o, {0, 2, 1, 3}, s), {B, S, D}, s);
    x = add(x, linear(o, l.out_w, l.out_b, l.transposed, s), s);
    h = fast::layer_norm(x, l.ln2_w, l.ln2_b, 1e-5f, s);
    h = nn::gelu(linear(h, l.fc1_w, l.fc1_b, l.transposed, s), s);
    x = add(x, linear(h, l.fc2_w, l.fc2_b, l.transposed, s), s);
  }
  return x;
}

}  // namespace rill::examples
