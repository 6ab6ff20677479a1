// The CPU backend: free functions that compute one node's output from its
// inputs. Each allocates (or views) `out`. Internal.
#pragma once

#include <vector>

#include "core/node.h"

namespace rill::detail::cpu {

enum class UnaryOp {
  negative, abs, sign, exp, log, log1p, sqrt, rsqrt, square, sin, cos, tanh,
  sigmoid, erf, floor, ceil, round, logical_not,
};
enum class BinaryOp {
  add, subtract, multiply, divide, maximum, minimum, power, remainder,
  equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or,
};
enum class ReduceOp { sum, prod, max, min, all, any };
enum class ArgReduceOp { argmax, argmin };

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
// Reduces `axes` (sorted, non-negative, in in's dims); out has in's shape with
// those axes set to 1 (keepdims) or removed.
void reduce(ReduceOp op, const Node& in, const std::vector<int>& axes, Node& out);
void arg_reduce(ArgReduceOp op, const Node& in, int axis, Node& out);
// Batched matrix product; a is [..., M, K], b is [..., K, N] with batch dims
// already broadcast to out's [..., M, N]. All three share one dtype.
void matmul(const Node& a, const Node& b, Node& out);
// out[i] = start + i * step.
void arange(double start, double step, Node& out);
// Ones on diagonal k of a 2-D out.
void eye(int k, Node& out);

}  // namespace rill::detail::cpu
