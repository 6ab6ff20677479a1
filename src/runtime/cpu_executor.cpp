#include "runtime/cpu_executor.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/config.h"

namespace rill::detail {
namespace {

// How many tasks of one stream a worker runs before letting other ready
// streams go first.
constexpr int kTasksPerTurn = 16;

int configured_workers() {
  if (long n = setting_int(Setting::cpu_workers)) return static_cast<int>(n);
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Threads running CPU tasks right now: workers in a turn and inline callers.
// Relaxed: a bound on concurrency, not a guard of data.
std::atomic<int> g_running{0};

// One cpu_parallel_for: chunks taken in turn by the caller and its helpers.
// Held by the helpers' queue entries, so a helper that arrives after the last
// chunk finds nothing to do and never touches the caller's function.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn;
  int64_t n, chunk, chunks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mu;  // guards error
  std::exception_ptr error;

  void work() {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      try {
        (*fn)(c * chunk, std::min(n, (c + 1) * chunk));
      } catch (...) {
        std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
      }
      // Release: the chunk's writes happen before the caller sees it done.
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) done.notify_all();
    }
  }
};

class Pool {
 public:
  // Offers `job` to up to `want` idle workers; returns how many it asked.
  int offer_help(const std::shared_ptr<Job>& job, int want) {
    int asked;
    {
      std::lock_guard lock(mu_);
      start_locked();  // a process whose ops all ran inline has none yet
      asked = std::min(want, idle_ - static_cast<int>(help_.size()));
      for (int i = 0; i < asked; ++i) help_.push_back(job);
    }
    for (int i = 0; i < asked; ++i) cv_.notify_one();
    return std::max(asked, 0);
  }

  // Precondition: s->running was false and the caller set it to true.
  void make_ready(StreamRef s) {
    bool wake;
    {
      std::lock_guard lock(mu_);
      start_locked();
      ready_.push_back(std::move(s));
      wake = idle_ > 0;
    }
    if (wake) cv_.notify_one();
  }

  int workers() {
    std::lock_guard lock(mu_);
    return static_cast<int>(threads_.size());
  }
  int configured() const { return configured_; }

 private:
  void start_locked() {
    if (!threads_.empty()) return;
    int n = configured_;
    threads_.reserve(n);
    // Workers are detached and the pool is never destroyed: at process exit
    // they may still be running tasks, and must not find the pool gone.
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] { run(); });
      threads_.back().detach();
    }
  }

  void run() {
    for (;;) {
      StreamRef s;
      std::shared_ptr<Job> help;
      {
        std::unique_lock lock(mu_);
        ++idle_;
        cv_.wait(lock, [&] { return !ready_.empty() || !help_.empty(); });
        --idle_;
        if (!help_.empty()) {  // a running op waits for it: first
          help = std::move(help_.front());
          help_.pop_front();
        } else {
          s = std::move(ready_.front());
          ready_.pop_front();
        }
      }
      if (help) {
        g_running.fetch_add(1, std::memory_order_relaxed);
        help->work();
        g_running.fetch_sub(1, std::memory_order_relaxed);
        continue;
      }
      g_running.fetch_add(1, std::memory_order_relaxed);
      bool more = run_turn(*s);
      g_running.fetch_sub(1, std::memory_order_relaxed);
      if (more) make_ready(std::move(s));
    }
  }

  // With s.mu held: whether `s` has run every queued task, and if so, marks it
  // idle with an empty queue.
  static bool drained(StreamState& s) {
    if (s.head != s.queue.size()) return false;
    s.queue.clear();
    s.head = 0;
    s.running = false;
    return true;
  }

  // Runs up to kTasksPerTurn tasks of `s`; true if it has more waiting.
  static bool run_turn(StreamState& s) {
    for (int i = 0; i < kTasksPerTurn; ++i) {
      std::function<void()> task;
      {
        std::lock_guard lock(s.mu);
        if (drained(s)) return false;
        task = std::move(s.queue[s.head++]);
        if (s.head >= 1024 && 2 * s.head >= s.queue.size()) {
          // A stream that never drains: drop the consumed prefix.
          s.queue.erase(s.queue.begin(), s.queue.begin() + static_cast<ptrdiff_t>(s.head));
          s.head = 0;
        }
      }
      task();
    }
    std::lock_guard lock(s.mu);
    if (drained(s)) return false;
    return true;
  }

  const int configured_ = configured_workers();
  std::mutex mu_;  // guards ready_, help_, idle_, threads_
  std::condition_variable cv_;
  std::deque<StreamRef> ready_;
  std::deque<std::shared_ptr<Job>> help_;
  int idle_ = 0;
  std::vector<std::thread> threads_;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed, see start_locked()
  return *p;
}

}  // namespace

void cpu_submit(const StreamRef& s, std::function<void()> task) {
  bool schedule;
  {
    std::lock_guard lock(s->mu);
    s->queue.push_back(std::move(task));
    schedule = !s->running;
    s->running = true;
  }
  if (schedule) pool().make_ready(s);
}

bool cpu_run_inline(const StreamRef& s, const std::function<void()>& task) {
  // A GPU stream's segment only launches kernels: the caller, who would
  // otherwise wait, does that without taking a CPU worker's share.
  const bool counted = s->stream.device.type != Device::gpu;
  if (counted) {
    int limit = pool().configured();
    int running = g_running.load(std::memory_order_relaxed);
    do {
      if (running >= limit) return false;
    } while (!g_running.compare_exchange_weak(running, running + 1, std::memory_order_relaxed));
  }
  {
    std::lock_guard lock(s->mu);
    if (s->running) {
      if (counted) g_running.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    s->running = true;
  }
  task();
  if (counted) g_running.fetch_sub(1, std::memory_order_relaxed);
  bool more;
  {
    std::lock_guard lock(s->mu);
    more = s->head != s->queue.size();
    if (!more) s->running = false;
  }
  // Work other threads queued meanwhile goes to the pool, not to this caller.
  if (more) pool().make_ready(s);
  return true;
}

int cpu_worker_count() { return pool().workers(); }

void cpu_parallel_for(int64_t n, int64_t grain,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t pieces = (n + grain - 1) / grain;
  const int spare = pool().configured() - g_running.load(std::memory_order_relaxed);
  if (pieces < 2 || spare < 1) return fn(0, n);
  const int64_t threads = std::min<int64_t>(pieces, spare + 1);
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  // Four chunks per thread, in multiples of the grain: a helper that wakes
  // late finds the caller has taken its share instead of waiting for it.
  job->chunk = ((n + 4 * threads - 1) / (4 * threads) + grain - 1) / grain * grain;
  job->chunks = (n + job->chunk - 1) / job->chunk;
  // At most `threads - 1` helpers: idle workers may outnumber the spare
  // cores when the caller runs inline (counted running, not a worker).
  const int64_t helpers = std::min(job->chunks, threads) - 1;
  if (pool().offer_help(job, static_cast<int>(helpers)) == 0) return fn(0, n);
  job->work();
  for (int64_t d = job->done.load(std::memory_order_acquire); d < job->chunks;
       d = job->done.load(std::memory_order_acquire)) {
    job->done.wait(d, std::memory_order_acquire);
  }
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace rill::detail
