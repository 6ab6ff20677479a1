// compile (rill/compile.h): a function traced once per input signature and
// replayed afterwards.
//
// Trace: the function runs on the calling thread with stand-ins for its
// inputs (nodes of a primitive that refuses to run); every node built
// meanwhile is noted (node.h's recorder). Walking back from the outputs, a
// noted node that is not computed becomes a step of the trace, a stand-in
// becomes a reference to the call's input, and anything else (an array the
// function captured, a constant it made, a noted node it evaluated) becomes a
// constant the trace holds. Nodes the outputs do not reach are dropped.
//
// Simplify (CompileMode::no_fuse and enabled): a step computing the same
// primitive (Primitive::same_as) of the same inputs, shape, dtype and stream as
// an earlier one is replaced by it; a one-element step that reads constants
// only is computed once, at trace time, and becomes a constant.
//
// Replay: each step becomes a new node with the step's primitive (shared:
// primitives are immutable) over the mapped inputs, on the step's stream: the
// calling thread's default stream of the step's device when the step ran on
// the tracing thread's default stream, else the stream it was given.
#include "rill/compile.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "core/compile_stats.h"
#include "core/compile_trace.h"
#include "core/op_checks.h"
#include "core/graph_step.h"
#include "core/format.h"
#include "core/fused.h"
#include "core/fused_jit.h"
#include "core/node.h"
#include "core/primitives.h"
#include "rill/ops.h"
#include "rill/transforms.h"
#include "runtime/config.h"
#include "runtime/stream_state.h"

namespace rill {
namespace detail {

struct TraceRecorder {
  std::unordered_set<const Node*> created;
};

void note_traced(Node& n) {
  TraceRecorder* r = t_recorder;
  if (!r) return;
  for (const array& in : n.inputs) {
    if (in.node()->tracer) {
      n.tracer = true;
      break;
    }
  }
  r->created.insert(&n);
}

namespace {

// The stand-in for input `index` of a function being traced.
class TraceInput : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  const char* name() const override { return "compile"; }
  void eval(const Kernels&, const std::vector<array>&, Node&) override {
    throw std::invalid_argument(
        "[compile] a stand-in for a compiled function's input was evaluated: arrays built "
        "from the inputs of a function being compiled are never computed.");
  }
};

std::atomic<int> g_mode{-1};  // CompileMode, or -1: not read from the environment yet

CompileMode current_mode() {
  int m = g_mode.load(std::memory_order_relaxed);
  if (m < 0) {
    const int from_env = setting_int(Setting::disable_compile) != 0
                             ? static_cast<int>(CompileMode::disabled)
                             : static_cast<int>(CompileMode::enabled);
    int expected = -1;
    g_mode.compare_exchange_strong(expected, from_env, std::memory_order_relaxed);
    m = g_mode.load(std::memory_order_relaxed);
  }
  return static_cast<CompileMode>(m);
}

thread_local TraceStats t_last_stats;

bool matches(const Trace& t, const std::vector<array>& inputs, bool shapeless) {
  if (t.dtypes.size() != inputs.size()) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (t.dtypes[i] != inputs[i].dtype()) return false;
    if (shapeless ? t.shapes[i].size() != inputs[i].shape().size()
                  : t.shapes[i] != inputs[i].shape()) {
      return false;
    }
  }
  return true;
}

// Sets the thread's recorder for a scope (traces nest: a compiled function
// called while another is traced).
class Recording {
 public:
  explicit Recording(TraceRecorder* r) : prev_(t_recorder) { t_recorder = r; }
  ~Recording() { t_recorder = prev_; }
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

