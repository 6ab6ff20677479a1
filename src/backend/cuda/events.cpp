// CUDA events: a free list per device, host waits, and the stream-to-stream
// waits of a segment (each event waited for once per segment).
#include "backend/cuda/context.h"

#include <algorithm>
#include <stdexcept>

#include "backend/gpu.h"
#include "core/format.h"

namespace rill::detail {
namespace cu {

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

void host_wait(GpuEvent& ev) {
  if (ev.passed.load(std::memory_order_relaxed)) return;
  select_device(ev.device);
  RILL_CUDA(cudaEventSynchronize(ev.event));
  ev.passed.store(true, std::memory_order_relaxed);
}

// Events the segment running on this thread has already waited for. Held,
// not pointed to: the segment frees inputs (and their events) as it goes, and
// a new event at a freed one's address must not pass for it.
namespace {
thread_local std::vector<std::shared_ptr<GpuEvent>> t_waited;
}  // namespace

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

void clear_waited() { t_waited.clear(); }

}  // namespace cu

using cu::DeviceContext;

GpuEvent::~GpuEvent() {
  DeviceContext& c = cu::device_context(device);
  std::lock_guard lock(c.events_mu);
  c.free_events.push_back(event);
}

void gpu_wait(Node& n) { cu::host_wait(*n.ready); }

}  // namespace rill::detail
