// rill-generate: the second main job (workload W2 of SPEC.md). N requests to
// a Llama-family decoder (llm/) served at once: by N threads, each on its own
// default stream, or (--batched) stepped together as one batch. Prints each
// request's time to first token, decode rate and inter-token latencies, the
// totals, and the ids of the first request on one line ("ids: ...").
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rill/llm/generate.h"
#include "rill/llm/model.h"
#include "rill/llm/tokenizer.h"

using namespace rill;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string model;   // "" = a random model of `config`
  std::string config;  // "" = ModelConfig::small_default()
  std::string device;  // "cpu", "gpu"; "" = the GPU when there is one
  std::optional<Dtype> dtype;
  std::vector<int> prompt;  // empty: a random prompt per request
  std::string text;         // a text prompt, through the folder's tokenizer.model
  int prompt_len = 128;
  int max_tokens = 128;
  int requests = 4;
  bool batched = false;
  llm::SamplingParams sampling;
  uint64_t seed = 0;
  bool ignore_eos = false;
  bool all_ids = false;
  int quantize_bits = 0;  // 0: the weights as they are
  int group_size = 64;
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--model DIR | --config FILE.json]\n"
      "          [--prompt-ids 1,2,3 | --prompt TEXT | --prompt-len N]\n"
      "          [--max-tokens N] [--greedy | --temperature T --top-k K --top-p P]\n"
      "          [--seed N] [--requests N] [--batched] [--device cpu|gpu]\n"
      "          [--dtype float32|bfloat16|float16] [--ignore-eos] [--all-ids]\n"
      "          [--quantize BITS [--group-size G]]\n\n"
      "Serves N requests (default 4) to a Llama-family decoder at once: N threads,\n"
      "each on its own default stream, or with --batched one batch stepped together.\n"
      "--model is a Hugging Face folder (config.json, *.safetensors); without it a\n"
      "random model is made (seed 0): of the shape of --config (a config.json;\n"
      "examples/tinyllama-1.1b.json is W2's), or hidden 512, 4 layers, 8 heads,\n"
      "2 KV heads, FFN 1408, vocab 32000. Every\n"
      "request gets --prompt-ids, or a random prompt of about --prompt-len tokens\n"
      "(default 128, a few shorter on some requests). --prompt TEXT goes through\n"
      "the folder's tokenizer.model (SentencePiece, when this build has it), and\n"
      "the output is also printed as text ('text: ...').\n"
      "Sampling: temperature 1 unless --greedy; top-k 0 and top-p 1 mean off; request\n"
      "r draws with the key of --seed + r. Generation stops after --max-tokens\n"
      "(default 128) or a folder's eos_token_id (unless --ignore-eos).\n"
      "Defaults: the GPU when present (bfloat16 for the random model), else the CPU\n"
      "(float32); a folder's weights keep their dtype unless --dtype.\n"
      "--quantize BITS (2, 3, 4, 5, 6, 8) quantizes every linear layer's weight on\n"
      "load (MLX's affine format, groups of --group-size: 32, 64 default, 128).\n"
      "Prints per request: time to first token, decode tokens/s and inter-token\n"
      "latency percentiles; then the totals and 'ids: ...' for request 0 (with\n"
      "--all-ids 'ids[r]: ...' for each request).\n",
      argv0);
}

int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < lo || x > hi) {
    throw std::invalid_argument(flag + " takes an integer in [" + std::to_string(lo) +
                                ", " + std::to_string(hi) + "], got '" + v + "'");
  }
  return static_cast<int>(x);
}

float parse_float(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  float x = std::strtof(v.c_str(), &end);
  if (v.empty() || *end != '\0')
    throw std::invalid_argument(flag + " takes a number, got '" + v + "'");
  return x;
}

std::vector<int> parse_ids(const std::string& s) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = std::min(s.find(',', pos), s.size());
    out.push_back(parse_int("--prompt-ids", s.substr(pos, comma - pos), 0, INT32_MAX));
    pos = comma + 1;
  }
  return out;
}

