// Fused (core/fused.h): a compiled elementwise chain in one node.
#include "core/fused.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "runtime/cpu_executor.h"

namespace rill::detail {

namespace {

constexpr int64_t kChunkElements = 16384;  // per op: 64 KiB of float32, in L2

void run_op(const Kernels& k, const FusedOp& f, const Node* a, const Node* b, const Node* c,
            Node& out) {
  switch (f.kind) {
    case FusedOp::unary: k.unary(static_cast<UnaryOp>(f.op), *a, out, f.decimals); return;
    case FusedOp::binary: k.binary(static_cast<BinaryOp>(f.op), *a, *b, out); return;
    case FusedOp::where: k.where(*a, *b, *c, out); return;
    case FusedOp::copy: k.copy(*a, out); return;
  }
}

int arity(const FusedOp& f) {
  return f.kind == FusedOp::binary ? 2 : f.kind == FusedOp::where ? 3 : 1;
}

std::unique_ptr<Node> blank(const Shape& shape, Dtype dtype, Stream s) {
  return std::make_unique<Node>(shape, dtype, std::shared_ptr<Buffer>(), s);
}

}  // namespace

bool Fused::generated(const std::vector<array>& in, Node& out) const {
  const int64_t cols = out.shape.empty() ? 1 : out.shape.back();
  std::vector<const void*> ptrs;
  ptrs.reserve(in.size());
  for (size_t j = 0; j < in.size(); ++j) {
    const Node& n = node_of(in[j]);
    const JitInput kind = jit_.kinds[j];
    if (kind == JitInput::full && (n.shape != out.shape || !n.row_contiguous)) return false;
    if (kind == JitInput::row && (int64_t(n.size) != cols || !n.row_contiguous)) return false;
    if (kind == JitInput::scalar && n.size != 1) return false;
    ptrs.push_back(n.data());
  }
  allocate(out);
  // Split among idle workers (runtime/cpu_executor.h): by rows when an input
  // is a row of the last dim, else by runs of elements (seen as one row), in
  // pieces of at least 64K elements (float32: every input and the output).
  const bool by_rows =
      std::find(jit_.kinds.begin(), jit_.kinds.end(), JitInput::row) != jit_.kinds.end();
  const int64_t unit = by_rows ? std::max<int64_t>(cols, 1) : 1;  // elements per index
  const int64_t n = int64_t(out.size) / unit;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / unit);
  auto* dst = static_cast<char*>(out.mutable_data());
  const size_t es = out.dtype.size;
  cpu_parallel_for(n, grain, [&](int64_t lo, int64_t hi) {
    std::vector<const void*> part(ptrs);
    for (size_t j = 0; j < part.size(); ++j) {
      if (jit_.kinds[j] == JitInput::full) {
        part[j] = static_cast<const char*>(ptrs[j]) + lo * unit * es;
      }
    }
    if (by_rows) {
      jit_.kernel(part.data(), dst + lo * unit * es, hi - lo, cols);
    } else {
      jit_.kernel(part.data(), dst + lo * es, 1, hi - lo);
    }
  });
  return true;
}

void Fused::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  if (&k != &cpu_backend && jit_.gpu) {
    std::vector<const Node*> nodes;
    nodes.reserve(in.size());
    for (const array& a : in) nodes.push_back(&node_of(a));
    if (gpu_fused_run(*jit_.gpu, jit_.kinds, nodes, out)) return;
  }
  if (&k == &cpu_backend && out.size > 0 && jit_.kernel && generated(in, out)) return;
  if (&k == &cpu_backend && out.size > 0 && split_ <= static_cast<int>(out.shape.size())) {
    // Chunks of rows need each input row-major of the full shape, or ones
    // before `split` (a shapeless replay may bring other shapes than the
    // trace's).
    bool rows = true;
    for (const array& a : in) {
      const Node& n = node_of(a);
      rows = rows && (n.shape == out.shape ? n.row_contiguous
                                           : ones_before(n.shape, out.shape, split_));
    }
    if (rows) return chunked(k, in, out);
  }
  stepwise(k, in, out);
}

