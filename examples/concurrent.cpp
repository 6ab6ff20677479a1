// rill-concurrent: T threads, each on its own default stream, evaluate the same
// small graph over and over. Every thread's result must equal the result of a
// single-threaded eval; the table shows how throughput scales with T.
//
//   rill-concurrent [--threads 1,2,4] [--seconds 1.0]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rill/rill.h"

namespace {

constexpr int kN = 128;

struct Options {
  std::vector<int> threads;
  double seconds = 1.0;
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--threads LIST] [--seconds S]\n"
      "  T threads, each on its own default stream, repeatedly build and eval a\n"
      "  graph (elementwise chain, %dx%d float32 matmul, reductions) on shared\n"
      "  inputs, check every result against the single-thread result and print\n"
      "  evals/s per T.\n"
      "  --threads LIST  comma-separated thread counts (default 1,2,4,... up to\n"
      "                  the hardware's cores)\n"
      "  --seconds S     time spent on each thread count (default 1.0)\n",
      argv0, kN, kN);
}

std::vector<int> default_threads() {
  int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<int> ts;
  for (int t = 1; t < hw; t *= 2) ts.push_back(t);
  ts.push_back(hw);
  return ts;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096) return {};
    out.push_back(static_cast<int>(v));
    pos = comma + 1;
  }
  return out;
}

// The graph every thread evaluates: a chain of elementwise ops, a matmul and
// two reductions, ending in one float.
rill::array build(const rill::array& x, const rill::array& w) {
  using namespace rill;
  array h = tanh(x * 0.5f + 0.25f);
  array z = matmul(h, w);
  array y = sigmoid(z) - 0.5f;
  return sum(y * y) + mean(abs(z));
}

bool same(float a, float b) { return std::fabs(a - b) <= 1e-5f * std::max(1.0f, std::fabs(b)); }

struct Row {
  int threads;
  long evals;
  double seconds;
  std::set<rill::Stream> streams;
  std::string error;
  float worst = 0;  // the result farthest from the reference
};

Row run(int threads, double seconds, const rill::array& x, const rill::array& w, float reference) {
  Row row{threads, 0, 0, {}, {}, reference};
  std::atomic<long> evals{0};
  std::atomic<bool> stop{false};
  std::mutex mu;  // guards row.streams, row.error, row.worst
  std::latch ready(threads + 1);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      rill::Stream mine = rill::default_stream(rill::default_device());
      {
        std::lock_guard lock(mu);
        row.streams.insert(mine);
      }
      ready.arrive_and_wait();
      long n = 0;
      try {
        while (!stop.load(std::memory_order_relaxed)) {
          rill::array r = build(x, w);
          rill::eval(r);
          float v = r.item<float>();
          ++n;
          if (!same(v, reference)) {
            std::lock_guard lock(mu);
            if (std::fabs(v - reference) > std::fabs(row.worst - reference)) row.worst = v;
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        if (row.error.empty()) row.error = e.what();
        stop = true;
      }
      evals += n;
    });
  }
  ready.arrive_and_wait();
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row.evals = evals.load();
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  opt.threads = default_threads();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(argv[0]);
      return 0;
    } else if (a == "--threads" && i + 1 < argc) {
      opt.threads = parse_list(argv[++i]);
      if (opt.threads.empty()) {
        std::fprintf(stderr, "rill-concurrent: bad --threads list '%s'\n", argv[i]);
        return 2;
      }
    } else if (a == "--seconds" && i + 1 < argc) {
      opt.seconds = std::atof(argv[++i]);
      if (!(opt.seconds > 0)) {
        std::fprintf(stderr, "rill-concurrent: bad --seconds '%s'\n", argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "rill-concurrent: unknown argument '%s'\n", a.c_str());
      usage(argv[0]);
      return 2;
    }
  }

  try {
    // Shared inputs, made and evaluated on the main thread, read by all.
    std::vector<float> xs(kN * kN), ws(kN * kN);
    for (int i = 0; i < kN * kN; ++i) {
      xs[i] = static_cast<float>((i * 37) % 101) / 101.0f - 0.5f;
      ws[i] = static_cast<float>((i * 53) % 97) / 97.0f / kN;
    }
    rill::array x(xs, {kN, kN});
    rill::array w(ws, {kN, kN});
    rill::eval(x, w);

    rill::array ref = build(x, w);
    rill::eval(ref);
    float reference = ref.item<float>();

    std::printf("rill-concurrent: %dx%d float32 graph (elementwise chain, matmul, reductions)\n",
                kN, kN);
    std::printf("device %s, %u hardware threads, %.1f s per thread count, reference %.6g\n\n",
                rill::to_string(rill::default_device()).c_str(),
                std::thread::hardware_concurrency(), opt.seconds, reference);
    std::printf("%8s %12s %9s %17s  %s\n", "threads", "evals/s", "scaling", "evals/s/thread",
                "check");

    bool ok = true;
    double base = 0;
    for (int t : opt.threads) {
      Row row = run(t, opt.seconds, x, w, reference);
      double rate = row.evals / row.seconds;
      if (base == 0) base = rate / row.threads;
      std::string check = "ok";
      if (!row.error.empty()) {
        check = "ERROR: " + row.error;
      } else if (!same(row.worst, reference)) {
        check = "MISMATCH: got " + std::to_string(row.worst);
      } else if (static_cast<int>(row.streams.size()) != t) {
        check = "ERROR: " + std::to_string(row.streams.size()) + " distinct default streams";
      }
      if (check != "ok") ok = false;
      std::printf("%8d %12.0f %8.2fx %17.0f  %s\n", t, rate, base > 0 ? rate / base : 0.0,
                  rate / t, check.c_str());
      std::fflush(stdout);
    }
    std::printf("\nscaling: evals/s over the first row's rate per thread (ideal: min(T, cores)).\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rill-concurrent: %s\n", e.what());
    return 1;
  }
}
