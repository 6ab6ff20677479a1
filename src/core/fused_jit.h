// A fused float32 chain compiled to machine code for the CPU (MLX's approach):
// compile writes one C++ loop per chain, in which each element's values stay
// in registers from op to op, compiles it with the system compiler into a
// shared library kept on disk, and loads it. Internal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/fused.h"

namespace rill::detail {

// The kernel of `ops` over inputs read as `kinds`, compiled once per process
// and kept on disk ($XDG_CACHE_HOME/rill/jit, else ~/.cache/rill/jit). Null
// when the chain has an op or dtype the generator does not write, when the
// build is a sanitizer's, when RILL_JIT=0, or when the compiler (c++) fails:
// the caller runs the chain through the kernels then. Thread-safe.
JitKernel jit_kernel(const std::vector<FusedOp>& ops, const std::vector<JitInput>& kinds);

// Where generated code is kept: $XDG_CACHE_HOME/rill/jit, else
// ~/.cache/rill/jit, else /tmp/rill-jit-UID.
std::string jit_cache_dir();
// mkdir -p (errors ignored: the write that follows reports them).
void make_dirs(const std::string& path);

}  // namespace rill::detail
