// The decoder's weights (from Hugging Face names) and its forward pass.
#include "rill/llm/model.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "format.h"

namespace rill::llm {
namespace {

using detail::shape_str;

[[noreturn]] void bad_weights(const std::string& what) {
  throw std::invalid_argument("[llm::Model] " + what);
}

bool supported_dtype(Dtype t) {
  return t == float32 || t == bfloat16 || t == float16;
}

// Periods (1 / frequency) of the rotary embedding under "llama3" scaling:
// long wavelengths are stretched by `factor`, short ones kept, and the band
// between blended, as transformers computes them.
array llama3_periods(const ModelConfig& c) {
  const RopeScaling& r = c.rope_scaling;
  const double old_len = r.original_max_position_embeddings;
  const double low_wavelen = old_len / r.low_freq_factor;
  const double high_wavelen = old_len / r.high_freq_factor;
  std::vector<float> periods(c.head_dim / 2);
  for (int i = 0; i < c.head_dim / 2; ++i) {
    double inv = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
    double wavelen = 2 * std::numbers::pi / inv;
    if (wavelen > low_wavelen) {
      inv /= r.factor;
    } else if (wavelen >= high_wavelen) {
      double smooth = (old_len / wavelen - r.low_freq_factor) /
                      (r.high_freq_factor - r.low_freq_factor);
      inv = (1 - smooth) * inv / r.factor + smooth * inv;
    }
    periods[i] = static_cast<float>(1.0 / inv);
  }
  return array(periods, Shape{c.head_dim / 2}, float32);
}

}  // namespace

Model Model::from_weights(const ModelConfig& config,
                          const std::unordered_map<std::string, array>& weights,
                          const LoadOptions& options) {
  config.validate();
  auto embed_it = weights.find("model.embed_tokens.weight");
  if (embed_it == weights.end()) bad_weights("missing tensor model.embed_tokens.weight");
  // A quantized layer (MLX's checkpoints) has `.scales` beside its `.weight`.
  auto quantized = [&](const std::string& name) {
    return weights.count(name + ".scales") > 0;
  };
  const bool any_quantized = std::any_of(weights.begin(), weights.end(), [](const auto& kv) {
    const std::string& n = kv.first;
    return n.size() > 7 && n.compare(n.size() - 7, 7, ".scales") == 0;
  });
  if (any_quantized && !config.quantization) {
    bad_weights("the weights are quantized (.scales tensors) but the config has no "
                "\"quantization\"");
  }
  const bool embed_q = quantized("model.embed_tokens");
  const Dtype dtype = options.dtype.value_or(
      embed_q ? weights.at("model.embed_tokens.scales").dtype() : embed_it->second.dtype());
  if (!supported_dtype(dtype)) {
    bad_weights("weights must be float32, bfloat16 or float16, got " + dtype_name(dtype));
  }
  const Device device = options.device.value_or(default_device());
  const bool on_gpu = device.type == Device::gpu;
  std::vector<array> made;
  // A weight, checked, cast and on its device. Loaded weights live in host
  // memory; a GPU copies them once here rather than at first use.
  auto get = [&](const std::string& name, const Shape& shape) -> array {
    auto it = weights.find(name);
    if (it == weights.end()) bad_weights("missing tensor " + name);
    const array& w = it->second;
    if (w.shape() != shape) {
      bad_weights("tensor " + name + " has shape " + shape_str(w.shape()) +
                  ", expected " + shape_str(shape) + " from the config");
    }
    if (!supported_dtype(w.dtype())) {
      bad_weights("tensor " + name + " is " + dtype_name(w.dtype()) +
                  ", expected float32, bfloat16 or float16");
    }
    array out = w.dtype() != dtype ? astype(w, dtype, device)
                : on_gpu           ? copy(w, device)
                                   : w;
    made.push_back(out);
    return out;
  };
  // A quantized layer's parts in MLX's layout: codes uint32 [out, in bits / 32],
  // scales (and affine's biases) [out, in / group_size].
  auto codes = [&](const std::string& name, int out, int in) -> Linear {
    const Quantization& q = *config.quantization;
    if (q.bits <= 0 || q.group_size <= 0 || (int64_t(in) * q.bits) % 32 != 0 ||
        in % q.group_size != 0) {
      bad_weights("layer " + name + " of " + std::to_string(in) + " inputs cannot hold " +
                  std::to_string(q.bits) + "-bit codes in groups of " +
                  std::to_string(q.group_size));
    }
    auto it = weights.find(name + ".weight");
    if (it == weights.end()) bad_weights("missing tensor " + name + ".weight");
    const array& w = it->second;
    const Shape want{out, static_cast<int>(int64_t(in) * q.bits / 32)};
    if (w.dtype() != uint32 || w.shape() != want) {
      bad_weights("tensor " + name + ".weight is " + dtype_name(w.dtype()) + " " +
                  shape_str(w.shape()) + ", expected uint32 " + shape_str(want) + " (" +
                  std::to_string(q.bits) + "-bit codes)");
    }
    array packed = on_gpu ? copy(w, device) : w;
    made.push_back(packed);
    // Affine's scales are floats (cast to the model's dtype); the float modes'
    // are uint8 exponents or e4m3 codes, kept as they are.
    auto raw_scales = [&]() -> array {
      auto sit = weights.find(name + ".scales");
      const Shape sw{out, in / q.group_size};
      if (sit->second.dtype() != uint8 || sit->second.shape() != sw) {
        bad_weights("tensor " + name + ".scales is " + dtype_name(sit->second.dtype()) + " " +
                    shape_str(sit->second.shape()) + ", expected uint8 " + shape_str(sw) +
                    " for mode " + q.mode);
      }
      array a = on_gpu ? copy(sit->second, device) : sit->second;
      made.push_back(a);
      return a;
    };
    QuantizedWeight qw{q.mode == "affine" ? get(name + ".scales", {out, in / q.group_size})
                                          : raw_scales(),
                       std::nullopt, q.group_size, q.bits, q.mode};
    if (q.mode == "affine") qw.biases = get(name + ".biases", {out, in / q.group_size});
    return Linear{packed, std::nullopt, qw};
  };
  auto linear = [&](const std::string& name, int out, int in, bool bias) {
    Linear l = quantized(name) ? codes(name, out, in)
                               : Linear{get(name + ".weight", {out, in}), std::nullopt,
                                        std::nullopt};
    if (bias) l.bias = get(name + ".bias", {out});
    return l;
  };

  const ModelConfig& c = config;
  const int d = c.hidden_size, q_out = c.num_attention_heads * c.head_dim,
            kv_out = c.num_key_value_heads * c.head_dim, f = c.intermediate_size;
  Model m(config, dtype);
  if (embed_q) {
    Linear e = codes("model.embed_tokens", c.vocab_size, d);
    m.embed_tokens = e.weight;
    m.embed_quantized_ = e.quantized;
  } else {
    m.embed_tokens = get("model.embed_tokens.weight", {c.vocab_size, d});
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    m.layers_.push_back(DecoderLayer{
        get(p + "input_layernorm.weight", {d}),
        get(p + "post_attention_layernorm.weight", {d}),
        linear(p + "self_attn.q_proj", q_out, d, c.qkv_bias),
        linear(p + "self_attn.k_proj", kv_out, d, c.qkv_bias),
        linear(p + "self_attn.v_proj", kv_out, d, c.qkv_bias),
        linear(p + "self_attn.o_proj", d, q_out, c.o_bias),
        linear(p + "mlp.gate_proj", f, d, c.mlp_bias),
        linear(p + "mlp.up_proj", f, d, c.mlp_bias),
        linear(p + "mlp.down_proj", d, f, c.mlp_bias),
    });
  }
  m.norm = get("model.norm.weight", {d});
  m.lm_head = c.tie_word_embeddings ? Linear{m.embed_tokens, std::nullopt, m.embed_quantized_}
                                    : linear("lm_head", c.vocab_size, d, false);
  if (c.rope_scaling.type == "linear") m.rope_scale_ = 1.0f / c.rope_scaling.factor;
  if (c.rope_scaling.type == "llama3") {
    m.rope_periods_ = llama3_periods(c);
    made.push_back(*m.rope_periods_);
  }
  eval(made);
  return m;
}

std::vector<array> Model::parameters() const {
  std::vector<array> all{embed_tokens, norm};
  if (embed_quantized_) {
    all.push_back(embed_quantized_->scales);
    if (embed_quantized_->biases) all.push_back(*embed_quantized_->biases);
  }
  auto add = [&](const Linear& l) {
    all.push_back(l.weight);
    if (l.bias) all.push_back(*l.bias);
    if (l.quantized) {
      all.push_back(l.quantized->scales);
      if (l.quantized->biases) all.push_back(*l.quantized->biases);
    }
  };
  for (const DecoderLayer& l : layers_) {
    all.insert(all.end(), {l.input_norm, l.post_attention_norm});
    for (const Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) add(*lin);
  }
  if (!config_.tie_word_embeddings || (lm_head.quantized && !embed_quantized_)) add(lm_head);
  return all;
}

Model Model::quantize(int bits, int group_size, const std::string& mode) const {
  Model out = *this;
  for (DecoderLayer& l : out.layers_) {
    for (Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      *lin = lin->quantize(bits, group_size, mode);
    }
  }
  out.lm_head = lm_head.quantize(bits, group_size, mode);
  eval(out.parameters());
  return out;
}

array Model::rope(const array& x, const KVCache& cache,
                  const std::optional<array>& positions, StreamOrDevice s) const {
  std::optional<float> base;
  if (!rope_periods_) base = config_.rope_theta;
  // Hugging Face rotates the two halves of each head (not adjacent pairs).
  if (positions) {
    return fast::rope(x, config_.head_dim, false, base, rope_scale_, *positions,
                      rope_periods_, s);
  }
  return fast::rope(x, config_.head_dim, false, base, rope_scale_, cache.offset(),
                    rope_periods_, s);
}

array Model::forward(const array& tokens, KVCache& cache, bool all_logits,
                     StreamOrDevice s) const {
  const ModelConfig& c = config_;
  if (tokens.ndim() != 2 || !is_integral(tokens.dtype()) || tokens.shape(1) == 0) {
    throw std::invalid_argument(
        "[llm::Model::forward] tokens must be integers of shape "
        "[batch, length > 0], got " +
        dtype_name(tokens.dtype()) + " of shape " + shape_str(tokens.shape()));
  }
  const int batch = tokens.shape(0), len = tokens.shape(1);
  if (batch != cache.batch() || cache.layers() != c.num_hidden_layers) {
    throw std::invalid_argument("[llm::Model::forward] the cache holds " +
                                std::to_string(cache.batch()) + " rows of " +
                                std::to_string(cache.layers()) + " layers, the step " +
                                std::to_string(batch) + " rows of " +
                                std::to_string(c.num_hidden_layers) + " layers");
  }
  const int hq = c.num_attention_heads, hkv = c.num_key_value_heads, dh = c.head_dim;
  const int offset = cache.offset(), keys_len = offset + len;

  // Left-padded rows: each its own positions, and its padding masked out (a
  // padding slot's query sees the padding before it, so that its values stay
  // finite).
  std::optional<array> positions, mask;
  std::string mask_mode;
  if (cache.padded()) {
    const std::vector<int>& pad = cache.left_padding();
    std::vector<int32_t> pos(batch);
    std::vector<bool> keep(static_cast<size_t>(batch) * len * keys_len);
    size_t at = 0;
    for (int b = 0; b < batch; ++b) {
      pos[b] = offset - pad[b];
      for (int i = 0; i < len; ++i) {
        const int qi = offset + i;
        for (int j = 0; j < keys_len; ++j)
          keep[at++] = j <= qi && (j >= pad[b] || qi < pad[b]);
      }
    }
    positions = array(pos, Shape{batch}, int32);
    mask = array(keep, Shape{batch, 1, len, keys_len}, bool_);
  } else if (len > 1) {
    mask_mode = "causal";  // queries aligned with the last keys
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  array h = take(embed_tokens, tokens, 0, s);  // [B, L, D], or its codes
  if (embed_quantized_) {
    const QuantizedWeight& q = *embed_quantized_;
    std::optional<array> b;
    if (q.biases) b = take(*q.biases, tokens, 0, s);
    h = dequantize(h, take(q.scales, tokens, 0, s), b, q.group_size, q.bits, q.mode,
                   std::nullopt, dtype_, s);
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const DecoderLayer& l = layers_[i];
    array x = fast::rms_norm(h, l.input_norm, c.rms_norm_eps, s);
    auto heads = [&](const Linear& proj, int n) {
      return transpose(reshape(proj(x, s), {batch, len, n, dh}, s), {0, 2, 1, 3}, s);
    };
    array q = rope(heads(l.q, hq), cache, positions, s);
    array k = rope(heads(l.k, hkv), cache, positions, s);
    auto [keys, values] = cache.update(i, k, heads(l.v, hkv), s);
    array o =
        fast::scaled_dot_product_attention(q, keys, values, scale, mask_mode, mask, s);
    o = reshape(transpose(o, {0, 2, 1, 3}, s), {batch, len, hq * dh}, s);
    h = add(h, l.o(o, s), s);
    x = fast::rms_norm(h, l.post_attention_norm, c.rms_norm_eps, s);
    h = add(h, l.down(multiply(nn::silu(l.gate(x, s), s), l.up(x, s), s), s), s);
  }
  cache.advance(len);
  if (!all_logits && len > 1) {
    h = slice(h, {0, len - 1, 0}, {batch, len, c.hidden_size}, s);
  }
  h = fast::rms_norm(h, norm, c.rms_norm_eps, s);
  array logits = astype(lm_head(h, s), float32, s);
  return all_logits ? logits : reshape(logits, {batch, c.vocab_size}, s);
}

}  // namespace rill::llm
