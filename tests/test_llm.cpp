// rill::llm (llm/) against Hugging Face transformers: tiny random decoders
// made by scripts/make-llama-fixture.py (config.json, model.safetensors, the
// prompt, transformers' logits of it and its greedy continuation). Runs on
// the default device (RILL_DEVICE=gpu runs it on the GPU).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "rill/llm/generate.h"
#include "rill/llm/model.h"
#include "rill/llm/sampling.h"
#include "rill/llm/tokenizer.h"

using namespace rill;
namespace fs = std::filesystem;

namespace {

std::string fixture_dir(const std::string& name) {
  return std::string(RILL_TEST_DATA) + "/" + name;
}

std::vector<int> ids_of(const std::string& file) {
  array a = astype(load(file), int32);
  eval(a);
  const int32_t* p = a.data<int32_t>();
  return std::vector<int>(p, p + a.size());
}

struct Fixture {
  std::string name;
  llm::Model model;
  std::vector<int> prompt;
  array logits;  // [P, V]
  std::vector<int> greedy;
};

Fixture load_fixture(const std::string& name) {
  const std::string dir = fixture_dir(name);
  return Fixture{name, llm::load_model(dir), ids_of(dir + "/prompt_ids.npy"),
                 load(dir + "/logits.npy"), ids_of(dir + "/greedy_ids.npy")};
}

// max |got - want| over max |want|.
double relative_error(const array& got, const array& want) {
  array g = astype(got, float32), w = astype(want, float32);
  float num = max(abs(subtract(g, w))).item<float>();
  float den = max(abs(w)).item<float>();
  return num / den;
}

array prompt_logits(const Fixture& f) {
  llm::KVCache cache(f.model.config(), 1, f.model.dtype());
  const int len = static_cast<int>(f.prompt.size());
  array logits = f.model.forward(array(f.prompt, Shape{1, len}, int32), cache, true);
  return reshape(logits, {len, f.model.config().vocab_size});
}

std::vector<int> greedy(const Fixture& f, int max_tokens) {
  llm::Request r;
  r.prompt = f.prompt;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return llm::generate(f.model, r);
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

const char* const kFixtures[] = {"tiny-llama", "tiny-llama3-tied", "tiny-llama-linear",
                                 "tiny-qwen2"};

class LlmFixture : public ::testing::TestWithParam<const char*> {};

}  // namespace

TEST_P(LlmFixture, PromptLogitsMatchTransformers) {
  Fixture f = load_fixture(GetParam());
  array got = prompt_logits(f);
  ASSERT_EQ(got.shape(), f.logits.shape());
  double err = relative_error(got, f.logits);
  RecordProperty("relative_error", std::to_string(err));
  EXPECT_LE(err, 1e-4) << GetParam();
}

TEST_P(LlmFixture, GreedyTokensMatchTransformers) {
  Fixture f = load_fixture(GetParam());
  EXPECT_EQ(join(greedy(f, static_cast<int>(f.greedy.size()))), join(f.greedy))
      << GetParam();
}

// Every thread on its own default stream, all at once, on one shared model.
TEST_P(LlmFixture, EightThreadsEachOnItsOwnStream) {
  Fixture f = load_fixture(GetParam());
  constexpr int kThreads = 8;
  std::vector<double> errors(kThreads, 1.0);
  std::vector<std::string> ids(kThreads), failures(kThreads);
  std::vector<Stream> streams(kThreads, Stream{0, Device::cpu});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        streams[t] = default_stream(default_device());
        errors[t] = relative_error(prompt_logits(f), f.logits);
        ids[t] = join(greedy(f, static_cast<int>(f.greedy.size())));
      } catch (const std::exception& e) {
        failures[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], "") << "thread " << t;
    EXPECT_LE(errors[t], 1e-4) << "thread " << t;
    EXPECT_EQ(ids[t], join(f.greedy)) << "thread " << t;
    for (int u = 0; u < t; ++u) EXPECT_NE(streams[t], streams[u]) << t << " and " << u;
  }
}

