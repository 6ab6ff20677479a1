// The CUDA backend's kernels as the runtime sees them (backend/gpu_kernels.h):
// each turns nodes into pointers and layouts, allocates the output on the
// segment's stream and launches. Matrix products go through cuBLASLt.
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
#include "backend/cuda/common.h"
#include "backend/cuda/launch.h"
#include "backend/kernels.h"
#include "core/dispatch.h"
#include "core/format.h"
#include "core/primitives.h"

namespace rill::detail::gpu {

using cu::DT;

namespace {

DT dt(Dtype d) { return static_cast<DT>(static_cast<int>(d.val)); }
cudaStream_t stream() { return cu::launch().stream; }

// An iteration space over `shape` for operands with the given strides, with
// size-1 dims dropped and adjacent dims merged where every operand allows.
struct Iter {
  cu::Dims dims;
  std::vector<cu::Steps> st;
};

Iter iterate(const Shape& shape, const std::vector<Strides>& ops, const char* what = "array") {
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

int64_t n_of(const Node& n) { return static_cast<int64_t>(n.size); }

}  // namespace

void allocate(Node& out) {
  out.buffer = cu::allocate(out.size * out.dtype.size);
  set_view(out, out, row_major_strides(out.shape), 0);
}

namespace {
// The device buffer of the first of `donors` that may donate it (donatable(),
// node.h, and only this stream used it), else a fresh one. `elementwise`:
// each output element is written by the thread that read the input elements
// at its index (every kernel here reads an element before writing it).
void allocate_or_donate(Node& out, std::initializer_list<const Node*> donors,
                        bool elementwise = true) {
  for (const Node* d : donors) {
    if (d->buffer && d->buffer->gpu && cu::reusable(*d->buffer->gpu) &&
        donatable(out, *d, elementwise)) {
      take_buffer(out, *d);
      return;
    }
  }
  gpu::allocate(out);
}
}  // namespace

// ---- elementwise ----

void copy(const Node& in, Node& out) {
  // Once: addmm copies its addend into out and then also reads its factors.
  allocate_or_donate(out, {&in}, false);
  if (out.size == 0) return;
  // A donated buffer of the same dtype already holds the copy.
  if (out.buffer == in.buffer && out.dtype == in.dtype) return;
  Iter it = iterate(out.shape, {broadcast_strides(in, out.shape)});
  cu::copy(dt(in.dtype), in.data(), it.st[0], dt(out.dtype), out.mutable_data(), it.dims,
           n_of(out), stream());
}

void unary(UnaryOp op, const Node& in, Node& out, int decimals) {
  allocate_or_donate(out, {&in});
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {in.strides});
  cu::unary(op, dt(in.dtype), in.data(), it.st[0], dt(out.dtype),
            out.mutable_data(), it.dims, n_of(out), decimals, stream());
}

void binary(BinaryOp op, const Node& a, const Node& b, Node& out) {
  allocate_or_donate(out, {&a, &b});
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {broadcast_strides(a, out.shape), broadcast_strides(b, out.shape)});
  cu::binary(op, dt(a.dtype), a.data(), it.st[0], b.data(), it.st[1],
             dt(out.dtype), out.mutable_data(), it.dims, n_of(out), stream());
}

void where(const Node& cond, const Node& x, const Node& y, Node& out) {
  allocate_or_donate(out, {&x, &y, &cond});
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {broadcast_strides(cond, out.shape),
                                broadcast_strides(x, out.shape), broadcast_strides(y, out.shape)});
  cu::where(cond.data(), it.st[0], dt(out.dtype), x.data(), it.st[1], y.data(), it.st[2],
            out.mutable_data(), it.dims, n_of(out), stream());
}

void arange(double start, double step, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::arange(dt(out.dtype), start, step, out.mutable_data(), n_of(out), stream());
}

void eye(int k, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::eye(dt(out.dtype), k, out.mutable_data(), out.shape[0], out.shape[1], stream());
}

// ---- reductions ----

