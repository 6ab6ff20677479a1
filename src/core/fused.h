// Fused: a chain of elementwise ops (unary, binary, where, dtype conversion)
// of one output shape that compile found in a trace (core/compile.cpp), run as
// one node. Internal.
//
// On the CPU a float32 chain of the ops core/fused_jit.h writes, over inputs of
// the output's shape, rows of its last dim and single values, runs as one
// generated loop; any other chain runs over the output in chunks of a few thousand
// elements: each op's vector kernel runs on a chunk that stays in cache, and
// only the inputs and the output cross memory once. The chunks are rows of
// the output seen as [rows, B...], where B is its trailing dims from
// `split`: every input is either the output's full shape (read through a view
// of the chunk's rows) or broadcast over the leading dims (read whole, as a
// view of its trailing dims). Elsewhere (the GPU, or an input whose layout
// is not row-major at run time) the ops run one after the other on whole
// arrays, as uncompiled, inside the one node. On a GPU a chain whose kernel
// was generated (backend/gpu.h's gpu_fused_kernel) runs as that one kernel
// when its inputs' layouts are the kinds it was generated for.
#pragma once

#include <algorithm>
#include <vector>

#include "backend/gpu.h"
#include "core/primitives.h"

namespace rill::detail {

struct FusedOp {
  enum Kind : uint8_t { unary, binary, where, copy } kind = unary;
  int op = 0;        // UnaryOp or BinaryOp
  int decimals = 0;  // round's
  Dtype dtype = float32;
  // Operands: i >= 0 the result of op i of the chain, i < 0 input -i - 1.
  int args[3] = {0, 0, 0};
};

// Whether `in` broadcast against `out` (numpy's right alignment) has only
// ones in the dims of `out` before `split`: it is read whole by each chunk
// of rows of `out` seen as [rows, dims from split on].
inline bool ones_before(const Shape& in, const Shape& out, int split) {
  const int off = static_cast<int>(out.size()) - static_cast<int>(in.size());
  for (int d = std::max(0, off); d < split; ++d) {
    if (in[d - off] != 1) return false;
  }
  return true;
}

// How a generated loop (core/fused_jit.h) reads an input over the output seen
// as [rows, cols] (cols: its last dim): full (element r * cols + c), a row
// (element c; broadcast over the rows) or one value.
enum class JitInput : uint8_t { full, row, scalar };

// out[r, c] for r < rows, c < cols, from ins (row-major, as the kinds say).
using JitKernel = void (*)(const void* const* ins, void* out, int64_t rows, int64_t cols);

// A chain compiled to machine code: how each input is read, and the kernel
// (null: none).
struct FusedJit {
  std::vector<JitInput> kinds;
  JitKernel kernel = nullptr;
  const GpuKernel* gpu = nullptr;  // a GPU chain's (backend/gpu.h), or null
};

class Fused : public Primitive {
 public:
  Fused(std::vector<FusedOp> ops, int split, FusedJit jit = {})
      : ops_(std::move(ops)), split_(split), jit_(std::move(jit)) {}
  const char* name() const override { return "compiled"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
  size_t size() const { return ops_.size(); }

 private:
  void stepwise(const Kernels& k, const std::vector<array>& in, Node& out) const;
  void chunked(const Kernels& k, const std::vector<array>& in, Node& out) const;
  bool generated(const std::vector<array>& in, Node& out) const;
  std::vector<FusedOp> ops_;
  int split_;  // the first axis of B (see above)
  FusedJit jit_;
};

}  // namespace rill::detail
