// Test-only hooks. Not for production code: they exist so that tests can
// observe scheduling and inject failures into asynchronous work.
#pragma once

#include <functional>

#include "rill/array.h"

namespace rill::testing {

// An identity op whose task first calls `fn` on the worker that runs it. If
// `fn` throws, the op fails as a kernel would: the error is kept with the
// stream and raised at the sync points that observe the result.
array on_eval(const array& x, std::function<void()> fn, StreamOrDevice s = {});

// Number of CPU worker threads the executor runs (0 until first used).
int cpu_worker_count();

}  // namespace rill::testing