Dtype parse_dtype(const std::string& s) {
  if (s == "float32") return float32;
  if (s == "bfloat16") return bfloat16;
  if (s == "float16") return float16;
  throw std::invalid_argument("--dtype must be float32, bfloat16 or float16, got " + s);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(argv[0]);
      std::exit(0);
    } else if (a == "--model") {
      o.model = next();
    } else if (a == "--config") {
      o.config = next();
    } else if (a == "--prompt-ids") {
      o.prompt = parse_ids(next());
    } else if (a == "--prompt") {
      o.text = next();
    } else if (a == "--prompt-len") {
      o.prompt_len = parse_int(a, next(), 1, 1 << 20);
    } else if (a == "--max-tokens") {
      o.max_tokens = parse_int(a, next(), 0, 1 << 20);
    } else if (a == "--greedy") {
      o.sampling.temperature = 0;
    } else if (a == "--temperature") {
      o.sampling.temperature = parse_float(a, next());
    } else if (a == "--top-k") {
      o.sampling.top_k = parse_int(a, next(), 0, INT32_MAX);
    } else if (a == "--top-p") {
      o.sampling.top_p = parse_float(a, next());
    } else if (a == "--seed") {
      o.seed = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--requests") {
      o.requests = parse_int(a, next(), 1, 4096);
    } else if (a == "--batched") {
      o.batched = true;
    } else if (a == "--device") {
      o.device = next();
      if (o.device != "cpu" && o.device != "gpu") {
        throw std::invalid_argument("--device must be cpu or gpu, got " + o.device);
      }
    } else if (a == "--dtype") {
      o.dtype = parse_dtype(next());
    } else if (a == "--ignore-eos") {
      o.ignore_eos = true;
    } else if (a == "--all-ids") {
      o.all_ids = true;
    } else if (a == "--quantize") {
      o.quantize_bits = parse_int(a, next(), 2, 8);
    } else if (a == "--group-size") {
      o.group_size = parse_int(a, next(), 32, 128);
    } else {
      throw std::invalid_argument("unknown argument " + a + " (see --help)");
    }
  }
  o.sampling.validate();
  if (!o.text.empty() && !o.prompt.empty()) {
    throw std::invalid_argument("--prompt and --prompt-ids exclude each other");
  }
  if (!o.text.empty() && o.model.empty()) {
    throw std::invalid_argument("--prompt needs --model DIR with a tokenizer.model");
  }
  if (o.device.empty()) o.device = is_available(Device(Device::gpu, 0)) ? "gpu" : "cpu";
  return o;
}

