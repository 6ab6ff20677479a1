// Per-op timing of CPU kernels, for finding where a workload's time goes:
// set RILL_PROFILE=1 and a table of ops (calls, total and mean time, share) is
// printed to stderr at exit. Off, it costs one predictable branch per node.
// Internal.
#pragma once

#include <cstdint>

namespace rill::detail {

bool profiling();
// Adds one call of `op` taking `ns` nanoseconds.
void profile_record(const char* op, int64_t ns);

}  // namespace rill::detail
