// Source text that compile's generated code embeds (core/fused_jit.cpp):
// backend/cpu/vmath.h as the build found it, so that generated loops compute
// as the CPU's kernels do. Written at configure time (cmake/jit_sources.cmake).
// Internal.
#pragma once

namespace rill::detail {
extern const char* const kVmathSource;
}  // namespace rill::detail