void reduce(ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Shape keep_shape, red_shape;
  Strides keep_st, red_st;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    bool r = std::find(axes.begin(), axes.end(), static_cast<int>(d)) != axes.end();
    (r ? red_shape : keep_shape).push_back(in.shape[d]);
    (r ? red_st : keep_st).push_back(in.strides[d]);
  }
  int64_t reduced = 1;
  for (int32_t d : red_shape) reduced *= d;
  Iter keep = iterate(keep_shape, {keep_st});
  Iter red = iterate(red_shape, {red_st});
  const int64_t splits = cu::reduce_splits(n_of(out), reduced);
  std::shared_ptr<Buffer> scratch;
  if (splits > 1) scratch = cu::allocate(static_cast<size_t>(n_of(out) * splits * 8));
  cu::reduce(op, dt(in.dtype), in.data(), keep.dims, keep.st[0], red.dims,
             red.st[0], dt(out.dtype), out.mutable_data(), n_of(out), reduced,
             scratch ? scratch->ptr : nullptr, static_cast<int>(splits), stream());
}

void arg_reduce(ArgReduceOp op, const Node& in, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Shape keep_shape;
  Strides keep_st;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (static_cast<int>(d) == axis) continue;
    keep_shape.push_back(in.shape[d]);
    keep_st.push_back(in.strides[d]);
  }
  Iter keep = iterate(keep_shape, {keep_st});
  cu::arg_reduce(op, dt(in.dtype), in.data(), keep.dims, keep.st[0],
                 in.shape[axis], in.strides[axis], static_cast<uint32_t*>(out.mutable_data()),
                 n_of(out), stream());
}

// ---- rows: softmax, logsumexp, norms ----

namespace {

// `in` as contiguous rows: itself when row-major, else a copy.
const Node& rows_of(const Node& in, Node& tmp) {
  if (in.row_contiguous) return in;
  copy(in, tmp);
  return tmp;
}

}  // namespace

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

// ---- testing ----

void wild_write(const Node& in, Node& out) {
  copy(in, out);
  cu::wild_write(stream());
}

// ---- attention ----

void scaled_dot_product_attention(const Node& q, const Node& k, const Node& v,
                                  const Node* mask, float scale, bool causal, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  cu::AttentionArgs a{};
  a.B = q.shape[0];
  a.Hq = q.shape[1];
  a.Lq = q.shape[2];
  a.D = q.shape[3];
  a.Hkv = k.shape[1];
  a.Lk = k.shape[2];
  a.Dv = v.shape[3];
  for (int i = 0; i < 4; ++i) {
    a.qs[i] = q.shape[i] == 1 ? 0 : q.strides[i];
    a.ks[i] = k.shape[i] == 1 ? 0 : k.strides[i];
    a.vs[i] = v.shape[i] == 1 ? 0 : v.strides[i];
  }
  if (mask) {
    Shape full{static_cast<int32_t>(a.B), static_cast<int32_t>(a.Hq),
               static_cast<int32_t>(a.Lq), static_cast<int32_t>(a.Lk)};
    Strides ms = broadcast_strides(*mask, full);
    for (int i = 0; i < 4; ++i) a.ms[i] = ms[i];
    a.mask = mask->data();
    a.mask_is_bool = mask->dtype == bool_;
  }
  a.scale = scale;
  a.causal = causal;
  const size_t bytes = cu::attention_scratch(dt(q.dtype), q.data(), k.data(), v.data(), a);
  std::shared_ptr<Buffer> scratch = bytes ? cu::allocate(bytes) : nullptr;
  cu::attention(dt(q.dtype), q.data(), k.data(), v.data(), out.mutable_data(),
                scratch ? scratch->ptr : nullptr, a, stream());
}

// ---- matmul (cuBLASLt) ----