// Prompts of different lengths, left-padded into one batch: each request's
// tokens are those it gets alone.
TEST_P(LlmFixture, BatchedRequestsMatchAlone) {
  Fixture f = load_fixture(GetParam());
  std::vector<llm::Request> requests;
  for (int cut : {0, 3, 7, 1}) {
    llm::Request r;
    r.prompt.assign(f.prompt.begin() + cut, f.prompt.end());
    r.max_tokens =
        static_cast<int>(f.greedy.size()) - cut % 3;  // they finish at different steps
    r.sampling.temperature = 0;
    requests.push_back(r);
  }
  std::vector<std::vector<int>> batched = llm::generate_batch(f.model, requests);
  ASSERT_EQ(batched.size(), requests.size());
  EXPECT_EQ(join(batched[0]), join(f.greedy));
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(join(batched[i]), join(llm::generate(f.model, requests[i])))
        << "request " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Llm, LlmFixture, ::testing::ValuesIn(kFixtures));

// The prompt a token at a time, through a cache that starts small and grows
// in steps of 4 slots: the logits are the prompt's in one step.
TEST(Llm, CacheGrowsAndStepsMatchOneStep) {
  Fixture f = load_fixture("tiny-llama");
  llm::KVCache cache(f.model.config(), 1, f.model.dtype(), 0, 4);
  std::vector<array> rows;
  for (int id : f.prompt) {
    rows.push_back(f.model.forward(array({id}, Shape{1, 1}, int32), cache));
  }
  EXPECT_EQ(cache.offset(), static_cast<int>(f.prompt.size()));
  EXPECT_EQ(cache.capacity(), 12);
  EXPECT_LE(relative_error(concatenate(rows, 0), f.logits), 1e-4);
}

// slice_update writes a step's keys into the cache's own buffer: the cache
// holds its only reference, so the buffer is donated, not copied.
// The quantized model (every linear layer 4-bit, the untied and the tied
// output projections included) against the same model with each of those
// weights replaced by dequantize(quantize(w)): the quantized products are
// the dequantized ones. Then greedy decoding still runs on it.
TEST(Llm, QuantizedModelIsItsDequantizedWeights) {
  for (const std::string name : {"tiny-llama", "tiny-llama3-tied"}) {
    SCOPED_TRACE(name);
    const std::string dir = fixture_dir(name);
    llm::ModelConfig config = llm::ModelConfig::from_file(dir + "/config.json");
    auto weights = load_safetensors(dir + "/model.safetensors").first;
    llm::Model q = llm::Model::from_weights(config, weights).quantize(4, 32);
    auto is_linear = [](const std::string& n) {
      return n.size() > 12 && n.compare(n.size() - 12, 12, "_proj.weight") == 0;
    };
    std::unordered_map<std::string, array> deq = weights;
    for (auto& [n, w] : deq) {
      if (!is_linear(n) && n != "lm_head.weight") continue;
      auto qq = quantize(w, 32, 4);
      w = dequantize(qq[0], qq[1], qq[2], 32, 4);
    }
    llm::ModelConfig ref_config = config;
    if (config.tie_word_embeddings) {
      // The quantized model's tied projection is a quantized copy of the
      // embedding: the reference gets it as an untied, dequantized head.
      auto qq = quantize(weights.at("model.embed_tokens.weight"), 32, 4);
      deq.insert_or_assign("lm_head.weight", dequantize(qq[0], qq[1], qq[2], 32, 4));
      ref_config.tie_word_embeddings = false;
    }
    llm::Model ref = llm::Model::from_weights(ref_config, deq);
    Fixture fq{name, q, ids_of(dir + "/prompt_ids.npy"), array(0.0f), {}};
    Fixture fr{name, ref, fq.prompt, array(0.0f), {}};
    EXPECT_LE(relative_error(prompt_logits(fq), prompt_logits(fr)), 1e-4);
    EXPECT_EQ(greedy(fq, 8).size(), 8u);
  }
}

