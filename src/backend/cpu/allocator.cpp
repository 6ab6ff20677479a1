// The CPU buffer allocator: blocks rounded up to size classes (four per power
// of two, multiples of 64 bytes: at most 25% over above 512 bytes), and a
// cache of released blocks in per-thread-group shards. A thread takes and
// gives back blocks through its own shard, so threads rarely meet on a lock;
// a miss takes a block of the class from another shard before asking the
// system. The cache is bounded: a release that would exceed the limit first
// evicts its shard's least recently cached blocks, and frees the block itself
// if that is not enough.
#include "backend/cpu/allocator.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <new>
#include <thread>

#include "core/format.h"
#include "runtime/failure.h"

#if defined(__SANITIZE_ADDRESS__)
#define RILL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RILL_ASAN 1
#endif
#endif
#ifdef RILL_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace rill::detail::cpu {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kMinBlock = 128;  // smaller arrays live inside their Buffer
constexpr int kMaxBits = 48;       // blocks above 2^47 bytes are never cached
constexpr int kClasses = 4 * (kMaxBits + 1);
constexpr unsigned kMaxShards = 64;  // a shard is one bit of Cache::nonempty

// Written at the start of a cached block; the rest of the block is unused.
struct Block {
  Block* prev;  // in its class's list, newest first
  Block* next;
  Block* older;  // in its shard's order of release, for eviction
  Block* newer;
  size_t size;
  int cls;
};
static_assert(sizeof(Block) <= kMinBlock);

// The block size for a request of n bytes, and its class (-1: never cached).
// A request in (2^(e-1), 2^e] is rounded up to a multiple of 2^(e-3) (and of
// 64): one of four sizes, numbered from e.
size_t block_size(size_t n, int& cls) {
  n = std::max(n, kMinBlock);
  const int e = std::bit_width(n - 1);
  if (e > kMaxBits) {
    cls = -1;
    return (n + kAlign - 1) / kAlign * kAlign;
  }
  const size_t step = std::max<size_t>(kAlign, size_t(1) << (e - 3));
  const size_t rounded = (n + step - 1) / step * step;
  cls = 4 * e + static_cast<int>((rounded - (size_t(1) << (e - 1))) >> (e - 3)) - 1;
  return rounded;
}

// The memory a cgroup (v2, then v1) lets this process use, or 0 for no limit.
size_t cgroup_limit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::FILE* f = std::fopen(path, "r");
    if (!f) continue;
    char text[64] = {};
    const bool read = std::fgets(text, sizeof text, f) != nullptr;
    std::fclose(f);
    if (!read) continue;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text, &end, 10);
    if (end == text) return 0;  // "max"
    return static_cast<size_t>(v);
  }
  return 0;
}

// The smaller of the machine's memory and its cgroup's limit (v1 reports "no
// limit" as a huge number, which the minimum discards).
size_t default_memory_limit(size_t physical) {
  size_t limit = physical ? physical : std::numeric_limits<size_t>::max();
  if (size_t cg = cgroup_limit(); cg > 0) limit = std::min(limit, cg);
  return limit;
}

// Guarded by `mu`: the class lists and the release order.
struct alignas(64) Shard {
  std::mutex mu;
  Block* heads[kClasses] = {};
  Block* oldest = nullptr;
  Block* newest = nullptr;
};

struct Cache {
  Cache() {
    // Two per core: the callers evaluating on their own threads and the
    // executor's workers then rarely share one.
    unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    nshards = std::min(kMaxShards, std::bit_ceil(2 * hw));
    shards = new Shard[nshards];
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t physical = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : 0;
    // An eighth of the machine's memory, at most 2 GiB: far more than the
    // intermediates of a model's forward pass on every core.
    limit.store(
        physical ? std::min<size_t>(physical / 8, size_t(2) << 30) : size_t(256) << 20,
        std::memory_order_relaxed);
    memory_limit.store(default_memory_limit(physical), std::memory_order_relaxed);
  }
  unsigned nshards;
  Shard* shards;
  // Bit i of nonempty[c]: shard i may hold a block of class c. Set and cleared
  // under that shard's lock; read relaxed as a hint where to look on a miss.
  std::atomic<uint64_t> nonempty[kClasses] = {};
  // Relaxed counters: figures for the user and bounds, guarding no data.
  // `limit` bounds the cache, `memory_limit` the arrays (active) and, by
  // trimming the cache, what rill holds in all.
  std::atomic<size_t> cached{0}, limit{0}, active{0}, peak{0}, memory_limit{0};
  std::atomic<unsigned> next_shard{0};
};

