// Where W1-CPU's scaling goes: per-thread rates of the encoder's building
// blocks with T threads busy at once, each figure against one thread's.
//   fma     16 independent AVX-512 FMA chains, registers only: the core's
//           arithmetic rate (frequency, shared execution units)
//   packed  rill's packed float32 product on the encoder's four shapes, one
//           packed right-hand matrix shared by every thread (as the weights are)
//   shape   the same product one shape at a time (weights from L2 or L3)
//   ops     W1's other ops (gelu, layer_norm, attention) and one linear layer,
//           microseconds per call; gelu and layer_norm beside LibTorch's
//   split   the tile kernel's split of A (W1's 128 x 256 and 128 x 1024) into
//           its bfloat16 parts, each way this CPU has, microseconds per call
//   torch   at::addmm on the same shapes, LibTorch's intra-op pool at one
//           thread (built when LibTorch is found; in this process its BLAS
//           calls can bind to rill's OpenBLAS: see bench/RESULTS.md)
//   blas    the CPU attention's two block products through BLAS (as W1 calls
//           them: 128 x 128 scores over 64 features, then 128 x 64 outputs over
//           128 keys, single-threaded BLAS), each thread its own operands
//   pairs   fma on CPU 0 and CPU j together, pinned, for each j: a CPU whose
//           pair rate is well under twice one thread's shares a core with 0
//   amx     (CPUs with AMX) at one thread and at the most asked for: bfloat16
//           tile products with operands held in tiles, reloaded from L1, and
//           streamed from L2; the tile kernel's schedules (16 and 14 loads per
//           24 products); tile products with float32 FMAs in the same
//           instruction stream; then, on one thread, the tile product kernel
//           per encoder shape, and with 32 columns (mostly splitting A)
// Output: one line per (test, T): GFLOP/s per thread, and that over T=1's.
//   cpu_scaling [--threads 1,2,4,8,16] [--seconds S]
//               [--tests fma,blas,packed,shape,ops,split,torch,pairs,amx]
#include <cblas.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "backend/cpu/allocator.h"
#include "backend/cpu/packed_gemm.h"
#include "rill/rill.h"

#ifdef RILL_SCALING_TORCH
#include <ATen/ATen.h>
#include <torch/version.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;
namespace cpu = rill::detail::cpu;

struct Shape {
  int64_t m, k, n;
};
// The encoder's products (B=1, S=128, D=256): qkv, out, fc1, fc2.
constexpr Shape kShapes[] = {{128, 256, 768}, {128, 256, 256}, {128, 256, 1024}, {128, 1024, 256}};

std::vector<int> parse_list(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return v;
}

