// The GPU's convolution (backend/kernels.h): cuDNN for float32, float16 and
// bfloat16 in a build that has it (RILL_HAS_CUDNN), else im2col and one
// cuBLASLt product through the backend's own kernels (conv_im2col).
#include "backend/cuda/host.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "core/format.h"

#if RILL_HAS_CUDNN
#include <cudnn.h>
#endif

namespace rill::detail::gpu {

#if RILL_HAS_CUDNN
namespace {

[[noreturn]] void throw_cudnn(cudnnStatus_t st, const char* call) {
  throw std::runtime_error(cat("cuDNN error ", static_cast<int>(st), " (",
                               cudnnGetErrorString(st), ") in ", call));
}
#define RILL_CUDNN(call)                                                \
  do {                                                                  \
    cudnnStatus_t rill_st_ = (call);                                    \
    if (rill_st_ != CUDNN_STATUS_SUCCESS) throw_cudnn(rill_st_, #call); \
  } while (0)

// One handle per pool stream of each device, bound to that stream when made.
// A handle is used only while its pool stream's workspace lock is held
// (cu::lock_workspace), so two threads whose logical streams share a pool
// stream never use it at once. The map is guarded by g_handles_mu; handles
// live as long as the process (work may be in flight at exit).
std::mutex g_handles_mu;
std::map<std::pair<int, int>, cudnnHandle_t>* g_handles =
    new std::map<std::pair<int, int>, cudnnHandle_t>();  // never freed

cudnnHandle_t handle_for(const cu::Launch& L) {
  std::lock_guard lock(g_handles_mu);
  cudnnHandle_t& h = (*g_handles)[{L.device, L.slot}];
  if (!h) {
    cudnnHandle_t made = nullptr;
    RILL_CUDNN(cudnnCreate(&made));
    cudnnStatus_t st = cudnnSetStream(made, L.stream);
    if (st != CUDNN_STATUS_SUCCESS) {
      cudnnDestroy(made);
      throw_cudnn(st, "cudnnSetStream");
    }
    h = made;
  }
  return h;
}

cudnnDataType_t cudnn_type(Dtype t) {
  switch (t.val) {
    case Dtype::Val::float16:
      return CUDNN_DATA_HALF;
    case Dtype::Val::bfloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

// Descriptors of one convolution, destroyed with it.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Descriptors() {
    RILL_CUDNN(cudnnCreateTensorDescriptor(&x));
    RILL_CUDNN(cudnnCreateTensorDescriptor(&y));
    RILL_CUDNN(cudnnCreateFilterDescriptor(&w));
    RILL_CUDNN(cudnnCreateConvolutionDescriptor(&conv));
  }
  ~Descriptors() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

// cuDNN's dims and strides (N, C, spatial...) of a channels-last row-major
// array [N, spatial..., C], with a unit spatial axis added for 1D.
void nchw_of(const Shape& s, std::vector<int>& dims, std::vector<int>& strides) {
  const int nd = static_cast<int>(s.size()) - 2;
  std::vector<int> sp(s.begin() + 1, s.end() - 1);
  if (nd == 1) sp.insert(sp.begin(), 1);
  const int C = s.back();
  dims = {s[0], C};
  dims.insert(dims.end(), sp.begin(), sp.end());
  strides.assign(dims.size(), 1);
  // Channels innermost, then the spatial axes right to left, then N.
  int64_t st = C;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 2; --i) {
    strides[i] = static_cast<int>(st);
    st *= dims[i];
  }
  strides[0] = static_cast<int>(st);
}

// The chosen algorithm for one convolution's shapes and settings.
struct AlgoKey {
  int device;
  int dtype;
  Shape x, w;
  std::vector<int> pad, stride, dil;
  int groups;
  bool flip;
  bool operator<(const AlgoKey& o) const {
    return std::tie(device, dtype, x, w, pad, stride, dil, groups, flip) <
           std::tie(o.device, o.dtype, o.x, o.w, o.pad, o.stride, o.dil, o.groups,
                    o.flip);
  }
};
struct Algo {
  cudnnConvolutionFwdAlgo_t algo;
  size_t workspace;
  cudnnMathType_t math;
};
std::mutex g_algos_mu;
std::map<AlgoKey, Algo>* g_algos = new std::map<AlgoKey, Algo>();  // never freed

// Tensor-core algorithms want 16-byte aligned data; a view at an odd offset
// is copied.
bool aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// Whether cuDNN takes the case; false sends it to im2col.
bool cudnn_takes(const Node& in, const Node& w, const Node& out) {
  const Dtype t = out.dtype;
  if (t != float32 && t != float16 && t != bfloat16) return false;
  for (int32_t d : in.shape) {
    if (d == 0) return false;
  }
  for (int32_t d : out.shape) {
    if (d == 0) return false;
  }
  // cuDNN's descriptors count in int.
  return in.size < (1u << 31) && out.size < (1u << 31) && w.size > 0;
}

void conv_cudnn(const Node& in_node, const Node& w_node, const Node& zero,
                const ConvParams& p, Node& out) {
  const int nd = static_cast<int>(in_node.shape.size()) - 2;
  const Stream sid = out.stream_id;
  // cuDNN pads both sides alike: the excess of one side is padded here.
  std::vector<int> sym(nd);
  bool extra = false;
  std::vector<int> low(nd + 2, 0);
  Shape padded_shape = in_node.shape;
  for (int i = 0; i < nd; ++i) {
    sym[i] = std::min(p.pad_lo[i], p.pad_hi[i]);
    low[i + 1] = p.pad_lo[i] - sym[i];
    padded_shape[i + 1] += p.pad_lo[i] + p.pad_hi[i] - 2 * sym[i];
    extra |= p.pad_lo[i] != p.pad_hi[i];
  }
  Node padded(padded_shape, in_node.dtype, nullptr, sid);
  Node x_rows(in_node.shape, in_node.dtype, nullptr, sid);
  const Node* x = &in_node;
  if (extra) {
    gpu::pad(in_node, zero, low, false, padded);
    x = &padded;
  } else if (!in_node.row_contiguous || !aligned(in_node.data())) {
    gpu::copy(in_node, x_rows);
    x = &x_rows;
  }
  Node w_rows(w_node.shape, w_node.dtype, nullptr, sid);
  const Node* w = &w_node;
  if (!w_node.row_contiguous || !aligned(w_node.data())) {
    gpu::copy(w_node, w_rows);
    w = &w_rows;
  }
  gpu::allocate(out);

  const cu::Launch& L = cu::launch();
  std::vector<int> stride(p.stride), dil(p.kernel_dilation);
  if (nd == 1) {  // as 2D with a unit first spatial axis
    sym.insert(sym.begin(), 0);
    stride.insert(stride.begin(), 1);
    dil.insert(dil.begin(), 1);
  }
  const cudnnDataType_t ct = cudnn_type(out.dtype);
  Descriptors d;
  std::vector<int> dims, strides;
  nchw_of(x->shape, dims, strides);
  RILL_CUDNN(cudnnSetTensorNdDescriptor(d.x, ct, static_cast<int>(dims.size()),
                                        dims.data(), strides.data()));
  nchw_of(out.shape, dims, strides);
  RILL_CUDNN(cudnnSetTensorNdDescriptor(d.y, ct, static_cast<int>(dims.size()),
                                        dims.data(), strides.data()));
  // The filter [O, kernel..., C / groups] is NHWC-packed as cuDNN counts it.
  std::vector<int> fdims{w->shape[0], w->shape.back()};
  if (nd == 1) fdims.push_back(1);
  for (int i = 0; i < nd; ++i) fdims.push_back(w->shape[i + 1]);
  RILL_CUDNN(cudnnSetFilterNdDescriptor(d.w, ct, CUDNN_TENSOR_NHWC,
                                        static_cast<int>(fdims.size()), fdims.data()));
  RILL_CUDNN(cudnnSetConvolutionNdDescriptor(
      d.conv, static_cast<int>(sym.size()), sym.data(), stride.data(), dil.data(),
      p.flip ? CUDNN_CONVOLUTION : CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  RILL_CUDNN(cudnnSetConvolutionGroupCount(d.conv, p.groups));
  // float32 stays float32 (no TF32), as the products do; the half types
  // use tensor cores, accumulating in float32.
  const cudnnMathType_t math =
      out.dtype == float32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
  RILL_CUDNN(cudnnSetConvolutionMathType(d.conv, math));

  // The handle and the workspace belong to the pool stream: held from the
  // algorithm query to the launch.
  const std::unique_lock<std::mutex> hold = cu::lock_workspace();
  cudnnHandle_t h = handle_for(L);
  // clang-format off
  AlgoKey key{L.device, static_cast<int>(out.dtype.val), x->shape, w->shape, sym, stride, dil,
              p.groups, p.flip};
  // clang-format on
  Algo algo{};
  bool known = false;
  {
    std::lock_guard lock(g_algos_mu);
    auto it = g_algos->find(key);
    if (it != g_algos->end()) {
      algo = it->second;
      known = true;
    }
  }
  if (!known) {
    // The first time these shapes come: every algorithm cuDNN has that needs
    // at most kMaxWorkspace of scratch is run on the real operands (the
    // output is written over later) and the fastest kept, as PyTorch's
    // cudnn.benchmark does: the heuristics' first choice ran at 0.4x
    // PyTorch's speed on an H100 (bench/RESULTS.md, session 13).
    constexpr size_t kMaxWorkspace = size_t(256) << 20;
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    {
      std::shared_ptr<Buffer> trial = cu::allocate(kMaxWorkspace);
      RILL_CUDNN(cudnnFindConvolutionForwardAlgorithmEx(
          h, d.x, x->data(), d.w, w->data(), d.conv, d.y, out.mutable_data(),
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf, trial->ptr, kMaxWorkspace));
    }
    bool chosen = false;
    for (int i = 0; i < found && !chosen; ++i) {  // fastest first
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
      if (out.dtype == float32 && perf[i].mathType != CUDNN_FMA_MATH &&
          perf[i].mathType != CUDNN_DEFAULT_MATH) {
        continue;
      }
      algo = {perf[i].algo, perf[i].memory, perf[i].mathType};
      chosen = true;
    }
    if (!chosen) {
      throw std::runtime_error(cat("cuDNN offers no forward algorithm for input ",
                                   tuple_str(x->shape), " and weight ",
                                   tuple_str(w->shape)));
    }
    RILL_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y,
                                                       algo.algo, &algo.workspace));
    std::lock_guard lock(g_algos_mu);
    g_algos->emplace(key, algo);
  }
  RILL_CUDNN(cudnnSetConvolutionMathType(
      d.conv, out.dtype == float32 ? CUDNN_FMA_MATH : algo.math));

  size_t ws_bytes = 0;
  void* ws = cu::lt_workspace(&ws_bytes);
  std::shared_ptr<Buffer> own_ws;
  if (algo.workspace > ws_bytes) {
    own_ws = cu::allocate(algo.workspace);
    ws = own_ws->ptr;
    ws_bytes = algo.workspace;
  }
  const float alpha = 1.0f, beta = 0.0f;
  RILL_CUDNN(cudnnConvolutionForward(h, &alpha, d.x, x->data(), d.w, w->data(), d.conv,
                                     algo.algo, ws, ws_bytes, &beta, d.y,
                                     out.mutable_data()));
}

}  // namespace
#endif  // RILL_HAS_CUDNN

void conv(const Node& in, const Node& w, const Node& zero, const ConvParams& p,
          Node& out) {
#if RILL_HAS_CUDNN
  if (cudnn_takes(in, w, out)) {
    conv_cudnn(in, w, zero, p, out);
    return;
  }
#endif
  conv_im2col(gpu_backend, in, w, zero, p, out);
}

}  // namespace rill::detail::gpu