// Made on first use and never destroyed: buffers may be released by work
// still running while the process exits.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

constinit thread_local int t_shard = -1;

int my_shard(Cache& c) {
  if (t_shard < 0) {
    t_shard = static_cast<int>(c.next_shard.fetch_add(1, std::memory_order_relaxed) %
                               c.nshards);
  }
  return t_shard;
}

void poison(Block* b) {
#ifdef RILL_ASAN
  ASAN_POISON_MEMORY_REGION(reinterpret_cast<char*>(b) + sizeof(Block),
                            b->size - sizeof(Block));
#else
  (void)b;
#endif
}
void unpoison(void* p, size_t size) {
#ifdef RILL_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, size);
#else
  (void)p;
  (void)size;
#endif
}

// ---- list operations; the caller holds the shard's lock ----

void push(Cache& c, int shard, Block* b) {
  Shard& s = c.shards[shard];
  b->prev = nullptr;
  b->next = s.heads[b->cls];
  if (b->next) {
    b->next->prev = b;
  } else {
    c.nonempty[b->cls].fetch_or(uint64_t(1) << shard, std::memory_order_relaxed);
  }
  s.heads[b->cls] = b;
  b->older = s.newest;
  b->newer = nullptr;
  if (s.newest) s.newest->newer = b;
  s.newest = b;
  if (!s.oldest) s.oldest = b;
}

void unlink(Cache& c, int shard, Block* b) {
  Shard& s = c.shards[shard];
  (b->prev ? b->prev->next : s.heads[b->cls]) = b->next;
  if (b->next) b->next->prev = b->prev;
  if (!s.heads[b->cls]) {
    c.nonempty[b->cls].fetch_and(~(uint64_t(1) << shard), std::memory_order_relaxed);
  }
  (b->older ? b->older->newer : s.oldest) = b->newer;
  (b->newer ? b->newer->older : s.newest) = b->older;
  c.cached.fetch_sub(b->size, std::memory_order_relaxed);
}

// Evicts the shard's oldest blocks until the cache holds at most `target`
// bytes (or the shard is empty); returns them chained through `next`.
Block* evict(Cache& c, int shard, size_t target) {
  Block* doomed = nullptr;
  Shard& s = c.shards[shard];
  while (s.oldest && c.cached.load(std::memory_order_relaxed) > target) {
    Block* b = s.oldest;
    unlink(c, shard, b);
    b->next = doomed;
    doomed = b;
  }
  return doomed;
}

void free_blocks(Block* b) {
  while (b) {
    Block* next = b->next;
    unpoison(b, b->size);
    std::free(b);
    b = next;
  }
}

Block* take(Cache& c, int shard, int cls) {
  std::lock_guard lock(c.shards[shard].mu);
  Block* b = c.shards[shard].heads[cls];
  if (b) unlink(c, shard, b);
  return b;
}

[[noreturn]] void refuse(Cache& c, size_t nbytes, const char* why) {
  throw OutOfMemory(cat("out of memory on Device(cpu, 0): cannot allocate ", nbytes, " bytes (",
                        why, "; the memory limit is ",
                        c.memory_limit.load(std::memory_order_relaxed),
                        " bytes and rill holds ", c.active.load(std::memory_order_relaxed),
                        " bytes in arrays; set_memory_limit changes the limit)"));
}

