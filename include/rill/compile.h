// compile: MLX's function transformation. A compiled function traces the
// function once per set of input shapes and dtypes and then replays the
// recorded graph on new inputs, without calling the function again.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "rill/array.h"

namespace rill {

// disabled: compiled functions call the function itself every time;
// no_simplify: trace and replay, without simplifying the graph; no_fuse:
// simplify (common subexpressions, scalar constants folded), no fusion;
// enabled: everything.
enum class CompileMode { disabled, no_simplify, no_fuse, enabled };

using CompiledFunction = std::function<std::vector<array>(const std::vector<array>&)>;

// Returns `fun` compiled. The first call with a new combination of input
// shapes and dtypes calls `fun` once with stand-ins for the inputs and records
// the graph it builds (the trace); later calls with the same combination
// replay the trace on their inputs, as lazy arrays like any op's. Arrays that
// `fun` uses without deriving them from its inputs (weights it captured,
// constants) are held by the trace and used as they are. With `shapeless`, a
// trace whose ops are all elementwise replays on inputs of other shapes (same
// dtypes and numbers of dimensions), each op's shape its inputs' broadcast;
// a function with other ops is traced again for new shapes (same results).
//
// Thread-safe: a compiled function may be called from any number of threads
// at once. A replayed op that ran on the tracing thread's default stream of
// its device runs on the calling thread's default stream of that device; an
// op given a stream explicitly runs there.
//
// Inside `fun`, the inputs and the arrays derived from them are lazy: eval,
// item and data on them throw std::invalid_argument at the call (a function's
// control flow cannot depend on its inputs' values). Errors that `fun` throws
// while it is traced reach the caller, and nothing is cached.
CompiledFunction compile(CompiledFunction fun, bool shapeless = false);
CompiledFunction compile(std::vector<array> (*fun)(const std::vector<array>&),
                         bool shapeless = false);
// Capture-less lambdas, as function pointers (MLX's overload).
template <typename F, typename = std::enable_if_t<
                          std::is_convertible_v<F, decltype(+std::declval<F>())>>>
CompiledFunction compile(F&& f, bool shapeless = false) {
  return compile(+f, shapeless);
}

// Process-wide switches (MLX's). disable_compile: compiled functions call
// their function uncompiled until enable_compile (which also overrides the
// environment variable RILL_DISABLE_COMPILE=1). set_compile_mode picks one of
// the modes above.
void disable_compile();
void enable_compile();
void set_compile_mode(CompileMode mode);
CompileMode compile_mode();

}  // namespace rill
