#include "rill/testing.h"

#include <stdexcept>
#include <string>

#include "core/graph_step.h"
#include "core/primitives.h"
#include "runtime/cpu_executor.h"
#include "backend/gpu.h"
#include "runtime/stream_state.h"

namespace rill::testing {
namespace {

class OnEval : public detail::Primitive {
 public:
  explicit OnEval(std::function<void()> fn) : fn_(std::move(fn)) {}
  const char* name() const override { return "on_eval"; }
  void eval(const detail::Kernels&, const std::vector<array>& in,
            detail::Node& out) override {
    fn_();
    const detail::Node& x = detail::node_of(in[0]);
    detail::set_view(out, x, x.strides, x.offset);
  }

 private:
  std::function<void()> fn_;
};

class DeviceFault : public detail::Primitive {
 public:
  const char* name() const override { return "device_fault"; }
  void eval(const detail::Kernels& k, const std::vector<array>& in,
            detail::Node& out) override {
    k.wild_write(detail::node_of(in[0]), out);
  }
};

}  // namespace

array device_fault(const array& x, StreamOrDevice s) {
  array out = detail::make_array(x.shape(), x.dtype(), std::make_shared<DeviceFault>(), {x}, s,
                                 "device_fault");
  if (out.stream().device.type != Device::gpu) {
    throw std::invalid_argument("[device_fault] needs a GPU stream, got " +
                                to_string(out.stream().device) + ".");
  }
  return out;
}

array on_eval(const array& x, std::function<void()> fn, StreamOrDevice s) {
  return detail::make_array(x.shape(), x.dtype(), std::make_shared<OnEval>(std::move(fn)),
                            {x}, s, "on_eval");
}

void poison_gpu_memory(bool on) { detail::gpu_set_poison(on); }

void fail_task(Stream s, int k, std::string message) {
  if (k < 0) {
    throw std::invalid_argument("[fail_task] k must be >= 0, got " + std::to_string(k) +
                                ".");
  }
  const detail::StreamRef& st = detail::resolve_stream(s, "fail_task");
  std::lock_guard lock(st->mu);
  st->fault_countdown = k;
  st->fault_message = std::move(message);
  st->fault_armed.store(k > 0, std::memory_order_relaxed);
}

void fail_allocation(int k) {
  if (k < 0) {
    throw std::invalid_argument("[fail_allocation] k must be >= 0, got " +
                                std::to_string(k) + ".");
  }
  detail::arm_allocation_failure(k);
}

GpuStreamStats gpu_stream_stats(int device) {
  if (device < 0 || device >= device_count(Device::gpu)) {
    throw std::invalid_argument("[gpu_stream_stats] Device(gpu, " + std::to_string(device) +
                                ") does not exist; this machine has " +
                                std::to_string(device_count(Device::gpu)) + " GPUs.");
  }
  const detail::GpuStreamStats s = detail::gpu_stream_stats(device);
  return {s.pool_streams, s.segments, s.binds, s.moves, s.handovers, s.pool_allocs,
          s.cache_hits};
}

int cpu_worker_count() { return detail::cpu_worker_count(); }

GpuGraphStats gpu_graph_stats() {
  const detail::GpuGraphStats s = detail::gpu_graph_stats();
  return {s.captures, s.launches, s.fallbacks};
}

GpuJitStats gpu_jit_stats() {
  const detail::GpuJitStats s = detail::gpu_jit_stats();
  return {s.compiled, s.loaded};
}

void compile_graph_steps_on_cpu(bool on) { detail::set_graph_steps_on_cpu(on); }

}  // namespace rill::testing