void Fused::stepwise(const Kernels& k, const std::vector<array>& in, Node& out) const {
  const size_t n = ops_.size();
  std::vector<size_t> last_use(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (int j = 0; j < arity(ops_[i]); ++j) {
      if (ops_[i].args[j] >= 0) last_use[ops_[i].args[j]] = i;
    }
  }
  std::vector<std::unique_ptr<Node>> tmp(n);
  auto operand = [&](int i) -> const Node* {
    return i < 0 ? &node_of(in[-i - 1]) : tmp[i].get();
  };
  for (size_t i = 0; i < n; ++i) {
    const FusedOp& f = ops_[i];
    Node* o = &out;
    if (i + 1 < n) {
      tmp[i] = blank(out.shape, f.dtype, out.stream_id);
      o = tmp[i].get();
    }
    run_op(k, f, operand(f.args[0]), operand(f.args[1]), operand(f.args[2]), *o);
    // Intermediates go as soon as the chain is past them.
    for (int j = 0; j < arity(f); ++j) {
      const int a = f.args[j];
      if (a >= 0 && last_use[a] == i) tmp[a]->buffer.reset();
    }
  }
}

void Fused::chunked(const Kernels& k, const std::vector<array>& in, Node& out) const {
  const int nd = static_cast<int>(out.shape.size());
  int64_t R = 1, C = 1;
  for (int d = 0; d < split_; ++d) R *= out.shape[d];
  Shape B(out.shape.begin() + split_, out.shape.end());
  for (int32_t d : B) C *= d;
  allocate(out);
  const int64_t per = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(C, 1));
  const size_t esize = out.dtype.size;
  auto* dst = static_cast<unsigned char*>(out.mutable_data());

  // The nodes of one chunk size: views of the inputs, and each op's result.
  struct Set {
    std::vector<std::unique_ptr<Node>> ins;  // null: the input itself
    std::vector<std::unique_ptr<Node>> ops;
  };
  auto make_set = [&](int64_t rows) {
    Set s;
    Shape cs{static_cast<int32_t>(rows)};
    cs.insert(cs.end(), B.begin(), B.end());
    for (const array& a : in) {
      const Node& n = node_of(a);
      std::unique_ptr<Node> v;
      if (n.shape == out.shape) {
        v = blank(cs, n.dtype, out.stream_id);  // its rows, placed per chunk
      } else {
        // Broadcast over the leading dims: its trailing dims as they are.
        const int lead = static_cast<int>(n.shape.size()) - (nd - split_);
        if (lead > 0) {
          v = blank(Shape(n.shape.begin() + lead, n.shape.end()), n.dtype, out.stream_id);
          set_view(*v, n, Strides(n.strides.begin() + lead, n.strides.end()), n.offset);
        }
      }
      s.ins.push_back(std::move(v));
    }
    for (const FusedOp& f : ops_) s.ops.push_back(blank(cs, f.dtype, out.stream_id));
    return s;
  };
  auto run = [&](Set& s, int64_t r0, int64_t rows) {
    for (size_t j = 0; j < in.size(); ++j) {
      const Node& n = node_of(in[j]);
      if (n.shape == out.shape) {
        set_view(*s.ins[j], n, row_major_strides(s.ins[j]->shape), n.offset + r0 * C);
      }
    }
    auto operand = [&](int i) -> const Node* {
      if (i >= 0) return s.ops[i].get();
      const size_t j = static_cast<size_t>(-i - 1);
      return s.ins[j] ? s.ins[j].get() : &node_of(in[j]);
    };
    for (size_t i = 0; i < ops_.size(); ++i) {
      const FusedOp& f = ops_[i];
      run_op(k, f, operand(f.args[0]), operand(f.args[1]), operand(f.args[2]), *s.ops[i]);
    }
    const Node* last = s.ops.back().get();
    std::unique_ptr<Node> packed;
    if (!last->row_contiguous) {  // a kernel that returned a view
      packed = blank(last->shape, last->dtype, out.stream_id);
      k.copy(*last, *packed);
      last = packed.get();
    }
    std::memcpy(dst + r0 * C * esize, last->data(), static_cast<size_t>(rows * C) * esize);
  };
  Set full;
  if (R >= per) full = make_set(per);
  int64_t r0 = 0;
  for (; r0 + per <= R; r0 += per) run(full, r0, per);
  if (r0 < R) {
    Set tail = make_set(R - r0);
    run(tail, r0, R - r0);
  }
}

}  // namespace rill::detail