namespace {

cudaDataType_t cuda_type(Dtype t) {
  switch (t.val) {
    case Dtype::Val::float16: return CUDA_R_16F;
    case Dtype::Val::bfloat16: return CUDA_R_16BF;
    case Dtype::Val::float32: return CUDA_R_32F;
    case Dtype::Val::float64: return CUDA_R_64F;
    default: throw std::logic_error("matmul of a non-floating dtype on the GPU");
  }
}

// One operand of the column-major product as stored: its leading dimension,
// and whether cuBLAS transposes it (its shape follows from M, N, K).
struct Operand {
  int64_t ld;
  bool trans;
};

// The column-major view of a row-major-indexed matrix m[i, j] (r x c) with
// element strides (si, sj), as an operand for X[j, i] = m[i, j] (c x r),
// i.e. the transposed matrix, which is what the row-major trick needs.
// Returns false when neither stride is 1 (the caller copies).
bool transposed_view(int64_t r, int64_t c, int64_t si, int64_t sj, Operand* o) {
  // Strides of size-1 dims are free: pick ones that make the layout valid.
  if (c == 1) sj = 1;
  if (r == 1) si = std::max<int64_t>(c, 1);
  if (sj == 1 && si >= std::max<int64_t>(c, 1)) {
    *o = {si, false};  // X = m^T is c x r column-major with ld si
    return true;
  }
  if (si == 1 && sj >= std::max<int64_t>(r, 1)) {
    *o = {sj, true};  // m is r x c column-major with ld sj; X = op_T(m)
    return true;
  }
  return false;
}

// The largest power of two (up to 256) dividing the address.
int alignment(const void* p) {
  auto u = reinterpret_cast<uintptr_t>(p);
  int a = 1;
  while (a < 256 && (u % (2 * a)) == 0) a *= 2;
  return a;
}

struct PlanKey {
  int device;
  int dtype;
  int64_t m, n, k, lda, ldb, batch, sa, sb;
  bool ta, tb;
  int align_a, align_b, align_c;
  bool operator<(const PlanKey& o) const {
    return std::tie(device, dtype, m, n, k, lda, ldb, batch, sa, sb, ta, tb, align_a, align_b,
                    align_c) < std::tie(o.device, o.dtype, o.m, o.n, o.k, o.lda, o.ldb, o.batch,
                                        o.sa, o.sb, o.ta, o.tb, o.align_a, o.align_b, o.align_c);
  }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
};

std::mutex g_plans_mu;
std::map<PlanKey, Plan>* g_plans = new std::map<PlanKey, Plan>();  // never freed

const Plan& plan_for(const PlanKey& key, Dtype t) {
  {
    std::lock_guard lock(g_plans_mu);
    auto it = g_plans->find(key);
    if (it != g_plans->end()) return it->second;
  }
  Plan p;
  cudaDataType_t ct = cuda_type(t);
  cublasComputeType_t compute =
      t == float64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  cudaDataType_t scale_t = t == float64 ? CUDA_R_64F : CUDA_R_32F;
  RILL_CUBLAS(cublasLtMatmulDescCreate(&p.desc, compute, scale_t));
  cublasOperation_t opa = key.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opb = key.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  RILL_CUBLAS(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa,
                                             sizeof(opa)));
  RILL_CUBLAS(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb,
                                             sizeof(opb)));
  // Stored shapes: A is m x k (or k x m transposed), B is k x n (or n x k).
  RILL_CUBLAS(cublasLtMatrixLayoutCreate(&p.a, ct, key.ta ? key.k : key.m, key.ta ? key.m : key.k,
                                         key.lda));
  RILL_CUBLAS(cublasLtMatrixLayoutCreate(&p.b, ct, key.tb ? key.n : key.k, key.tb ? key.k : key.n,
                                         key.ldb));
  RILL_CUBLAS(cublasLtMatrixLayoutCreate(&p.c, ct, key.m, key.n, key.m));
  if (key.batch > 1) {
    int32_t count = static_cast<int32_t>(key.batch);
    int64_t sc = key.m * key.n;
    for (auto [layout, stride] : {std::pair{p.a, key.sa}, {p.b, key.sb}, {p.c, sc}}) {
      RILL_CUBLAS(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                   &count, sizeof(count)));
      RILL_CUBLAS(cublasLtMatrixLayoutSetAttribute(
          layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
    }
  }
  cublasLtMatmulPreference_t pref;
  RILL_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
  size_t ws = 0;
  cu::lt_workspace(&ws);
  RILL_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  for (auto [attr, bytes] : {std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_a},
                             {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_b},
                             {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
                             {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_c}}) {
    uint32_t v = static_cast<uint32_t>(bytes);
    RILL_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, attr, &v, sizeof(v)));
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cu::lt_handle(), p.desc, p.a, p.b, p.c,
                                                      p.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    p.algo = result.algo;
    p.has_algo = true;
  }
  std::lock_guard lock(g_plans_mu);
  return g_plans->emplace(key, p).first->second;
}

}  // namespace

