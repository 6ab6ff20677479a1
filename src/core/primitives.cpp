#include "core/primitives.h"

#include <optional>

namespace rill::detail {

namespace {

// Strides that show `in` as `shape` without moving data, if there are any:
// each run of new dimensions must cover a run of old ones (of equal element
// count) that are laid out one inside the other. Splitting the heads of a
// [B, S, 3, H, Dh] projection, or flattening a slice of whole rows, qualifies;
// a transposed pair of dimensions does not.
bool reshape_strides(const Node& in, const Shape& shape, Strides& out) {
  std::vector<int64_t> os, ost;  // the old dims, without the size-1 ones
  for (size_t i = 0; i < in.shape.size(); ++i) {
    if (in.shape[i] != 1) {
      os.push_back(in.shape[i]);
      ost.push_back(in.strides[i]);
    }
  }
  out.assign(shape.size(), 1);
  size_t oi = 0, ni = 0;
  while (ni < shape.size()) {
    if (shape[ni] == 1 || oi == os.size()) {  // size-1 dims: any stride will do
      ++ni;
      continue;
    }
    size_t oe = oi + 1, ne = ni + 1;
    int64_t op = os[oi], np = shape[ni];
    while (op != np) {
      if (np < op) {
        np *= shape[ne++];
      } else {
        op *= os[oe++];
      }
    }
    for (size_t k = oi; k + 1 < oe; ++k) {
      if (ost[k] != ost[k + 1] * os[k + 1]) return false;
    }
    int64_t st = ost[oe - 1];
    for (size_t k = ne; k-- > ni;) {
      out[k] = st;
      st *= shape[k];
    }
    oi = oe;
    ni = ne;
  }
  return true;
}

}  // namespace

void Full::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.copy(node_of(in[0]), out);
}
void Arange::eval(const Kernels& k, const std::vector<array>&, Node& out) {
  k.arange(start_, step_, out);
}
void Eye::eval(const Kernels& k, const std::vector<array>&, Node& out) { k.eye(k_, out); }
void Copy::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.copy(node_of(in[0]), out);
}
void Unary::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.unary(op_, node_of(in[0]), out, decimals_);
}
void Binary::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.binary(op_, node_of(in[0]), node_of(in[1]), out);
}
void MakeComplex::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.make_complex(node_of(in[0]), node_of(in[1]), out);
}
void FFT::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.fft(node_of(in[0]), axes_, inverse_, real_, out);
}
void Clip::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  const Node* lo = lo_ ? &node_of(in[1]) : nullptr;
  const Node* hi = hi_ ? &node_of(in[lo_ ? 2 : 1]) : nullptr;
  k.clip(node_of(in[0]), lo, hi, out);
}
void Where::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.where(node_of(in[0]), node_of(in[1]), node_of(in[2]), out);
}
void Reduce::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.reduce(op_, node_of(in[0]), axes_, out);
}
void ArgReduce::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.arg_reduce(op_, node_of(in[0]), axis_, out);
}
void Matmul::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.matmul(node_of(in[0]), node_of(in[1]), out);
}
void AddMM::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.addmm(node_of(in[0]), node_of(in[1]), node_of(in[2]), alpha_, beta_, out);
}

void View::eval(const Kernels& k, const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  switch (kind_) {
    case Kind::transpose: {
      Strides s(axes_.size());
      for (size_t i = 0; i < axes_.size(); ++i) s[i] = in.strides[axes_[i]];
      set_view(out, in, std::move(s), in.offset);
      return;
    }
    case Kind::broadcast:
      set_view(out, in, broadcast_strides(in, out.shape), in.offset);
      return;
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
    case Kind::diagonal: {
      const int a1 = axes_[0], a2 = axes_[1];
      Strides s;
      for (int i = 0; i < static_cast<int>(in.shape.size()); ++i) {
        if (i != a1 && i != a2) s.push_back(in.strides[i]);
      }
      s.push_back(in.strides[a1] + in.strides[a2]);
      int64_t offset = in.offset;
      if (out.size > 0) offset += start_[0] * in.strides[a1] + start_[1] * in.strides[a2];
      set_view(out, in, std::move(s), offset);
      return;
    }
    case Kind::strided:
      // The front end made the input row-contiguous and checked the extent.
      set_view(out, in, strides_, in.offset + offset_);
      return;
    case Kind::reshape: {
      Strides st;
      if (in.row_contiguous || in.size == 0) {
        set_view(out, in, row_major_strides(out.shape), in.offset);
      } else if (reshape_strides(in, out.shape, st)) {
        set_view(out, in, std::move(st), in.offset);
      } else {
        // copy() walks its output's shape, so copy into a row-major node of
        // in's shape and view that with the new one.
        Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
        k.copy(in, tmp);
        set_view(out, tmp, row_major_strides(out.shape), 0);
      }
      return;
    }
  }
}

