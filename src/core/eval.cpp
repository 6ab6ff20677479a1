// Evaluation: claims the unscheduled part of a graph, cuts it into segments of
// consecutive nodes on one stream, submits each segment once its inputs from
// elsewhere are done, and (for eval) waits for the outputs.
//
// Exactly-once: a node is computed by the one eval that moves its status from
// unscheduled to scheduled. Any other eval that reaches it waits for it
// instead. Segments are submitted only when everything they read from outside
// is done, so no stream queue ever holds a task that waits on another queue,
// and no worker blocks.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/format.h"
#include "core/node.h"
#include "core/primitives.h"
#include "core/profile.h"
#include "rill/transforms.h"
#include "runtime/cpu_executor.h"
#include "backend/gpu.h"
#include "runtime/stream_state.h"

namespace rill {
namespace detail {
namespace {

// Distinguishes evals; relaxed: only uniqueness matters.
std::atomic<uint64_t> g_next_token{1};

// Must be called inside a catch block.
FailureRef current_async_error(const char* op, const Stream& s) {
  std::ostringstream name;
  name << s;
  return current_failure(op, name.str());
}

struct Segment {
  StreamRef stream;
  std::vector<array> nodes;  // topological order
  std::vector<Node*> deps;   // outside nodes the segment reads that are not done
  uint64_t ticket = 0;
  std::atomic<int> pending{1};
};

// testing::fail_task: throws in place of the node's kernel when the stream's
// countdown reaches zero. Called only when the stream is armed.
void injected_fault(StreamState& s) {
  std::string message;
  {
    std::lock_guard lock(s.mu);
    if (s.fault_countdown <= 0 || --s.fault_countdown > 0) return;
    s.fault_armed.store(false, std::memory_order_relaxed);
    message = std::move(s.fault_message);
  }
  throw std::runtime_error(message);
}

void run_kernel(Node& n, bool on_gpu) {
  if (on_gpu) {
    gpu_prepare(n);
  } else {
    host_prepare(n);
  }
  const Kernels& k = on_gpu ? gpu_backend : cpu_backend;
  if (profiling()) {
    auto start = std::chrono::steady_clock::now();
    n.primitive->eval(k, n.inputs, n);
    profile_record(n.primitive->name(),
                   std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count());
  } else {
    n.primitive->eval(k, n.inputs, n);
  }
}

// How many of `n`'s inputs are `i` (x + x reads one node twice).
int uses_of(const Node& n, const Node& i) {
  int k = 0;
  for (const array& in : n.inputs) k += in.node().get() == &i;
  return k;
}

// Runs a segment's kernels in order and publishes each node.
//
// Memory: the segment holds its nodes only until they are computed. A CPU node
// is published at once and the segment lets go of it: from then on its
// consumers (their `inputs`) and the user's arrays decide how long it lives,
// and each consumer lets go of its inputs as soon as its kernel has run. So an
// intermediate's buffer returns to the allocator right after its last
// consumer, and an op whose input nobody else holds may write its output into
// that input's buffer (donatable(), node.h).
//
// On a GPU stream the kernels are only queued on the device stream; the nodes
// are published together after one event marks the segment's end (gpu_end),
// so that every node carries the event that says when its data exists. The
// segment keeps its nodes for that, except those only its own later kernels
// read: before a kernel runs, an input of this segment that nobody but the
// segment and that kernel holds is dropped by the segment, so the kernel may
// take its buffer, and once the kernel is queued the buffer goes back to the
// stream's cache in stream order, reusable by the next kernel at once.
void run_segment(Segment& seg) {
  StreamState& st = *seg.stream;
  const bool on_gpu = st.stream.device.type == Device::gpu;
  std::vector<FailureRef> errors;  // GPU: per node, published at the end
  std::exception_ptr begin_error;
  const char* last_op = nullptr;
  if (on_gpu) {
    errors.resize(seg.nodes.size());
    try {
      gpu_begin(st);
    } catch (...) {
      begin_error = std::current_exception();
    }
  }
  for (size_t k = 0; k < seg.nodes.size(); ++k) {
    Node& n = *seg.nodes[k].node();
    const uint64_t token = n.claim.load(std::memory_order_relaxed);
    // An input computed earlier in this GPU segment, not yet published (the
    // claim first: `segment` is scratch of whichever eval claimed `i`).
    auto unpublished = [&](const Node& i) {
      return on_gpu && i.claim.load(std::memory_order_relaxed) == token &&
             i.segment == n.segment;
    };
    FailureRef err;
    for (const array& in : n.inputs) {
      const Node& i = *in.node();
      if (i.status.load(std::memory_order_acquire) == Status::failed) {
        err = i.error;  // dependents of a failure fail with its error, uncomputed
        break;
      }
      if (unpublished(i) && errors[i.seg_pos]) {
        err = errors[i.seg_pos];
        break;
      }
    }
    if (on_gpu) {
      for (const array& in : n.inputs) {
        const Node& i = *in.node();
        if (!unpublished(i)) continue;
        array& held = seg.nodes[i.seg_pos];
        if (held.node() && held.node().use_count() == 1 + uses_of(n, i)) {
          held.mutable_node().reset();  // read by this kernel alone from now on
        }
      }
    }
    last_op = n.primitive->name();
    if (!err) {
      try {
        if (begin_error) std::rethrow_exception(begin_error);
        if (st.fault_armed.load(std::memory_order_relaxed)) injected_fault(st);
        run_kernel(n, on_gpu);
      } catch (...) {
        err = current_async_error(n.primitive->name(), st.stream);
        record_error(st, err);
      }
    }
    if (on_gpu) {
      errors[k] = std::move(err);
      release_inputs(n.inputs);  // freed in the device stream's order
    } else {
      complete(n, std::move(err));
      seg.nodes[k].mutable_node().reset();
    }
  }
  if (on_gpu) {
    std::vector<Node*> computed;
    computed.reserve(seg.nodes.size());
    for (size_t k = 0; k < seg.nodes.size(); ++k) {
      if (seg.nodes[k].node() && !errors[k]) computed.push_back(seg.nodes[k].node().get());
    }
    if (std::exception_ptr e = computed.empty() ? nullptr
                                                : gpu_end(st, computed.data(), computed.size())) {
      FailureRef err;
      try {
        std::rethrow_exception(e);
      } catch (...) {
        err = current_async_error(last_op, st.stream);
      }
      record_error(st, err);
      for (auto& e2 : errors) {
        if (!e2) e2 = err;
      }
    }
    for (size_t k = 0; k < seg.nodes.size(); ++k) {
      if (!seg.nodes[k].node()) continue;
      complete(*seg.nodes[k].node(), std::move(errors[k]));
      seg.nodes[k].mutable_node().reset();
    }
  }
  finish_work(st, seg.ticket);
}

void submit(const std::shared_ptr<Segment>& seg) {
  cpu_submit(seg->stream, [seg] { run_segment(*seg); });
}

// Called as each outside input of `seg` completes (and once by schedule).
void release_dep(const std::shared_ptr<Segment>& seg) {
  if (seg->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) submit(seg);
}

// Claims the unscheduled nodes reachable from `outputs` and returns them in
// topological order (inputs first): depth first from each output, and at each
// node the shallower unvisited input first (by Node::depth, ties in input
// order). The tape is the order kernels run in: a short branch is finished,
// its intermediates freed, before a long one starts, and only its result
// waits through the long one's run.
std::vector<array> claim(const std::vector<array>& outputs, uint64_t token) {
  std::vector<array> tape;
  struct Frame {
    const array* a;
    uint64_t visited;  // inputs taken, one bit each (nodes of up to 64 inputs)
    size_t next;       // inputs past 64: taken in order
  };
  std::vector<Frame> stack;
  auto visit = [&](const array& a) {
    Node& n = *a.node();
    Status expected = Status::unscheduled;
    if (n.status.load(std::memory_order_relaxed) != expected) return;
    if (!n.status.compare_exchange_strong(expected, Status::scheduled,
                                          std::memory_order_acq_rel)) {
      return;
    }
    n.claim.store(token, std::memory_order_relaxed);
    stack.push_back({&a, 0, 0});
  };
  for (const array& o : outputs) {
    visit(o);
    while (!stack.empty()) {
      Frame& f = stack.back();
      const std::vector<array>& ins = f.a->node()->inputs;
      const size_t ranked = std::min<size_t>(ins.size(), 64);
      size_t pick = ins.size();
      if (ranked == 1) {
        if (!f.visited) pick = 0;
      } else {
        uint32_t best = UINT32_MAX;
        for (size_t k = 0; k < ranked; ++k) {
          if (f.visited >> k & 1) continue;
          uint32_t d = ins[k].node()->depth;
          if (d < best) {
            best = d;
            pick = k;
          }
        }
      }
      if (pick < ranked) {
        f.visited |= uint64_t(1) << pick;
        visit(ins[pick]);  // may reallocate `stack`; `f` is not used after
      } else if (ranked + f.next < ins.size()) {
        visit(ins[ranked + f.next++]);
      } else {
        tape.push_back(*f.a);
        stack.pop_back();
      }
    }
  }
  return tape;
}

// Cuts the tape into segments and finds what each must wait for.
//
// Nodes that need nothing from other evals run in segments: maximal runs of
// consecutive nodes on one stream, each waiting only for its own eval's
// earlier segments. A node that (transitively) reads a node another eval has
// claimed but not computed is "tainted" and becomes a segment of its own that
// waits for its inputs. Grouping tainted nodes could deadlock: two evals
// sharing a graph may each hold a node the other needs, and serialising
// unrelated nodes behind them would make each wait for the other.
std::vector<std::shared_ptr<Segment>> cut(std::vector<array>& tape, uint64_t token) {
  std::vector<std::shared_ptr<Segment>> segs;
  Segment* run = nullptr;  // the open run of untainted nodes
  uint32_t run_index = 0;
  for (array& a : tape) {
    Node& n = *a.node();
    bool tainted = false;
    for (const array& in : n.inputs) {
      const Node& i = *in.node();
      bool mine = i.claim.load(std::memory_order_relaxed) == token &&
                  i.status.load(std::memory_order_relaxed) == Status::scheduled;
      if (mine ? i.tainted : !i.done()) tainted = true;
    }
    n.tainted = tainted;
    Segment* seg;
    if (tainted) {
      segs.push_back(std::make_shared<Segment>());
      seg = segs.back().get();
      n.segment = static_cast<uint32_t>(segs.size() - 1);
      seg->stream = n.stream;
      for (const array& in : n.inputs) {
        if (!in.node()->done()) seg->deps.push_back(in.node().get());
      }
    } else {
      if (!run || run->stream != n.stream) {
        segs.push_back(std::make_shared<Segment>());
        run = segs.back().get();
        run->stream = n.stream;
        run_index = static_cast<uint32_t>(segs.size() - 1);
      }
      seg = run;
      n.segment = run_index;
      for (const array& in : n.inputs) {
        Node& i = *in.node();
        bool mine = i.claim.load(std::memory_order_relaxed) == token &&
                    i.status.load(std::memory_order_relaxed) == Status::scheduled;
        if (mine && i.segment != run_index) seg->deps.push_back(&i);
      }
    }
    n.seg_pos = static_cast<uint32_t>(seg->nodes.size());
    seg->nodes.push_back(std::move(a));
  }
  for (auto& seg : segs) {
    std::sort(seg->deps.begin(), seg->deps.end());
    seg->deps.erase(std::unique(seg->deps.begin(), seg->deps.end()), seg->deps.end());
  }
  return segs;
}

// `inline_ok`: the caller is an eval that will wait anyway, so the last
// segment ready at submission may run on its thread (cpu_run_inline), after
// every other ready one has gone to the pool so that none waits behind it.
void schedule(const std::vector<array>& outputs, bool inline_ok) {
  uint64_t token = g_next_token.fetch_add(1, std::memory_order_relaxed);
  std::vector<array> tape = claim(outputs, token);
  if (tape.empty()) return;
  std::vector<std::shared_ptr<Segment>> segs = cut(tape, token);
  // Tickets first, in segment order, so synchronize() sees all of this eval's
  // work on a stream as submitted before any of it can finish.
  for (auto& seg : segs) seg->ticket = begin_work(*seg->stream);
  std::shared_ptr<Segment> held;  // ready, kept back to run inline
  for (auto& seg : segs) {
    seg->pending.store(1 + static_cast<int>(seg->deps.size()), std::memory_order_relaxed);
    for (Node* d : seg->deps) when_done(*d, [seg] { release_dep(seg); });
    if (seg->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
    if (!inline_ok) {
      submit(seg);
      continue;
    }
    if (held) submit(held);
    held = seg;
  }
  if (held && !cpu_run_inline(held->stream, [&] { run_segment(*held); })) submit(held);
}

// Waits until every output is done.
void wait(const std::vector<array>& outputs) {
  struct Latch {
    std::mutex mu;
    std::condition_variable cv;
    int remaining = 0;  // guarded by mu
  };
  std::shared_ptr<Latch> latch;
  for (const array& o : outputs) {
    Node& n = *o.node();
    if (n.done()) continue;
    if (!latch) latch = std::make_shared<Latch>();
    {
      std::lock_guard lock(latch->mu);
      ++latch->remaining;
    }
    when_done(n, [latch] {
      std::lock_guard lock(latch->mu);
      if (--latch->remaining == 0) latch->cv.notify_all();
    });
  }
  if (!latch) return;
  std::unique_lock lock(latch->mu);
  latch->cv.wait(lock, [&] { return latch->remaining == 0; });
}

}  // namespace
}  // namespace detail

namespace detail {
namespace {
// compile's stand-ins, and what is built from them, are never computed.
void refuse_tracers(const std::vector<array>& outputs, const char* op) {
  for (const array& o : outputs) {
    if (o.node()->tracer) {
      throw std::invalid_argument(
          std::string("[") + op +
          "] cannot evaluate an array computed from the inputs of a function being "
          "compiled: compile traces the function with stand-ins for its inputs, so its "
          "control flow cannot depend on their values (array of shape " +
          tuple_str(o.shape()) + ", " + dtype_name(o.dtype()) + ").");
    }
  }
}
}  // namespace
}  // namespace detail

void async_eval(std::vector<array> outputs) {
  detail::refuse_tracers(outputs, "async_eval");
  detail::schedule(outputs, false);
}

void eval(std::vector<array> outputs) {
  detail::refuse_tracers(outputs, "eval");
  bool all_available = true;
  for (const array& o : outputs) {
    if (o.node()->status.load(std::memory_order_acquire) != detail::Status::available) {
      all_available = false;
      break;
    }
  }
  if (all_available) {
    for (const array& o : outputs) {
      if (o.node()->ready) detail::gpu_wait(*o.node());
    }
    return;
  }
  detail::schedule(outputs, true);
  detail::wait(outputs);
  for (const array& o : outputs) {
    detail::Node& n = *o.node();
    if (n.status.load(std::memory_order_acquire) == detail::Status::failed) {
      detail::raise(*n.error);
    }
    // A GPU array is computed once its device stream has run it.
    if (n.ready) detail::gpu_wait(n);
  }
}

}  // namespace rill