namespace {
void gemm(const Node& a_in, const Node& b_in, float alpha_f, float beta_f, Node& out);
}  // namespace

void matmul(const Node& a, const Node& b, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  gemm(a, b, 1.0f, 0.0f, out);
}

void addmm(const Node& c, const Node& a, const Node& b, float alpha, float beta, Node& out) {
  if (beta == 0.0f) {
    gpu::allocate(out);
  } else {
    copy(c, out);  // allocates out, row-major, holding c broadcast
  }
  if (out.size == 0) return;
  gemm(a, b, alpha, beta, out);
}

namespace {

// out (allocated, row-major) = alpha * a @ b + beta * out.
void gemm(const Node& a_in, const Node& b_in, float alpha_f, float beta_f, Node& out) {
  const size_t nd = out.shape.size();
  const int64_t M = out.shape[nd - 2], N = out.shape[nd - 1];
  const int64_t K = a_in.shape[nd - 1];
  if (K == 0) {
    if (beta_f == 0.0f) {
      RILL_CUDA(cudaMemsetAsync(out.mutable_data(), 0, out.size * out.dtype.size, stream()));
    } else if (beta_f != 1.0f) {
      // out *= beta, with beta in out's dtype on the device.
      unsigned char v[8] = {};
      switch (out.dtype.val) {
        case Dtype::Val::float16: {
          uint16_t b = float16_t::from_float(beta_f);
          std::memcpy(v, &b, 2);
          break;
        }
        case Dtype::Val::bfloat16: {
          uint16_t b = bfloat16_t::from_float(beta_f);
          std::memcpy(v, &b, 2);
          break;
        }
        case Dtype::Val::float64: {
          double b = beta_f;
          std::memcpy(v, &b, 8);
          break;
        }
        default:
          std::memcpy(v, &beta_f, 4);
      }
      auto scalar = cu::allocate(out.dtype.size);
      RILL_CUDA(cudaMemcpyAsync(scalar->ptr, v, out.dtype.size, cudaMemcpyHostToDevice, stream()));
      Iter it = iterate(out.shape, {out.strides});
      cu::binary(BinaryOp::multiply, dt(out.dtype), out.data(), it.st[0],
                 scalar->ptr, cu::Steps{}, dt(out.dtype), out.mutable_data(), it.dims,
                 n_of(out), stream());
    }
    return;
  }
  // Column-major: C^T (N x M) = B^T (N x K) * A^T (K x M).
  Node a_tmp(a_in.shape, a_in.dtype, nullptr, a_in.stream_id);
  Node b_tmp(b_in.shape, b_in.dtype, nullptr, b_in.stream_id);
  const Node* a = &a_in;
  const Node* b = &b_in;
  Operand oa{}, ob{};  // oa: the cuBLAS "A" = from b; ob: the cuBLAS "B" = from a
  if (!transposed_view(K, N, b->strides[nd - 2], b->strides[nd - 1], &oa)) {
    copy(*b, b_tmp);
    b = &b_tmp;
    transposed_view(K, N, b->strides[nd - 2], b->strides[nd - 1], &oa);
  }
  if (!transposed_view(M, K, a->strides[nd - 2], a->strides[nd - 1], &ob)) {
    copy(*a, a_tmp);
    a = &a_tmp;
    transposed_view(M, K, a->strides[nd - 2], a->strides[nd - 1], &ob);
  }
  // Batch dims: one stride each after merging, else copy to contiguous.
  Shape batch(out.shape.begin(), out.shape.end() - 2);
  auto batch_strides = [&](const Node& x) {
    Strides s(batch.size());
    size_t lead = batch.size() - (x.shape.size() - 2);
    for (size_t i = 0; i < batch.size(); ++i) {
      s[i] = i < lead || x.shape[i - lead] == 1 ? 0 : x.strides[i - lead];
    }
    return s;
  };
  Strides outb(batch.size());
  {
    int64_t s = M * N;
    for (int i = static_cast<int>(batch.size()) - 1; i >= 0; --i) {
      outb[i] = s;
      s *= batch[i];
    }
  }
  // Batch dims after merging: the last is cuBLAS's strided batch, the ones
  // before it (rare: broadcasts that do not merge) loop here.
  Iter it = iterate(batch, {batch_strides(*a), batch_strides(*b), outb}, "batch");
  const int nb = it.dims.ndim;
  const int64_t count = nb ? it.dims.shape[nb - 1] : 1;
  const int64_t sa = nb ? it.st[0].s[nb - 1] : 0, sb = nb ? it.st[1].s[nb - 1] : 0;
  int64_t outer = 1;
  for (int i = 0; i + 1 < nb; ++i) outer *= it.dims.shape[i];
  const cu::Launch& L = cu::launch();
  const char* pa = static_cast<const char*>(a->data());
  const char* pb = static_cast<const char*>(b->data());
  char* pc = static_cast<char*>(out.mutable_data());
  const size_t es = out.dtype.size;
  size_t ws_bytes = 0;
  void* ws = cu::lt_workspace(&ws_bytes);
  const std::unique_lock<std::mutex> hold = cu::lock_workspace();
  const double alpha_d = alpha_f, beta_d = beta_f;
  const void* alpha = out.dtype == float64 ? static_cast<const void*>(&alpha_d) : &alpha_f;
  const void* beta = out.dtype == float64 ? static_cast<const void*>(&beta_d) : &beta_f;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t offa = 0, offb = 0, offc = 0, rest = o;
    for (int i = nb - 2; i >= 0; --i) {
      int64_t idx = rest % it.dims.shape[i];
      rest /= it.dims.shape[i];
      offa += idx * it.st[0].s[i];
      offb += idx * it.st[1].s[i];
      offc += idx * it.st[2].s[i];
    }
    const void* xa = pb + offb * es;  // cuBLAS's A comes from b
    const void* xb = pa + offa * es;
    void* xc = pc + offc * es;
    PlanKey key{L.device, static_cast<int>(out.dtype.val), N, M, K, oa.ld, ob.ld, count, sb, sa,
                oa.trans, ob.trans, alignment(xa), alignment(xb), alignment(xc)};
    const Plan& p = plan_for(key, out.dtype);
    RILL_CUBLAS(cublasLtMatmul(cu::lt_handle(), p.desc, alpha, xa, p.a, xb, p.b, beta, xc, p.c,
                               xc, p.c, p.has_algo ? &p.algo : nullptr, ws, ws_bytes, L.stream));
  }
}

}  // namespace

}  // namespace rill::detail::gpu

