// config.json -> ModelConfig. Only what a Llama-family forward pass needs is
// read; every value read is checked for its type and range.
#include "rill/llm/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace rill::llm {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw std::invalid_argument("[llm::config] " + source + ": " + what);
}

const json* find(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

int get_int(const json& j, const char* key, const std::string& source,
            const int* fallback) {
  const json* v = find(j, key);
  if (!v) {
    if (fallback) return *fallback;
    bad(source, std::string("key \"") + key + "\" is missing");
  }
  if (!v->is_number_integer()) {
    bad(source, std::string("\"") + key + "\" must be an integer, got " + v->dump());
  }
  int64_t x = v->get<int64_t>();
  if (x < INT32_MIN || x > INT32_MAX) {
    bad(source, std::string("\"") + key + "\" is out of range: " + v->dump());
  }
  return static_cast<int>(x);
}

float get_float(const json& j, const char* key, const std::string& source, float fallback,
                bool required = false) {
  const json* v = find(j, key);
  if (!v) {
    if (required) bad(source, std::string("key \"") + key + "\" is missing");
    return fallback;
  }
  if (!v->is_number()) {
    bad(source, std::string("\"") + key + "\" must be a number, got " + v->dump());
  }
  return v->get<float>();
}

bool get_bool(const json& j, const char* key, const std::string& source, bool fallback) {
  const json* v = find(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) {
    bad(source, std::string("\"") + key + "\" must be true or false, got " + v->dump());
  }
  return v->get<bool>();
}

RopeScaling parse_rope_scaling(const json& r, const std::string& source) {
  if (!r.is_object()) bad(source, "\"rope_scaling\" must be an object, got " + r.dump());
  RopeScaling s;
  // Newer configs say "rope_type", older ones "type".
  const json* t = find(r, "rope_type");
  if (!t) t = find(r, "type");
  if (!t || !t->is_string()) {
    bad(source,
        "\"rope_scaling\" needs a \"rope_type\" (or \"type\") string, got " + r.dump());
  }
  s.type = t->get<std::string>();
  const std::string where = source + " rope_scaling";
  if (s.type == "default") return s;
  if (s.type != "linear" && s.type != "llama3") {
    bad(source, "rope_scaling type \"" + s.type +
                    "\" is not supported (supported: default, linear, llama3)");
  }
  s.factor = get_float(r, "factor", where, 1.0f, true);
  if (!(s.factor >= 1.0f))
    bad(source, "rope_scaling factor must be >= 1, got " + std::to_string(s.factor));
  if (s.type == "llama3") {
    s.low_freq_factor = get_float(r, "low_freq_factor", where, 0, true);
    s.high_freq_factor = get_float(r, "high_freq_factor", where, 0, true);
    s.original_max_position_embeddings =
        get_int(r, "original_max_position_embeddings", where, nullptr);
    if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor) ||
        s.original_max_position_embeddings <= 0) {
      bad(source,
          "llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor and a "
          "positive original_max_position_embeddings, got " +
              r.dump());
    }
  }
  return s;
}

}  // namespace

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(source, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(source, "expected a JSON object");
  ModelConfig c;
  const json* type = find(j, "model_type");
  if (!type || !type->is_string())
    bad(source, "key \"model_type\" is missing or not a string");
  c.model_type = type->get<std::string>();
  if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "qwen2") {
    bad(source, "model_type \"" + c.model_type +
                    "\" is not supported (supported: llama, mistral, qwen2)");
  }
  if (const json* q = find(j, "quantization")) {
    // MLX's form: {"group_size": G, "bits": B[, "mode": M]}; per-layer
    // settings (objects keyed by a layer's path) are not read.
    if (!q->is_object()) bad(source, "\"quantization\" must be an object, got " + q->dump());
    Quantization qc;
    for (const auto& [key, value] : q->items()) {
      if (key == "group_size" || key == "bits") {
        if (!value.is_number_integer()) {
          bad(source, "quantization." + key + " must be an integer, got " + value.dump());
        }
        (key == "bits" ? qc.bits : qc.group_size) = value.get<int>();
      } else if (key == "mode") {
        if (!value.is_string()) bad(source, "quantization.mode must be a string, got " + value.dump());
        qc.mode = value.get<std::string>();
      } else {
        bad(source, "quantization key \"" + key + "\" (per-layer settings) is not supported");
      }
    }
    c.quantization = qc;
  }
  if (const json* act = find(j, "hidden_act")) {
    if (!act->is_string() || act->get<std::string>() != "silu") {
      bad(source, "hidden_act must be \"silu\", got " + act->dump());
    }
  }
  c.hidden_size = get_int(j, "hidden_size", source, nullptr);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", source, nullptr);
  c.num_attention_heads = get_int(j, "num_attention_heads", source, nullptr);
  c.intermediate_size = get_int(j, "intermediate_size", source, nullptr);
  c.vocab_size = get_int(j, "vocab_size", source, nullptr);
  // As in transformers: no "num_key_value_heads" means one per query head.
  c.num_key_value_heads =
      get_int(j, "num_key_value_heads", source, &c.num_attention_heads);
  int head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  c.head_dim = get_int(j, "head_dim", source, &head_dim);
  c.rms_norm_eps = get_float(j, "rms_norm_eps", source, 1e-6f);
  c.rope_theta = get_float(j, "rope_theta", source, 10000.0f);
  if (const json* r = find(j, "rope_scaling"))
    c.rope_scaling = parse_rope_scaling(*r, source);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", source, false);
  const bool attention_bias = get_bool(j, "attention_bias", source, false);
  c.qkv_bias = c.model_type == "qwen2" || attention_bias;
  c.o_bias = c.model_type != "qwen2" && attention_bias;
  c.mlp_bias = get_bool(j, "mlp_bias", source, false);
  const bool window =
      c.model_type == "mistral" ||
      (c.model_type == "qwen2" && get_bool(j, "use_sliding_window", source, false));
  if (window) {
    const int none = 0;
    c.sliding_window = get_int(j, "sliding_window", source, &none);
    if (c.sliding_window < 0) {
      bad(source, "sliding_window must be >= 0, got " + std::to_string(c.sliding_window));
    }
  }
  if (const json* e = find(j, "eos_token_id")) {
    if (e->is_number_integer()) {
      c.eos_token_ids.push_back(e->get<int>());
    } else if (e->is_array()) {
      for (const json& x : *e) {
        if (!x.is_number_integer())
          bad(source, "eos_token_id must hold integers, got " + e->dump());
        c.eos_token_ids.push_back(x.get<int>());
      }
    } else {
      bad(source, "eos_token_id must be an integer or a list of them, got " + e->dump());
    }
  }
  c.validate(source);
  return c;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("[llm::config] cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json(ss.str(), path);
}

ModelConfig ModelConfig::small_default() {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 512;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.intermediate_size = 1408;
  c.vocab_size = 32000;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  return c;
}

void ModelConfig::validate(const std::string& source) const {
  auto positive = [&](const char* name, int v) {
    if (v <= 0)
      bad(source,
          std::string("\"") + name + "\" must be positive, got " + std::to_string(v));
  };
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  positive("head_dim", head_dim);
  positive("intermediate_size", intermediate_size);
  positive("vocab_size", vocab_size);
  if (num_attention_heads % num_key_value_heads != 0) {
    bad(source, "num_attention_heads (" + std::to_string(num_attention_heads) +
                    ") must be a multiple of num_key_value_heads (" +
                    std::to_string(num_key_value_heads) + ")");
  }
  if (head_dim % 2 != 0)
    bad(source, "head_dim must be even, got " + std::to_string(head_dim));
  if (!(rms_norm_eps > 0))
    bad(source, "rms_norm_eps must be positive, got " + std::to_string(rms_norm_eps));
  if (!(rope_theta > 0))
    bad(source, "rope_theta must be positive, got " + std::to_string(rope_theta));
}

}  // namespace rill::llm