// Counts `size` more bytes as active unless that would pass the memory limit
// (then throws OutOfMemory with the sizes and the limit).
void count_active(Cache& c, size_t size, size_t nbytes) {
  const size_t limit = c.memory_limit.load(std::memory_order_relaxed);
  size_t before = c.active.load(std::memory_order_relaxed);
  do {
    if (size > limit || before > limit - size) refuse(c, nbytes, "over the memory limit");
  } while (!c.active.compare_exchange_weak(before, before + size, std::memory_order_relaxed));
  const size_t now = before + size;
  size_t peak = c.peak.load(std::memory_order_relaxed);
  while (now > peak &&
         !c.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void trim(Cache& c, size_t target) {
  for (unsigned i = 0; i < c.nshards; ++i) {
    Block* doomed;
    {
      std::lock_guard lock(c.shards[i].mu);
      doomed = evict(c, static_cast<int>(i), target);
    }
    free_blocks(doomed);
  }
}

}  // namespace

void* allocate(size_t nbytes) {
  Cache& c = cache();
  int cls;
  const size_t size = block_size(nbytes, cls);
  count_active(c, size, nbytes);
  if (cls >= 0) {
    const int own = my_shard(c);
    uint64_t where = c.nonempty[cls].load(std::memory_order_relaxed);
    Block* b = nullptr;
    if (where & (uint64_t(1) << own)) b = take(c, own, cls);
    // A thread that frees what another allocated (a consumer of a worker's
    // output) fills its own shard; take from there before the system.
    where &= ~(uint64_t(1) << own);
    while (!b && where) {
      int i = std::countr_zero(where);
      where &= where - 1;
      b = take(c, i, cls);
    }
    if (b) {
      unpoison(b, size);
      return b;
    }
  }
  // A new block: keep the arrays and the cache together within the limit.
  const size_t limit = c.memory_limit.load(std::memory_order_relaxed);
  const size_t active = c.active.load(std::memory_order_relaxed);
  if (active <= limit && c.cached.load(std::memory_order_relaxed) > limit - active) {
    trim(c, limit - active);
  }
  void* p = std::aligned_alloc(kAlign, size);
  if (!p) {
    clear_cache();
    p = std::aligned_alloc(kAlign, size);
    if (!p) {
      c.active.fetch_sub(size, std::memory_order_relaxed);
      refuse(c, nbytes, "the system has no memory left");
    }
  }
  return p;
}

void release(void* p, size_t nbytes) noexcept {
  if (!p) return;
  Cache& c = cache();
  int cls;
  const size_t size = block_size(nbytes, cls);
  c.active.fetch_sub(size, std::memory_order_relaxed);
  const size_t limit = c.limit.load(std::memory_order_relaxed);
  if (cls < 0 || size > limit) {
    std::free(p);
    return;
  }
  const int own = my_shard(c);
  Block* b = static_cast<Block*>(p);
  Block* doomed;
  {
    std::lock_guard lock(c.shards[own].mu);
    doomed = evict(c, own, limit - size);
    // Concurrent releases on other shards may each pass this check: the
    // cache can exceed the limit by about one block per shard, briefly.
    if (c.cached.load(std::memory_order_relaxed) + size <= limit) {
      b->size = size;
      b->cls = cls;
      push(c, own, b);
      c.cached.fetch_add(size, std::memory_order_relaxed);
      poison(b);
      b = nullptr;
    }
  }
  free_blocks(doomed);
  std::free(b);
}

size_t active_memory() noexcept { return cache().active.load(std::memory_order_relaxed); }
size_t peak_memory() noexcept { return cache().peak.load(std::memory_order_relaxed); }
void reset_peak_memory() noexcept {
  Cache& c = cache();
  c.peak.store(c.active.load(std::memory_order_relaxed), std::memory_order_relaxed);
}
size_t cache_memory() noexcept { return cache().cached.load(std::memory_order_relaxed); }

size_t set_cache_limit(size_t limit) noexcept {
  Cache& c = cache();
  size_t prev = c.limit.exchange(limit, std::memory_order_relaxed);
  trim(c, limit);
  return prev;
}

void clear_cache() noexcept { trim(cache(), 0); }

size_t set_memory_limit(size_t limit) noexcept {
  return cache().memory_limit.exchange(limit, std::memory_order_relaxed);
}
size_t memory_limit() noexcept { return cache().memory_limit.load(std::memory_order_relaxed); }

}  // namespace rill::detail::cpu
