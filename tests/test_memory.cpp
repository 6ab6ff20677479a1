// The memory figures and the cache of freed buffers (include/rill/memory.h):
// arrays count as active while alive, freed buffers are reused, the cache stays
// within its limit and empties on request, and buffers recycled between
// threads never mix up their data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "rill/memory.h"
#include "rill/rill.h"
#include "rill/testing.h"
#include "backend/cpu/packed_gemm.h"
#include "core/node.h"

using namespace rill;

namespace {

constexpr size_t kMiB = size_t(1) << 20;

// A float32 array of `bytes` bytes, computed on the CPU (a fresh buffer, not a
// view): these tests are about the host allocator, whatever the default device.
const Device kCpu(Device::cpu, 0);
array computed(size_t bytes, float value = 1.0f) {
  array x = full({static_cast<int>(bytes / 4)}, array(value), kCpu);
  eval(x);
  return x;
}

// Restores the cache limit a test changed.
struct LimitGuard {
  size_t prev;
  explicit LimitGuard(size_t limit) : prev(set_cache_limit(limit)) {}
  ~LimitGuard() { set_cache_limit(prev); }
};

}  // namespace

TEST(Memory, ActiveMemoryCountsLiveArrays) {
  size_t before = get_active_memory();
  {
    array x = computed(4 * kMiB);
    EXPECT_GE(get_active_memory(), before + 4 * kMiB);
    // Block sizes round requests up by at most a quarter.
    EXPECT_LE(get_active_memory(), before + 5 * kMiB);
  }
  EXPECT_EQ(get_active_memory(), before);
}

TEST(Memory, PeakMemoryRemembersTheHighest) {
  reset_peak_memory();
  size_t base = get_peak_memory();
  EXPECT_EQ(base, get_active_memory());
  { array x = computed(8 * kMiB); }
  EXPECT_GE(get_peak_memory(), base + 8 * kMiB);
  reset_peak_memory();
  EXPECT_EQ(get_peak_memory(), get_active_memory());
}

TEST(Memory, FreedBuffersAreReused) {
  clear_cache();
  EXPECT_EQ(get_cache_memory(), 0u);
  { array x = computed(2 * kMiB); }
  size_t cached = get_cache_memory();
  EXPECT_GE(cached, 2 * kMiB);
  // The same size again takes the cached block.
  array y = computed(2 * kMiB, 3.0f);
  EXPECT_LT(get_cache_memory(), cached);
  EXPECT_EQ(y.data<float>()[0], 3.0f);
  EXPECT_EQ(y.data<float>()[2 * kMiB / 4 - 1], 3.0f);
}

TEST(Memory, ClearCacheEmptiesTheCache) {
  { array x = computed(kMiB); }
  EXPECT_GT(get_cache_memory(), 0u);
  clear_cache();
  EXPECT_EQ(get_cache_memory(), 0u);
}

TEST(Memory, CacheStaysWithinItsLimit) {
  clear_cache();
  LimitGuard guard(3 * kMiB);
  EXPECT_EQ(set_cache_limit(3 * kMiB), 3 * kMiB);  // returns the previous limit
  {
    std::vector<array> xs;
    for (int i = 0; i < 8; ++i) xs.push_back(computed(kMiB));
  }
  EXPECT_GT(get_cache_memory(), 0u);
  EXPECT_LE(get_cache_memory(), 3 * kMiB);
  // Lowering the limit trims the cache at once.
  set_cache_limit(kMiB);
  EXPECT_LE(get_cache_memory(), kMiB);
}

TEST(Memory, ZeroLimitDisablesTheCache) {
  LimitGuard guard(0);
  EXPECT_EQ(get_cache_memory(), 0u);
  { array x = computed(kMiB); }
  EXPECT_EQ(get_cache_memory(), 0u);
}

TEST(Memory, BlocksLargerThanTheLimitAreNotCached) {
  clear_cache();
  LimitGuard guard(kMiB);
  { array x = computed(4 * kMiB); }
  EXPECT_EQ(get_cache_memory(), 0u);
}

// testing::fail_allocation counts allocations the cache serves too.
TEST(Memory, InjectedAllocationFailureFiresWithAWarmCache) {
  { array x = computed(kMiB); }
  ASSERT_GT(get_cache_memory(), 0u);
  array two(2.0f);  // host values count too: made before arming
  rill::testing::fail_allocation(1);
  array y = full({static_cast<int>(kMiB / 4)}, two, kCpu);
  EXPECT_THROW(eval(y), std::exception);
  rill::testing::fail_allocation(0);
  // The stream raises it once more, at its next synchronize.
  EXPECT_THROW(synchronize(default_stream(kCpu)), std::runtime_error);
  EXPECT_EQ(computed(kMiB, 5.0f).data<float>()[7], 5.0f);
}

