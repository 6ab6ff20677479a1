// Copies between host and devices: a device node's host mirror (made on first
// host read), a host or other device's node copied in for a segment, and the
// proxies through which kernels read those copies.
#include "backend/cuda/context.h"

#include <algorithm>
#include <stdexcept>

#include "backend/gpu.h"
#include "core/format.h"

namespace rill::detail {
namespace cu {

// The host copy of a device node's data, made on first use (a host read
// waits for the device). Returned by value: another thread may add a mirror
// (and move the vector) meanwhile.
Node::Mirror host_mirror(Node& n) {
  std::lock_guard lock(n.mu);
  for (const Node::Mirror& m : n.mirrors) {
    if (m.device < 0) return m;
  }
  auto [lo, hi] = span(n);
  const size_t esize = n.dtype.size;
  const size_t bytes = static_cast<size_t>(hi - lo) * esize;
  const int src = n.buffer->device();
  if (n.ready) host_wait(*n.ready);  // the device has computed it
  auto buf = std::make_shared<Buffer>(bytes);
  if (bytes) {
    select_device(src);
    RILL_CUDA(cudaMemcpy(buf->ptr, static_cast<const char*>(n.buffer->ptr) + lo * esize, bytes,
                         cudaMemcpyDeviceToHost));
  }
  n.mirrors.push_back({-1, std::move(buf), n.offset - lo});
  return n.mirrors.back();
}

// The copy of a host or other device's node on the launch's device, made on
// first use and queued on the launch's stream, with an event that other
// streams wait for; no host wait. A pageable host source is staged before the
// call returns. Another device's data is copied once that device has
// computed it (a wait on its event, device to device); its stream becomes a
// user of the source, so the source is not freed before the copy has read it.
Node::Mirror copy_in(Node& n, const Launch& L) {
  std::lock_guard lock(n.mu);
  for (const Node::Mirror& m : n.mirrors) {
    if (m.device == L.device) return m;
  }
  auto [lo, hi] = span(n);
  const size_t esize = n.dtype.size;
  const size_t bytes = static_cast<size_t>(hi - lo) * esize;
  const int src = n.buffer->device();
  const char* from = static_cast<const char*>(n.buffer->ptr) + lo * esize;
  std::shared_ptr<Buffer> buf = allocate_on(*L.ctx, bytes, L.stream, L.slot);
  if (bytes && src < 0) {
    RILL_CUDA(cudaMemcpyAsync(buf->ptr, from, bytes, cudaMemcpyHostToDevice, L.stream));
  } else if (bytes) {
    if (n.ready && !n.ready->passed.load(std::memory_order_relaxed)) {
      RILL_CUDA(cudaStreamWaitEvent(L.stream, n.ready->event, 0));
    }
    RILL_CUDA(cudaMemcpyPeerAsync(buf->ptr, L.device, from, src, bytes, L.stream));
    note_user(*n.buffer->gpu, L.stream, L.device);
  }
  n.mirrors.push_back({L.device, std::move(buf), n.offset - lo, record_event(*L.ctx, L.stream)});
  return n.mirrors.back();
}

std::pair<int64_t, int64_t> span(const Node& n) {
  if (n.size == 0) return {n.offset, n.offset};
  int64_t lo = n.offset, hi = n.offset;
  for (size_t d = 0; d < n.shape.size(); ++d) {
    int64_t ext = int64_t(n.shape[d] - 1) * n.strides[d];
    (ext < 0 ? lo : hi) += ext;
  }
  return {lo, hi + 1};
}

array proxy(const Node& n, const Node::Mirror& m) {
  auto p = std::make_shared<Node>(n.shape, n.dtype, m.buffer, n.stream_id);
  p->strides = n.strides;
  p->offset = m.offset;
  p->row_contiguous = n.row_contiguous;
  p->col_contiguous = n.col_contiguous;
  return array(std::move(p));
}

}  // namespace cu

using cu::DeviceContext;

void host_prepare(Node& n) {
  for (array& in : n.inputs) {
    Node& i = *in.mutable_node();
    if (i.buffer && i.buffer->device() >= 0) in = cu::proxy(i, cu::host_mirror(i));
  }
}

const void* host_data(Node& n) {
  if (!n.buffer || n.buffer->device() < 0) return n.data();
  const Node::Mirror m = cu::host_mirror(n);  // kept alive by the node
  return static_cast<const char*>(m.buffer->ptr) + m.offset * n.dtype.size;
}

}  // namespace rill::detail