double ms_since(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

// The q-th quantile (0..1) of v, nearest rank; 0 for an empty v.
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

// What one request saw: its tokens and when each arrived.
struct Trace {
  std::vector<int> ids;
  std::vector<Clock::time_point> at;
  std::string error;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    opt = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rill-generate: %s\n", e.what());
    return 2;
  }
  try {
    const Device device =
        opt.device == "gpu" ? Device(Device::gpu, 0) : Device(Device::cpu, 0);
    set_default_device(device);
    auto load_start = Clock::now();
    llm::LoadOptions load;
    load.dtype = opt.dtype;
    llm::Model model =
        opt.model.empty()
            ? llm::random_model(
                  opt.config.empty() ? llm::ModelConfig::small_default()
                                     : llm::ModelConfig::from_file(opt.config),
                  0, opt.dtype.value_or(device.type == Device::gpu ? bfloat16 : float32))
            : llm::load_model(opt.model, load);
    if (opt.quantize_bits) model = model.quantize(opt.quantize_bits, opt.group_size);
    const double load_ms = ms_since(load_start, Clock::now());
    const llm::ModelConfig& c = model.config();
    std::optional<llm::Tokenizer> tokenizer;
    if (!opt.text.empty()) {
      const std::string file =
          (std::filesystem::path(opt.model) / "tokenizer.model").string();
      if (!std::filesystem::exists(file)) {
        throw std::invalid_argument("--prompt needs " + file + " (SentencePiece)");
      }
      tokenizer.emplace(file);
      opt.prompt = tokenizer->encode(opt.text);
    }

    std::vector<llm::Request> requests(opt.requests);
    for (int r = 0; r < opt.requests; ++r) {
      llm::Request& q = requests[r];
      if (!opt.prompt.empty()) {
        q.prompt = opt.prompt;
      } else {
        // Lengths differ a little, so that a batch has padding.
        const int len = std::max(1, opt.prompt_len - r % 4);
        array ids = random::randint(0, c.vocab_size, {len}, int32,
                                    random::key(opt.seed + 1000003ull * (r + 1)),
                                    Device(Device::cpu, 0));
        eval(ids);
        q.prompt.assign(ids.data<int32_t>(), ids.data<int32_t>() + len);
      }
      q.max_tokens = opt.max_tokens;
      q.sampling = opt.sampling;
      q.seed = opt.seed + r;
      // A random model's end token means nothing: it runs to max_tokens.
      if (!opt.ignore_eos && !opt.model.empty()) q.stop_ids = c.eos_token_ids;
      llm::check_request(model, q);
    }

    size_t shortest = SIZE_MAX, longest = 0;
    for (const auto& q : requests) {
      shortest = std::min(shortest, q.prompt.size());
      longest = std::max(longest, q.prompt.size());
    }
    char sampling[96] = "greedy";
    if (!opt.sampling.greedy()) {
      std::snprintf(sampling, sizeof sampling, "temperature %g, top-k %d, top-p %g",
                    opt.sampling.temperature, opt.sampling.top_k, opt.sampling.top_p);
    }
    std::printf(
        "rill-generate: %s %s (hidden %d, %d layers, %d heads, %d KV heads, FFN %d, "
        "vocab %d) "
        "%s, loaded in %.0f ms\n",
        opt.model.empty() ? "random" : opt.model.c_str(), c.model_type.c_str(),
        c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads,
        c.intermediate_size, c.vocab_size, dtype_name(model.dtype()).c_str(), load_ms);
    std::printf(
        "  %d requests on %s, %s; prompts of %zu-%zu tokens, up to %d new tokens, %s\n",
        opt.requests, to_string(device).c_str(),
        opt.batched ? "stepped together as one batch"
                    : "one thread each, each on its own stream",
        shortest, longest, opt.max_tokens, sampling);
    std::fflush(stdout);

    // A short request first: the first use of each weight (packing, copies)
    // and of the allocator's sizes is not what a server's request pays.
    {
      llm::Request warm = requests[0];
      warm.max_tokens = std::min(2, warm.max_tokens);
      llm::generate(model, warm);
    }
    // Memory: what the model holds (weights, and on the CPU the packed copies
    // of its matrices), then the peak while serving (caches, activations).
    synchronize();
    const double held_mib = double(get_active_memory()) / (1 << 20);
    reset_peak_memory();

    std::vector<Trace> traces(opt.requests);
    std::atomic<long> generated{0};
    std::atomic<bool> done{false};
    std::atomic<int> running{opt.requests};  // threads still generating
    std::mutex streams_mu;
    std::set<Stream> streams;  // guarded by streams_mu
    auto record = [&](int r, int token) {
      traces[r].ids.push_back(token);
      traces[r].at.push_back(Clock::now());
      generated.fetch_add(1, std::memory_order_relaxed);
    };

    Clock::time_point start;
    std::latch ready(opt.batched ? 1 : opt.requests + 1);
    std::vector<std::thread> workers;
    if (opt.batched) {
      start = Clock::now();
      workers.emplace_back([&] {
        try {
          llm::generate_batch(model, requests, record);
        } catch (const std::exception& e) {
          traces[0].error = e.what();
        }
        done = true;
      });
    } else {
      for (int r = 0; r < opt.requests; ++r) {
        workers.emplace_back([&, r] {
          {
            std::lock_guard lock(streams_mu);
            streams.insert(default_stream(device));
          }
          ready.arrive_and_wait();
          try {
            llm::generate(model, requests[r], [&](int, int token) { record(r, token); });
          } catch (const std::exception& e) {
            traces[r].error = e.what();
          }
          if (running.fetch_sub(1) == 1) done = true;
        });
      }
      ready.arrive_and_wait();
      start = Clock::now();
    }

    // A progress line on stderr while the requests run.
    const long total = static_cast<long>(opt.requests) * opt.max_tokens;
    bool shown = false;
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      double s = ms_since(start, Clock::now()) / 1000.0;
      if (s >= 0.5 && !done.load()) {
        long n = generated.load(std::memory_order_relaxed);
        std::fprintf(stderr, "\r  %.1f s: %ld/%ld tokens, %.1f tokens/s   ", s, n, total,
                     n / s);
        shown = true;
      }
    }
    for (auto& w : workers) w.join();
    // The run ends with its last token (not when this thread noticed).
    Clock::time_point end = start;
    for (const Trace& t : traces) {
      if (!t.at.empty()) end = std::max(end, t.at.back());
    }
    if (shown) std::fprintf(stderr, "\r%70s\r", "");

    for (int r = 0; r < opt.requests; ++r) {
      if (!traces[r].error.empty()) {
        std::fprintf(stderr, "rill-generate: request %d failed: %s\n", r,
                     traces[r].error.c_str());
        return 1;
      }
    }
    if (!opt.batched && static_cast<int>(streams.size()) != opt.requests) {
      std::fprintf(stderr, "rill-generate: %zu distinct streams for %d threads\n",
                   streams.size(), opt.requests);
      return 1;
    }

    std::printf("\n%8s %7s %7s %9s %13s %8s %8s %8s\n", "request", "prompt", "tokens",
                "TTFT ms", "decode tok/s", "p50 ms", "p90 ms", "p99 ms");
    long tokens = 0;
    double decode_sum = 0;
    std::vector<double> ttfts, gaps_all;
    for (int r = 0; r < opt.requests; ++r) {
      const Trace& t = traces[r];
      tokens += static_cast<long>(t.ids.size());
      std::vector<double> gaps;
      for (size_t i = 1; i < t.at.size(); ++i)
        gaps.push_back(ms_since(t.at[i - 1], t.at[i]));
      gaps_all.insert(gaps_all.end(), gaps.begin(), gaps.end());
      double ttft = t.at.empty() ? 0 : ms_since(start, t.at[0]);
      ttfts.push_back(ttft);
      double decode_ms = t.at.size() > 1 ? ms_since(t.at.front(), t.at.back()) : 0;
      double rate = decode_ms > 0 ? 1000.0 * (t.at.size() - 1) / decode_ms : 0;
      decode_sum += rate;
      std::printf("%8d %7zu %7zu %9.1f %13.1f %8.2f %8.2f %8.2f\n", r,
                  requests[r].prompt.size(), t.ids.size(), ttft, rate,
                  quantile(gaps, 0.5), quantile(gaps, 0.9), quantile(gaps, 0.99));
    }
    const double wall = ms_since(start, end) / 1000.0;
    std::printf(
        "\ntotal: %ld tokens in %.2f s: %.1f tokens/s; decode %.1f tokens/s (requests "
        "summed); TTFT p50 %.1f ms, max %.1f ms; inter-token p50 %.2f ms, p99 %.2f ms\n",
        tokens, wall, tokens / wall, decode_sum, quantile(ttfts, 0.5),
        quantile(ttfts, 1.0), quantile(gaps_all, 0.5), quantile(gaps_all, 0.99));
    std::printf("memory: %.0f MiB held before serving (the model), peak %.0f MiB while "
                "serving (the model included; get_peak_memory)\n",
                held_mib, double(get_peak_memory()) / (1 << 20));

    // Greedy requests with one prompt must agree, whichever thread ran them.
    bool same_prompt = !opt.prompt.empty();
    if (opt.sampling.greedy() && same_prompt && opt.requests > 1) {
      bool agree = true;
      for (const Trace& t : traces) agree = agree && t.ids == traces[0].ids;
      std::printf("check: %s\n", agree ? "every request generated the same ids"
                                       : "MISMATCH: requests with one prompt differ");
      if (!agree) return 1;
    }
    if (opt.all_ids) {
      for (int r = 0; r < opt.requests; ++r)
        std::printf("ids[%d]: %s\n", r, join(traces[r].ids).c_str());
    } else {
      std::printf("ids: %s\n", join(traces[0].ids).c_str());
    }
    if (tokenizer) std::printf("text: %s\n", tokenizer->decode(traces[0].ids).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rill-generate: %s\n", e.what());
    return 1;
  }
  return 0;
}