// An MLX-quantized checkpoint (scripts/make-mlx-quantized-fixture.py: every
// linear layer and the embedding 4-bit, MLX-LM's names and config) against a
// dense float32 model of the same weights dequantized.
TEST(Llm, MlxQuantizedFolderLoadsAndMatchesItsDequantizedWeights) {
  const std::string dir = fixture_dir("tiny-llama-mlx-q4");
  llm::LoadOptions f32;
  f32.dtype = float32;
  llm::Model q = llm::load_model(dir, f32);
  llm::ModelConfig config = llm::ModelConfig::from_file(dir + "/config.json");
  ASSERT_TRUE(config.quantization.has_value());
  EXPECT_EQ(config.quantization->bits, 4);
  EXPECT_EQ(config.quantization->group_size, 32);
  auto weights = load_safetensors(dir + "/model.safetensors").first;
  std::unordered_map<std::string, array> dense;
  for (const auto& [n, w] : weights) {
    const std::string tail = ".scales";
    if (n.size() > tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0) {
      const std::string layer = n.substr(0, n.size() - tail.size());
      dense.insert_or_assign(layer + ".weight",
                             dequantize(weights.at(layer + ".weight"), astype(w, float32),
                                        astype(weights.at(layer + ".biases"), float32), 32, 4));
    } else if (n.size() < 7 || n.compare(n.size() - 7, 7, ".biases") != 0) {
      if (!dense.count(n)) dense.emplace(n, w);
    }
  }
  llm::ModelConfig dense_config = config;
  dense_config.quantization.reset();
  llm::Model ref = llm::Model::from_weights(dense_config, dense, f32);
  Fixture fq{"q4", q, ids_of(dir + "/prompt_ids.npy"), array(0.0f), {}};
  Fixture fr{"dense", ref, fq.prompt, array(0.0f), {}};
  EXPECT_LE(relative_error(prompt_logits(fq), prompt_logits(fr)), 1e-4);
  EXPECT_EQ(greedy(fq, 6), greedy(fr, 6));
  // The same weights under a config without "quantization": a clear error.
  try {
    llm::Model::from_weights(dense_config, weights, f32);
    ADD_FAILURE() << "quantized weights without a quantization config loaded";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no \"quantization\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(llm::ModelConfig::from_json(
                   R"({"model_type": "llama", "quantization": {"bits": 4, "model.layers.0": {}}})",
                   "test"),
               std::invalid_argument);
}

TEST(Llm, CacheIsWrittenInPlace) {
  StreamContext on_cpu(Device(Device::cpu, 0));
  Fixture f = load_fixture("tiny-llama");
  llm::KVCache cache(f.model.config(), 1, f.model.dtype(), 64);
  const int len = static_cast<int>(f.prompt.size());
  eval(f.model.forward(array(f.prompt, Shape{1, len}, int32), cache));
  const void* before = cache.state()[0].data<float>();
  for (int i = 0; i < 5; ++i) {
    array y = f.model.forward(array({f.prompt[i]}, Shape{1, 1}, int32), cache);
    eval(y);
  }
  const void* after = cache.state()[0].data<float>();
  EXPECT_EQ(before, after) << "the cache's buffer was copied";
}

TEST(Llm, SamplingFollowsItsParams) {
  Fixture f = load_fixture("tiny-llama");
  const int len = static_cast<int>(f.prompt.size());
  array last = slice(f.logits, {len - 1, 0}, {len, f.logits.shape(1)});
  const int best = argmax(last, -1).item<uint32_t>();
  array key = random::key(7);
  llm::SamplingParams top1{1.0f, 1, 1.0f}, tiny_p{1.0f, 0, 1e-6f};
  EXPECT_EQ(llm::sample(last, top1, {key}).item<int32_t>(), best);
  EXPECT_EQ(llm::sample(last, tiny_p, {key}).item<int32_t>(), best);
  // top-k 3: never outside the three largest.
  array top3 = topk(last, 3, -1);
  const float third = min(top3).item<float>();
  llm::SamplingParams k3{1.5f, 3, 1.0f};
  for (int i = 0; i < 20; ++i) {
    int id = llm::sample(last, k3, {random::key(100 + i)}).item<int32_t>();
    EXPECT_GE(slice(last, {0, id}, {1, id + 1}).item<float>(), third) << id;
  }
  // A request's key decides its tokens.
  llm::Request r;
  r.prompt = f.prompt;
  r.max_tokens = 8;
  r.sampling = {1.0f, 40, 0.95f};
  r.seed = 11;
  std::vector<int> a = llm::generate(f.model, r), b = llm::generate(f.model, r);
  EXPECT_EQ(join(a), join(b));
  r.seed = 12;
  EXPECT_NE(join(llm::generate(f.model, r)), join(a));
  // Alone and in a batch beside other requests: the same draws.
  llm::Request other = r;
  other.prompt.resize(5);
  other.seed = 3;
  r.seed = 11;
  EXPECT_EQ(join(llm::generate_batch(f.model, {other, r})[1]), join(a));
}