void pin(int cpu_index) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu_index, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Runs body(thread) on T threads started together for `seconds`; body does one
// unit of work and returns its flops. Returns GFLOP/s per thread (mean).
double run_threads(int T, double seconds, const std::function<double(int)>& body,
                   const std::vector<int>& cpus = {}) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> rate(T);
  std::vector<std::thread> th;
  for (int t = 0; t < T; ++t) {
    th.emplace_back([&, t] {
      if (!cpus.empty()) pin(cpus[t]);
      body(t);  // warm-up
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      double flops = 0;
      auto start = Clock::now();
      double el = 0;
      do {
        flops += body(t);
        el = std::chrono::duration<double>(Clock::now() - start).count();
      } while (el < seconds);
      rate[t] = flops / el * 1e-9;
    });
  }
  while (ready.load() < T) std::this_thread::yield();
  go.store(true);
  for (auto& x : th) x.join();
  double sum = 0;
  for (double r : rate) sum += r;
  return sum / T;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) double fma_unit(int) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(1.0f + 1e-7f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  constexpr int kIters = 1 << 16;
  for (int it = 0; it < kIters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return 2.0 * 16 * 16 * kIters;
}
#else
double fma_unit(int) { return 0; }
#endif


#if defined(__x86_64__)
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// variant 0: operands stay in tiles; 1: four tiles reloaded from L1 before
// every four products; 2: the same streaming through `span` bytes. Returns
// bfloat16 flops done.
__attribute__((target("amx-tile,amx-bf16"))) double amx_probe(int variant, const uint16_t* buf,
                                                              size_t span_tiles, int64_t iters) {
  static const TileConfig cfg;
  _tile_loadconfig(&cfg);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, buf, 64);
  _tile_loadd(5, buf + 512, 64);
  _tile_loadd(6, buf + 1024, 64);
  _tile_loadd(7, buf + 1536, 64);
  size_t at = 0;
  for (int64_t i = 0; i < iters; ++i) {
    if (variant == 1) {
      _tile_loadd(4, buf, 64);
      _tile_loadd(5, buf + 512, 64);
      _tile_loadd(6, buf + 1024, 64);
      _tile_loadd(7, buf + 1536, 64);
    } else if (variant == 2) {
      const uint16_t* p = buf + at * 512;
      _tile_loadd(4, p, 64);
      _tile_loadd(5, p + 512, 64);
      _tile_loadd(6, p + 1024, 64);
      _tile_loadd(7, p + 1536, 64);
      at = at + 4 >= span_tiles ? 0 : at + 4;
    }
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float out[256];
  _tile_stored(0, out, 64);
  _tile_release();
  volatile float sink = out[0];
  (void)sink;
  return 4.0 * 16 * 16 * 32 * 2 * static_cast<double>(iters);
}
// The tile kernel's former schedule (before 850f0ed): per 32-deep chunk, 24
// products and 16 tile loads, each load right after the last product reading
// its register, on A and B tiles cycling through `span_tiles` tiles of buf
// (12: one chunk, all in L1; 240: 240 KiB, from L2). The current 14-load
// schedule is amx_fma_probe<0, true>. Returns bfloat16 flops.
__attribute__((target("amx-tile,amx-bf16"))) double amx_schedule_probe(const uint16_t* buf,
                                                                       size_t span_tiles,
                                                                       int64_t iters) {
  static const TileConfig cfg;
  _tile_loadconfig(&cfg);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  constexpr int64_t T = 512;  // bfloat16 per tile
  size_t at = 0;
  const uint16_t* a = buf;
  const uint16_t* b = buf + 6 * T;
  _tile_loadd(4, a, 64);
  _tile_loadd(6, b, 64);
  _tile_loadd(5, a + T, 64);
  _tile_loadd(7, b + T, 64);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    _tile_loadd(6, b + 2 * T, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(3, 5, 7);
    _tile_loadd(7, b + 3 * T, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    _tile_loadd(6, b + 4 * T, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(3, 5, 7);
    _tile_loadd(7, b + 5 * T, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(4, a + 2 * T, 64);
    _tile_dpbf16ps(2, 5, 6);
    _tile_loadd(6, b + 2 * T, 64);
    _tile_dpbf16ps(3, 5, 7);
    _tile_loadd(5, a + 3 * T, 64);
    _tile_loadd(7, b + 3 * T, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    _tile_loadd(6, b, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(3, 5, 7);
    _tile_loadd(7, b + T, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(4, a + 4 * T, 64);
    _tile_dpbf16ps(3, 5, 7);
    _tile_loadd(5, a + 5 * T, 64);
    at = at + 12 >= span_tiles ? 0 : at + 12;
    a = buf + at * T;
    b = a + 6 * T;
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(4, a, 64);
    _tile_dpbf16ps(2, 5, 6);
    _tile_loadd(6, b, 64);
    _tile_dpbf16ps(3, 5, 7);
    _tile_loadd(5, a + T, 64);
    _tile_loadd(7, b + T, 64);
  }
  alignas(64) float out[256];
  _tile_stored(0, out, 64);
  _tile_release();
  volatile float sink = out[0];
  (void)sink;
  return 24.0 * 16 * 16 * 32 * 2 * static_cast<double>(iters);
}

// The tile kernel's schedule (amx_kernel.inc: per 32-deep chunk 24 products
// and 14 tile loads) on tiles cycling through `span_tiles` tiles of buf, as
// amx_schedule_probe; and whether the vector unit's FMAs run while the tile
// unit multiplies: `S` k-steps per chunk of a 12 x 32 float32 FMA block (A
// and B in L1, accumulators in registers) spread over its six phases (kTiles
// false: the FMA steps alone). Returns bfloat16 tile flops; `fma` gets the
// float32 FMA flops.
template <int S, bool kTiles>
__attribute__((target("amx-tile,amx-bf16,avx512f"))) double amx_fma_probe(const uint16_t* buf,
                                                                          size_t span_tiles,
                                                                          const float* fa,
                                                                          const float* fb,
                                                                          int64_t iters,
                                                                          double& fma) {
  static const TileConfig cfg;
  constexpr int64_t T = 512;
  size_t at = 0;
  const uint16_t* a = buf;
  const uint16_t* b = buf + 6 * T;
  if (kTiles) {
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, a, 64);
    _tile_loadd(6, b + 4 * T, 64);
    _tile_loadd(5, a + T, 64);
    _tile_loadd(7, b + 5 * T, 64);
  }
  __m512 acc[12][2];
  for (auto& r : acc) r[0] = r[1] = _mm512_setzero_ps();
  int64_t kk = 0;  // the FMA block's k, cycling over 64
#define steps(count)                                                                    \
  for (int step = 0; step < (count); ++step) {                                          \
    const __m512 b0 = _mm512_loadu_ps(fb + kk * 32), b1 = _mm512_loadu_ps(fb + kk * 32 + 16); \
    _Pragma("GCC unroll 12") for (int r = 0; r < 12; ++r) {                             \
      const __m512 x = _mm512_set1_ps(fa[r * 64 + kk]);                                 \
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);                                    \
      acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);                                    \
    }                                                                                   \
    kk = (kk + 1) & 63;                                                                 \
  }
  constexpr int P = S / 6;
  for (int64_t i = 0; i < iters; ++i) {
    if (kTiles) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, b, 64);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(7, b + T, 64);
    }
    steps(P);
    if (kTiles) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, b + 2 * T, 64);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(7, b + 3 * T, 64);
    }
    steps(P);
    if (kTiles) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(4, a + 2 * T, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(5, a + 3 * T, 64);
    }
    steps(P);
    if (kTiles) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, b, 64);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(7, b + T, 64);
    }
    steps(P);
    if (kTiles) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(4, a + 4 * T, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(5, a + 5 * T, 64);
    }
    steps(P);
    at = at + 12 >= span_tiles ? 0 : at + 12;
    a = buf + at * T;
    b = a + 6 * T;
    if (kTiles) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(4, a, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, b + 4 * T, 64);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(5, a + T, 64);
      _tile_loadd(7, b + 5 * T, 64);
    }
    steps(S - 5 * P);
  }