 private:
  TraceRecorder* prev_;
};

// The elementwise step `s` as an op of a fused chain; false for any other.
bool as_fused_op(const Step& s, FusedOp& f) {
  const Primitive& p = *s.primitive;
  if (is_complex(s.dtype)) return false;
  if (auto* u = dynamic_cast<const Unary*>(&p)) {
    f.kind = FusedOp::unary;
    f.op = static_cast<int>(u->op());
    f.decimals = u->decimals();
  } else if (auto* b = dynamic_cast<const Binary*>(&p)) {
    f.kind = FusedOp::binary;
    f.op = static_cast<int>(b->op());
  } else if (typeid(p) == typeid(Where)) {
    f.kind = FusedOp::where;
  } else if (typeid(p) == typeid(Copy)) {
    f.kind = FusedOp::copy;
  } else {
    return false;
  }
  f.dtype = s.dtype;
  return true;
}

// The shape a trace's reference has.
const Shape& ref_shape(const Trace& t, const Ref& r) {
  return r.kind == Ref::input      ? t.shapes[r.index]
         : r.kind == Ref::constant ? t.constants[r.index].shape()
                                   : t.steps[r.index].shape;
}

// clip is maximum then minimum in one kernel; in a trace it becomes those two
// steps (the same values), so that it fuses with the elementwise steps
// around it like the ops it stands for.
void expand_clips(Trace& t) {
  auto shape_of = [&](const Ref& r) -> const Shape& { return ref_shape(t, r); };
  std::vector<Step> out;
  std::vector<uint32_t> to(t.steps.size(), 0);
  auto remap = [&](Ref r) {
    if (r.kind == Ref::step) r.index = to[r.index];
    return r;
  };
  bool any = false;
  for (size_t i = 0; i < t.steps.size(); ++i) {
    Step& s = t.steps[i];
    auto* c = dynamic_cast<const Clip*>(s.primitive.get());
    if (!c) {
      Step k = s;
      for (Ref& r : k.inputs) r = remap(r);
      to[i] = static_cast<uint32_t>(out.size());
      out.push_back(std::move(k));
      continue;
    }
    any = true;
    Ref x = remap(s.inputs[0]);
    size_t next = 1;
    for (auto [on, op] : {std::pair{c->lo(), BinaryOp::maximum}, {c->hi(), BinaryOp::minimum}}) {
      if (!on) continue;
      const Ref bound = remap(s.inputs[next++]);
      const bool last = op == BinaryOp::minimum || !c->hi();
      // Not last: maximum, the first, of x and the lower bound (old refs).
      Shape shape = last ? s.shape : broadcast_or_fail(shape_of(s.inputs[0]),
                                                       shape_of(s.inputs[1]), "clip");
      out.push_back(Step{std::make_shared<Binary>(op), std::move(shape), s.dtype, {x, bound},
                         s.stream, s.device});
      x = Ref{Ref::step, static_cast<uint32_t>(out.size() - 1)};
    }
    to[i] = static_cast<uint32_t>(out.size() - 1);
  }
  if (!any) return;
  t.steps = std::move(out);
  for (Ref& r : t.outputs) r = remap(r);
}

// Fusion: an elementwise step whose result only elementwise steps of one
// chain read (same shape and stream) joins that chain; a chain of two or more
// becomes one Fused step (core/fused.h) at its last step's place.
void fuse(Trace& t, TraceStats& stats) {
  const size_t n = t.steps.size();
  std::vector<int> uses(n, 0);
  for (const Step& s : t.steps) {
    for (const Ref& r : s.inputs) {
      if (r.kind == Ref::step) ++uses[r.index];
    }
  }
  for (const Ref& r : t.outputs) {
    if (r.kind == Ref::step) uses[r.index] += 2;  // an output is never absorbed
  }
  auto shape_of = [&](const Ref& r) -> const Shape& { return ref_shape(t, r); };
  auto dtype_of = [&](const Ref& r) {
    return r.kind == Ref::input      ? t.dtypes[r.index]
           : r.kind == Ref::constant ? t.constants[r.index].dtype()
                                     : t.steps[r.index].dtype;
  };
  std::vector<int> root_of(n, -1);
  std::vector<std::shared_ptr<Step>> fused(n);  // by root
  FusedOp probe;
  for (size_t i = n; i-- > 0;) {
    const Step& root = t.steps[i];
    if (root_of[i] >= 0 || !as_fused_op(root, probe)) continue;
    // A step joins once every read of it comes from the chain (x * x, or a
    // value two later steps read, inside the chain only).
    std::vector<uint32_t> members{static_cast<uint32_t>(i)};
    std::unordered_map<uint32_t, int> reads;
    for (size_t m = 0; m < members.size(); ++m) {
      for (const Ref& r : t.steps[members[m]].inputs) {
        if (r.kind != Ref::step || root_of[r.index] >= 0) continue;
        if (++reads[r.index] != uses[r.index]) continue;
        const Step& p = t.steps[r.index];
        if (p.shape != root.shape || p.stream != root.stream || p.device != root.device ||
            !as_fused_op(p, probe)) {
          continue;
        }
        members.push_back(r.index);
      }
    }
    if (members.size() < 2) continue;
    std::sort(members.begin(), members.end());
    std::vector<Ref> externals;
    std::vector<FusedOp> ops;
    bool complex_input = false;
    for (uint32_t m : members) {
      FusedOp f;
      as_fused_op(t.steps[m], f);
      const auto& ins = t.steps[m].inputs;
      for (size_t a = 0; a < ins.size() && a < 3; ++a) {
        const Ref& r = ins[a];
        auto pos = std::find(members.begin(), members.end(), r.index);
        if (r.kind == Ref::step && pos != members.end()) {
          f.args[a] = static_cast<int>(pos - members.begin());
          continue;
        }
        complex_input |= is_complex(dtype_of(r));
        auto e = std::find(externals.begin(), externals.end(), r);
        if (e == externals.end()) e = externals.insert(externals.end(), r);
        f.args[a] = -static_cast<int>(e - externals.begin()) - 1;
      }
      ops.push_back(f);
    }
    if (complex_input) continue;
    // The chunks' split: the last axis before which every input that is not
    // of the full shape has only ones (numpy's right alignment).
    const Shape& S = root.shape;
    const int nd = static_cast<int>(S.size());
    int split = nd;
    for (; split > 0; --split) {
      bool ok = true;
      for (const Ref& r : externals) ok = ok && (shape_of(r) == S || ones_before(shape_of(r), S, split));
      if (ok) break;
    }
    // Generated code (the CPU's loop, a GPU's kernel) reads each input as one
    // of the output's full shape, a row of its last dim or a single value;
    // the CPU's loop takes float32 only, a GPU's kernel the dtypes it writes.
    FusedJit jit;
    bool fits = true, all_f32 = true;
    std::vector<int> dtypes;
    for (const Ref& r : externals) {
      const Shape& e = shape_of(r);
      const bool one = std::all_of(e.begin(), e.end(), [](int32_t d) { return d == 1; });
      const bool row = nd > 0 && !e.empty() && e.back() == S.back() && ones_before(e, S, nd - 1);
      fits = fits && (e == S || one || row);
      all_f32 = all_f32 && dtype_of(r) == float32;
      jit.kinds.push_back(e == S ? JitInput::full : one ? JitInput::scalar : JitInput::row);
      dtypes.push_back(static_cast<int>(dtype_of(r).val));
    }
    if (fits && root.device.type == Device::gpu) {
      jit.gpu = gpu_fused_kernel(root.device.index, ops, jit.kinds, dtypes);
      stats.generated += jit.gpu != nullptr;
    } else if (fits && all_f32 && root.device.type == Device::cpu) {
      jit.kernel = jit_kernel(ops, jit.kinds);
      stats.generated += jit.kernel != nullptr;
    }
    auto step = std::make_shared<Step>(
        Step{std::make_shared<Fused>(std::move(ops), split, std::move(jit)), S, root.dtype,
             externals, root.stream, root.device});
    for (uint32_t m : members) root_of[m] = static_cast<int>(i);
    fused[i] = std::move(step);
    stats.fused += static_cast<int>(members.size());
    ++stats.chains;
  }
  // Rebuild: absorbed steps go, each chain stands at its root's place.
  std::vector<uint32_t> to(n, 0);
  std::vector<Step> kept;
  auto remap = [&](Ref r) {
    if (r.kind == Ref::step) r.index = to[r.index];
    return r;
  };
  for (size_t i = 0; i < n; ++i) {
    if (root_of[i] >= 0 && root_of[i] != static_cast<int>(i)) continue;
    Step s = fused[i] ? std::move(*fused[i]) : std::move(t.steps[i]);
    for (Ref& r : s.inputs) r = remap(r);
    to[i] = static_cast<uint32_t>(kept.size());
    kept.push_back(std::move(s));
  }
  for (Ref& r : t.outputs) r = remap(r);
  t.steps = std::move(kept);
}

std::shared_ptr<const Trace> trace(const CompiledFunction& fun, const std::vector<array>& inputs,
                                   bool simplify, bool fusion) {
  auto t = std::make_shared<Trace>();
  TraceRecorder rec;
  std::unordered_map<const Node*, uint32_t> stand_in;
  std::vector<array> stand_ins;
  stand_ins.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    t->shapes.push_back(inputs[i].shape());
    t->dtypes.push_back(inputs[i].dtype());
    const StreamRef& st = resolve_stream(inputs[i].stream(), "compile");
    auto n = std::make_shared<Node>(inputs[i].shape(), inputs[i].dtype(),
                                    std::make_shared<TraceInput>(), std::vector<array>{}, st);
    n->tracer = true;
    stand_in.emplace(n.get(), static_cast<uint32_t>(i));
    stand_ins.emplace_back(std::move(n));
  }
  std::vector<array> outs;
  {
    Recording recording(&rec);
    outs = fun(stand_ins);
  }

