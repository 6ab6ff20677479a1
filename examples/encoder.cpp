// rill-encoder: the main job (workload W1 of SPEC.md). T threads, each on its
// own default stream, run forward passes of a transformer encoder as fast as
// they can; every thread's output is checked against the single-thread
// output, and a table of forwards/s per T is printed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "encoder_model.h"

using namespace rill;
using rill::examples::EncoderConfig;

namespace {

struct Options {
  std::string device;  // "" = the default device
  std::vector<int> threads;
  std::string weights;
  double seconds = 2.0;
  uint64_t seed = 0;
  bool stored_layout = false;  // keep linear weights [out, in] on the CPU too
  bool compile = false;        // the forward pass through compile
  EncoderConfig config;
  bool config_set = false;
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--device cpu|gpu] [--threads 1,2,4] [--weights FILE.safetensors]\n"
      "          [--seconds N] [--batch B] [--seq S] [--dim D] [--heads H] [--layers L]\n"
      "          [--dtype float32|bfloat16|float16] [--seed N] [--stored-layout] [--compile]\n\n"
      "Runs workload W1 (a pre-norm transformer encoder) on T threads at once, each\n"
      "on its own default stream, for N seconds per T (default 2), and prints\n"
      "forwards/s per T. Defaults: the GPU when present (B=4 S=128 D=512 H=8 L=4\n"
      "bfloat16), else the CPU (B=1 S=128 D=256 H=4 L=2 float32); T = 1, 2, 4, ...\n"
      "up to the number of cores. Weights come from --weights (names\n"
      "layers.{i}.{ln1,qkv,out,ln2,fc1,fc2}.{weight,bias}) or are seeded random.\n"
      "On the CPU the linear weights are copied once into [in, out] order, which\n"
      "BLAS multiplies faster; --stored-layout keeps them [out, in] as stored.\n"
      "--compile runs the forward pass through compile (traced once, replayed;\n"
      "elementwise chains fused); results are checked against the uncompiled pass.\n",
      argv0);
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int v = std::atoi(item.c_str());
    if (v < 1) throw std::invalid_argument("--threads takes positive integers, got " + s);
    out.push_back(v);
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
  EncoderConfig c;
  struct {
    int batch = 0, seq = 0, dim = 0, heads = 0, layers = 0;
  } set;  // sizes given on the command line (0: the device's default)
  bool dtype_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(argv[0]);
      std::exit(0);
    } else if (a == "--device") {
      o.device = next();
      if (o.device != "cpu" && o.device != "gpu") {
        throw std::invalid_argument("--device must be cpu or gpu, got " + o.device);
      }
    } else if (a == "--threads") {
      o.threads = parse_list(next());
    } else if (a == "--weights") {
      o.weights = next();
    } else if (a == "--seconds") {
      o.seconds = std::atof(next().c_str());
    } else if (a == "--compile") {
      o.compile = true;
    } else if (a == "--stored-layout") {
      o.stored_layout = true;
    } else if (a == "--seed") {
      o.seed = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--batch") {
      set.batch = std::atoi(next().c_str()), o.config_set = true;
    } else if (a == "--seq") {
      set.seq = std::atoi(next().c_str()), o.config_set = true;
    } else if (a == "--dim") {
      set.dim = std::atoi(next().c_str()), o.config_set = true;
    } else if (a == "--heads") {
      set.heads = std::atoi(next().c_str()), o.config_set = true;
    } else if (a == "--layers") {
      set.layers = std::atoi(next().c_str()), o.config_set = true;
    } else if (a == "--dtype") {
      c.dtype = parse_dtype(next()), dtype_set = true;
    } else {
      throw std::invalid_argument("unknown argument " + a + " (see --help)");
    }
  }
  bool gpu = o.device == "gpu" || (o.device.empty() && is_available(Device(Device::gpu, 0)));
  o.device = gpu ? "gpu" : "cpu";
  // The device's configuration, with what the command line set.
  o.config = gpu ? EncoderConfig::gpu() : EncoderConfig::cpu();
  if (dtype_set) o.config.dtype = c.dtype;
  if (set.batch) o.config.batch = set.batch;
  if (set.seq) o.config.seq = set.seq;
  if (set.dim) o.config.dim = set.dim;
  if (set.heads) o.config.heads = set.heads;
  if (set.layers) o.config.layers = set.layers;
  if (o.config.dim % o.config.heads != 0) {
    throw std::invalid_argument("--dim must be a multiple of --heads");
  }
  if (o.threads.empty()) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int t = 1; t <= cores; t *= 2) o.threads.push_back(t);
    if (o.threads.back() != cores) o.threads.push_back(cores);
  }
  return o;
}

