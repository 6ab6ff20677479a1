// The state behind a Stream value: its ordered queue of tasks, the work in
// flight that synchronize() waits for, and the first asynchronous error.
// Internal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "rill/stream.h"
#include "runtime/failure.h"
#include "backend/gpu.h"

namespace rill::detail {

struct StreamState {
  explicit StreamState(Stream s) : stream(s) {}

  const Stream stream;

  std::mutex mu;  // guards everything below
  // Tasks not yet started, in submission order: queue[head..]. The executor
  // runs them one at a time; `running` is true while the stream sits in the
  // executor's ready queue or a worker is running its tasks. (A vector, not a
  // deque: an idle stream should cost no allocation.)
  std::vector<std::function<void()>> queue;
  size_t head = 0;
  bool running = false;
  // Work accepted but not finished (including work still waiting for inputs
  // from other streams), by ticket; synchronize() waits for tickets it saw.
  uint64_t next_ticket = 0;
  std::set<uint64_t> inflight;
  std::condition_variable idle_cv;
  // The earliest error since the last synchronize(); raised once by it.
  FailureRef first_error;
  // The thread that owned this default stream has exited: drop the stream from
  // the registry once its work is done.
  bool orphaned = false;

  // Fault injection (testing::fail_task): the `fault_countdown`-th node
  // computed from now on throws `fault_message`. `fault_armed` is read relaxed
  // on every node so an unarmed stream pays one load; the countdown and the
  // message are guarded by `mu`, and arming happens before the submit (which
  // takes `mu`) that makes the worker see it.
  std::atomic<bool> fault_armed{false};

  // GPU streams: the binding to a device stream and the last event recorded
  // (backend/gpu.h). Set by the segment runner, which runs one segment of the
  // stream at a time; `gpu` is also read by synchronize() under `mu`.
  std::shared_ptr<GpuStream> gpu;
  int fault_countdown = 0;
  std::string fault_message;
};

using StreamRef = std::shared_ptr<StreamState>;

// Resolves `s` for `op`: validates the device and that the stream exists.
// The calling thread's defaults resolve without taking a lock.
const StreamRef& resolve_stream(const StreamOrDevice& s, const char* op);

// Work accounting for synchronize(): take a ticket when work is accepted,
// finish it when the work is done (successfully or not).
uint64_t begin_work(StreamState& s);
void finish_work(StreamState& s, uint64_t ticket);
// Keeps `err` as the stream's first error unless it already has one.
void record_error(StreamState& s, FailureRef err);

// Throws std::invalid_argument "[op] ..." unless `d` is available.
void check_device(const Device& d, const char* op);

}  // namespace rill::detail