  // Walk back from the outputs (post-order, without recursion).
  TraceStats stats;
  std::unordered_map<const Node*, Ref> refs;
  std::unordered_map<const StreamState*, bool> is_default;
  auto constant = [&](const array& a) {
    t->constants.push_back(a);
    return Ref{Ref::constant, static_cast<uint32_t>(t->constants.size() - 1)};
  };
  struct Frame {
    array a;
    bool expanded;
  };
  for (const array& o : outs) {
    std::vector<Frame> stack{{o, false}};
    while (!stack.empty()) {
      Frame f = stack.back();
      stack.pop_back();
      Node& n = *f.a.node();
      if (refs.count(&n)) continue;
      if (auto it = stand_in.find(&n); it != stand_in.end()) {
        refs.emplace(&n, Ref{Ref::input, it->second});
        continue;
      }
      // A node scheduled by an eval inside the function (one that does not
      // read the inputs) is computed by that eval: a constant, whose inputs
      // this walk must not read while a worker may drop them.
      const bool step = rec.created.count(&n) &&
                        n.status.load(std::memory_order_acquire) == Status::unscheduled;
      if (!step) {
        refs.emplace(&n, constant(f.a));
        continue;
      }
      if (!f.expanded) {
        stack.push_back({f.a, true});
        for (const array& in : n.inputs) {
          if (!refs.count(in.node().get())) stack.push_back({in, false});
        }
        continue;
      }
      Step s{n.primitive, n.shape, n.dtype, {}, nullptr, n.stream_id.device};
      bool constant_inputs = true;
      for (const array& in : n.inputs) {
        const Ref r = refs.at(in.node().get());
        constant_inputs &= r.kind == Ref::constant;
        s.inputs.push_back(r);
      }
      if (simplify && constant_inputs && n.size <= 1 && !n.tracer) {
        // A scalar of constants: computed now, once.
        rill::eval({f.a});
        refs.emplace(&n, constant(f.a));
        ++stats.folded;
        continue;
      }
      auto [d, fresh] = is_default.try_emplace(n.stream.get(), false);
      if (fresh) {
        d->second = n.stream_id == resolve_stream(n.stream_id.device, "compile")->stream;
      }
      if (!d->second) s.stream = n.stream;
      t->steps.push_back(std::move(s));
      refs.emplace(&n, Ref{Ref::step, static_cast<uint32_t>(t->steps.size() - 1)});
    }
  }
  for (const array& o : outs) t->outputs.push_back(refs.at(o.node().get()));
  stats.steps = static_cast<int>(t->steps.size());