// Largest |a - b| (both evaluated, same shape).
float max_abs_diff(const array& a, const array& b) {
  return max(abs(subtract(astype(a, float32), astype(b, float32)))).item<float>();
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    opt = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rill-encoder: %s\n", e.what());
    return 2;
  }
  const EncoderConfig& c = opt.config;
  Device device = opt.device == "gpu" ? Device(Device::gpu, 0) : Device(Device::cpu, 0);
  try {
    set_default_device(device);
    std::vector<examples::EncoderLayer> layers =
        opt.weights.empty() ? examples::random_encoder(c, opt.seed)
                            : examples::load_encoder(opt.weights, c);
    if (device.type == Device::cpu && !opt.stored_layout) {
      examples::transpose_linear_weights(layers);
    }
    array x = astype(random::normal({c.batch, c.seq, c.dim}, float32, random::key(opt.seed + 1)),
                     c.dtype);
    eval(x);
    array reference = examples::encoder_forward(c, layers, x);
    eval(reference);
    // The forward pass as a function of the input (the weights are captured).
    CompiledFunction forward = [&](const std::vector<array>& in) {
      return std::vector<array>{examples::encoder_forward(c, layers, in[0])};
    };
    if (opt.compile) forward = compile(forward);
    std::printf(
        "rill-encoder: W1 on %s, B=%d S=%d D=%d H=%d L=%d %s, %s weights%s%s, %.1f s per "
        "T\n",
        to_string(device).c_str(), c.batch, c.seq, c.dim, c.heads, c.layers,
        dtype_name(c.dtype).c_str(), opt.weights.empty() ? "random" : "file",
        layers.empty() || !layers[0].transposed ? "" : " (linear weights [in, out])",
        opt.compile ? ", compiled" : "", opt.seconds);
    std::printf("%8s %14s %10s %14s %10s\n", "threads", "forwards/s", "scaling", "latency ms",
                "checked");
    double base = 0;
    bool all_ok = true;
    for (int T : opt.threads) {
      std::atomic<long> forwards{0};
      std::atomic<bool> mismatch{false};
      std::atomic<bool> stop{false};
      std::vector<std::string> errors(T);
      auto start = std::chrono::steady_clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < T; ++t) {
        pool.emplace_back([&, t] {
          try {
            long mine = 0;
            while (!stop.load(std::memory_order_relaxed)) {
              array y = forward({x})[0];  // on this thread's stream
              eval(y);
              if (mine++ == 0 && max_abs_diff(y, reference) != 0.0f) mismatch = true;
              forwards.fetch_add(1, std::memory_order_relaxed);
            }
          } catch (const std::exception& e) {
            errors[t] = e.what();
            stop = true;
          }
        });
      }
      // Progress on long runs, then stop.
      double elapsed = 0;
      while (elapsed < opt.seconds && !stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (opt.seconds >= 5 && static_cast<int>(elapsed * 10) % 10 == 0) {
          std::fprintf(stderr, "\r  T=%d: %.0f/%.0f s, %ld forwards", T, elapsed, opt.seconds,
                       forwards.load());
        }
      }
      stop = true;
      for (auto& th : pool) th.join();
      if (opt.seconds >= 5) std::fprintf(stderr, "\r%60s\r", "");
      for (const std::string& e : errors) {
        if (!e.empty()) {
          std::fprintf(stderr, "rill-encoder: a worker thread failed: %s\n", e.c_str());
          return 1;
        }
      }
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double rate = forwards.load() / elapsed;
      if (base == 0) base = rate;
      bool ok = !mismatch.load();
      all_ok = all_ok && ok;
      std::printf("%8d %14.1f %9.2fx %14.2f %10s\n", T, rate, rate / base,
                  1000.0 * T / std::max(rate, 1e-9), ok ? "equal" : "MISMATCH");
      std::fflush(stdout);
    }
    std::printf("peak_memory_mib %.1f (get_peak_memory: weights, input and every run's arrays)\n",
                double(get_peak_memory()) / (1 << 20));
    if (!all_ok) {
      std::fprintf(stderr, "rill-encoder: some thread's output differed from one thread's\n");
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rill-encoder: %s\n", e.what());
    return 1;
  }
  return 0;
}
