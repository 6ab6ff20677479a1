// The CPU executor: one bounded pool of workers runs every CPU stream's queue;
// different streams in parallel, one stream's tasks in submission order.
// Internal.
#pragma once

#include <functional>

#include "runtime/stream_state.h"

namespace rill::detail {

// Appends `task` to the stream's queue. Thread-safe. `task` must not throw.
void cpu_submit(const StreamRef& s, std::function<void()> task);

// Runs `task` on the calling thread instead, if the stream is idle (nothing
// queued or running) and fewer threads than there are workers are running
// CPU tasks; returns false without running it otherwise. For a caller that
// would only block until the task is done: it saves two thread hand-offs and
// keeps the data in the caller's cache. Stream order holds: the stream counts
// as running meanwhile, so later tasks queue behind this one.
bool cpu_run_inline(const StreamRef& s, const std::function<void()>& task);

// Number of workers (started on first submit).
int cpu_worker_count();

}  // namespace rill::detail
