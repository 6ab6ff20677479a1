#include "core/primitives.h"

#include "backend/gpu_kernels.h"

namespace rill::detail {

void Full::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::copy(node_of(in[0]), out);
}
void Arange::eval_cpu(const std::vector<array>&, Node& out) {
  cpu::arange(start_, step_, out);
}
void Eye::eval_cpu(const std::vector<array>&, Node& out) { cpu::eye(k_, out); }
void Copy::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::copy(node_of(in[0]), out);
}
void Unary::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::unary(op_, node_of(in[0]), out, decimals_);
}
void Binary::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::binary(op_, node_of(in[0]), node_of(in[1]), out);
}
void Where::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::where(node_of(in[0]), node_of(in[1]), node_of(in[2]), out);
}
void Reduce::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::reduce(op_, node_of(in[0]), axes_, out);
}
void ArgReduce::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::arg_reduce(op_, node_of(in[0]), axis_, out);
}
void Matmul::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::matmul(node_of(in[0]), node_of(in[1]), out);
}

namespace {

// Strides that give `in`'s elements, in row-major order, the shape `shape`
// without moving them, if there are any: each run of input dims that the new
// shape merges or splits must be contiguous within itself (size-1 dims take
// any stride). Views of slices and transposes reshape this way when the
// reshape only regroups dims that are laid out together.
bool reshape_strides(const Node& in, const Shape& shape, Strides* out) {
  std::vector<int64_t> os, ost;  // input dims without the size-1 ones
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (in.shape[d] != 1) {
      os.push_back(in.shape[d]);
      ost.push_back(in.strides[d]);
    }
  }
  Strides st(shape.size(), 0);
  size_t i = 0, j = 0;
  while (j < shape.size() && shape[j] == 1) ++j;
  while (i < os.size() && j < shape.size()) {
    // Grow the groups [i0, i) and [j0, j) until their sizes match.
    size_t i0 = i, j0 = j;
    int64_t a = os[i++], b = shape[j++];
    while (a != b) {
      if (a < b) {
        if (i == os.size()) return false;
        a *= os[i++];
      } else {
        while (j < shape.size() && shape[j] == 1) ++j;
        if (j == shape.size()) return false;
        b *= shape[j++];
      }
    }
    for (size_t k = i0; k + 1 < i; ++k) {
      if (ost[k] != ost[k + 1] * os[k + 1]) return false;  // not contiguous
    }
    int64_t stride = ost[i - 1];
    for (size_t k = j; k-- > j0;) {
      st[k] = stride;
      stride *= shape[k];
    }
    while (j < shape.size() && shape[j] == 1) ++j;
  }
  if (i != os.size()) return false;
  *out = std::move(st);
  return true;
}

}  // namespace

void View::eval_cpu(const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  switch (kind_) {
    case Kind::transpose: {
      Strides s(axes_.size());
      for (size_t i = 0; i < axes_.size(); ++i) s[i] = in.strides[axes_[i]];
      set_view(out, in, std::move(s), in.offset);
      return;
    }
    case Kind::broadcast: {
      Strides s(out.shape.size(), 0);
      size_t lead = out.shape.size() - in.shape.size();
      for (size_t i = 0; i < in.shape.size(); ++i) {
        s[lead + i] = in.shape[i] == 1 ? 0 : in.strides[i];
      }
      set_view(out, in, std::move(s), in.offset);
      return;
    }
    case Kind::slice: {
      Strides s(in.shape.size());
      int64_t offset = in.offset;
      for (size_t i = 0; i < in.shape.size(); ++i) {
        offset += int64_t(start_[i]) * in.strides[i];
        s[i] = in.strides[i] * step_[i];
      }
      set_view(out, in, std::move(s), offset);
      return;
    }
    case Kind::reshape: {
      Strides st;
      if (in.row_contiguous) {
        set_view(out, in, row_major_strides(out.shape), in.offset);
      } else if (in.size > 0 && reshape_strides(in, out.shape, &st)) {
        set_view(out, in, std::move(st), in.offset);
      } else {
        // copy() walks its output's shape, so copy into a row-major node of
        // in's shape and view that with the new one.
        Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
        cpu::copy(in, tmp);
        set_view(out, tmp, row_major_strides(out.shape), 0);
      }
      return;
    }
  }
}

