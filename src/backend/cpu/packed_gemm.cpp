// The packed product: C (m x n) = alpha A B + beta C with B in panels of 32
// columns. Per 256-deep slice of k, per panel, per block of up to 12 rows of
// A, one register-blocked kernel keeps the 12 x 32 block of C in 24 AVX-512
// registers and adds one rank-1 update per k (two panel loads, 12 broadcasts,
// 24 fused multiply-adds). Every element of C sums its products in the same
// order whatever m and the row block it falls in, so results do not depend on
// the batch size.
#include "backend/cpu/packed_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "backend/cpu/allocator.h"
#include "runtime/config.h"

namespace rill::detail::cpu {

// From the CPU allocator, so that a kept copy counts in get_active_memory().
PackedB::PackedB(Format format, int64_t k, int64_t n) : format(format), k(k), n(n) {
  if (format == Format::f32_panels) {
    bytes = std::max<size_t>(64, static_cast<size_t>(k * panels() * kPanel) * sizeof(float));
    data = static_cast<float*>(allocate(bytes));
  } else {
    bytes = std::max<size_t>(64, bf16x3_rhs_elements(k, n) * sizeof(uint16_t));
    tiles = static_cast<uint16_t*>(allocate(bytes));
  }
}

PackedB::~PackedB() { release(data ? static_cast<void*>(data) : tiles, bytes); }

std::unique_ptr<PackedB> pack_rhs(const float* b, int64_t k, int64_t n, int64_t rs,
                                  int64_t cs) {
  if (bf16x3_chosen() && all_finite(b, k, n, rs, cs)) {
    auto p = std::make_unique<PackedB>(PackedB::Format::bf16x3_tiles, k, n);
    p->rs = rs;
    p->cs = cs;
    pack_rhs_bf16x3(b, k, n, rs, cs, p->tiles);
    return p;
  }
  auto p = std::make_unique<PackedB>(PackedB::Format::f32_panels, k, n);
  p->rs = rs;
  p->cs = cs;
  constexpr int64_t P = PackedB::kPanel;
  for (int64_t panel = 0; panel < p->panels(); ++panel) {
    float* dst = p->data + panel * k * P;
    const int64_t j0 = panel * P, cols = std::min(P, n - j0);
    for (int64_t i = 0; i < k; ++i) {
      float* row = dst + i * P;
      const float* src = b + i * rs + j0 * cs;
      if (cs == 1) {
        std::memcpy(row, src, static_cast<size_t>(cols) * sizeof(float));
      } else {
        for (int64_t j = 0; j < cols; ++j) row[j] = src[j * cs];
      }
      for (int64_t j = cols; j < P; ++j) row[j] = 0.0f;
    }
  }
  return p;
}

#if defined(__x86_64__)

bool packed_gemm_supported() {
  static const bool ok = setting_int(Setting::packed_gemm) != 0 &&
                         static_cast<bool>(__builtin_cpu_supports("avx512f"));
  return ok;
}

namespace {

constexpr int kRows = 12;   // rows of A per kernel call
constexpr int64_t kDepth = 256;  // k per slice: a 32 KiB slice of a panel

// c[0..MR) x [0..cols) (+)= alpha * a[0..MR) x [0..kc) * bp[0..kc) x [0..32).
// first: the slice that starts k (beta applies, to c or to `addend`, one row
// for every row); else add to c.
template <int MR>
__attribute__((target("avx512f"))) void kernel(int64_t kc, const float* a, int64_t lda,
                                               const float* bp, float* c, int64_t ldc,
                                               int cols, float alpha, float beta, bool first,
                                               const float* addend) {
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(bp + k * 32);
    const __m512 b1 = _mm512_load_ps(bp + k * 32 + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + k]);
      acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
    }
  }
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32   ? __mmask16(0xFFFF)
                       : cols > 16 ? __mmask16((1u << (cols - 16)) - 1)
                                   : __mmask16(0);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(acc[r][0], va), x1 = _mm512_mul_ps(acc[r][1], va);
    if (!first) {
      x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, cr));
      x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, cr + 16));
    } else if (beta != 0.0f) {
      const float* add = addend ? addend : cr;
      x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, add), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, add + 16), x1);
    }
    _mm512_mask_storeu_ps(cr, m0, x0);
    _mm512_mask_storeu_ps(cr + 16, m1, x1);
  }
}

using Kernel = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int, float,
                        float, bool, const float*);
constexpr Kernel kKernels[kRows + 1] = {nullptr,    kernel<1>,  kernel<2>,  kernel<3>, kernel<4>,
                                        kernel<5>,  kernel<6>,  kernel<7>,  kernel<8>, kernel<9>,
                                        kernel<10>, kernel<11>, kernel<12>};

}  // namespace

void packed_gemm(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha,
                 float beta, float* c, int64_t ldc, const float* addend) {
  if (b.format == PackedB::Format::bf16x3_tiles) {
    gemm_bf16x3(m, a, lda, b, alpha, beta, c, ldc, addend);
    return;
  }
  constexpr int64_t P = PackedB::kPanel;
  for (int64_t k0 = 0; k0 < b.k; k0 += kDepth) {
    const int64_t kc = std::min(kDepth, b.k - k0);
    for (int64_t panel = 0; panel < b.panels(); ++panel) {
      const float* bp = b.data + (panel * b.k + k0) * P;
      const int cols = static_cast<int>(std::min(P, b.n - panel * P));
      for (int64_t i = 0; i < m; i += kRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i));
        kKernels[rows](kc, a + i * lda + k0, lda, bp, c + i * ldc + panel * P, ldc, cols, alpha,
                       beta, k0 == 0, addend ? addend + panel * P : nullptr);
      }
    }
  }
}

#else

bool packed_gemm_supported() { return false; }
void packed_gemm(int64_t, const float*, int64_t, const PackedB&, float, float, float*,
                 int64_t, const float*) {
  throw std::logic_error("packed_gemm called on a machine without its kernel");
}

#endif

}  // namespace rill::detail::cpu