void Bitcast::eval(const Kernels& k, const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  const int64_t ib = in.dtype.size, ob = out.dtype.size;
  if (ib == ob) {
    set_view(out, in, in.strides, in.offset);
    return;
  }
  if ((in.row_contiguous || in.size == 0) && (in.offset * ib) % ob == 0) {
    set_view(out, in, row_major_strides(out.shape), in.offset * ib / ob);
    return;
  }
  Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
  k.copy(in, tmp);
  set_view(out, tmp, row_major_strides(out.shape), 0);
}

void Depends::eval(const Kernels&, const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  set_view(out, in, in.strides, in.offset);
}

void Contiguous::eval(const Kernels& k, const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  if (in.row_contiguous || (allow_col_major_ && in.col_contiguous)) {
    set_view(out, in, in.strides, in.offset);
  } else {
    k.copy(in, out);
  }
}

void Softmax::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.softmax(node_of(in[0]), axes_, out);
}
void LogSumExp::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.logsumexp(node_of(in[0]), axes_, out);
}
void Gather::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  std::vector<const Node*> idx;
  for (size_t i = 1; i < in.size(); ++i) idx.push_back(&node_of(in[i]));
  k.gather(node_of(in[0]), idx, axes_, out);
}
void Scatter::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  std::vector<const Node*> idx;
  for (size_t i = 2; i < in.size(); ++i) idx.push_back(&node_of(in[i]));
  k.scatter(op_, node_of(in[0]), idx, node_of(in[1]), axes_, out);
}
const char* SliceUpdate::name() const {
  switch (op_) {
    case ScatterOp::scatter: return "slice_update";
    case ScatterOp::scatter_add: return "slice_update_add";
    case ScatterOp::scatter_prod: return "slice_update_prod";
    case ScatterOp::scatter_max: return "slice_update_max";
    case ScatterOp::scatter_min: return "slice_update_min";
  }
  return "slice_update";
}
void SliceUpdate::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.slice_update(op_, node_of(in[0]), node_of(in[1]), start_, step_, out);
}
void Take::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  (along_axis_ ? k.take_along_axis : k.take)(node_of(in[0]), node_of(in[1]), axis_, out);
}
void Concatenate::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  std::vector<const Node*> nodes;
  nodes.reserve(in.size());
  for (const array& a : in) nodes.push_back(&node_of(a));
  k.concatenate(nodes, axis_, out);
}
void Pad::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.pad(node_of(in[0]), node_of(in[1]), low_, edge_, out);
}
void Conv::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.conv(node_of(in[0]), node_of(in[1]), node_of(in[2]), p_, out);
}
namespace {

// `n` row-major: itself, or a copy into `tmp`.
const Node& row_major(const Kernels& k, const Node& n, std::optional<Node>& tmp) {
  if (n.row_contiguous) return n;
  tmp.emplace(n.shape, n.dtype, nullptr, n.stream_id);
  k.copy(n, *tmp);
  return *tmp;
}

}  // namespace

void Quantize::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  std::optional<Node> t;
  const Node* g = in.size() > 1 ? &node_of(in[1]) : nullptr;
  k.quantize(row_major(k, node_of(in[0]), t), g, p_, part_, out);
}
void Dequantize::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  std::optional<Node> t0, t1, t2;
  const Node& w = row_major(k, node_of(in[0]), t0);
  const Node& sc = row_major(k, node_of(in[1]), t1);
  const Node* b = has_biases_ ? &row_major(k, node_of(in[2]), t2) : nullptr;
  const size_t gi = has_biases_ ? 3 : 2;
  const Node* g = in.size() > gi ? &node_of(in[gi]) : nullptr;
  k.dequantize(w, sc, b, g, p_, out);
}
void QuantizedMatmul::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  std::optional<Node> t0, t1, t2, t3;
  const Node& x = row_major(k, node_of(in[0]), t0);
  const Node& w = row_major(k, node_of(in[1]), t1);
  const Node& sc = row_major(k, node_of(in[2]), t2);
  const Node* b = in.size() > 3 ? &row_major(k, node_of(in[3]), t3) : nullptr;
  k.quantized_matmul(x, w, sc, b, p_, transpose_, out);
}
void Scan::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.scan(op_, node_of(in[0]), axis_, reverse_, inclusive_, out);
}
void Sort::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  k.sort(op_, node_of(in[0]), axis_, kth_, out);
}

}  // namespace rill::detail
