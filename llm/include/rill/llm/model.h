// A Llama-family decoder (Llama, Mistral, Qwen2): RMSNorm, rotary position
// embeddings with the config's scaling, grouped-query attention and a SwiGLU
// MLP, with Hugging Face's weight names.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rill/llm/config.h"
#include "rill/llm/kv_cache.h"
#include "rill/llm/linear.h"
#include "rill/rill.h"

namespace rill::llm {

struct DecoderLayer {
  array input_norm;           // model.layers.N.input_layernorm.weight
  array post_attention_norm;  // model.layers.N.post_attention_layernorm.weight
  Linear q, k, v, o;          // model.layers.N.self_attn.{q,k,v,o}_proj
  Linear gate, up, down;      // model.layers.N.mlp.{gate,up,down}_proj
};

struct LoadOptions {
  // Cast the weights to this dtype on load (float32, bfloat16, float16);
  // unset keeps the stored one (that of model.embed_tokens.weight).
  std::optional<Dtype> dtype;
  // Where the weights go: on a GPU they are copied there once, at load.
  // Unset: the default device.
  std::optional<Device> device;
};

// Immutable once made: any number of threads may run forward() on one model
// at once, each with its own KVCache.
class Model {
 public:
  // From weights named as in Hugging Face's checkpoints. Missing tensors, a
  // tensor of the wrong shape or an unsupported dtype throw
  // std::invalid_argument naming the tensor and the shapes. Tensors the
  // model does not use are ignored.
  static Model from_weights(const ModelConfig& config,
                            const std::unordered_map<std::string, array>& weights,
                            const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  Dtype dtype() const { return dtype_; }
  const std::vector<DecoderLayer>& layers() const { return layers_; }
  // Every weight, for eval or memory accounting.
  std::vector<array> parameters() const;

  // This model with every linear layer's weight quantized (MLX's quantize:
  // `bits`, `group_size`, `mode`), the output projection included (a tied
  // one gets a quantized copy of the embedding, which stays dense for the
  // lookups); norms and biases stay as they are. Evaluated.
  Model quantize(int bits, int group_size = 64, const std::string& mode = "affine") const;

  // One step: tokens [B, L] (integers below vocab_size) at the cache's slots
  // offset() ..; writes their keys and values into `cache` and advances it.
  // Returns float32 logits [B, V] of the last position, or [B, L, V] of all
  // of them. Lazy: the caller evaluates.
  array forward(const array& tokens, KVCache& cache, bool all_logits = false,
                StreamOrDevice s = {}) const;

 private:
  Model(ModelConfig config, Dtype dtype) : config_(std::move(config)), dtype_(dtype) {}
  array rope(const array& x, const KVCache& cache, const std::optional<array>& positions,
             StreamOrDevice s) const;

  ModelConfig config_;
  Dtype dtype_;
  array embed_tokens = array(0.0f);  // [V, hidden], or its codes when quantized
  std::optional<QuantizedWeight> embed_quantized_;  // an MLX-quantized embedding
  std::vector<DecoderLayer> layers_;
  array norm = array(0.0f);
  Linear lm_head{array(0.0f), std::nullopt, std::nullopt};  // the embedding when tied
  // Rotary embedding: positions times `rope_scale_`, and per-frequency
  // periods for "llama3" scaling (else the base).
  float rope_scale_ = 1.0f;
  std::optional<array> rope_periods_;
};

// A Hugging Face folder: config.json and model.safetensors, or several
// *.safetensors shards; or an MLX-quantized one (config.json's
// "quantization", layers stored as MLX's packed `.weight` with `.scales` and
// `.biases`, the embedding too). Throws std::runtime_error when a file cannot be
// read, std::invalid_argument for a bad config or weights.
Model load_model(const std::string& dir, const LoadOptions& options = {});

// Seeded random weights of the config's shapes (normal * 0.02 for matrices,
// ones for norms), in `dtype`, evaluated.
Model random_model(const ModelConfig& config, uint64_t seed, Dtype dtype = float32,
                   std::optional<Device> device = std::nullopt);

}  // namespace rill::llm
