// Models from a Hugging Face folder, or seeded random ones.
#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "rill/llm/model.h"

namespace rill::llm {

Model load_model(const std::string& dir, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error("[llm::load_model] " + dir + " is not a folder");
  }
  ModelConfig config = ModelConfig::from_file((fs::path(dir) / "config.json").string());
  std::vector<std::string> shards;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".safetensors") {
      shards.push_back(e.path().string());
    }
  }
  if (ec)
    throw std::runtime_error("[llm::load_model] cannot list " + dir + ": " +
                             ec.message());
  if (shards.empty()) {
    throw std::runtime_error("[llm::load_model] " + dir + " has no *.safetensors file");
  }
  std::sort(shards.begin(), shards.end());
  std::unordered_map<std::string, array> weights;
  for (const std::string& file : shards) {
    auto [tensors, meta] = load_safetensors(file, Device(Device::cpu, 0));
    for (auto& [name, a] : tensors) {
      if (!weights.emplace(name, a).second) {
        throw std::invalid_argument("[llm::load_model] tensor " + name +
                                    " is in more than one shard (" + file + ")");
      }
    }
  }
  return Model::from_weights(config, weights, options);
}

Model random_model(const ModelConfig& config, uint64_t seed, Dtype dtype,
                   std::optional<Device> device) {
  config.validate();
  const ModelConfig& c = config;
  const int d = c.hidden_size, q_out = c.num_attention_heads * c.head_dim,
            kv_out = c.num_key_value_heads * c.head_dim, f = c.intermediate_size;
  // Drawn in float32 where the model will live, then cast by from_weights.
  const Device at = device.value_or(default_device());
  std::unordered_map<std::string, array> w;
  array key = random::key(seed);
  auto normal = [&](const std::string& name, Shape shape) {
    auto [next, sub] = random::split(key, at);
    key = next;
    w.emplace(name, random::normal(shape, float32, 0.0f, 0.02f, sub, at));
  };
  auto ones_at = [&](const std::string& name) {
    w.emplace(name, ones({d}, float32, at));
  };
  auto linear = [&](const std::string& name, int out, int in, bool bias) {
    normal(name + ".weight", {out, in});
    if (bias) normal(name + ".bias", {out});
  };
  normal("model.embed_tokens.weight", {c.vocab_size, d});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    ones_at(p + "input_layernorm.weight");
    ones_at(p + "post_attention_layernorm.weight");
    linear(p + "self_attn.q_proj", q_out, d, c.qkv_bias);
    linear(p + "self_attn.k_proj", kv_out, d, c.qkv_bias);
    linear(p + "self_attn.v_proj", kv_out, d, c.qkv_bias);
    linear(p + "self_attn.o_proj", d, q_out, c.o_bias);
    linear(p + "mlp.gate_proj", f, d, c.mlp_bias);
    linear(p + "mlp.up_proj", f, d, c.mlp_bias);
    linear(p + "mlp.down_proj", d, f, c.mlp_bias);
  }
  ones_at("model.norm.weight");
  if (!c.tie_word_embeddings) linear("lm_head", c.vocab_size, d, false);
  LoadOptions opt;
  opt.dtype = dtype;
  opt.device = device;
  return Model::from_weights(config, w, opt);
}

}  // namespace rill::llm