// ---- gathers, joins, scans, sorts, random bits ----

namespace rill::detail::gpu {

namespace {

// Indices still on the host are checked there and copied to the device
// (stream-ordered, no wait); those on the device are checked by the kernel.
struct Indices {
  std::optional<array> dev;          // on the device
  std::shared_ptr<Buffer> flag;      // {flag, value} for the kernel, or null
  long long* bad() const { return flag ? static_cast<long long*>(flag->ptr) : nullptr; }
};

Indices indices_on_device(const Node& idx, int64_t n, int axis) {
  Indices r;
  if (idx.buffer && idx.buffer->device() >= 0) {
    r.dev = cu::proxy(idx, Node::Mirror{idx.buffer->device(), idx.buffer, idx.offset});
    r.flag = cu::allocate(16);
    RILL_CUDA(cudaMemsetAsync(r.flag->ptr, 0, 16, stream()));
    return r;
  }
  dispatch(idx.dtype, [&](auto tag) {
    using I = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      const I* p = static_cast<const I*>(idx.data());
      for_each_row<1>(idx.shape, {idx.strides},
                           [&](const std::array<int64_t, 1>& off, int64_t m,
                               const std::array<int64_t, 1>& s) {
                             for (int64_t j = 0; j < m; ++j) {
                               const int64_t v = static_cast<int64_t>(p[off[0] + j * s[0]]);
                               if (v < -n || v >= n) throw_index_error(v, n, axis);
                             }
                           });
    } else {
      throw std::logic_error(cat("indices must be integers, got ", idx.dtype));
    }
  });
  auto [lo, hi] = cu::span(idx);
  const size_t bytes = static_cast<size_t>(hi - lo) * idx.dtype.size;
  auto buf = cu::allocate(bytes);
  if (bytes) {
    // A pageable source is staged before this returns.
    RILL_CUDA(cudaMemcpyAsync(buf->ptr, static_cast<const char*>(idx.buffer->ptr) +
                                            lo * idx.dtype.size,
                              bytes, cudaMemcpyHostToDevice, stream()));
  }
  r.dev = cu::proxy(idx, Node::Mirror{cu::launch().device, std::move(buf), idx.offset - lo});
  return r;
}

// After a kernel that checked device indices: waits for its verdict.
void check_indices(const Indices& r, int64_t n, int axis) {
  if (!r.flag) return;
  long long got[2] = {0, 0};
  RILL_CUDA(cudaMemcpyAsync(got, r.flag->ptr, sizeof got, cudaMemcpyDeviceToHost, stream()));
  RILL_CUDA(cudaStreamSynchronize(stream()));
  if (got[0]) throw_index_error(got[1], n, axis);
}

}  // namespace

