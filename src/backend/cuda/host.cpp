// The host-side helpers of the CUDA backend's kernels (backend/cuda/host.h).
#include "backend/cuda/host.h"

#include <stdexcept>

#include "core/format.h"

namespace rill::detail::gpu {

Iter iterate(const Shape& shape, const std::vector<Strides>& ops, const char* what) {
  std::vector<int64_t> sh;
  std::vector<std::vector<int64_t>> st(ops.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!sh.empty()) {
      bool merge = true;
      for (size_t k = 0; k < ops.size(); ++k) {
        merge = merge && st[k].back() == ops[k][d] * shape[d];
      }
      if (merge) {
        sh.back() *= shape[d];
        for (size_t k = 0; k < ops.size(); ++k) st[k].back() = ops[k][d];
        continue;
      }
    }
    sh.push_back(shape[d]);
    for (size_t k = 0; k < ops.size(); ++k) st[k].push_back(ops[k][d]);
  }
  if (sh.size() > static_cast<size_t>(cu::kMaxDims)) {
    throw std::runtime_error(cat("the GPU kernels take layouts of at most ", cu::kMaxDims,
                                 " dimensions after merging; this ", what, " has ", sh.size(),
                                 " (shape ", tuple_str(shape), ")"));
  }
  Iter it;
  it.dims.ndim = static_cast<int>(sh.size());
  it.st.resize(ops.size());
  for (size_t d = 0; d < sh.size(); ++d) {
    it.dims.shape[d] = sh[d];
    for (size_t k = 0; k < ops.size(); ++k) it.st[k].s[d] = st[k][d];
  }
  return it;
}

void allocate(Node& out) {
  out.buffer = cu::allocate(out.size * out.dtype.size);
  set_view(out, out, row_major_strides(out.shape), 0);
}

void allocate_or_donate(Node& out, std::initializer_list<const Node*> donors,
                        bool elementwise) {
  allocate_or_donate(out, std::span<const Node* const>(donors.begin(), donors.size()), elementwise);
}

void allocate_or_donate(Node& out, std::span<const Node* const> donors, bool elementwise) {
  for (const Node* d : donors) {
    // donatable() first: reusable() may hand the block over to this stream,
    // which only the holder of its one reference may do.
    if (d->buffer && d->buffer->gpu && donatable(out, *d, elementwise) &&
        cu::reusable(*d->buffer->gpu)) {
      take_buffer(out, *d);
      return;
    }
  }
  gpu::allocate(out);
}

const Node& rows_of(const Node& in, Node& tmp) {
  if (in.row_contiguous) return in;
  copy(in, tmp);
  return tmp;
}

}  // namespace rill::detail::gpu