#undef steps
  __m512 sum = _mm512_setzero_ps();
  for (auto& r : acc) sum = _mm512_add_ps(sum, _mm512_add_ps(r[0], r[1]));
  volatile float sink = _mm512_reduce_add_ps(sum);
  (void)sink;
  fma = 2.0 * 12 * 32 * S * static_cast<double>(iters);
  if (!kTiles) return 0;
  alignas(64) float out[256];
  _tile_stored(0, out, 64);
  _tile_release();
  volatile float tsink = out[0];
  (void)tsink;
  return 24.0 * 16 * 16 * 32 * 2 * static_cast<double>(iters);
}
#endif


struct PerThread {
  std::vector<float> a, c;
};

void report(const char* test, const std::vector<int>& threads, double seconds,
            const std::function<double(int)>& body) {
  double base = 0;
  for (int T : threads) {
    double r = run_threads(T, seconds, body);
    if (base == 0) base = r;
    std::printf("%-8s T=%-3d %8.1f GFLOP/s per thread  %5.2f of T=%d  (%.0f in all)\n", test, T,
                r, r / base, threads.front(), r * T);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2, 4, 8, 16};
  double seconds = 1.0;
  std::string tests = "fma,blas,packed,torch,pairs,amx";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = parse_list(argv[++i]);
    } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--tests") && i + 1 < argc) {
      tests = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: cpu_scaling [--threads 1,2,4] [--seconds S] "
                   "[--tests fma,blas,packed,shape,ops,split,torch,pairs,amx]\n");
      return 2;
    }
  }
  auto want = [&](const char* t) { return ("," + tests + ",").find(std::string(",") + t + ",") != std::string::npos; };
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  const int max_t = *std::max_element(threads.begin(), threads.end());

  if (want("fma")) report("fma", threads, seconds, fma_unit);

  // Inputs per thread, right-hand matrices shared.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<std::vector<float>> rhs;
  for (const Shape& s : kShapes) {
    rhs.emplace_back(static_cast<size_t>(s.k * s.n));
    for (float& x : rhs.back()) x = dist(rng);
  }
  std::vector<PerThread> mine(max_t);
  for (PerThread& p : mine) {
    p.a.resize(128 * 1024);
    p.c.resize(128 * 1024);
    for (float& x : p.a) x = dist(rng);
  }

  if (want("blas")) {
    openblas_set_num_threads(1);
    std::vector<std::vector<float>> qkv(max_t), sp(max_t), out(max_t);
    for (int t = 0; t < max_t; ++t) {
      qkv[t].resize(3 * 128 * 64);
      for (float& x : qkv[t]) x = dist(rng);
      sp[t].resize(128 * 128);
      out[t].resize(128 * 64);
    }
    report("blas", threads, seconds, [&](int t) {
      const float* q = qkv[t].data();
      const float* k = q + 128 * 64;
      const float* v = k + 128 * 64;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 128, 128, 64, 0.125f, q, 64, k, 64,
                  0.0f, sp[t].data(), 128);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 128, 64, 128, 1.0f, sp[t].data(), 128,
                  v, 64, 0.0f, out[t].data(), 64);
      return 2.0 * 2.0 * 128 * 128 * 64;
    });
  }

  if (want("packed") && cpu::packed_gemm_supported()) {
    std::vector<std::unique_ptr<cpu::PackedB>> packed;
    for (size_t i = 0; i < std::size(kShapes); ++i) {
      packed.push_back(cpu::pack_rhs(rhs[i].data(), kShapes[i].k, kShapes[i].n, kShapes[i].n, 1));
    }
    report("packed", threads, seconds, [&](int t) {
      double f = 0;
      for (size_t i = 0; i < std::size(kShapes); ++i) {
        const Shape& s = kShapes[i];
        cpu::packed_gemm(s.m, mine[t].a.data(), s.k, *packed[i], 1.0f, 0.0f, mine[t].c.data(),
                         s.n);
        f += 2.0 * s.m * s.k * s.n;
      }
      return f;
    });
  }

  // Each shape alone, its weights shared: whether a product whose packed
  // weights fit the core's L2 (out: 256 x 256) keeps its rate at T threads
  // where the larger ones, streamed from L3, do not.
  if (want("shape") && cpu::packed_gemm_supported()) {
    for (size_t i = 0; i < std::size(kShapes); ++i) {
      const Shape s = kShapes[i];
      auto packed = cpu::pack_rhs(rhs[i].data(), s.k, s.n, s.n, 1);
      char name[64];
      std::snprintf(name, sizeof name, "shape %lldx%lldx%lld", static_cast<long long>(s.m),
                    static_cast<long long>(s.k), static_cast<long long>(s.n));
      report(name, threads, seconds, [&](int t) {
        cpu::packed_gemm(s.m, mine[t].a.data(), s.k, *packed, 1.0f, 0.0f, mine[t].c.data(), s.n);
        return 2.0 * s.m * s.k * s.n;
      });
    }
  }

