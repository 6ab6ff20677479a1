// The shape of a Llama-family decoder (Llama, Mistral, Qwen2), as Hugging
// Face's config.json describes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rill::llm {

// config.json's "rope_scaling": how positions or frequencies are rescaled.
struct RopeScaling {
  std::string type = "default";  // "default", "linear" or "llama3"
  float factor = 1.0f;
  // "llama3" only: the band of wavelengths that is blended between scaled
  // and unscaled, in units of the original context.
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

// An MLX-quantized checkpoint's "quantization" (MLX's quantize format): the
// layers stored with `.scales` (and `.biases`) beside their packed `.weight`
// are quantized with these settings, the others are dense.
struct Quantization {
  int group_size = 64;
  int bits = 4;
  std::string mode = "affine";
};

struct ModelConfig {
  std::string model_type = "llama";  // "llama", "mistral" or "qwen2"
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;  // hidden_size / num_attention_heads unless the config says
  int intermediate_size = 0;
  int vocab_size = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // q, k and v projections (Qwen2, Llama's attention_bias)
  bool o_bias = false;    // output projection (Llama's attention_bias)
  bool mlp_bias = false;  // gate, up and down projections
  std::vector<int> eos_token_ids;
  // Attention over the last `sliding_window` positions only (Mistral; Qwen2
  // with use_sliding_window); 0: none. Not implemented: generate() refuses
  // requests longer than the window rather than attend past it.
  int sliding_window = 0;
  // Set for an MLX-quantized checkpoint.
  std::optional<Quantization> quantization;

  // From config.json's text; `source` names it in errors. Missing or
  // malformed keys, unknown model types, activations or rope scaling throw
  // std::invalid_argument naming the key and the value.
  static ModelConfig from_json(const std::string& text, const std::string& source);
  static ModelConfig from_file(const std::string& path);

  // The embedded default of rill-generate: a small model of the family.
  static ModelConfig small_default();

  // Throws std::invalid_argument if sizes are not positive or do not fit
  // together (heads a multiple of KV heads, an even head dimension).
  void validate(const std::string& source = "config") const;
};

}  // namespace rill::llm
