// Matrix products against a right-hand operand packed once and kept: a
// model's weights are the same matrix at every call, and a BLAS call packs
// its operands again each time (about a fifth of the encoder's product time).
// float32 only; the kernel needs AVX-512F (x86-64), else callers use BLAS.
// Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/node.h"

namespace rill::detail::cpu {

// B (k x n) packed for one of two kernels, chosen when it is packed:
// - f32_panels (AVX-512): panels of kPanel columns; panel p holds columns
//   [kPanel p, kPanel (p + 1)) as k rows of kPanel floats, zero past n.
// - bf16x3_tiles (AMX, where the CPU and the OS allow it): every float split
//   exactly into three bfloat16 parts, laid out as the tile unit's B operand
//   (amx_gemm.cpp).
// The memory comes from the CPU allocator: a kept copy (the buffer's
// BufferCache, core/node.h) counts as active memory.
struct PackedB : BufferCache {
  static constexpr int64_t kPanel = 32;
  enum class Format { f32_panels, bf16x3_tiles };
  Format format;
  int64_t k = 0, n = 0;
  // Where the matrix was in its buffer (elements), for a kept copy's lookup.
  int64_t offset = 0, rs = 0, cs = 0;
  size_t bytes = 0;
  float* data = nullptr;      // f32_panels: k * panels() * kPanel floats, 64-byte aligned
  uint16_t* tiles = nullptr;  // bf16x3_tiles: bf16x3_rhs_elements(k, n), 64-byte aligned
  int64_t panels() const { return (n + kPanel - 1) / kPanel; }
  PackedB(Format format, int64_t k, int64_t n);
  ~PackedB() override;
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;
};

// Whether this machine runs the packed kernel (and RILL_PACKED_GEMM is not 0).
bool packed_gemm_supported();

// Packs b[i * rs + j * cs] (k x n), for the tile kernel where it runs.
std::unique_ptr<PackedB> pack_rhs(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs);

// c = alpha * a b + beta * c for a (m x k, row stride lda, unit column stride)
// and c (m x n, row stride ldc); with beta 0, c is only written. With `addend`
// (n floats), every row's addend is that row instead of c's own (a bias
// broadcast over the rows, never written out), and c is only written.
void packed_gemm(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha,
                 float beta, float* c, int64_t ldc, const float* addend = nullptr);

// ---- the tile kernel (amx_gemm.cpp) ----

// Whether float32 products use the tile unit: the CPU has AMX-BF16, the
// operating system lets this process use tile data, and RILL_CPU_AMX is not 0.
bool amx_enabled();
// Tests: pack for the tile kernel even where the unit is absent (the kernel
// then runs on an exact software model of the tile instructions).
void force_bf16x3_for_testing(bool on);
bool bf16x3_chosen();  // amx_enabled(), forced, or RILL_CPU_AMX=model
size_t bf16x3_rhs_elements(int64_t k, int64_t n);
// Whether every b[i * rs + j * cs] is finite: only finite matrices are split.
bool all_finite(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs);
void pack_rhs_bf16x3(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs,
                     uint16_t* tiles);
void gemm_bf16x3(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha,
                 float beta, float* c, int64_t ldc, const float* addend = nullptr);
// Tests: the way A's rows are split (0 element by element, 1 with AVX512-BF16's
// conversion; -1 the CPU's best). Returns false, changing nothing, when this CPU lacks the
// instructions.
bool set_lhs_split_for_testing(int how);
// A (m x k) split into its tiles as the kernel reads them (every element of
// the padded tiles written); returns the rows holding an infinity or NaN.
std::vector<int64_t> pack_lhs_for_testing(int64_t m, const float* a, int64_t lda, int64_t k,
                                          std::vector<uint16_t>& tiles);

}  // namespace rill::detail::cpu