#ifdef RILL_SCALING_TORCH
  if (want("torch")) {
    at::set_num_threads(1);
    c10::InferenceMode guard;
    std::vector<at::Tensor> w, bias;
    for (size_t i = 0; i < std::size(kShapes); ++i) {
      // [out, in] as a linear layer keeps it.
      w.push_back(at::from_blob(rhs[i].data(), {kShapes[i].n, kShapes[i].k}).clone());
      bias.push_back(at::zeros({kShapes[i].n}));
    }
    std::vector<std::vector<at::Tensor>> xs(max_t);
    for (int t = 0; t < max_t; ++t) {
      for (const Shape& s : kShapes) xs[t].push_back(at::from_blob(mine[t].a.data(), {s.m, s.k}).clone());
    }
    report("torch", threads, seconds, [&](int t) {
      c10::InferenceMode g;
      double f = 0;
      for (size_t i = 0; i < std::size(kShapes); ++i) {
        const Shape& s = kShapes[i];
        at::Tensor y = at::linear(xs[t][i], w[i], bias[i]);
        f += 2.0 * s.m * s.k * s.n;
      }
      return f;
    });
  }
#endif


  // W1's other ops, one call per unit of work, rill (public API: build and
  // evaluate on the thread's default stream) beside LibTorch where built:
  // microseconds per call per thread.
  if (want("ops")) {
    namespace r = rill;
    // The CPU's ops, also in a build with the GPU backend on a GPU machine
    // (whose default device is the GPU); the worker threads start from the
    // process default.
    r::set_default_device(r::Device(r::Device::cpu));
    struct Inputs {
      r::array x1024, x256, w256, b256, q, k, v, w, bias;
#ifdef RILL_SCALING_TORCH
      at::Tensor t1024, t256, tw256, tb256;
#endif
    };
    std::vector<Inputs> in;
    for (int t = 0; t < max_t; ++t) {
      r::array key = r::random::key(100 + t);
      auto rnd = [&](r::Shape s) {
        auto [k1, k2] = r::random::split(key);
        key = k1;
        return r::random::normal(s, r::float32, 0.0f, 1.0f, k2);
      };
      Inputs i{rnd({128, 1024}), rnd({1, 128, 256}), rnd({256}), rnd({256}), rnd({1, 4, 128, 64}),
               rnd({1, 4, 128, 64}), rnd({1, 4, 128, 64}), rnd({256, 1024}), rnd({1024})};
      r::eval({i.x1024, i.x256, i.w256, i.b256, i.q, i.k, i.v, i.w, i.bias});
#ifdef RILL_SCALING_TORCH
      auto tt = [](const r::array& a) {
        std::vector<int64_t> shape(a.shape().begin(), a.shape().end());
        return at::from_blob(const_cast<float*>(a.data<float>()), shape).clone();
      };
      i.t1024 = tt(i.x1024), i.t256 = tt(i.x256), i.tw256 = tt(i.w256), i.tb256 = tt(i.b256);
#endif
      in.push_back(std::move(i));
    }
#ifdef RILL_SCALING_TORCH
    at::set_num_threads(1);
#endif
    struct Op {
      const char* name;
      std::function<void(Inputs&)> rill_op;
#ifdef RILL_SCALING_TORCH
      std::function<at::Tensor(Inputs&)> torch_op;
#endif
    };
    const Op ops[] = {
        {"gelu 128x1024", [](Inputs& i) { r::eval(r::nn::gelu(i.x1024)); },
#ifdef RILL_SCALING_TORCH
         [](Inputs& i) { return at::gelu(i.t1024); }
#endif
        },
        {"layer_norm 128x256",
         [](Inputs& i) { r::eval(r::fast::layer_norm(i.x256, i.w256, i.b256, 1e-5f)); },
#ifdef RILL_SCALING_TORCH
         [](Inputs& i) { return at::layer_norm(i.t256, {256}, i.tw256, i.tb256, 1e-5); }
#endif
        },
        // LibTorch's attention and linear layers call BLAS, and in this process
        // those calls can bind to rill's OpenBLAS instead of LibTorch's own
        // (they ran at OpenBLAS's generic-kernel rate on the Xeon): rill only.
        {"attention 4x128x64",
         [](Inputs& i) {
           r::eval(r::fast::scaled_dot_product_attention(i.q, i.k, i.v, 0.125f, "", std::nullopt));
         },
#ifdef RILL_SCALING_TORCH
         nullptr
#endif
        },
        {"linear 128x256x1024", [](Inputs& i) { r::eval(r::addmm(i.bias, i.x256, i.w)); },
#ifdef RILL_SCALING_TORCH
         nullptr
#endif
        },
    };
    for (const Op& op : ops) {
      for (int T : threads) {
        const double rr = run_threads(T, seconds, [&](int t) {
          op.rill_op(in[t]);
          return 1e9;
        });
        std::printf("ops      %-20s T=%-3d rill %8.1f us", op.name, T, 1e6 / rr);
#ifdef RILL_SCALING_TORCH
        if (!op.torch_op) {
          std::printf("\n");
          continue;
        }
        const double tr = run_threads(T, seconds, [&](int t) {
          c10::InferenceMode g;
          at::Tensor y = op.torch_op(in[t]);
          return 1e9;
        });
        std::printf("   LibTorch %8.1f us   rill / LibTorch time %.2f", 1e6 / tr, tr / rr);
#endif
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }

  // Each thread its own rows; the ways alternate, three rounds. The figure
  // includes refilling the tile buffer (pack_lhs_for_testing's), listed too.
  if (want("split")) {
    for (const int64_t k : {int64_t(256), int64_t(1024)}) {
      const int64_t m = 128;
      std::vector<std::vector<float>> rows(max_t, std::vector<float>(m * k));
      for (auto& r : rows) {
        for (float& x : r) x = dist(rng);
      }
      std::vector<std::vector<uint16_t>> tiles(max_t);
      for (int T : threads) {
        for (int round = 0; round < 3; ++round) {
          std::printf("split    128x%-5lld T=%-3d round %d, us per call:", static_cast<long long>(k),
                      T, round + 1);
          for (int how : {0, 1, -1}) {
            if (how >= 0 && !cpu::set_lhs_split_for_testing(how)) continue;
            const double r = run_threads(T, seconds / 3, [&](int t) {
              if (how >= 0) {
                cpu::pack_lhs_for_testing(m, rows[t].data(), k, k, tiles[t]);
              } else {
                tiles[t].assign(tiles[t].size(), 0xFFFF);
              }
              return 1e9;
            });
            std::printf("  %s %.1f", how == 0 ? "element by element" : how == 1 ? "BF16 conversion" : "buffer fill alone",
                        1e6 / r);
          }
          std::printf("\n");
          std::fflush(stdout);
        }
      }
    }
    cpu::set_lhs_split_for_testing(-1);
  }

#if defined(__x86_64__)
  if (want("amx") && cpu::amx_enabled()) {
    std::vector<uint16_t> buf(256 * 512);  // 256 tiles, 256 KiB
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint16_t>(0x3F80 + (i % 7));
    const char* names[] = {"in tiles",           "from L1",           "from L2 (256 KiB)",
                           "16-load schedule, L1", "16-load schedule, L2", "14-load schedule, L1",
                           "14-load schedule, L2"};
    // Each thread its own operands; three rounds, the probes alternating, at
    // one thread and at the most asked for (is the tile unit's rate per core
    // kept when every core uses it?).
    std::vector<std::vector<uint16_t>> bufs(max_t, buf);
    for (int T : {1, max_t}) {
      if (T == max_t && T == 1) break;
      for (int round = 0; round < 3; ++round) {
        std::printf("amx      T=%-3d round %d, GFLOP/s per thread:", T, round + 1);
        for (int v = 0; v < 7; ++v) {
          double r = run_threads(T, seconds / 4, [&](int t) {
            const size_t span = v % 2 == 1 ? 12 : 240;
            double fma = 0;
            return v < 3   ? amx_probe(v, bufs[t].data(), 256, 4096)
                   : v < 5 ? amx_schedule_probe(bufs[t].data(), span, 1024)
                           : amx_fma_probe<0, true>(bufs[t].data(), span, nullptr, nullptr, 1024,
                                                    fma);
          });
          std::printf("  %s %.1f", names[v], r);
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
    // Tile products and FMAs in one instruction stream: does the sum beat
    // the tile unit alone (float32-equivalent: tile flops / 6, the parts)?
    {
      std::vector<float> fa(12 * 64, 0.5f), fb(64 * 32, 0.25f);
      using Probe =
          double (*)(const uint16_t*, size_t, const float*, const float*, int64_t, double&);
      const std::pair<const char*, Probe> probes[] = {
          {"tiles alone", amx_fma_probe<0, true>},   {"+6 FMA steps", amx_fma_probe<6, true>},
          {"+12 FMA steps", amx_fma_probe<12, true>}, {"+24 FMA steps", amx_fma_probe<24, true>},
          {"+36 FMA steps", amx_fma_probe<36, true>}, {"FMA steps alone", amx_fma_probe<24, false>}};
      for (int T : {1, max_t}) {
        for (int round = 0; round < 2; ++round) {
          std::printf("amxfma   T=%-3d round %d, float32-equivalent GFLOP/s per thread (tiles/6 + FMA):", T,
                      round + 1);
          for (const auto& [name, probe] : probes) {
            std::vector<double> fma(max_t, 0.0), tile(max_t, 0.0);
            double r = run_threads(T, seconds / 4, [&](int t) {
              double f = 0;
              const double tf = probe(bufs[t].data(), 12, fa.data(), fb.data(), 1024, f);
              return tf / 6 + f;
            });
            std::printf("  %s %.1f", name, r);
          }
          std::printf("\n");
          std::fflush(stdout);
        }
      }
    }
    for (int cols : {0, 32}) {
      for (size_t i = 0; i < std::size(kShapes); ++i) {
        const Shape s = {kShapes[i].m, kShapes[i].k, cols ? cols : kShapes[i].n};
        auto packed = cpu::pack_rhs(rhs[i].data(), s.k, s.n, kShapes[i].n, 1);
        double r = run_threads(1, seconds / 4, [&](int) {
          cpu::packed_gemm(s.m, mine[0].a.data(), s.k, *packed, 1.0f, 0.0f, mine[0].c.data(), s.n);
          return 2.0 * s.m * s.k * s.n;
        });
        std::printf("amx      %lld x %lld x %lld: %8.1f GFLOP/s, %7.1f us per product\n",
                    static_cast<long long>(s.m), static_cast<long long>(s.k),
                    static_cast<long long>(s.n), r, 2.0 * s.m * s.k * s.n / r * 1e-3);
      }
    }
  }
#endif

  if (want("pairs") && hw >= 2) {
    double one = run_threads(1, seconds / 4, fma_unit, {0});
    std::printf("pairs    fma on CPU 0 alone: %.1f GFLOP/s\n", one);
    std::printf("pairs    CPU 0 with CPU j (each thread's rate over CPU 0 alone):");
    for (int j = 1; j < hw; ++j) {
      double r = run_threads(2, seconds / 4, fma_unit, {0, j});
      std::printf(" %d:%.2f", j, r / one);
    }
    std::printf("\n");
  }
  return 0;
}
