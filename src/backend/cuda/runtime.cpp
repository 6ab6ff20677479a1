// The CUDA backend's runtime: devices, the per-device pool of CUDA streams
// that logical GPU streams are bound to, events, stream-ordered memory, and
// the copies between host and device (backend/gpu.h says what each hook does).
//
// Binding: a logical stream runs one segment at a time. It binds to a pool
// stream on its first segment, and stays there while it is alone on it. When
// it shares its pool stream and its previous work has finished on the device,
// it moves to the pool stream with the fewest busy logical streams (a busy one
// has work queued that the device has not finished), then the fewest bound:
// moving only when idle keeps its order without events. With no more logical
// streams than the pool has streams, each gets one to itself.
//
// Ordering: a node computed on a device stream carries the event recorded
// after its segment. A kernel reading it from another device stream makes its
// stream wait for that event (cudaStreamWaitEvent; no host thread waits); the
// host waits for it only where it must read the data (host copies, eval).
//
// Memory: buffers come from the device's memory pool in the order of the
// stream that computes them. A buffer read by other streams is freed in its
// own stream's order after that stream has waited for those streams, so reuse
// never overtakes a reader. A buffer only its own pool stream used goes back
// to that stream's cache of free blocks (by size class) and is handed to the
// next allocation on the same stream, which the stream orders after every
// earlier use: no driver call on either side, which is most of an op's cost
// when many threads launch at once.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "backend/cuda/common.h"
#include "core/primitives.h"
#include "core/format.h"
#include "backend/gpu.h"
#include "runtime/stream_state.h"
#include "runtime/config.h"

namespace rill::detail {

struct GpuStream {
  int device = -1;
  int slot = -1;                    // the pool stream bound to, -1 for none
  // After the last segment. Written by the segment runner under the device
  // context's mutex (other streams' bind() reads it there); the runner reads
  // it without the lock, since only runners of this stream write it.
  std::shared_ptr<GpuEvent> last;
  ~GpuStream();
};

namespace cu {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;  // cuBLASLt, per pool stream

}  // namespace

struct DeviceContext {
  int index = 0;
  cudaDeviceProp props{};
  cudaMemPool_t pool = nullptr;
  cudaStream_t copy_stream = nullptr;  // host <-> device copies of mirrors

  // The pool of streams; `bound[i]` lists the logical streams bound to stream
  // i (guarded by mu).
  std::vector<cudaStream_t> streams;
  std::vector<std::vector<GpuStream*>> bound;
  // bound[i].size(), readable without `mu` (a hint: whether to rebind).
  std::unique_ptr<std::atomic<int>[]> load;
  std::vector<void*> workspaces;  // cuBLASLt, one per pool stream
  std::vector<std::unique_ptr<std::mutex>> workspace_mu;  // one per pool stream
  cublasLtHandle_t lt = nullptr;
  std::mutex mu;

  std::mutex events_mu;
  std::vector<cudaEvent_t> free_events;

  // Per pool stream: free blocks by capacity (guarded by cache_mu[i]).
  std::vector<std::unique_ptr<std::mutex>> cache_mu;
  std::vector<std::unordered_multimap<size_t, void*>> cache;
  std::atomic<size_t> cached{0};
  std::atomic<size_t> cache_limit{std::numeric_limits<size_t>::max()};

