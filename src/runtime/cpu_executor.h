// The CPU executor: one bounded pool of workers runs every CPU stream's queue;
// different streams in parallel, one stream's tasks in submission order.
// Internal.
#pragma once

#include <functional>

#include "runtime/stream_state.h"

namespace rill::detail {

// Appends `task` to the stream's queue. Thread-safe. `task` must not throw.
void cpu_submit(const StreamRef& s, std::function<void()> task);

// Number of workers (started on first submit).
int cpu_worker_count();

}  // namespace rill::detail
