// The memory figures and the cache of freed buffers (include/rill/memory.h):
// arrays count as active while alive, freed buffers are reused, the cache stays
// within its limit and empties on request, and buffers recycled between
// threads never mix up their data.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "rill/memory.h"
#include "rill/rill.h"
#include "rill/testing.h"

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