void Contiguous::eval_cpu(const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  if (in.row_contiguous || (allow_col_major_ && in.col_contiguous)) {
    set_view(out, in, in.strides, in.offset);
  } else {
    cpu::copy(in, out);
  }
}

void Softmax::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::softmax(node_of(in[0]), axes_, out);
}
void LogSumExp::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::logsumexp(node_of(in[0]), axes_, out);
}
void Take::eval_cpu(const std::vector<array>& in, Node& out) {
  if (along_axis_) {
    cpu::take_along_axis(node_of(in[0]), node_of(in[1]), axis_, out);
  } else {
    cpu::take(node_of(in[0]), node_of(in[1]), axis_, out);
  }
}
void Concatenate::eval_cpu(const std::vector<array>& in, Node& out) {
  std::vector<const Node*> nodes;
  nodes.reserve(in.size());
  for (const array& a : in) nodes.push_back(&node_of(a));
  cpu::concatenate(nodes, axis_, out);
}
void Pad::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::pad(node_of(in[0]), node_of(in[1]), low_, edge_, out);
}
void Cumsum::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::cumsum(node_of(in[0]), axis_, reverse_, inclusive_, out);
}
const char* Sort::name() const {
  switch (op_) {
    case cpu::SortOp::sort:
      return "sort";
    case cpu::SortOp::argsort:
      return "argsort";
    case cpu::SortOp::partition:
      return "partition";
    case cpu::SortOp::argpartition:
      return "argpartition";
    case cpu::SortOp::topk:
      return "topk";
  }
  return "sort";
}
void Sort::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::sort(op_, node_of(in[0]), axis_, kth_, out);
}

// ---- GPU: the same kernels from backend/gpu_kernels.h ----

void Full::eval_gpu(const std::vector<array>& in, Node& out) { gpu::copy(node_of(in[0]), out); }
void Arange::eval_gpu(const std::vector<array>&, Node& out) {
  gpu::arange(start_, step_, out);
}
void Eye::eval_gpu(const std::vector<array>&, Node& out) { gpu::eye(k_, out); }
void Copy::eval_gpu(const std::vector<array>& in, Node& out) { gpu::copy(node_of(in[0]), out); }
void Unary::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::unary(op_, node_of(in[0]), out, decimals_);
}
void Binary::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::binary(op_, node_of(in[0]), node_of(in[1]), out);
}
void Where::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::where(node_of(in[0]), node_of(in[1]), node_of(in[2]), out);
}
void Reduce::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::reduce(op_, node_of(in[0]), axes_, out);
}
void ArgReduce::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::arg_reduce(op_, node_of(in[0]), axis_, out);
}
void Matmul::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::matmul(node_of(in[0]), node_of(in[1]), out);
}
void View::eval_gpu(const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  Strides st;
  if (kind_ == Kind::reshape && !in.row_contiguous &&
      !(in.size > 0 && reshape_strides(in, out.shape, &st))) {
    Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
    gpu::copy(in, tmp);
    set_view(out, tmp, row_major_strides(out.shape), 0);
    return;
  }
  eval_cpu(inputs, out);  // the other views only compute strides
}
void Contiguous::eval_gpu(const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  if (in.row_contiguous || (allow_col_major_ && in.col_contiguous)) {
    set_view(out, in, in.strides, in.offset);
  } else {
    gpu::copy(in, out);
  }
}
void Softmax::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::softmax(node_of(in[0]), axes_, out);
}
void LogSumExp::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::logsumexp(node_of(in[0]), axes_, out);
}
void Take::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::run_on_host(*this, in, out);
}
void Concatenate::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::run_on_host(*this, in, out);
}
void Pad::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::run_on_host(*this, in, out);
}
void Cumsum::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::run_on_host(*this, in, out);
}
void Sort::eval_gpu(const std::vector<array>& in, Node& out) {
  gpu::run_on_host(*this, in, out);
}

}  // namespace rill::detail
