// The CPU executor: one bounded pool of workers runs every CPU stream's queue;
// different streams in parallel, one stream's tasks in submission order.
// Internal.
#pragma once

#include <cstdint>
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

// Intra-op parallelism: runs fn(lo, hi) over [0, n) in chunks (each a multiple
// of `grain` long, but the last), on the calling thread and on the workers
// that are idle right now, and returns once every chunk is done. Only idle
// workers help, so the threads running CPU work never outnumber the pool:
// with every worker busy (many streams at work) it runs fn(0, n) on the
// caller. Chunks must be independent; the first exception a chunk throws is
// rethrown here once all are done.
void cpu_parallel_for(int64_t n, int64_t grain,
                      const std::function<void(int64_t, int64_t)>& fn);

}  // namespace rill::detail
