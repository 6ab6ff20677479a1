// GraphStep (core/graph_step.h): a compiled trace as one node, captured as a
// CUDA graph per device stream on a GPU.
#include "core/graph_step.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "backend/gpu.h"
#include "backend/kernels.h"
#include "core/format.h"
#include "runtime/config.h"

namespace rill::detail {

namespace {

std::atomic<bool> g_on_cpu{false};

constexpr size_t kAlign = 256;

size_t bytes_of(const Shape& shape, Dtype dtype) {
  size_t n = dtype.size;
  for (int32_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

// While alive, this thread's device allocations come from `arena`
// (backend/gpu.h).
class ArenaScope {
 public:
  ArenaScope(GpuArena* arena, bool replay) : prev_(gpu_arena_enter(arena, replay)) {}
  ~ArenaScope() { gpu_arena_leave(prev_); }
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  GpuArena* prev_;
};

std::vector<const void*> data_of(const std::vector<std::shared_ptr<Node>>& nodes) {
  std::vector<const void*> v;
  for (const auto& n : nodes) v.push_back(n->data());
  return v;
}

// Gives `out` the row-major buffer `buf`.
void own(Node& out, std::shared_ptr<Buffer> buf) {
  const Node whole(out.shape, out.dtype, std::move(buf), out.stream_id);
  set_view(out, whole, whole.strides, 0);
}

}  // namespace

void set_graph_steps_on_cpu(bool on) { g_on_cpu.store(on, std::memory_order_relaxed); }
bool graph_steps_on_cpu() { return g_on_cpu.load(std::memory_order_relaxed); }

bool graph_capturable(const Trace& t) {
  if (t.steps.size() < 2) return false;
  const Device d = t.steps.front().device;
  if (d.type != Device::gpu && !graph_steps_on_cpu()) return false;
  if (setting_int(Setting::cuda_graphs) == 0 && d.type == Device::gpu) return false;
  for (const Shape& s : t.shapes) {
    for (int32_t x : s) {
      if (x == 0) return false;
    }
  }
  for (const Step& s : t.steps) {
    if (s.stream || s.device != d) return false;
    if (bytes_of(s.shape, s.dtype) == 0) return false;
    for (size_t k = 0; k < s.inputs.size(); ++k) {
      if (s.primitive->host_input(k)) return false;
    }
  }
  size_t total = 0, outs = 0;
  for (const Ref& r : t.outputs) {
    if (r.kind != Ref::step) continue;
    ++outs;
    total += (bytes_of(t.steps[r.index].shape, t.steps[r.index].dtype) + kAlign - 1) / kAlign *
             kAlign;
  }
  return outs > 0 && total <= static_cast<size_t>(INT32_MAX);
}

// A device stream's captured copy of the trace. Destroyed in reverse order:
// the graph (after the device is past its launches), then its blocks.
struct GraphStep::Instance {
  std::mutex mu;  // held while one call queues its work: copy in, run, copy out
  enum State { fresh, recorded, captured, launches } state = fresh;
  std::vector<array> staged;                // the inputs' copies the graph reads
  std::shared_ptr<GpuArena> arena;          // every buffer the steps write
  std::shared_ptr<GpuGraph> graph;
  std::vector<const void*> from;            // the outputs in the arena
  std::vector<const void*> constants;       // where the graph reads them
};

GraphStep::GraphStep(const Trace& t)
    : in_shapes_(t.shapes), in_dtypes_(t.dtypes), steps_(t.steps) {
  for (const Ref& r : t.outputs) {
    if (r.kind != Ref::step) continue;
    if (std::find(outs_.begin(), outs_.end(), r.index) != outs_.end()) continue;
    outs_.push_back(r.index);
    offsets_.push_back(total_);
    const Step& s = t.steps[r.index];
    total_ += (bytes_of(s.shape, s.dtype) + kAlign - 1) / kAlign * kAlign;
  }
}

std::vector<std::shared_ptr<Node>> GraphStep::run(const Kernels& k, const std::vector<array>& in,
                                                  const std::vector<array>* staged,
                                                  const Stream& stream) const {
  const size_t n_in = in_dtypes_.size();
  const size_t n = steps_.size();
  std::vector<std::shared_ptr<Node>> vals(n);
  std::vector<size_t> last(n, 0);
  std::vector<bool> output(n, false);
  for (uint32_t o : outs_) output[o] = true;
  for (size_t i = 0; i < n; ++i) {
    for (const Ref& r : steps_[i].inputs) {
      if (r.kind == Ref::step) last[r.index] = i;
    }
  }
  std::vector<array> ins;
  for (size_t i = 0; i < n; ++i) {
    const Step& s = steps_[i];
    ins.clear();
    for (const Ref& r : s.inputs) {
      switch (r.kind) {
        case Ref::input: ins.push_back(staged ? (*staged)[r.index] : in[r.index]); break;
        case Ref::constant: ins.push_back(in[n_in + r.index]); break;
        case Ref::step: ins.emplace_back(vals[r.index]); break;
      }
    }
    auto node = std::make_shared<Node>(s.shape, s.dtype, std::shared_ptr<Buffer>(), stream);
    s.primitive->eval(k, ins, *node);
    vals[i] = std::move(node);
    ins.clear();
    // A result goes once its last reader has run (on a GPU its block is free
    // for the next allocation, in stream order).
    for (const Ref& r : s.inputs) {
      if (r.kind == Ref::step && last[r.index] == i && !output[r.index]) vals[r.index].reset();
    }
  }
  std::vector<std::shared_ptr<Node>> outs;
  for (uint32_t o : outs_) {
    std::shared_ptr<Node> v = vals[o];
    if (!v->row_contiguous) {  // a view: its elements in order, to copy out whole
      auto c = std::make_shared<Node>(v->shape, v->dtype, std::shared_ptr<Buffer>(), stream);
      k.copy(*v, *c);
      v = std::move(c);
    }
    outs.push_back(std::move(v));
  }
  return outs;
}

void GraphStep::copy_out(const std::vector<const void*>& from, Node& out) const {
  if (outs_.size() == 1) {
    own(out, gpu_buffer(bytes_of(out.shape, out.dtype)));
    gpu_copy(out.mutable_data(), from[0], bytes_of(out.shape, out.dtype));
    return;
  }
  own(out, gpu_buffer(total_));
  auto* base = static_cast<unsigned char*>(out.mutable_data());
  for (size_t j = 0; j < outs_.size(); ++j) {
    const Step& s = steps_[outs_[j]];
    gpu_copy(base + offsets_[j], from[j], bytes_of(s.shape, s.dtype));
  }
}

void GraphStep::step_by_step(const Kernels& k, const std::vector<array>& in, Node& out) const {
  std::vector<std::shared_ptr<Node>> nodes = run(k, in, nullptr, out.stream_id);
  if (outs_.size() == 1) {  // the step's own result
    set_view(out, *nodes[0], nodes[0]->strides, nodes[0]->offset);
  } else if (&k == &gpu_backend) {
    copy_out(data_of(nodes), out);
  } else {
    allocate(out);
    auto* base = static_cast<unsigned char*>(out.mutable_data());
    for (size_t j = 0; j < nodes.size(); ++j) {
      std::memcpy(base + offsets_[j], nodes[j]->data(),
                  bytes_of(nodes[j]->shape, nodes[j]->dtype));
    }
  }
}

void GraphStep::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  if (&k == &gpu_backend) return on_gpu(in, out);
  step_by_step(k, in, out);
}

void GraphStep::on_gpu(const std::vector<array>& in, Node& out) {
  const size_t n_in = in_dtypes_.size();
  // As launches, outside any instance.
  auto launches = [&] { step_by_step(gpu_backend, in, out); };
  std::shared_ptr<Instance> inst;
  {
    std::lock_guard lock(mu_);
    auto& slot = instances_[gpu_segment_stream()];
    if (!slot) slot = std::make_shared<Instance>();
    inst = slot;
  }
  std::lock_guard lock(inst->mu);
  bool rows = true;
  for (size_t i = 0; i < n_in; ++i) rows = rows && node_of(in[i]).row_contiguous;
  if (inst->state == Instance::launches || !rows) {
    if (!rows) debug_note("a compiled function ran as launches: an input is not row-major");
    gpu_count_graph_fallback();
    return launches();
  }
  std::vector<const void*> constants;
  for (size_t i = n_in; i < in.size(); ++i) constants.push_back(node_of(in[i]).data());
  auto stage = [&] {
    for (size_t i = 0; i < n_in; ++i) {
      const Node& x = node_of(in[i]);
      gpu_copy(node_of(inst->staged[i]).mutable_data(), x.data(), bytes_of(x.shape, x.dtype));
    }
  };
  if (inst->state == Instance::fresh) {
    // The first run, as launches into a new arena, from copies of the inputs.
    try {
      inst->staged.clear();
      for (size_t i = 0; i < n_in; ++i) {
        const Node& x = node_of(in[i]);
        inst->staged.emplace_back(std::make_shared<Node>(
            x.shape, x.dtype, gpu_buffer(bytes_of(x.shape, x.dtype)), out.stream_id));
      }
      stage();
      inst->arena = gpu_arena_new();
      std::vector<std::shared_ptr<Node>> nodes;
      {
        ArenaScope scope(inst->arena.get(), false);
        nodes = run(gpu_backend, in, &inst->staged, out.stream_id);
      }
      // Out of the arena into fresh buffers (queued before any later use of
      // the blocks, which the next call queues).
      copy_out(data_of(nodes), out);
      inst->constants = std::move(constants);
      inst->state = Instance::recorded;
    } catch (...) {
      // An error of this call (its data, a kernel): the next one starts over.
      inst->staged.clear();
      inst->arena.reset();
      throw;
    }
    return;
  }
  if (constants != inst->constants) {
    // A constant moved (a new device copy of a host array): not what the
    // graph reads.
    debug_note("a compiled function ran as launches: a constant is not where it was captured");
    gpu_count_graph_fallback();
    return launches();
  }
  if (inst->state == Instance::recorded) {
    try {
      std::vector<const void*> from;
      inst->graph = gpu_capture([&] {
        ArenaScope scope(inst->arena.get(), true);
        from = data_of(run(gpu_backend, in, &inst->staged, out.stream_id));
      });
      inst->from = std::move(from);
      inst->state = Instance::captured;
    } catch (const std::exception& e) {
      debug_note(cat("a compiled function runs as launches from now on: its capture as a CUDA "
                     "graph failed: ", e.what()));
      inst->state = Instance::launches;
      inst->graph.reset();
      inst->arena.reset();
      inst->staged.clear();
      gpu_count_graph_fallback();
      return launches();
    }
  }
  stage();
  gpu_launch(*inst->graph);
  copy_out(inst->from, out);
}

void GraphOutput::eval(const Kernels&, const std::vector<array>& in, Node& out) {
  const Node& packed = node_of(in[0]);
  set_view(out, packed, row_major_strides(out.shape),
           static_cast<int64_t>((packed.offset + offset_) / out.dtype.size));
}

}  // namespace rill::detail
