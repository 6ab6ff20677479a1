// The GPU kernels over contiguous rows (backend/kernels.h): softmax,
// logsumexp, layer_norm, rms_norm and rope.
#include "backend/cuda/host.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "common/strided_walk.h"
#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::gpu {

// ---- rows: softmax, logsumexp, norms ----

void softmax(const Node& in, int axes, Node& out) {
  // Each block reads its row whole before writing it: `in` may donate.
  allocate_or_donate(out, {&in}, false);
  if (out.size == 0) return;
  Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
  const Node& x = rows_of(in, tmp);
  int64_t len = 1;
  for (size_t d = in.shape.size() - axes; d < in.shape.size(); ++d) len *= in.shape[d];
  cu::softmax(dt(in.dtype), x.data(), out.mutable_data(), n_of(in) / len, len, false, stream());
}

void logsumexp(const Node& in, int axes, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  int64_t len = 1;
  for (size_t d = in.shape.size() - axes; d < in.shape.size(); ++d) len *= in.shape[d];
  Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
  const Node& x = len == 0 ? in : rows_of(in, tmp);
  cu::softmax(dt(in.dtype), x.data(), out.mutable_data(), n_of(out), len, true, stream());
}

void layer_norm(const Node& x, const Node* w, const Node* b, float eps, Node& out) {
  allocate_or_donate(out, {&x}, false);  // rows are read whole first
  if (out.size == 0) return;
  Node tmp(x.shape, x.dtype, nullptr, x.stream_id);
  const Node& r = rows_of(x, tmp);
  const int64_t len = x.shape.back();
  cu::norm(dt(x.dtype), r.data(), w ? w->data() : nullptr, w ? w->strides[0] : 0,
           b ? b->data() : nullptr, b ? b->strides[0] : 0, out.mutable_data(), n_of(x) / len,
           len, eps, false, stream());
}

void rms_norm(const Node& x, const Node* w, float eps, Node& out) {
  allocate_or_donate(out, {&x}, false);  // rows are read whole first
  if (out.size == 0) return;
  Node tmp(x.shape, x.dtype, nullptr, x.stream_id);
  const Node& r = rows_of(x, tmp);
  const int64_t len = x.shape.back();
  cu::norm(dt(x.dtype), r.data(), w ? w->data() : nullptr, w ? w->strides[0] : 0, nullptr, 0,
           out.mutable_data(), n_of(x) / len, len, eps, true, stream());
}

// ---- rope ----

namespace {

// A small device array's values on the host, as float64 (converted on the
// device, then copied back once the stream has computed them).
std::vector<double> host_doubles(const Node& n) {
  Node d(n.shape, float64, nullptr, n.stream_id);
  copy(n, d);
  std::vector<double> v(n.size);
  RILL_CUDA(cudaMemcpyAsync(v.data(), d.data(), v.size() * sizeof(double),
                            cudaMemcpyDeviceToHost, stream()));
  RILL_CUDA(cudaStreamSynchronize(stream()));
  return v;
}

}  // namespace

void rope(const Node& x, const Node* offset, const Node* freqs, const RopeParams& p,
          Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const size_t nd = x.shape.size();
  const int half = p.dims / 2;
  // The inverse frequencies and the offsets, computed on the host in double
  // as the CPU does, travel to the device in one small buffer.
  std::vector<double> inv_freq(half);
  if (freqs) {
    std::vector<double> f = host_doubles(*freqs);
    for (int i = 0; i < half; ++i) inv_freq[i] = 1.0 / f[i];
  } else {
    const double log_base = std::log(static_cast<double>(p.base));
    for (int i = 0; i < half; ++i) inv_freq[i] = std::exp(-(2.0 * i / p.dims) * log_base);
  }
  std::vector<int64_t> offsets{p.offset};
  if (offset) {
    std::vector<double> o = host_doubles(*offset);  // exact: |offsets| < 2^53
    offsets.assign(o.begin(), o.end());
  }
  auto table = cu::allocate((inv_freq.size() + offsets.size()) * 8);
  RILL_CUDA(cudaMemcpyAsync(table->ptr, inv_freq.data(), inv_freq.size() * 8,
                            cudaMemcpyHostToDevice, stream()));
  double* dev_freq = static_cast<double*>(table->ptr);
  int64_t* dev_off = reinterpret_cast<int64_t*>(dev_freq + inv_freq.size());
  RILL_CUDA(cudaMemcpyAsync(dev_off, offsets.data(), offsets.size() * 8, cudaMemcpyHostToDevice,
                            stream()));
  // Pageable copies are staged before cudaMemcpyAsync returns, so the host
  // vectors may go; `table` is freed in this stream's order after the kernel.
  cu::RopeArgs a{};
  a.len = x.shape[nd - 2];
  a.d = x.shape[nd - 1];
  a.ls = x.strides[nd - 2];
  a.ds = x.strides[nd - 1];
  Shape lead(x.shape.begin(), x.shape.end() - 2);
  Strides lead_st(x.strides.begin(), x.strides.end() - 2);
  a.matrices = 1;
  for (int32_t d : lead) a.matrices *= d;
  a.per_first = 1;
  for (size_t i = 1; i + 2 < nd; ++i) a.per_first *= x.shape[i];
  // Leading dims unmerged (offsets index the first one); at most kMaxDims.
  if (lead.size() > static_cast<size_t>(cu::kMaxDims)) {
    throw std::runtime_error(cat("rope on the GPU takes at most ", cu::kMaxDims + 2,
                                 " dimensions, got shape ", tuple_str(x.shape)));
  }
  a.lead.ndim = static_cast<int>(lead.size());
  for (size_t i = 0; i < lead.size(); ++i) {
    a.lead.shape[i] = lead[i];
    a.lead_st.s[i] = lead_st[i];
  }
  a.dims = p.dims;
  a.traditional = p.traditional;
  a.scale = p.scale;
  a.inv_freq = dev_freq;
  a.offsets = dev_off;
  a.n_offsets = static_cast<int64_t>(offsets.size());
  cu::rope(dt(x.dtype), x.data(), out.mutable_data(), a, stream());
}

}  // namespace rill::detail::gpu
