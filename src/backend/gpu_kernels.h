// The GPU backend's kernels, one per primitive, with the CPU backend's
// signatures (backend/cpu/kernels.h, fast_kernels.h): each computes one node on
// the device stream of the segment being run (runtime/gpu.h) and allocates or
// views `out` on the device. Inputs are on that device (gpu_prepare saw to it).
// Without a GPU backend these are never called. Internal.
#pragma once

#include <vector>

#include "backend/cpu/fast_kernels.h"
#include "backend/cpu/kernels.h"
#include "core/node.h"

namespace rill::detail {
class Primitive;
}

namespace rill::detail::gpu {

using cpu::ArgReduceOp;
using cpu::BinaryOp;
using cpu::ReduceOp;
using cpu::RopeParams;
using cpu::UnaryOp;

void unary(UnaryOp op, const Node& in, Node& out, int decimals = 0);
void binary(BinaryOp op, const Node& a, const Node& b, Node& out);
void where(const Node& cond, const Node& x, const Node& y, Node& out);
void copy(const Node& in, Node& out);
void reduce(ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out);
void arg_reduce(ArgReduceOp op, const Node& in, int axis, Node& out);
void matmul(const Node& a, const Node& b, Node& out);
// out = alpha * (a @ b) + beta * c, c broadcast to out's shape (not read when
// beta is 0): c is copied into out and the product accumulates onto it.
void addmm(const Node& c, const Node& a, const Node& b, float alpha, float beta, Node& out);
void arange(double start, double step, Node& out);
void eye(int k, Node& out);
void softmax(const Node& in, int axes, Node& out);
void logsumexp(const Node& in, int axes, Node& out);
void layer_norm(const Node& x, const Node* w, const Node* b, float eps, Node& out);
void rms_norm(const Node& x, const Node* w, float eps, Node& out);
void rope(const Node& x, const Node* offset, const Node* freqs, const RopeParams& p,
          Node& out);
void scaled_dot_product_attention(const Node& q, const Node& k, const Node& v,
                                  const Node* mask, float scale, bool causal, Node& out);

// Indices may be on the host (checked there, then copied) or on the device
// (checked by the kernel; the op then waits for the device to report).
// Either way an index out of range throws std::out_of_range, as on the CPU.
void take(const Node& a, const Node& indices, int axis, Node& out);
void take_along_axis(const Node& a, const Node& indices, int axis, Node& out);
void concatenate(const std::vector<const Node*>& ins, int axis, Node& out);
void pad(const Node& in, const Node& value, const std::vector<int>& low, bool edge,
         Node& out);
void cumsum(const Node& in, int axis, bool reverse, bool inclusive, Node& out);
void sort(cpu::SortOp op, const Node& in, int axis, int kth, Node& out);
// random::bits under the uint32 key pair `key`: the CPU's bits exactly.
void random_bits(const Node& key, int width, Node& out);
// random::uniform (lo, hi: float32 scalars, or null for [0, 1)) and
// random::normal (loc + scale z) in out's floating dtype: the CPU's values
// (core/random.cpp, RandomFloats).
void random_floats(const Node& key, const Node* lo, const Node* hi, bool normal, double scale,
                   double loc, Node& out);

// testing::device_fault: copies `in` to `out`, then writes through a wild
// address (an illegal memory access the device reports asynchronously).
void wild_write(const Node& in, Node& out);

// Gives `out` a fresh row-major buffer on the current device stream.
void allocate(Node& out);

}  // namespace rill::detail::gpu
