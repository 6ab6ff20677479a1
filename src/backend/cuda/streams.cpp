// The per-device pool of CUDA streams that logical GPU streams are bound to,
// and the segment hooks of backend/gpu.h (begin, prepare, end, synchronize).
// The design of the CUDA runtime as a whole (device.cpp, events.cpp,
// allocator.cpp and transfers.cpp do the rest):
//
// Binding: a logical stream runs one segment at a time. It binds to a pool
// stream on its first segment: the one with the fewest active logical streams
// (busy on the device, or began a segment in the last kActiveNs), then the
// fewest bound. It stays there while it is alone on it. When it shares its
// pool stream, its previous work has finished on the device and it has not
// looked for kRecheckNs, it moves only to a pool stream strictly less loaded
// than its own without it: more logical streams than pool streams settle into
// an even spread and stay, rather than chase each other's idle moments (each
// move costs the caches of free blocks their hits). Moving only when idle
// keeps its order without events. With no more logical streams than the pool
// has streams, each gets one to itself.
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
#include "backend/cuda/context.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "backend/gpu.h"
#include "core/format.h"
#include "core/primitives.h"
#include "runtime/stream_state.h"

namespace rill::detail {
namespace cu {

thread_local Launch t_launch;

namespace {
constexpr int64_t kActiveNs = 50'000'000;   // 50 ms: "active" without being busy
constexpr int64_t kRecheckNs = 10'000'000;  // 10 ms between looks at moving

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// A logical stream stays in its pool stream's list until it moves or dies,
// busy or not, so `load` counts the streams that may queue work there.
void bind(DeviceContext& c, GpuStream& g, int64_t now_ns) {
  std::lock_guard lock(c.mu);
  c.n_binds.fetch_add(1, std::memory_order_relaxed);
  auto active = [&](const GpuStream* o) {
    if (now_ns - o->began_ns.load(std::memory_order_relaxed) < kActiveNs) return true;
    return o->last && !o->last->passed.load(std::memory_order_relaxed) &&
           cudaEventQuery(o->last->event) != cudaSuccess;
  };
  // The load of pool stream i without g: (active streams, bound streams).
  auto load_of = [&](size_t i) {
    std::pair<size_t, size_t> l{0, 0};
    for (const GpuStream* o : c.bound[i]) {
      if (o == &g) continue;
      ++l.second;
      if (active(o)) ++l.first;
    }
    return l;
  };
  int best = g.slot;
  std::pair<size_t, size_t> best_load{std::numeric_limits<size_t>::max(), 0};
  if (best >= 0) best_load = load_of(static_cast<size_t>(best));
  for (size_t i = 0; i < c.bound.size(); ++i) {
    if (static_cast<int>(i) == g.slot) continue;
    const auto l = load_of(i);
    if (l < best_load) {
      best = static_cast<int>(i);
      best_load = l;
    }
    if (l.second == 0) break;  // nothing beats an unused pool stream
  }
  (void)cudaGetLastError();  // cudaErrorNotReady
  if (best == g.slot) return;
  if (g.slot >= 0) {
    auto& v = c.bound[g.slot];
    v.erase(std::remove(v.begin(), v.end(), &g), v.end());
    c.load[g.slot].store(static_cast<int>(v.size()), std::memory_order_relaxed);
    c.n_moves.fetch_add(1, std::memory_order_relaxed);
  }
  g.slot = best;
  c.bound[best].push_back(&g);
  c.load[best].store(static_cast<int>(c.bound[best].size()), std::memory_order_relaxed);
}

const Launch& launch() { return t_launch; }

}  // namespace cu

using cu::DeviceContext;

GpuStream::~GpuStream() {
  if (slot < 0) return;
  DeviceContext& c = cu::device_context(device);
  std::lock_guard lock(c.mu);
  auto& v = c.bound[slot];
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
  c.load[slot].store(static_cast<int>(v.size()), std::memory_order_relaxed);
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
  // Look at moving only when the pool stream is shared (a stream alone on its
  // pool stream stays there without taking the device's lock), at most every
  // kRecheckNs, and only when the device has finished this stream's earlier
  // work, so that moving to another pool stream cannot reorder it.
  const int64_t now = cu::steady_ns();
  g->began_ns.store(now, std::memory_order_relaxed);
  c.n_segments.fetch_add(1, std::memory_order_relaxed);
  bool rebind = g->slot < 0;
  if (!rebind && c.load[g->slot].load(std::memory_order_relaxed) > 1 &&
      now >= g->next_check_ns) {
    g->next_check_ns = now + cu::kRecheckNs;
    rebind = !g->last || cudaEventQuery(g->last->event) == cudaSuccess;
  }
  if (rebind) cu::bind(c, *g, now);
  (void)cudaGetLastError();
  cu::t_launch = {device, c.streams[g->slot], g->slot, &c};
  cu::clear_waited();
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
    cu::clear_waited();
    std::shared_ptr<GpuEvent> old;
    std::lock_guard lock(L.ctx->mu);
    old = std::exchange(s.gpu->last, std::move(ev));  // `old` dies after the unlock
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

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