namespace {

// A copy of a fixture's folder whose config.json is edited by `edit`.
std::string edited_copy(const std::string& name, const std::string& from,
                        const std::string& to) {
  const std::string src = fixture_dir("tiny-llama");
  const fs::path dir =
      fs::temp_directory_path() / ("rill-llm-" + name + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(src + "/model.safetensors", dir / "model.safetensors",
                fs::copy_options::overwrite_existing);
  std::ifstream in(src + "/config.json");
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (!from.empty()) {
    size_t at = text.find(from);
    if (at == std::string::npos) throw std::logic_error("no " + from + " in config.json");
    text.replace(at, from.size(), to);
  }
  std::ofstream(dir / "config.json") << text;
  return dir.string();
}

// The message of the std::invalid_argument that `f` throws ("" if none).
template <typename F>
std::string invalid_argument_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Llm, BadInputIsAClearError) {
  auto load_edited = [](const std::string& name, const std::string& from,
                        const std::string& to) {
    std::string dir = edited_copy(name, from, to);
    std::string msg = invalid_argument_of([&] { llm::load_model(dir); });
    fs::remove_all(dir);
    return msg;
  };
  EXPECT_NE(load_edited("no-vocab", "\"vocab_size\": 256", "\"vocab\": 256")
                .find("key \"vocab_size\" is missing"),
            std::string::npos);
  std::string msg =
      load_edited("ffn", "\"intermediate_size\": 128", "\"intermediate_size\": 96");
  EXPECT_NE(
      msg.find(
          "model.layers.0.mlp.gate_proj.weight has shape (128, 64), expected (96, 64)"),
      std::string::npos)
      << msg;
  msg = load_edited("yarn", "\"rope_scaling\": null",
                    "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}");
  EXPECT_NE(msg.find("rope_scaling type \"yarn\" is not supported"), std::string::npos)
      << msg;
  msg = load_edited("heads", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
  EXPECT_NE(msg.find("must be a multiple of num_key_value_heads (3)"), std::string::npos)
      << msg;
  EXPECT_THROW(llm::load_model(fixture_dir("no-such-model")), std::runtime_error);

  // A Mistral sliding window is refused past its length, not ignored.
  const std::string mistral =
      edited_copy("mistral", "\"model_type\": \"llama\"",
                  "\"model_type\": \"mistral\", \"sliding_window\": 16");
  llm::Model windowed = llm::load_model(mistral);
  fs::remove_all(mistral);
  EXPECT_EQ(windowed.config().sliding_window, 16);
  llm::Request within;
  within.prompt.assign(12, 5);
  within.max_tokens = 4;
  EXPECT_EQ(llm::generate(windowed, within).size(), 4u);
  within.max_tokens = 5;
  msg = invalid_argument_of([&] { llm::generate(windowed, within); });
  EXPECT_NE(msg.find("pass the model's sliding window (16)"), std::string::npos) << msg;

  Fixture f = load_fixture("tiny-llama");
  llm::Request r;
  r.prompt = {1, 2, 256};
  msg = invalid_argument_of([&] { llm::generate(f.model, r); });
  EXPECT_NE(msg.find("prompt id 256 at position 2 is outside the vocabulary [0, 256)"),
            std::string::npos)
      << msg;
  r.prompt = {1, 2, 3};
  r.sampling.top_p = 1.5f;
  msg = invalid_argument_of([&] { llm::generate_batch(f.model, {r}); });
  EXPECT_NE(msg.find("top_p must be in (0, 1]"), std::string::npos) << msg;
  llm::KVCache cache(f.model.config(), 2, f.model.dtype());
  msg = invalid_argument_of([&] {
    f.model.forward(array({1, 2}, Shape{1, 2}, int32), cache);
  });
  EXPECT_NE(msg.find("the cache holds 2 rows"), std::string::npos) << msg;
}

// tiny-llama's tokenizer.model (SentencePiece), against the ids the Python
// sentencepiece package gave for the same text.
TEST(Llm, TokenizerMatchesSentencePiece) {
  if (!llm::Tokenizer::available()) GTEST_SKIP() << "built without SentencePiece";
  llm::Tokenizer tok(fixture_dir("tiny-llama") + "/tokenizer.model");
  const std::string text = "Once upon a time, the quick brown fox wrote one token at a time.";
  std::vector<int> want = ids_of(fixture_dir("tiny-llama") + "/text_ids.npy");
  EXPECT_EQ(join(tok.encode(text)), join(want));
  EXPECT_EQ(tok.decode(std::vector<int>(want.begin() + 1, want.end())), text);
  EXPECT_EQ(tok.vocab_size(), 256);
  EXPECT_THROW(tok.decode({256}), std::invalid_argument);
  EXPECT_THROW(llm::Tokenizer(fixture_dir("no-such-model") + "/tokenizer.model"),
               std::runtime_error);
}
