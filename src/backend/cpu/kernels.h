// The CPU backend: free functions that compute one node's output from its
// inputs. Each allocates (or views) `out`. Internal.
#pragma once

#include <initializer_list>
#include <vector>

#include "core/node.h"

namespace rill::detail::cpu {

enum class UnaryOp {
  negative, abs, sign, exp, log, log1p, sqrt, rsqrt, square, sin, cos, tanh,
  sigmoid, erf, floor, ceil, round, logical_not,
  gelu,  // x * (1 + erf(x / sqrt(2))) / 2, floating types only
};
enum class BinaryOp {
  add, subtract, multiply, divide, maximum, minimum, power, remainder,
  equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or,
};
enum class ReduceOp { sum, prod, max, min, all, any };
enum class ArgReduceOp { argmax, argmin };

// Gives `out` the host buffer of the first of `donors` that may donate it
// (donatable(), node.h), else a fresh row-major one. `elementwise`: the
// kernel writes output element j only from input elements j.
void allocate_or_donate(Node& out, std::initializer_list<const Node*> donors,
                        bool elementwise = true);

// out has in's shape; out.dtype is bool for logical_not, else in.dtype.
// `decimals` is used by round only.
void unary(UnaryOp op, const Node& in, Node& out, int decimals = 0);
// a and b have out's dtype (comparisons and logic: a common dtype, out bool)
// and shapes that broadcast to out's.
void binary(BinaryOp op, const Node& a, const Node& b, Node& out);
// out = cond ? x : y, broadcasting; x and y have out's dtype.
void where(const Node& cond, const Node& x, const Node& y, Node& out);
// Row-major copy of `in` (broadcast to out's shape), converted to out.dtype.
void copy(const Node& in, Node& out);
// The same into out's existing buffer and strides (out is not allocated).
void copy_into(const Node& in, Node& out);
// Reduces `axes` (sorted, non-negative, in in's dims); out has in's shape with
// those axes set to 1 (keepdims) or removed.
void reduce(ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out);
void arg_reduce(ArgReduceOp op, const Node& in, int axis, Node& out);
// Batched matrix product; a is [..., M, K], b is [..., K, N] with batch dims
// already broadcast to out's [..., M, N]. All three share one dtype.
void matmul(const Node& a, const Node& b, Node& out);
// out = alpha * (a @ b) + beta * c; a and b as for matmul, c (out's dtype)
// broadcasts to out's shape and is not read when beta is 0.
void addmm(const Node& c, const Node& a, const Node& b, float alpha, float beta,
           Node& out);
// out[i] = start + i * step.
void arange(double start, double step, Node& out);
// Ones on diagonal k of a 2-D out.
void eye(int k, Node& out);

// Softmax / log-sum-exp over the last `axes` dims of a floating `in` (any
// strides), in float32 (float64 for float64). softmax: out has in's shape;
// logsumexp: out has in's shape without those dims, and -inf over empty ones.
void softmax(const Node& in, int axes, Node& out);
void logsumexp(const Node& in, int axes, Node& out);
// The error of an index outside [-n, n) along `axis` (std::out_of_range), for
// every backend's gathers.
[[noreturn]] void throw_index_error(int64_t index, int64_t n, int axis);
// out = a's shape with `axis` replaced by indices' shape. Throws
// std::out_of_range on an index outside [-n, n) (n = a.shape[axis]).
void take(const Node& a, const Node& indices, int axis, Node& out);
// a and indices have out's rank and broadcast to out's shape off `axis`.
void take_along_axis(const Node& a, const Node& indices, int axis, Node& out);
// Copies each input (out's dtype) into its slot along `axis`; an input one
// dimension short (stack) fills a slot of size 1.
void concatenate(const std::vector<const Node*>& ins, int axis, Node& out);
// out is `in` with low[d] elements before each dim d: the scalar `value` (of
// out's dtype) outside, or with `edge`, the nearest element of `in`.
void pad(const Node& in, const Node& value, const std::vector<int>& low, bool edge,
         Node& out);
// Running sum along `axis`; in has out's dtype. Floats accumulate in double.
void cumsum(const Node& in, int axis, bool reverse, bool inclusive, Node& out);

// Along `axis`, NaN last, ties in input order. sort, partition and topk keep
// the dtype, the arg variants give uint32 indices. partition puts the kth
// smallest at kth; topk writes the `kth` largest, ascending, to an axis of
// that size.
enum class SortOp { sort, argsort, partition, argpartition, topk };
void sort(SortOp op, const Node& in, int axis, int kth, Node& out);

}  // namespace rill::detail::cpu
