// The op enums of every backend, made from rill/op_list.h: one enumerator per
// line there, in its order. No dependencies, so both the C++ compiler and nvcc
// include it; kernels switch on these values. Internal.
#pragma once

#include "rill/op_list.h"

namespace rill::detail {

#define RILL_ENUMERATOR(name, rule) name,
#define RILL_COUNT(name, rule) +1
enum class UnaryOp : int { RILL_UNARY_OPS(RILL_ENUMERATOR) };
enum class BinaryOp : int { RILL_BINARY_OPS(RILL_ENUMERATOR) };
enum class ReduceOp : int { RILL_REDUCE_OPS(RILL_ENUMERATOR) };
enum class ArgReduceOp : int { RILL_ARG_REDUCE_OPS(RILL_ENUMERATOR) };
enum class SortOp : int { RILL_SORT_OPS(RILL_ENUMERATOR) };
enum class ScanOp : int { RILL_SCAN_OPS(RILL_ENUMERATOR) };
enum class ScatterOp : int { RILL_SCATTER_OPS(RILL_ENUMERATOR) };
inline constexpr int kUnaryOps = 0 RILL_UNARY_OPS(RILL_COUNT);
inline constexpr int kBinaryOps = 0 RILL_BINARY_OPS(RILL_COUNT);
#undef RILL_COUNT
#undef RILL_ENUMERATOR

// Whether a binary op gives bool (the compare and logical rules).
#define RILL_PREDICATE_arith false
#define RILL_PREDICATE_floating false
#define RILL_PREDICATE_bitwise false
#define RILL_PREDICATE_shift false
#define RILL_PREDICATE_compare true
#define RILL_PREDICATE_logical true
#define RILL_PREDICATE_custom false
constexpr bool is_predicate(BinaryOp op) {
  switch (op) {
#define RILL_PREDICATE(name, rule) \
  case BinaryOp::name: return RILL_PREDICATE_##rule;
    RILL_BINARY_OPS(RILL_PREDICATE)
#undef RILL_PREDICATE
  }
  return false;
}
#undef RILL_PREDICATE_custom
#undef RILL_PREDICATE_logical
#undef RILL_PREDICATE_compare
#undef RILL_PREDICATE_floating
#undef RILL_PREDICATE_bitwise
#undef RILL_PREDICATE_shift
#undef RILL_PREDICATE_arith

// The public name of each op ("exp"), for primitives and error messages.
#define RILL_NAME(name, rule) #name,
inline constexpr const char* kUnaryNames[] = {RILL_UNARY_OPS(RILL_NAME)};
inline constexpr const char* kBinaryNames[] = {RILL_BINARY_OPS(RILL_NAME)};
inline constexpr const char* kReduceNames[] = {RILL_REDUCE_OPS(RILL_NAME)};
inline constexpr const char* kArgReduceNames[] = {RILL_ARG_REDUCE_OPS(RILL_NAME)};
inline constexpr const char* kSortNames[] = {RILL_SORT_OPS(RILL_NAME)};
inline constexpr const char* kScanNames[] = {RILL_SCAN_OPS(RILL_NAME)};
inline constexpr const char* kScatterNames[] = {RILL_SCATTER_OPS(RILL_NAME)};
#undef RILL_NAME
constexpr const char* op_name(UnaryOp op) { return kUnaryNames[static_cast<int>(op)]; }
constexpr const char* op_name(BinaryOp op) { return kBinaryNames[static_cast<int>(op)]; }
constexpr const char* op_name(ReduceOp op) { return kReduceNames[static_cast<int>(op)]; }
constexpr const char* op_name(ArgReduceOp op) { return kArgReduceNames[static_cast<int>(op)]; }
constexpr const char* op_name(SortOp op) { return kSortNames[static_cast<int>(op)]; }
constexpr const char* op_name(ScanOp op) { return kScanNames[static_cast<int>(op)]; }
constexpr const char* op_name(ScatterOp op) { return kScatterNames[static_cast<int>(op)]; }

}  // namespace rill::detail
