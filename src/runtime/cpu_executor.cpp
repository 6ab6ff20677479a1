#include "runtime/cpu_executor.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rill::detail {
namespace {

// How many tasks of one stream a worker runs before letting other ready
// streams go first.
constexpr int kTasksPerTurn = 16;

int configured_workers() {
  if (const char* env = std::getenv("RILL_CPU_WORKERS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 1024);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

class Pool {
 public:
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

 private:
  void start_locked() {
    if (!threads_.empty()) return;
    int n = configured_workers();
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
      {
        std::unique_lock lock(mu_);
        ++idle_;
        cv_.wait(lock, [&] { return !ready_.empty(); });
        --idle_;
        s = std::move(ready_.front());
        ready_.pop_front();
      }
      if (run_turn(*s)) make_ready(std::move(s));
    }
  }

  // Runs up to kTasksPerTurn tasks of `s`; true if it has more waiting.
  static bool run_turn(StreamState& s) {
    for (int i = 0; i < kTasksPerTurn; ++i) {
      std::function<void()> task;
      {
        std::lock_guard lock(s.mu);
        if (s.head == s.queue.size()) {
          s.queue.clear();
          s.head = 0;
          s.running = false;
          return false;
        }
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
    if (s.head == s.queue.size()) {
      s.queue.clear();
      s.head = 0;
      s.running = false;
      return false;
    }
    return true;
  }

  std::mutex mu_;  // guards ready_, idle_, threads_
  std::condition_variable cv_;
  std::deque<StreamRef> ready_;
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

int cpu_worker_count() { return pool().workers(); }

}  // namespace rill::detail