  if (simplify) {
    // Common subexpressions: steps in order, each looked up among the kept
    // ones by (primitive class, inputs, dtype); `to` maps old to new index.
    std::vector<uint32_t> to(t->steps.size());
    std::vector<Step> kept;
    std::unordered_multimap<size_t, uint32_t> seen;
    auto remap = [&](Ref& r) {
      if (r.kind == Ref::step) r.index = to[r.index];
    };
    for (size_t i = 0; i < t->steps.size(); ++i) {
      Step& s = t->steps[i];
      for (Ref& r : s.inputs) remap(r);
      size_t h = typeid(*s.primitive).hash_code() ^ static_cast<size_t>(s.dtype.val);
      for (const Ref& r : s.inputs) h = h * 1000003u ^ (size_t(r.kind) << 32 | r.index);
      bool merged = false;
      auto [lo, hi] = seen.equal_range(h);
      for (auto it = lo; it != hi; ++it) {
        const Step& k = kept[it->second];
        if (k.inputs == s.inputs && k.shape == s.shape && k.dtype == s.dtype &&
            k.stream == s.stream && k.device == s.device &&
            s.primitive->same_as(*k.primitive)) {
          to[i] = it->second;
          merged = true;
          break;
        }
      }
      if (merged) continue;
      to[i] = static_cast<uint32_t>(kept.size());
      seen.emplace(h, to[i]);
      kept.push_back(std::move(s));
    }
    stats.merged = static_cast<int>(t->steps.size() - kept.size());
    t->steps = std::move(kept);
    for (Ref& r : t->outputs) remap(r);
  }
  if (fusion) {
    expand_clips(*t);
    fuse(*t, stats);
  }
  for (const Step& s : t->steps) {
    const Primitive& p = *s.primitive;
    t->elementwise &= dynamic_cast<const Unary*>(&p) || dynamic_cast<const Binary*>(&p) ||
                      typeid(p) == typeid(Where) || typeid(p) == typeid(Copy) ||
                      typeid(p) == typeid(Clip) || typeid(p) == typeid(Fused);
  }
  if (fusion && graph_capturable(*t)) {
    t->graph = std::make_shared<GraphStep>(*t);
    stats.graph = true;
  }
  stats.kept = static_cast<int>(t->steps.size());
  stats.constants = static_cast<int>(t->constants.size());
  t_last_stats = stats;
  return t;
}

