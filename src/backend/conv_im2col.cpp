// The convolution as im2col and one batched product, over any backend's own
// kernels (backend/kernels.h): the CPU's conv, and the GPU's where cuDNN is
// absent or does not take the case. The patches are a strided view of the
// padded input, copied once into [groups, rows, taps * channels].
#include <cstdint>
#include <optional>
#include <vector>

#include "backend/kernels.h"

namespace rill::detail {

namespace {

// One input and one output channel per group: out[..., c] sums x's patch
// elements [..., tap, c] times w[c, tap] (elementwise, then a sum over the
// taps) instead of one product per group with a single column.
void conv_depthwise(const Kernels& k, const Node& x, const Node& w, const ConvParams& p,
                    Node& out) {
  const int nd = static_cast<int>(x.shape.size()) - 2;
  const Dtype t = out.dtype;
  const Stream sid = out.stream_id;
  // Patches [N, out spatial..., kernel spatial..., C] and the weight as
  // [kernel spatial..., C], broadcast against them.
  Shape ps{out.shape[0]};
  Strides pst{x.strides[0]};
  for (int i = 0; i < nd; ++i) {
    ps.push_back(out.shape[i + 1]);
    pst.push_back(x.strides[i + 1] * p.stride[i]);
  }
  Shape ws;
  Strides wst;
  int64_t woff = w.offset;
  for (int i = 0; i < nd; ++i) {
    ps.push_back(w.shape[i + 1]);
    pst.push_back(x.strides[i + 1] * p.kernel_dilation[i]);
    ws.push_back(w.shape[i + 1]);
    wst.push_back(p.flip ? -w.strides[i + 1] : w.strides[i + 1]);
    if (p.flip) woff += int64_t(w.shape[i + 1] - 1) * w.strides[i + 1];
  }
  ps.push_back(x.shape[nd + 1]);
  pst.push_back(x.strides[nd + 1]);
  ws.push_back(w.shape[0]);
  wst.push_back(w.strides[0]);
  Node patches(ps, t, nullptr, sid);
  set_view(patches, x, pst, x.offset);
  Node wview(ws, t, nullptr, sid);
  set_view(wview, w, wst, woff);
  Node prod(ps, t, nullptr, sid);
  k.binary(BinaryOp::multiply, patches, wview, prod);
  std::vector<int> taps(nd);
  for (int i = 0; i < nd; ++i) taps[i] = nd + 1 + i;
  k.reduce(ReduceOp::sum, prod, taps, out);
}

}  // namespace

void conv_im2col(const Kernels& k, const Node& in, const Node& w, const Node& zero,
                 const ConvParams& p, Node& out) {
  const int nd = static_cast<int>(in.shape.size()) - 2;
  const int64_t G = p.groups, C = in.shape[nd + 1], Cg = C / G, O = w.shape[0],
                Og = O / G;
  int64_t taps = 1, rows = out.shape[0];
  for (int i = 0; i < nd; ++i) {
    taps *= w.shape[i + 1];
    rows *= out.shape[i + 1];
  }
  const Dtype t = out.dtype;
  const Stream sid = out.stream_id;
  if (out.size == 0 || taps * Cg == 0) {  // nothing to sum: zeros
    Node zeros(out.shape, t, nullptr, sid);
    set_view(zeros, zero, Strides(out.shape.size(), 0), zero.offset);
    k.copy(zeros, out);
    return;
  }

  // The padded input.
  std::optional<Node> padded;
  const Node* x = &in;
  bool pads = false;
  for (int i = 0; i < nd; ++i) pads |= p.pad_lo[i] > 0 || p.pad_hi[i] > 0;
  if (pads) {
    Shape shape = in.shape;
    std::vector<int> low(nd + 2, 0);
    for (int i = 0; i < nd; ++i) {
      shape[i + 1] += p.pad_lo[i] + p.pad_hi[i];
      low[i + 1] = p.pad_lo[i];
    }
    padded.emplace(shape, t, nullptr, sid);
    k.pad(in, zero, low, false, *padded);
    x = &*padded;
  }

  if (Cg == 1 && Og == 1) {  // depthwise: products per channel, summed over the taps
    conv_depthwise(k, *x, w, p, out);
    return;
  }

  // Patches [G, N, out spatial..., kernel spatial..., Cg] as a view of x,
  // copied row-major: [G, rows, taps * Cg].
  Shape ps{static_cast<int32_t>(G), out.shape[0]};
  Strides pst{Cg * x->strides[nd + 1], x->strides[0]};
  for (int i = 0; i < nd; ++i) {
    ps.push_back(out.shape[i + 1]);
    pst.push_back(x->strides[i + 1] * p.stride[i]);
  }
  for (int i = 0; i < nd; ++i) {
    ps.push_back(w.shape[i + 1]);
    pst.push_back(x->strides[i + 1] * p.kernel_dilation[i]);
  }
  ps.push_back(static_cast<int32_t>(Cg));
  pst.push_back(x->strides[nd + 1]);
  Node patches(ps, t, nullptr, sid);
  set_view(patches, *x, pst, x->offset);
  Node cols(ps, t, nullptr, sid);
  k.copy(patches, cols);
  // One group: plain matrices, so that the CPU's products see a single
  // right-hand matrix (the packed kernel's case).
  auto dims = [&](int64_t r, int64_t c) {
    Shape d{static_cast<int32_t>(r), static_cast<int32_t>(c)};
    if (G > 1) d.insert(d.begin(), static_cast<int32_t>(G));
    return d;
  };
  Node a(dims(rows, taps * Cg), t, nullptr, sid);
  set_view(a, cols, row_major_strides(a.shape), cols.offset);

  // The weight as [G, O / G, kernel spatial..., Cg] (flipped when asked),
  // row-major, read as [G, taps * Cg, O / G].
  Shape ws{static_cast<int32_t>(G), static_cast<int32_t>(Og)};
  Strides wst{Og * w.strides[0], w.strides[0]};
  int64_t woff = w.offset;
  for (int i = 0; i < nd; ++i) {
    ws.push_back(w.shape[i + 1]);
    if (p.flip) {
      wst.push_back(-w.strides[i + 1]);
      woff += int64_t(w.shape[i + 1] - 1) * w.strides[i + 1];
    } else {
      wst.push_back(w.strides[i + 1]);
    }
  }
  ws.push_back(static_cast<int32_t>(Cg));
  wst.push_back(w.strides[nd + 1]);
  // A row-major, unflipped weight is read in place: the CPU keeps its packed
  // copy with its buffer from one call to the next.
  Node wview(ws, t, nullptr, sid);
  set_view(wview, w, wst, woff);
  Node wcopy(ws, t, nullptr, sid);
  const bool in_place = !p.flip && w.row_contiguous;
  if (!in_place) k.copy(wview, wcopy);
  const Node& wrows = in_place ? w : wcopy;
  Node b(dims(taps * Cg, Og), t, nullptr, sid);
  Strides bst{1, taps * Cg};
  if (G > 1) bst.insert(bst.begin(), Og * taps * Cg);
  set_view(b, wrows, bst, wrows.offset);

  Node prod(dims(rows, Og), t, nullptr, sid);
  k.matmul(a, b, prod);
  if (G == 1) {
    set_view(out, prod, row_major_strides(out.shape), prod.offset);
    return;
  }
  // [G, rows, O / G] -> [N, out spatial..., G, O / G].
  Shape ys(out.shape.begin(), out.shape.end() - 1);
  ys.push_back(static_cast<int32_t>(G));
  ys.push_back(static_cast<int32_t>(Og));
  Strides yst(ys.size());
  yst[nd + 2] = 1;
  yst[nd + 1] = rows * Og;
  int64_t st = Og;
  for (int i = nd; i >= 0; --i) {
    yst[i] = st;
    st *= ys[i];
  }
  Node yview(ys, t, nullptr, sid);
  set_view(yview, prod, yst, prod.offset);
  Node y(ys, t, nullptr, sid);
  k.copy(yview, y);
  set_view(out, y, row_major_strides(out.shape), y.offset);
}

}  // namespace rill::detail