// Buffers freed on one thread and reused on another (the cache hands them
// across): every thread's results must stay its own.
TEST(Memory, BuffersRecycledAcrossThreadsKeepTheirData) {
  constexpr int kThreads = 8, kRounds = 200;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &bad] {
      for (int r = 0; r < kRounds; ++r) {
        int n = 1000 + 997 * ((t + r) % 7);
        float v = static_cast<float>(t * 1000 + r);
        array x = add(full({n}, array(v)), array(1.0f));
        array y = multiply(x, array(2.0f));
        eval(y);
        const float* p = y.data<float>();
        if (p[0] != (v + 1) * 2 || p[n - 1] != (v + 1) * 2) bad++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---- Memory-lean evaluation (SPEC.md R1 to R3) ----
// These run on the default device: the GPU in a suite run with RILL_DEVICE=gpu.

namespace {

constexpr int kN = 4 << 20;  // 16 MiB of float32
const size_t kBytes = size_t(kN) * 4;
// Scalars of the graphs: on a GPU, their device copies count as active too.
constexpr size_t kSlack = 64 << 10;

// A computed float32 array on the default device, values in [0, 1).
array computed_uniform(int n, uint64_t seed) {
  array x = random::uniform({n}, float32, random::key(seed));
  eval(x);
  return x;
}

// Peaks are read after the default stream has finished everything, from a
// clean start: the cache emptied, the peak reset.
void fresh_peak() {
  synchronize(default_stream(default_device()));
  clear_cache();
  reset_peak_memory();
}

std::vector<float> values(const array& a) {
  array h = astype(a, float32, Device(Device::cpu, 0));
  eval(h);
  const float* p = h.data<float>();
  return std::vector<float>(p, p + h.size());
}

// Restores the default device's memory limit a test changed.
struct MemoryLimitGuard {
  size_t prev;
  explicit MemoryLimitGuard(size_t limit) : prev(set_memory_limit(limit)) {}
  ~MemoryLimitGuard() { set_memory_limit(prev); }
};

}  // namespace

// R1 + R2: 10 x z = exp(z + c) on a computed z the program no longer holds
// runs in z's own buffer: no intermediate outlives its consumer.
TEST(MemoryLean, ChainPeaksAtTwiceItsOutput) {
  array z = computed_uniform(kN, 1);
  std::vector<float> z0 = values(z);
  fresh_peak();
  array c(0.125f);
  for (int i = 0; i < 10; ++i) z = exp(subtract(z, c) * 0.01f);
  eval(z);
  EXPECT_LE(get_peak_memory(), 2 * kBytes + kSlack) << "peak " << get_peak_memory();
  // And the values are right (every step read its input before overwriting).
  std::vector<float> got = values(z);
  for (size_t i = 0; i < got.size(); i += 4099) {
    float want = z0[i];
    for (int k = 0; k < 10; ++k) want = std::exp((want - 0.125f) * 0.01f);
    ASSERT_NEAR(got[i], want, 1e-5f) << "at " << i;
  }
}

// R1 alone: each step changes the element width, so nothing can be donated;
// freeing each input after its consumer keeps the peak at one step's input
// and output (float32 + float64 = 3x a float32 array) plus the first input.
TEST(MemoryLean, IntermediatesAreFreedAfterTheirLastConsumer) {
  array z = computed_uniform(kN, 2);
  fresh_peak();
  array y = z;
  z = array(0.0f);  // only the graph holds the input now
  for (int i = 0; i < 6; ++i) y = astype(astype(y, float64) + 1.0, float32);
  eval(y);
  // Without freeing: 6 float64 and 6 float32 arrays alive at the end (18x).
  EXPECT_LE(get_peak_memory(), 4 * kBytes + kSlack) << "peak " << get_peak_memory();
  EXPECT_NEAR(values(y)[123], values(computed_uniform(kN, 2))[123] + 6.0f, 1e-5f);
}

// R1: an intermediate the program holds keeps its data, and is not written
// into by a later op.
TEST(MemoryLean, HeldIntermediateKeepsItsData) {
  array x = computed_uniform(1 << 16, 3);
  array a = exp(x);   // held
  array b = a + 1.0f; // a is held: b may not take its buffer
  array c = b * 2.0f;  // b is not held: c may take b's buffer
  eval(c);
  std::vector<float> xs = values(x), as = values(a), cs = values(c);
  for (size_t i = 0; i < xs.size(); i += 97) {
    ASSERT_FLOAT_EQ(as[i], std::exp(xs[i])) << i;
    ASSERT_FLOAT_EQ(cs[i], (std::exp(xs[i]) + 1.0f) * 2.0f) << i;
  }
}

// R2: a buffer a user's view still shares is never donated.
TEST(MemoryLean, DonationSkipsABufferAViewShares) {
  array x = computed_uniform(1 << 16, 4);
  array v = reshape(x, {256, 256});
  eval(v);
  std::vector<float> before = values(v);
  array y = exp(x);
  x = array(0.0f);  // x's node is the graph's alone, its buffer is v's too
  eval(y);
  EXPECT_EQ(values(v), before);
}

// R2: one input read by two ops on two streams: the op that runs last may
// take its buffer, never while the other still reads it. On a GPU the two
// streams are usually different device streams: donation then needs the
// buffer to have been used by its own stream only.
TEST(MemoryLean, DonationNeverRacesAReaderOnAnotherStream) {
  Device d = default_device();
  Stream s1 = new_stream(d), s2 = new_stream(d);
  const int n = 1 << 20;
  array base = computed_uniform(n, 5);
  std::vector<float> b = values(base);
  for (int round = 0; round < 20; ++round) {
    array x = exp(base, s1);  // an intermediate, read by both
    array y1 = sqrt(x, s1);
    array y2 = log(x, s2);
    x = array(0.0f);
    eval({y1, y2});
    std::vector<float> v1 = values(y1), v2 = values(y2);
    for (int i = 0; i < n; i += 1021) {
      ASSERT_NEAR(v1[i], std::exp(b[i] / 2), 1e-5f) << "round " << round << " at " << i;
      ASSERT_NEAR(v2[i], b[i], 1e-5f) << "round " << round << " at " << i;
    }
  }
}

// R1 with A3: four threads evaluate one shared graph at once; every thread
// sees the results, each intermediate is computed and freed once, and the
// memory goes back to where it was.
TEST(MemoryLean, FourThreadsEvaluateOneSharedGraph) {
  array x = computed_uniform(kN / 4, 6);
  std::vector<float> xs = values(x);
  fresh_peak();
  const size_t active = get_active_memory();
  for (int round = 0; round < 5; ++round) {
    array h = x;
    std::vector<array> outs;
    for (int i = 0; i < 4; ++i) {
      h = exp(h * 0.5f);
      outs.push_back(sum(h));
    }
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        // Each thread asks for the outputs in another order.
        std::vector<array> mine(outs.rbegin(), outs.rend());
        if (t % 2) mine.assign(outs.begin(), outs.end());
        eval(mine);
        for (auto& o : mine) bad += std::isfinite(o.item<float>()) ? 0 : 1;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
    double want = 0;
    for (float v : xs) want += std::exp(std::exp(v * 0.5f) * 0.5f);
    EXPECT_NEAR(outs[1].item<float>(), want, want * 1e-4);
  }
  synchronize(default_stream(default_device()));
  EXPECT_EQ(get_active_memory(), active);
  // Whichever thread claims which nodes, at most the four links of the chain
  // (each waiting for its sum) and one product are alive beside x; keeping
  // every intermediate would make eight.
  EXPECT_LE(get_peak_memory(), active + 5 * (kBytes / 4) + kSlack)
      << "peak " << get_peak_memory();
}

// R1: the order. Of add(deep, shallow), the shallow branch (a float64 copy,
// doubled and summed: 2x the input alive while it runs) is computed first,
// while nothing else is held; the deep one (a chain in place) afterwards.
// Input order (deep first) would hold the deep result through the shallow
// branch's peak: 1x more.
TEST(MemoryLean, ShallowerInputsAreEvaluatedFirst) {
  array a = computed_uniform(kN, 7);
  fresh_peak();
  array deep = a + 1.0f;
  for (int i = 0; i < 5; ++i) deep = sqrt(deep);
  array shallow = sum(astype(a, float64) * 2.0);
  array out = add(deep, astype(shallow, float32));
  eval(out);
  // a (1x) + the float64 copy (2x): 3x; deep first would reach 4x.
  EXPECT_LE(get_peak_memory(), 3 * kBytes + kBytes / 2 + kSlack)
      << "peak " << get_peak_memory();
}

// R2 + the random ops: normal, uniform and bits peak at no more than twice
// their output; in float32 they are made in the output's own buffer.
TEST(MemoryLean, RandomNumbersPeakAtTwiceTheirOutput) {
  fresh_peak();
  array n = random::normal({kN}, float32, random::key(8));
  eval(n);
  EXPECT_LE(get_peak_memory(), kBytes + kSlack) << "normal: peak " << get_peak_memory();
  std::vector<float> nv = values(n);
  double mean = 0, sq = 0;
  for (float v : nv) mean += v, sq += double(v) * v;
  mean /= nv.size();
  EXPECT_NEAR(mean, 0.0, 3e-3);
  EXPECT_NEAR(std::sqrt(sq / nv.size() - mean * mean), 1.0, 3e-3);
  n = array(0.0f);
  fresh_peak();
  array nb = random::normal({kN}, bfloat16, 2.0f, 3.0f, random::key(8));
  eval(nb);
  EXPECT_LE(get_peak_memory(), kBytes / 2 + kSlack)
      << "bfloat16 normal: peak " << get_peak_memory();
  nb = array(0.0f);
  fresh_peak();
  array u = random::uniform(array(-2.0f), array(3.0f), {kN}, float32, random::key(9));
  eval(u);
  EXPECT_LE(get_peak_memory(), kBytes + kSlack) << "uniform: peak " << get_peak_memory();
  std::vector<float> uv = values(u);
  EXPECT_GE(*std::min_element(uv.begin(), uv.end()), -2.0f);
  EXPECT_LT(*std::max_element(uv.begin(), uv.end()), 3.0f);
  u = array(0.0f);
  fresh_peak();
  array bits = random::bits({kN}, 4, random::key(10));
  eval(bits);
  EXPECT_LE(get_peak_memory(), kBytes + kSlack) << "bits: peak " << get_peak_memory();
}

// R1 + R2 on MLP blocks, y = y + gelu(y @ w1) @ w2 eight times: besides the
// weights, one block's y, hidden (4x y) and product are alive at most.
TEST(MemoryLean, MlpBlocksPeakAtOneBlock) {
  const int rows = 256, d = 256, hidden = 1024;
  array w1 = random::normal({d, hidden}, float32, 0.0f, 0.05f, random::key(11));
  array w2 = random::normal({hidden, d}, float32, 0.0f, 0.05f, random::key(12));
  array y = random::normal({rows, d}, float32, random::key(13));
  auto block = [&](const array& x) { return add(x, matmul(nn::gelu(matmul(x, w1)), w2)); };
  // Two blocks first: a CPU keeps a packed copy of a weight from its second
  // use as a product's right operand, counted as active.
  y = block(block(y));
  eval(y);
  const size_t ybytes = y.nbytes();
  fresh_peak();
  const size_t held = get_active_memory();  // w1, w2, y (and packed copies)
  for (int i = 0; i < 8; ++i) y = block(y);
  eval(y);
  // hidden (4 y, gelu in place) and the product (1 y) beside what is held;
  // all kept would be 8 x 10 y. On a CPU whose float32 products run on AMX
  // tiles, the product hidden @ w2 also splits its left operand into three
  // bfloat16 parts while it runs (1.5 x hidden = 6 y, amx_gemm.cpp).
  const bool split_lhs =
      default_device().type == Device::cpu && detail::cpu::bf16x3_chosen();
  const size_t scratch = split_lhs ? 6 * ybytes : 0;
  EXPECT_LE(get_peak_memory(), held + 6 * ybytes + scratch + kSlack)
      << "peak " << get_peak_memory() << (split_lhs ? " (AMX products)" : "");
}

// R3: a small limit makes a large op raise, with the op, the size and the
// limit; the stream and the process go on.
TEST(MemoryLean, MemoryLimitRaisesAndTheStreamGoesOn) {
  Device d = default_device();
  synchronize(default_stream(d));
  clear_cache();
  const size_t limit = get_active_memory() + (4 << 20);
  {
    MemoryLimitGuard guard(limit);
    EXPECT_EQ(get_memory_limit(), limit);
    array big = zeros({kN}, float32) + 1.0f;
    try {
      eval(big);
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("out of memory"), std::string::npos) << m;
      EXPECT_NE(m.find(std::to_string(kBytes) + " bytes"), std::string::npos) << m;
      EXPECT_NE(m.find("memory limit is " + std::to_string(limit)), std::string::npos) << m;
      EXPECT_NE(m.find("[full]"), std::string::npos) << m;
    }
    // Every observer sees it; the stream raises it once at synchronize.
    EXPECT_THROW(big.item<float>(), std::runtime_error);
    EXPECT_THROW(synchronize(default_stream(d)), std::runtime_error);
    synchronize(default_stream(d));
    // Small work still runs under the limit.
    EXPECT_EQ(sum(ones({1000})).item<float>(), 1000.0f);
  }
  array again = zeros({kN}, float32) + 1.0f;
  EXPECT_EQ(sum(again).item<float>(), static_cast<float>(kN));
}

// R3: 4 TiB of zeros is refused with the limit in the message, even where
// the system would overcommit it (and kill the process on first touch).
TEST(MemoryLean, HugeZerosRaiseWithTheLimit) {
  array z = zeros({1 << 20, 1 << 20}, float32);
  try {
    eval(z);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("4398046511104 bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("memory limit is " + std::to_string(get_memory_limit())), std::string::npos)
        << m;
    // The original is a std::bad_alloc.
    bool bad_alloc = false;
    try {
      std::rethrow_if_nested(e);
    } catch (const std::bad_alloc&) {
      bad_alloc = true;
    } catch (...) {
    }
    EXPECT_TRUE(bad_alloc);
  }
  EXPECT_THROW(synchronize(default_stream(default_device())), std::runtime_error);
}

// R3: the limits' defaults and the per-device API.
TEST(MemoryLean, EveryDeviceHasALimit) {
  const Device cpu(Device::cpu, 0);
  const size_t machine = size_t(sysconf(_SC_PHYS_PAGES)) * size_t(sysconf(_SC_PAGESIZE));
  EXPECT_GT(get_memory_limit(cpu), 0u);
  EXPECT_LE(get_memory_limit(cpu), machine);
  for (int i = 0; i < device_count(Device::gpu); ++i) {
    const Device g(Device::gpu, i);
    EXPECT_EQ(get_memory_limit(g), std::get<size_t>(device_info(g).at("total_memory")));
  }
  const size_t prev = set_memory_limit(size_t(1) << 40, cpu);
  EXPECT_EQ(get_memory_limit(cpu), size_t(1) << 40);
  set_memory_limit(prev, cpu);
  EXPECT_THROW(set_memory_limit(1, Device(Device::gpu, 99)), std::invalid_argument);
  EXPECT_THROW(get_memory_limit(Device(Device::cpu, 1)), std::invalid_argument);
}

namespace {
// Where a computed array's data starts (device memory on a GPU).
const void* buffer_of(const array& a) { return detail::node_of(a).buffer->ptr; }
}  // namespace

// R2: the ops that may write into an input nobody else holds do (unary,
// binary from either side, where, astype of equal width, gelu, softmax and
// the norms), and never into one the program still holds.
TEST(MemoryLean, DonationWritesIntoAnInputNobodyHolds) {
  using Op = std::function<array(const array&)>;
  const array w = ones({64});
  const std::vector<std::pair<const char*, Op>> ops = {
      {"exp", [](const array& x) { return exp(x); }},
      {"x + 1", [](const array& x) { return x + 1.0f; }},
      {"1 - x", [](const array& x) { return 1.0f - x; }},
      {"x * x", [](const array& x) { return x * x; }},
      {"where", [](const array& x) { return where(x > 0.5f, x, array(0.0f)); }},
      {"astype int32", [](const array& x) { return astype(x, int32); }},
      {"gelu", [](const array& x) { return nn::gelu(x); }},
      {"softmax", [](const array& x) { return softmax(reshape(x, {256, 64}), -1); }},
      {"layer_norm", [&](const array& x) {
         return fast::layer_norm(reshape(x, {256, 64}), w, w, 1e-5f);
       }},
      {"rms_norm", [&](const array& x) { return fast::rms_norm(reshape(x, {256, 64}), w, 1e-5f); }},
  };
  for (const auto& [name, op] : ops) {
    array x = computed_uniform(1 << 14, 20);
    std::vector<float> xs = values(x);
    const void* p = buffer_of(x);
    array held = x;
    array y = op(x);
    x = array(0.0f);
    eval(y);
    EXPECT_NE(buffer_of(y), p) << name << " wrote into an input the program holds";
    EXPECT_EQ(values(held), xs) << name << " changed an input the program holds";
    array z = op(held);
    held = array(0.0f);  // the graph's alone now
    eval(z);
    EXPECT_EQ(buffer_of(z), p) << name << " did not take its input's buffer";
    EXPECT_EQ(values(z), values(y)) << name;
  }
}