  std::atomic<size_t> active{0};
  std::atomic<size_t> peak{0};
  std::atomic<size_t> limit{std::numeric_limits<size_t>::max()};
};

std::string describe(cudaError_t e) {
  std::string s = cat(cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  if (is_sticky(e)) {
    s += "; the CUDA context is no longer usable: every later GPU operation of this process "
         "will fail, restart the process";
  }
  return s;
}

bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

void throw_error(cudaError_t e, const char* call) {
  throw std::runtime_error(cat("CUDA error ", describe(e), " in ", call));
}

void throw_error(cublasStatus_t e, const char* call) {
  throw std::runtime_error(cat("cuBLAS error ", cublasLtGetStatusName(e), " (",
                               cublasLtGetStatusString(e), ") in ", call));
}

namespace {

thread_local Launch t_launch;
thread_local int t_device = -1;  // the device this thread last selected

void select_device(int device) {
  if (t_device != device) {
    RILL_CUDA(cudaSetDevice(device));
    t_device = device;
  }
}

struct Devices {
  int count = 0;
  std::string reason;
  std::vector<std::unique_ptr<DeviceContext>> contexts;
  std::vector<std::once_flag> once;
  Devices() {
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      reason = cat("no usable CUDA device: ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                   ")");
      count = 0;
      (void)cudaGetLastError();
    } else if (count == 0) {
      reason = "no CUDA device is present";
    }
    contexts.resize(count);
    once = std::vector<std::once_flag>(count);
  }
};

Devices& devices() {
  static Devices* d = new Devices();  // never destroyed: work may outlive main
  return *d;
}

void init_context(DeviceContext& c, int device) {
  c.index = device;
  select_device(device);
  RILL_CUDA(cudaGetDeviceProperties(&c.props, device));
  c.limit.store(c.props.totalGlobalMem, std::memory_order_relaxed);
  RILL_CUDA(cudaDeviceGetDefaultMemPool(&c.pool, device));
  // Keep freed memory in the pool for reuse (clear_cache returns it).
  uint64_t keep = std::numeric_limits<uint64_t>::max();
  RILL_CUDA(cudaMemPoolSetAttribute(c.pool, cudaMemPoolAttrReleaseThreshold, &keep));
  RILL_CUDA(cudaStreamCreateWithFlags(&c.copy_stream, cudaStreamNonBlocking));
  int n = static_cast<int>(setting_int(Setting::gpu_streams));
  c.streams.resize(n);
  c.bound.resize(n);
  c.workspaces.resize(n);
  c.cache.resize(n);
  c.load = std::make_unique<std::atomic<int>[]>(n);
  for (int i = 0; i < n; ++i) {
    c.cache_mu.push_back(std::make_unique<std::mutex>());
    c.workspace_mu.push_back(std::make_unique<std::mutex>());
  }
  for (int i = 0; i < n; ++i) {
    RILL_CUDA(cudaStreamCreateWithFlags(&c.streams[i], cudaStreamNonBlocking));
    RILL_CUDA(cudaMalloc(&c.workspaces[i], kWorkspaceBytes));
  }
  RILL_CUBLAS(cublasLtCreate(&c.lt));
}

cudaEvent_t take_event(DeviceContext& c) {
  {
    std::lock_guard lock(c.events_mu);
    if (!c.free_events.empty()) {
      cudaEvent_t e = c.free_events.back();
      c.free_events.pop_back();
      return e;
    }
  }
  cudaEvent_t e;
  RILL_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

std::shared_ptr<GpuEvent> record_event(DeviceContext& c, cudaStream_t s) {
  auto ev = std::make_shared<GpuEvent>();
  ev->event = take_event(c);
  ev->stream = s;
  ev->device = c.index;
  RILL_CUDA(cudaEventRecord(ev->event, s));
  return ev;
}

// Waits on the host for `ev`; throws what the device reported.
void host_wait(GpuEvent& ev) {
  if (ev.passed.load(std::memory_order_relaxed)) return;
  select_device(ev.device);
  RILL_CUDA(cudaEventSynchronize(ev.event));
  ev.passed.store(true, std::memory_order_relaxed);
}

// Size classes: 512 bytes, then four steps per power of two.
size_t size_class(size_t bytes) {
  if (bytes <= 512) return 512;
  size_t p = 1;
  while (p * 2 < bytes) p *= 2;
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

// Frees every cached block (stream-ordered). Returns the bytes freed.
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

// testing::poison_gpu_memory.
std::atomic<bool> g_poison{false};

// `slot`: the pool stream `s` is (its cache serves the allocation), or -1.
std::shared_ptr<Buffer> allocate_on(DeviceContext& c, size_t bytes, cudaStream_t s, int slot) {
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
    }
  }
  if (cap > 0 && !p) {
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

// The host copy of a device node's data, made on first use (a host read
// waits for the device). Returned by value: another thread may add a mirror
// (and move the vector) meanwhile.
Node::Mirror host_mirror(Node& n) {
  std::lock_guard lock(n.mu);
  for (const Node::Mirror& m : n.mirrors) {
    if (m.device < 0) return m;
  }
  auto [lo, hi] = span(n);
  const size_t esize = n.dtype.size;
  const size_t bytes = static_cast<size_t>(hi - lo) * esize;
  const int src = n.buffer->device();
  if (n.ready) host_wait(*n.ready);  // the device has computed it
  auto buf = std::make_shared<Buffer>(bytes);
  if (bytes) {
    select_device(src);
    RILL_CUDA(cudaMemcpy(buf->ptr, static_cast<const char*>(n.buffer->ptr) + lo * esize, bytes,
                         cudaMemcpyDeviceToHost));
  }
  n.mirrors.push_back({-1, std::move(buf), n.offset - lo});
  return n.mirrors.back();
}

// The copy of a host or other device's node on the launch's device, made on
// first use and queued on the launch's stream, with an event that other
// streams wait for; no host wait. A pageable host source is staged before the
// call returns. Another device's data is copied once that device has
// computed it (a wait on its event, device to device); its stream becomes a
// user of the source, so the source is not freed before the copy has read it.
Node::Mirror copy_in(Node& n, const Launch& L) {
  std::lock_guard lock(n.mu);
  for (const Node::Mirror& m : n.mirrors) {
    if (m.device == L.device) return m;
  }
  auto [lo, hi] = span(n);
  const size_t esize = n.dtype.size;
  const size_t bytes = static_cast<size_t>(hi - lo) * esize;
  const int src = n.buffer->device();
  const char* from = static_cast<const char*>(n.buffer->ptr) + lo * esize;
  std::shared_ptr<Buffer> buf = allocate_on(*L.ctx, bytes, L.stream, L.slot);
  if (bytes && src < 0) {
    RILL_CUDA(cudaMemcpyAsync(buf->ptr, from, bytes, cudaMemcpyHostToDevice, L.stream));
  } else if (bytes) {
    if (n.ready && !n.ready->passed.load(std::memory_order_relaxed)) {
      RILL_CUDA(cudaStreamWaitEvent(L.stream, n.ready->event, 0));
    }
    RILL_CUDA(cudaMemcpyPeerAsync(buf->ptr, L.device, from, src, bytes, L.stream));
    note_user(*n.buffer->gpu, L.stream, L.device);
  }
  n.mirrors.push_back({L.device, std::move(buf), n.offset - lo, record_event(*L.ctx, L.stream)});
  return n.mirrors.back();
}

// Events the segment running on this thread has already waited for. Held,
// not pointed to: the segment frees inputs (and their events) as it goes, and
// a new event at a freed one's address must not pass for it.
thread_local std::vector<std::shared_ptr<GpuEvent>> t_waited;

// Orders the launch's stream after `ev` (recorded on the same device), once
// per segment; an event the device is known to be past costs nothing.
void wait_for(const Launch& L, const std::shared_ptr<GpuEvent>& ev) {
  if (!ev || ev->stream == L.stream || ev->passed.load(std::memory_order_relaxed) ||
      std::find(t_waited.begin(), t_waited.end(), ev) != t_waited.end()) {
    return;
  }
  // Inputs made long ago (weights) are past their event: one query says
  // so, and from then on nobody waits for it.
  if (cudaEventQuery(ev->event) == cudaSuccess) {
    ev->passed.store(true, std::memory_order_relaxed);
  } else {
    (void)cudaGetLastError();  // cudaErrorNotReady is not an error
    RILL_CUDA(cudaStreamWaitEvent(L.stream, ev->event, 0));
    t_waited.push_back(ev);
  }
}

// Binds `g` to the pool stream with the fewest busy logical streams (work
// queued that the device has not finished), then the fewest bound ones. A
// logical stream stays in its pool stream's list until it rebinds or dies,
// busy or not, so `load` counts the streams that may queue work there.
void bind(DeviceContext& c, GpuStream& g) {
  std::lock_guard lock(c.mu);
  if (g.slot >= 0) {
    auto& v = c.bound[g.slot];
    v.erase(std::remove(v.begin(), v.end(), &g), v.end());
    c.load[g.slot].store(static_cast<int>(v.size()), std::memory_order_relaxed);
  }
  int best = 0;
  size_t best_busy = std::numeric_limits<size_t>::max();
  size_t best_bound = best_busy;
  for (size_t i = 0; i < c.bound.size(); ++i) {
    const auto& v = c.bound[i];
    size_t busy = 0;
    for (const GpuStream* o : v) {
      if (o->last && !o->last->passed.load(std::memory_order_relaxed) &&
          cudaEventQuery(o->last->event) != cudaSuccess) {
        ++busy;
      }
    }
    if (busy < best_busy || (busy == best_busy && v.size() < best_bound)) {
      best = static_cast<int>(i);
      best_busy = busy;
      best_bound = v.size();
    }
    if (v.empty()) break;  // nothing beats an unused pool stream
  }
  (void)cudaGetLastError();  // cudaErrorNotReady
  g.slot = best;
  c.bound[best].push_back(&g);
  c.load[best].store(static_cast<int>(c.bound[best].size()), std::memory_order_relaxed);
}

}  // namespace

DeviceContext& device_context(int device) {
  Devices& d = devices();
  if (device < 0 || device >= d.count) {
    throw std::invalid_argument(cat("Device(gpu, ", device, ") is not available"));
  }
  std::call_once(d.once[device], [&] {
    auto c = std::make_unique<DeviceContext>();
    init_context(*c, device);
    d.contexts[device] = std::move(c);
  });
  return *d.contexts[device];
}

const Launch& launch() { return t_launch; }

std::pair<int64_t, int64_t> span(const Node& n) {
  if (n.size == 0) return {n.offset, n.offset};
  int64_t lo = n.offset, hi = n.offset;
  for (size_t d = 0; d < n.shape.size(); ++d) {
    int64_t ext = int64_t(n.shape[d] - 1) * n.strides[d];
    (ext < 0 ? lo : hi) += ext;
  }
  return {lo, hi + 1};
}

array proxy(const Node& n, const Node::Mirror& m) {
  auto p = std::make_shared<Node>(n.shape, n.dtype, m.buffer, n.stream_id);
  p->strides = n.strides;
  p->offset = m.offset;
  p->row_contiguous = n.row_contiguous;
  p->col_contiguous = n.col_contiguous;
  return array(std::move(p));
}

std::shared_ptr<Buffer> allocate(size_t bytes) {
  return allocate_on(*t_launch.ctx, bytes, t_launch.stream, t_launch.slot);
}

bool reusable(GpuAlloc& a) {
  if (a.device != t_launch.device || a.stream != t_launch.stream) return false;
  std::lock_guard lock(a.mu);
  return a.users.empty();
}

cublasLtHandle_t lt_handle() { return t_launch.ctx->lt; }

void* lt_workspace(size_t* bytes) {
  *bytes = kWorkspaceBytes;
  return t_launch.ctx->workspaces[t_launch.slot];
}

std::unique_lock<std::mutex> lock_workspace() {
  return std::unique_lock<std::mutex>(*t_launch.ctx->workspace_mu[t_launch.slot]);
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

GpuEvent::~GpuEvent() {
  DeviceContext& c = cu::device_context(device);
  std::lock_guard lock(c.events_mu);
  c.free_events.push_back(event);
}

GpuStream::~GpuStream() {
  if (slot < 0) return;
  DeviceContext& c = cu::device_context(device);
  std::lock_guard lock(c.mu);
  auto& v = c.bound[slot];
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
  c.load[slot].store(static_cast<int>(v.size()), std::memory_order_relaxed);
}

int gpu_device_count() { return cu::devices().count; }

std::string gpu_unavailable_reason() {
  const cu::Devices& d = cu::devices();
  return d.reason.empty() ? "no CUDA device" : d.reason;
}

const std::unordered_map<std::string, std::variant<std::string, size_t>>& gpu_device_info(
    int index) {
  using Info = std::unordered_map<std::string, std::variant<std::string, size_t>>;
  static std::mutex mu;
  static auto* infos = new std::unordered_map<int, Info>();
  std::lock_guard lock(mu);
  auto it = infos->find(index);
  if (it != infos->end()) return it->second;
  const cudaDeviceProp& p = cu::device_context(index).props;
  Info info;
  info["device_name"] = std::string(p.name);
  info["architecture"] = cat("sm_", p.major, p.minor);
  info["compute_capability"] = cat(p.major, ".", p.minor);
  info["total_memory"] = static_cast<size_t>(p.totalGlobalMem);
  info["multiprocessor_count"] = static_cast<size_t>(p.multiProcessorCount);
  info["max_threads_per_block"] = static_cast<size_t>(p.maxThreadsPerBlock);
  info["shared_memory_per_block"] = static_cast<size_t>(p.sharedMemPerBlockOptin);
  info["l2_cache_size"] = static_cast<size_t>(p.l2CacheSize);
  return infos->emplace(index, std::move(info)).first->second;
}

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

void gpu_begin(StreamState& s) {
  const int device = s.stream.device.index;
  DeviceContext& c = cu::device_context(device);
  cu::select_device(device);
  std::shared_ptr<GpuStream> g;
  {
    std::lock_guard lock(s.mu);
    if (!s.gpu) {
      s.gpu = std::make_shared<GpuStream>();
      s.gpu->device = device;
    }
    g = s.gpu;
  }
  // Rebind only when the device has finished this stream's earlier work, so
  // that moving to another pool stream cannot reorder it, and only when the
  // pool stream is shared: a stream alone on its pool stream stays there
  // without taking the device's lock.
  bool rebind = g->slot < 0;
  if (!rebind && c.load[g->slot].load(std::memory_order_relaxed) > 1) {
    rebind = !g->last || cudaEventQuery(g->last->event) == cudaSuccess;
  }
  if (rebind) cu::bind(c, *g);
  (void)cudaGetLastError();
  cu::t_launch = {device, c.streams[g->slot], g->slot, &c};
  cu::t_waited.clear();
}

void gpu_prepare(Node& n) {
  const cu::Launch& L = cu::t_launch;
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    array& in = n.inputs[k];
    Node& i = *in.mutable_node();
    const int dev = i.buffer ? i.buffer->device() : -1;
    if (dev < 0 && n.primitive->host_input(k)) continue;  // the kernel reads it there
    if (dev != L.device) {
      // A copy on this device, made once (host data on this stream, another
      // device's with a host wait); this stream reads it, so it is freed
      // only after this stream is past the read.
      const Node::Mirror m = cu::copy_in(i, L);
      cu::wait_for(L, m.ready);
      cu::note_user(*m.buffer->gpu, L.stream, L.device);
      in = cu::proxy(i, m);
      continue;
    }
    cu::wait_for(L, i.ready);
    cu::note_user(*i.buffer->gpu, L.stream, L.device);
  }
}

std::exception_ptr gpu_end(StreamState& s, Node* const* nodes, size_t count) noexcept {
  try {
    const cu::Launch& L = cu::t_launch;
    auto ev = cu::record_event(*L.ctx, L.stream);
    for (size_t i = 0; i < count; ++i) nodes[i]->ready = ev;
    cu::t_waited.clear();
    std::shared_ptr<GpuEvent> old;
    std::lock_guard lock(L.ctx->mu);
    old = std::exchange(s.gpu->last, std::move(ev));  // `old` dies after the unlock
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

void host_prepare(Node& n) {
  for (array& in : n.inputs) {
    Node& i = *in.mutable_node();
    if (i.buffer && i.buffer->device() >= 0) in = cu::proxy(i, cu::host_mirror(i));
  }
}

const void* host_data(Node& n) {
  if (!n.buffer || n.buffer->device() < 0) return n.data();
  const Node::Mirror m = cu::host_mirror(n);  // kept alive by the node
  return static_cast<const char*>(m.buffer->ptr) + m.offset * n.dtype.size;
}

void gpu_wait(Node& n) { cu::host_wait(*n.ready); }

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

void gpu_synchronize(StreamState& s) {
  std::shared_ptr<GpuStream> g;
  {
    std::lock_guard lock(s.mu);
    g = s.gpu;
  }
  if (!g) return;
  std::shared_ptr<GpuEvent> last;
  {
    std::lock_guard lock(cu::device_context(g->device).mu);
    last = g->last;
  }
  if (last) cu::host_wait(*last);
}

}  // namespace rill::detail
