// Device memory: stream-ordered blocks from the device's pool, a cache of free
// blocks per pool stream (by size class), the memory limit and statistics,
// and the release of a buffer in the order of every stream that used it.
#include "backend/cuda/context.h"

#include <algorithm>
#include <stdexcept>

#include "backend/gpu.h"
#include "core/format.h"

namespace rill::detail {
namespace cu {

std::atomic<bool> g_poison{false};

// Size classes: 512 bytes, then four steps per power of two.
size_t size_class(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t p = 1;
  while (p * 2 < bytes) p *= 2;
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

size_t drop_cache(DeviceContext& c) {
  size_t freed = 0;
  for (size_t i = 0; i < c.cache.size(); ++i) {
    std::lock_guard lock(*c.cache_mu[i]);
    for (auto& [cap, p] : c.cache[i]) {
      (void)cudaFreeAsync(p, c.streams[i]);
      freed += cap;
    }
    c.cache[i].clear();
  }
  c.cached.fetch_sub(freed, std::memory_order_relaxed);
  (void)cudaGetLastError();
  return freed;
}

std::shared_ptr<Buffer> allocate_on(DeviceContext& c, size_t bytes, cudaStream_t s, int slot) {
  if (t_arena) {
    if (auto b = arena_take(*t_arena, c.index, bytes)) return b;
  }
  size_t limit = c.limit.load(std::memory_order_relaxed);
  size_t active = c.active.load(std::memory_order_relaxed);
  auto out_of_memory = [&](const std::string& why) {
    size_t free_b = 0, total = 0;
    (void)cudaMemGetInfo(&free_b, &total);
    (void)cudaGetLastError();
    return OutOfMemory(cat("out of memory on Device(gpu, ", c.index, "): cannot allocate ", bytes,
                           " bytes (", why, "; the memory limit is ", limit,
                           " bytes and rill holds ", active, " bytes in arrays, the device has ",
                           free_b, " of ", total,
                           " bytes free; set_memory_limit changes the limit)"));
  };
  if (bytes > limit || active > limit - bytes) throw out_of_memory("over the memory limit");
  // Keep the arrays and rill's caches of free blocks within the limit together.
  if (c.cached.load(std::memory_order_relaxed) > limit - active - bytes) drop_cache(c);
  const size_t cap = bytes ? size_class(bytes) : 0;
  void* p = nullptr;
  if (cap > 0 && slot >= 0) {
    std::lock_guard lock(*c.cache_mu[slot]);
    auto it = c.cache[slot].find(cap);
    if (it != c.cache[slot].end()) {
      p = it->second;
      c.cache[slot].erase(it);
      c.cached.fetch_sub(cap, std::memory_order_relaxed);
      c.n_cache_hits.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (cap > 0 && !p) {
    c.n_pool_allocs.fetch_add(1, std::memory_order_relaxed);
    cudaError_t e = cudaMallocFromPoolAsync(&p, cap, c.pool, s);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      // Return cached blocks to the device and try once more.
      drop_cache(c);
      (void)cudaDeviceSynchronize();
      (void)cudaMemPoolTrimTo(c.pool, 0);
      e = cudaMallocFromPoolAsync(&p, cap, c.pool, s);
      if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        throw out_of_memory("the device has no block that large left");
      }
    }
    if (e != cudaSuccess) throw_error(e, "cudaMallocFromPoolAsync");
  }
  size_t now = c.active.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  size_t peak = c.peak.load(std::memory_order_relaxed);
  while (now > peak && !c.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
  if (g_poison.load(std::memory_order_relaxed) && bytes) {
    // testing::poison_gpu_memory: NaN in every floating type, in stream order
    // before whatever writes the buffer.
    RILL_CUDA(cudaMemsetAsync(p, 0xFF, bytes, s));
  }
  auto* a = new GpuAlloc{c.index, p, bytes, cap, s, slot, {}, {}};
  auto buf = std::make_shared<Buffer>(p, bytes, nullptr);
  buf->gpu = a;
  return buf;
}

void note_user(GpuAlloc& a, cudaStream_t s, int device) {
  if (a.stream == s) return;
  std::lock_guard lock(a.mu);
  const std::pair<cudaStream_t, int> u{s, device};
  if (std::find(a.users.begin(), a.users.end(), u) == a.users.end()) a.users.push_back(u);
}

std::shared_ptr<Buffer> allocate(size_t bytes) {
  return allocate_on(*t_launch.ctx, bytes, t_launch.stream, t_launch.slot);
}

bool reusable(GpuAlloc& a) {
  const Launch& L = t_launch;
  if (a.device != L.device) return false;
  std::lock_guard lock(a.mu);
  if (a.stream == L.stream) return a.users.empty();
  // Made on another pool stream (the logical stream moved since, or another
  // stream computed it): hand the block over to this one if no third stream
  // used it. The caller holds its only reference, so only work already queued
  // can touch it: this stream waits for everything queued on the old one, and
  // the block's later frees and reuses follow this stream's order.
  if (a.slot < 0 || L.slot < 0) return false;
  for (const auto& u : a.users) {
    if (u.first != L.stream) return false;
  }
  DeviceContext& c = *L.ctx;
  cudaEvent_t e = take_event(c);
  const cudaError_t rec = cudaEventRecord(e, a.stream);
  const cudaError_t wait = rec == cudaSuccess ? cudaStreamWaitEvent(L.stream, e, 0) : rec;
  {
    std::lock_guard events(c.events_mu);
    c.free_events.push_back(e);  // the wait has taken the event's state
  }
  if (wait != cudaSuccess) throw_error(wait, "cudaStreamWaitEvent (buffer hand-over)");
  a.stream = L.stream;
  a.slot = L.slot;
  a.users.clear();
  c.n_handovers.fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t active_memory(int device) { return device_context(device).active.load(); }
size_t peak_memory(int device) { return device_context(device).peak.load(); }
void reset_peak_memory(int device) {
  DeviceContext& c = device_context(device);
  c.peak.store(c.active.load());
}
size_t cache_memory(int device) {
  DeviceContext& c = device_context(device);
  uint64_t reserved = 0;
  RILL_CUDA(cudaMemPoolGetAttribute(c.pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  uint64_t used = 0;
  RILL_CUDA(cudaMemPoolGetAttribute(c.pool, cudaMemPoolAttrUsedMemCurrent, &used));
  // Blocks in rill's per-stream caches count as used by the pool.
  return (reserved > used ? static_cast<size_t>(reserved - used) : 0) +
         c.cached.load(std::memory_order_relaxed);
}
size_t set_memory_limit(int device, size_t limit) {
  return device_context(device).limit.exchange(limit);
}
size_t memory_limit(int device) { return device_context(device).limit.load(); }
void set_cache_limit(int device, size_t limit) {
  DeviceContext& c = device_context(device);
  select_device(device);
  c.cache_limit.store(limit, std::memory_order_relaxed);
  uint64_t keep = limit;
  RILL_CUDA(cudaMemPoolSetAttribute(c.pool, cudaMemPoolAttrReleaseThreshold, &keep));
  if (c.cached.load(std::memory_order_relaxed) > limit) drop_cache(c);
}
void clear_cache(int device) {
  DeviceContext& c = device_context(device);
  select_device(device);
  drop_cache(c);
  // Frees are stream-ordered: let them land before trimming.
  RILL_CUDA(cudaDeviceSynchronize());
  RILL_CUDA(cudaMemPoolTrimTo(c.pool, 0));
}

}  // namespace cu

using cu::DeviceContext;

int gpu_alloc_device(const GpuAlloc* a) noexcept { return a->device; }

void gpu_release(GpuAlloc* a) noexcept {
  DeviceContext& c = cu::device_context(a->device);
  c.active.fetch_sub(a->bytes, std::memory_order_relaxed);
  if (a->ptr && a->slot >= 0 && a->users.empty() &&
      c.cached.load(std::memory_order_relaxed) + a->capacity <=
          c.cache_limit.load(std::memory_order_relaxed)) {
    // Only its own stream used it: the next allocation on that stream may
    // take it (stream order puts that use after every earlier one).
    std::lock_guard lock(*c.cache_mu[a->slot]);
    c.cache[a->slot].emplace(a->capacity, a->ptr);
    c.cached.fetch_add(a->capacity, std::memory_order_relaxed);
    delete a;
    return;
  }
  int prev = -1;
  if (cudaGetDevice(&prev) == cudaSuccess && prev != a->device) (void)cudaSetDevice(a->device);
  for (auto [u, dev] : a->users) {
    // The event is recorded on the user's device; the wait may cross devices.
    DeviceContext& uc = cu::device_context(dev);
    if (dev != a->device) (void)cudaSetDevice(dev);
    cudaEvent_t e = nullptr;
    try {
      e = cu::take_event(uc);
    } catch (...) {
    }
    const bool recorded = e && cudaEventRecord(e, u) == cudaSuccess;
    if (dev != a->device) (void)cudaSetDevice(a->device);
    if (!e) break;  // the context is gone (exit): nothing can reuse the memory
    if (recorded) (void)cudaStreamWaitEvent(a->stream, e, 0);
    std::lock_guard lock(uc.events_mu);
    uc.free_events.push_back(e);
  }
  if (a->ptr) (void)cudaFreeAsync(a->ptr, a->stream);
  (void)cudaGetLastError();
  if (prev >= 0 && prev != a->device) (void)cudaSetDevice(prev);
  delete a;
}

GpuStreamStats gpu_stream_stats(int device) {
  DeviceContext& c = cu::device_context(device);
  auto get = [](const std::atomic<uint64_t>& n) { return n.load(std::memory_order_relaxed); };
  return {static_cast<int>(c.streams.size()), get(c.n_segments), get(c.n_binds),
          get(c.n_moves), get(c.n_handovers), get(c.n_pool_allocs), get(c.n_cache_hits)};
}

GpuMemory gpu_memory(int device) {
  return {cu::active_memory(device), cu::peak_memory(device), cu::cache_memory(device),
          cu::memory_limit(device),
          cu::device_context(device).cached.load(std::memory_order_relaxed)};
}
void gpu_reset_peak_memory(int device) { cu::reset_peak_memory(device); }
size_t gpu_set_memory_limit(int device, size_t limit) {
  return cu::set_memory_limit(device, limit);
}
void gpu_clear_cache(int device) { cu::clear_cache(device); }
void gpu_set_cache_limit(int device, size_t limit) { cu::set_cache_limit(device, limit); }
void gpu_set_poison(bool on) { cu::g_poison.store(on, std::memory_order_relaxed); }

}  // namespace rill::detail
