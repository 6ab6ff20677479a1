// Helpers shared by the tests: process facts, bounded waiting and errors.
#pragma once

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "rill/rill.h"
#include "rill/testing.h"

namespace rill::test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

// A field of /proc/self/status ("Threads", "VmRSS" in kB).
inline long proc_status(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}
inline long thread_count() { return proc_status("Threads"); }
inline long rss_kb() { return proc_status("VmRSS"); }

// A one-shot gate: tasks wait on it until the test opens it (bounded, so a
// bug fails the test instead of hanging it).
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return open_; });
  }
  bool is_open() {
    std::lock_guard lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Starts the CPU executor's workers (eval may run work on the calling thread;
// async_eval always hands it to the pool), so that thread counts taken after
// this include them.
inline void start_executor() {
  array x = add(array(1.0f), array(1.0f));
  async_eval(x);
  x.eval();
}

// Polls `pred` until it holds or `limit` passes; returns its last value. For
// effects that follow a completion asynchronously (a stream unregistered just
// after its last task finishes).
template <typename Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// `x` on stream `s`, through a task that throws std::runtime_error(msg)
// instead of computing it (testing::on_eval).
inline array failing(const array& x, const std::string& msg, StreamOrDevice s = {}) {
  return rill::testing::on_eval(x, [msg] { throw std::runtime_error(msg); }, s);
}

// The message of the exception `f` throws, or "" if it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// How a stream prints, "Stream(cpu, n)": the part of an error naming it.
inline std::string name_of(const Stream& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

}  // namespace rill::test