// `reshape`: the inputs' shapes differ from the trace's (a shapeless
// function's elementwise trace); each step's shape is its inputs' broadcast.
std::vector<array> replay(const Trace& t, const std::vector<array>& inputs, bool reshape) {
  std::vector<array> values;
  values.reserve(t.steps.size());
  auto value = [&](const Ref& r) -> const array& {
    switch (r.kind) {
      case Ref::input: return inputs[r.index];
      case Ref::constant: return t.constants[r.index];
      default: return values[r.index];
    }
  };
  for (const Step& s : t.steps) {
    std::vector<array> ins;
    ins.reserve(s.inputs.size());
    for (const Ref& r : s.inputs) ins.push_back(value(r));
    const StreamRef& st = s.stream ? s.stream : resolve_stream(s.device, "compile");
    Shape shape = s.shape;
    if (reshape) {
      shape = ins.empty() ? Shape{} : ins[0].shape();
      for (size_t i = 1; i < ins.size(); ++i) {
        try {
          shape = rill::broadcast_shapes(shape, ins[i].shape());
        } catch (const std::invalid_argument&) {
          throw std::invalid_argument(
              cat("[compile] a shapeless function's ", s.primitive->name(), " cannot broadcast ",
                  tuple_str(shape), " with ", tuple_str(ins[i].shape()), "."));
        }
      }
      check_extent(shape, s.dtype, "compile");
    }
    auto n = std::make_shared<Node>(std::move(shape), s.dtype, s.primitive, std::move(ins), st);
    if (t_recorder) note_traced(*n);
    values.emplace_back(std::move(n));
  }
  std::vector<array> outs;
  outs.reserve(t.outputs.size());
  for (const Ref& r : t.outputs) outs.push_back(value(r));
  return outs;
}

