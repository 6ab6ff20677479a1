// Matrix products on the GPU (backend/kernels.h): matmul and addmm through
// cuBLASLt, with the operands' layouts passed as they are stored (no copies
// for transposed or batched views that cuBLAS can read).
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

#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::gpu {

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
  // -1: no bias epilogue; else the pool stream slot whose workspace lock
  // guards the plan's bias pointer (set on the descriptor at each call).
  int bias_slot;
  bool operator<(const PlanKey& o) const {
    return std::tie(device, dtype, m, n, k, lda, ldb, batch, sa, sb, ta, tb, align_a, align_b,
                    align_c, bias_slot) <
           std::tie(o.device, o.dtype, o.m, o.n, o.k, o.lda, o.ldb, o.batch, o.sa, o.sb, o.ta,
                    o.tb, o.align_a, o.align_b, o.align_c, o.bias_slot);
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
  if (key.bias_slot >= 0) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    RILL_CUBLAS(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                               sizeof(epi)));
  }
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

// What the product adds to alpha * a @ b, besides nothing (beta = 0):
// beta * c read from a row-major buffer of out's shape (`c`, null: out's own
// contents), or a row of out's last dimension added by cuBLASLt's bias
// epilogue (`bias`, with beta = 1).
struct Addend {
  const void* c = nullptr;
  const void* bias = nullptr;
};

// False when cuBLASLt has no algorithm for a bias plan (the caller then adds
// the row itself); true otherwise.
bool gemm(const Node& a_in, const Node& b_in, float alpha_f, float beta_f, Addend add,
          Node& out);

// c, broadcast to out, is one row of out's last dimension repeated: its
// elements contiguous (or one), every other dimension of size 1.
bool bias_row(const Node& c, const Node& out) {
  if (c.dtype != out.dtype || c.shape.size() > out.shape.size()) return false;
  const Strides st = broadcast_strides(c, out.shape);
  const size_t nd = out.shape.size();
  if (out.shape[nd - 1] > 1 && st[nd - 1] != 1) return false;
  for (size_t i = 0; i + 1 < nd; ++i) {
    if (out.shape[i] > 1 && st[i] != 0) return false;
  }
  return reinterpret_cast<uintptr_t>(c.data()) % 16 == 0;
}

bool row_major_like(const Node& c, const Node& out) {
  return c.dtype == out.dtype && c.shape == out.shape && c.strides == row_major_strides(c.shape);
}

}  // namespace

void matmul(const Node& a, const Node& b, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  gemm(a, b, 1.0f, 0.0f, {}, out);
}

void addmm(const Node& c, const Node& a, const Node& b, float alpha, float beta, Node& out) {
  const int64_t K = a.shape.back();
  if (beta == 0.0f) {
    gpu::allocate(out);
    if (out.size == 0) return;
    gemm(a, b, alpha, 0.0f, {}, out);
    return;
  }
  if (K > 0 && out.shape.size() >= 2) {
    // A linear layer's bias: one epilogue, no broadcast copy.
    if (beta == 1.0f && bias_row(c, out)) {
      gpu::allocate(out);
      if (out.size == 0) return;
      Addend add;
      add.bias = c.data();
      if (gemm(a, b, alpha, 0.0f, add, out)) return;
    } else if (row_major_like(c, out) && !donatable(out, c, false)) {
      // A residual or an accumulator someone still holds: cuBLAS reads it
      // where it is (one nobody holds is taken over below instead).
      gpu::allocate(out);
      if (out.size == 0) return;
      Addend add;
      add.c = c.data();
      gemm(a, b, alpha, beta, add, out);
      return;
    }
  }
  copy(c, out);  // allocates out, row-major, holding c broadcast
  if (out.size == 0) return;
  gemm(a, b, alpha, beta, {}, out);
}

namespace {

// out (allocated, row-major) = alpha * a @ b + beta * (add.c or out) (+ add.bias).
bool gemm(const Node& a_in, const Node& b_in, float alpha_f, float beta_f, Addend add,
          Node& out) {
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
    return true;
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
  int64_t count = nb ? it.dims.shape[nb - 1] : 1;
  int64_t M_rows = M;
  const int64_t sa = nb ? it.st[0].s[nb - 1] : 0, sb = nb ? it.st[1].s[nb - 1] : 0;
  int64_t outer = 1;
  for (int i = 0; i + 1 < nb; ++i) outer *= it.dims.shape[i];
  // One b for the whole batch and a's matrices one after the other, rows
  // at a single stride (a linear layer over [batch, tokens, features]): one
  // product of count * M rows, which cuBLAS tiles better than a batch.
  if (outer == 1 && count > 1 && sb == 0 && !ob.trans && sa == M * ob.ld) {
    M_rows = M * count;
    count = 1;
  }
  const cu::Launch& L = cu::launch();
  const char* pa = static_cast<const char*>(a->data());
  const char* pb = static_cast<const char*>(b->data());
  char* pc = static_cast<char*>(out.mutable_data());
  const char* pcin = add.c ? static_cast<const char*>(add.c) : pc;
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
    void* xd = pc + offc * es;
    const void* xc = pcin + offc * es;
    PlanKey key{L.device, static_cast<int>(out.dtype.val), N, M_rows, K, oa.ld, ob.ld, count, sb, sa,
                oa.trans, ob.trans, alignment(xa), alignment(xb),
                std::min(alignment(xc), alignment(xd)), add.bias ? L.slot : -1};
    const Plan& p = plan_for(key, out.dtype);
    if (add.bias) {
      // Without a heuristic's algorithm cuBLASLt may not support the
      // epilogue for this shape: nothing has run yet, the caller adds it.
      if (!p.has_algo) return false;
      // The pointer lives in the descriptor this slot's plan owns; the
      // workspace lock held above makes this thread its only user.
      RILL_CUBLAS(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                 &add.bias, sizeof(add.bias)));
    }
    RILL_CUBLAS(cublasLtMatmul(cu::lt_handle(), p.desc, alpha, xa, p.a, xb, p.b, beta, xc, p.c,
                               xd, p.c, p.has_algo ? &p.algo : nullptr, ws, ws_bytes, L.stream));
  }
  return true;
}

}  // namespace

}  // namespace rill::detail::gpu
