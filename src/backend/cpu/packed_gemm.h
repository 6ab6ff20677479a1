// Matrix products against a right-hand operand packed once and kept: a
// model's weights are the same matrix at every call, and a BLAS call packs
// its operands again each time (about a fifth of the encoder's product time).
// float32 only; the kernel needs AVX-512F (x86-64), else callers use BLAS.
// Internal.
#pragma once

#include <cstdint>
#include <memory>

namespace rill::detail::cpu {

// B (k x n) as panels of kPanel columns: panel p holds columns [kPanel p,
// kPanel (p + 1)) as k rows of kPanel floats, zero past n. The memory comes
// from the CPU allocator: a node's kept copy counts as active memory.
struct PackedB {
  static constexpr int64_t kPanel = 32;
  int64_t k = 0, n = 0;
  // Where the matrix was in its buffer (elements), for a kept copy's lookup.
  int64_t offset = 0, rs = 0, cs = 0;
  size_t bytes = 0;
  float* data = nullptr;  // 64-byte aligned, k * panels() * kPanel floats
  int64_t panels() const { return (n + kPanel - 1) / kPanel; }
  PackedB(int64_t k, int64_t n);
  ~PackedB();
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;
};

// Frees a node's packed copy (Node::packed_rhs).
void release_packed(PackedB* p) noexcept;

// Whether this machine runs the packed kernel (and RILL_PACKED_GEMM is not 0).
bool packed_gemm_supported();

// Packs b[i * rs + j * cs] (k x n).
std::unique_ptr<PackedB> pack_rhs(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs);

// c = alpha * a b + beta * c for a (m x k, row stride lda, unit column stride)
// and c (m x n, row stride ldc); with beta 0, c is only written.
void packed_gemm(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha,
                 float beta, float* c, int64_t ldc);

}  // namespace rill::detail::cpu