void take(const Node& a, const Node& indices, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t n = a.shape[axis];
  Indices idx = indices_on_device(indices, n, axis);
  const Node& in = node_of(*idx.dev);
  Shape pre(a.shape.begin(), a.shape.begin() + axis);
  Strides pre_st(a.strides.begin(), a.strides.begin() + axis);
  Shape post(a.shape.begin() + axis + 1, a.shape.end());
  Strides post_st(a.strides.begin() + axis + 1, a.strides.end());
  Iter ip = iterate(pre, {pre_st}), iq = iterate(post, {post_st}),
       ii = iterate(in.shape, {in.strides}, "index array");
  cu::TakeArgs t;
  t.pre = ip.dims;
  t.pre_st = ip.st[0];
  t.post = iq.dims;
  t.post_st = iq.st[0];
  t.idx = ii.dims;
  t.idx_st = ii.st[0];
  t.n_idx = n_of(in);
  t.n_post = 1;
  for (int32_t d : post) t.n_post *= d;
  t.axis_len = n;
  t.axis_st = a.strides[axis];
  cu::take(a.dtype.size, a.data(), dt(in.dtype), in.data(), out.mutable_data(), t, n_of(out),
           idx.bad(), stream());
  check_indices(idx, n, axis);
}

void take_along_axis(const Node& a, const Node& indices, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t n = a.shape[axis];
  Indices idx = indices_on_device(indices, n, axis);
  const Node& in = node_of(*idx.dev);
  Strides ast = broadcast_strides(a, out.shape);
  ast[axis] = 0;  // the index gives the position along the axis
  Iter it = iterate(out.shape, {ast, broadcast_strides(in, out.shape), out.strides});
  cu::take_along_axis(a.dtype.size, a.data(), it.st[0], dt(in.dtype), in.data(), it.st[1],
                      out.mutable_data(), it.dims, n_of(out), n, a.strides[axis], idx.bad(),
                      stream());
  check_indices(idx, n, axis);
}