// The trace as one GraphStep node (core/graph_step.h) on the caller's
// default stream of the trace's device; several outputs are views of its
// packed result.
std::vector<array> replay_graph(const Trace& t, const std::vector<array>& inputs) {
  const StreamRef& st = resolve_stream(t.steps.front().device, "compile");
  std::vector<array> ins(inputs);
  ins.insert(ins.end(), t.constants.begin(), t.constants.end());
  const GraphStep& g = *t.graph;
  const std::vector<uint32_t>& steps = g.outputs();
  std::shared_ptr<Node> node;
  if (steps.size() == 1) {
    const Step& s = t.steps[steps[0]];
    node = std::make_shared<Node>(s.shape, s.dtype, t.graph, std::move(ins), st);
  } else {
    node = std::make_shared<Node>(Shape{static_cast<int32_t>(g.packed_bytes())}, uint8, t.graph,
                                  std::move(ins), st);
  }
  const array packed(node);
  std::vector<array> outs;
  outs.reserve(t.outputs.size());
  for (const Ref& r : t.outputs) {
    if (r.kind == Ref::input) {
      outs.push_back(inputs[r.index]);
    } else if (r.kind == Ref::constant) {
      outs.push_back(t.constants[r.index]);
    } else if (steps.size() == 1) {
      outs.push_back(packed);
    } else {
      const size_t j = static_cast<size_t>(std::find(steps.begin(), steps.end(), r.index) -
                                           steps.begin());
      const Step& s = t.steps[r.index];
      outs.emplace_back(std::make_shared<Node>(
          s.shape, s.dtype, std::make_shared<GraphOutput>(g.offset(j)),
          std::vector<array>{packed}, st));
    }
  }
  return outs;
}

struct Compiled {
  CompiledFunction fun;
  bool shapeless;
  std::mutex mu;
  std::vector<std::shared_ptr<const Trace>> traces;  // guarded by mu
};

}  // namespace

TraceStats last_trace_stats() { return t_last_stats; }

}  // namespace detail

CompiledFunction compile(CompiledFunction fun, bool shapeless) {
  if (!fun) throw std::invalid_argument("[compile] the function to compile is empty.");
  auto c = std::make_shared<detail::Compiled>();
  c->fun = std::move(fun);
  c->shapeless = shapeless;
  return [c](const std::vector<array>& inputs) -> std::vector<array> {
    const CompileMode mode = detail::current_mode();
    if (mode == CompileMode::disabled) return c->fun(inputs);
    std::shared_ptr<const detail::Trace> t;
    bool reshape = false;
    {
      std::lock_guard lock(c->mu);
      for (const auto& k : c->traces) {
        if (detail::matches(*k, inputs, false)) {
          t = k;
          break;
        }
      }
      // Shapeless: an elementwise trace of the same dtypes and ranks replays
      // on other shapes; any other trace is traced again for them.
      for (size_t i = 0; !t && c->shapeless && i < c->traces.size(); ++i) {
        if (c->traces[i]->elementwise && detail::matches(*c->traces[i], inputs, true)) {
          t = c->traces[i];
          reshape = true;
        }
      }
    }
    if (!t) {
      // Traced outside the lock: the function may be slow, or compile others.
      // Two threads meeting a new signature at once both trace; one is kept.
      t = detail::trace(c->fun, inputs, mode != CompileMode::no_simplify,
                        mode == CompileMode::enabled);
      std::lock_guard lock(c->mu);
      c->traces.push_back(t);
    }
    // A replay inside another trace stays a sequence of steps, for that trace.
    if (t->graph && !reshape && !detail::t_recorder) return detail::replay_graph(*t, inputs);
    return detail::replay(*t, inputs, reshape);
  };
}

CompiledFunction compile(std::vector<array> (*fun)(const std::vector<array>&), bool shapeless) {
  if (!fun) throw std::invalid_argument("[compile] the function to compile is null.");
  return compile(CompiledFunction(fun), shapeless);
}

void disable_compile() { set_compile_mode(CompileMode::disabled); }
void enable_compile() { set_compile_mode(CompileMode::enabled); }
void set_compile_mode(CompileMode mode) {
  const int m = static_cast<int>(mode);
  if (m < 0 || m > static_cast<int>(CompileMode::enabled)) {
    throw std::invalid_argument("[set_compile_mode] unknown mode " + std::to_string(m) + ".");
  }
  detail::g_mode.store(m, std::memory_order_relaxed);
}
CompileMode compile_mode() { return detail::current_mode(); }

}  // namespace rill