void concatenate(const std::vector<const Node*>& ins, int axis, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const size_t es = out.dtype.size;
  char* po = static_cast<char*>(out.mutable_data());
  int64_t pos = 0;
  for (const Node* in : ins) {
    Shape shape = in->shape;
    Strides strides = in->strides;
    if (shape.size() < out.shape.size()) {  // stack: a slot of size 1
      shape.insert(shape.begin() + axis, 1);
      strides.insert(strides.begin() + axis, 0);
    }
    char* dst = po + pos * out.strides[axis] * static_cast<int64_t>(es);
    pos += shape[axis];
    if (in->size == 0) continue;
    Iter it = iterate(shape, {strides, out.strides});
    cu::move(es, in->data(), it.st[0], dst, it.st[1], it.dims, n_of(*in), stream());
  }
}

void pad(const Node& in, const Node& value, const std::vector<int>& low, bool edge,
         Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int nd = static_cast<int>(out.shape.size());
  if (nd > cu::kMaxDims) {
    throw std::runtime_error(cat("pad on the GPU takes at most ", cu::kMaxDims,
                                 " dimensions; this array has ", nd));
  }
  cu::PadArgs p{};
  p.ndim = nd;
  p.edge = edge;
  for (int d = 0; d < nd; ++d) {
    p.out_shape[d] = out.shape[d];
    p.in_shape[d] = in.shape[d];
    p.in_st[d] = in.strides[d];
    p.low[d] = low[d];
  }
  cu::pad(out.dtype.size, in.data(), value.data(), out.mutable_data(), p, n_of(out), stream());
}

void cumsum(const Node& in, int axis, bool reverse, bool inclusive, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
  const Node& x = rows_of(in, tmp);
  const int64_t len = in.shape[axis];
  int64_t inner = 1;
  for (size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
  cu::cumsum(dt(in.dtype), x.data(), out.mutable_data(), n_of(in) / (len * inner), len, inner,
             reverse, inclusive, stream());
}

void sort(SortOp op, const Node& in, int axis, int kth, Node& out) {
  (void)kth;  // partitions come out fully sorted; topk's k is out's axis
  gpu::allocate(out);
  if (out.size == 0 || in.size == 0) return;
  Shape keep;
  Strides kin, kout;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    if (static_cast<int>(d) == axis) continue;
    keep.push_back(in.shape[d]);
    kin.push_back(in.strides[d]);
    kout.push_back(out.strides[d]);
  }
  Iter it = iterate(keep, {kin, kout});
  cu::SortArgs a;
  a.op = op;
  a.len = in.shape[axis];
  a.rows = n_of(in) / a.len;
  a.axis_st = in.strides[axis];
  a.m = out.shape[axis];
  a.out_axis_st = out.strides[axis];
  a.keep = it.dims;
  a.kst = it.st[0];
  a.ost = it.st[1];
  const size_t bytes = cu::sort_scratch(dt(in.dtype), a);
  auto scratch = cu::allocate(bytes);
  cu::sort(dt(in.dtype), in.data(), out.mutable_data(), scratch->ptr, bytes, a, stream());
}

void random_floats(const Node& key, const Node* lo, const Node* hi, bool normal, double scale,
                   double loc, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t step = key.strides.empty() ? 1 : key.strides.back();
  cu::random_floats(static_cast<const uint32_t*>(key.data()), step, normal,
                    lo ? static_cast<const float*>(lo->data()) : nullptr,
                    hi ? static_cast<const float*>(hi->data()) : nullptr, scale, loc,
                    dt(out.dtype), out.mutable_data(), n_of(out), stream());
}

void random_bits(const Node& key, int width, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  const int64_t step = key.strides.empty() ? 1 : key.strides.back();
  cu::random_bits(static_cast<const uint32_t*>(key.data()), step, width, out.mutable_data(),
                  n_of(out), stream());
}

}  // namespace rill::detail::gpu
