// A child process for the exit-safety tests (E3): it leaves work in flight and
// exits in the way named by argv[1]. The parent checks the exit status.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "rill/rill.h"
#include "rill/testing.h"

using namespace rill;

namespace {
std::vector<array> start_work() {
  std::vector<array> out;
  for (int s = 0; s < 8; ++s) {
    Stream st = new_stream(Device::cpu);
    array x = array(1.0f);
    for (int i = 0; i < 200; ++i) {
      x = testing::on_eval(add(x, array(1.0f), st), [] {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }, st);
    }
    async_eval(x);
    out.push_back(x);
  }
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "return";
  if (!std::strcmp(mode, "return")) {
    auto work = start_work();
    return 3;
  }
  if (!std::strcmp(mode, "exit")) {
    auto work = start_work();
    std::exit(4);
  }
  if (!std::strcmp(mode, "threads")) {
    // Threads still submitting while main returns.
    static std::atomic<bool> go{true};
    for (int t = 0; t < 4; ++t) {
      std::thread([] {
        while (go.load()) {
          array y = add(array(1.0f), array(2.0f));
          async_eval(y);
        }
      }).detach();
    }
    auto work = start_work();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return 5;
  }
  if (!std::strcmp(mode, "failed")) {
    array bad = testing::on_eval(array(1.0f), [] { throw std::runtime_error("boom"); });
    async_eval(bad);
    return 6;
  }
  if (!std::strcmp(mode, "failed_alloc")) {
    // Allocation failures pending on several streams.
    auto work = start_work();
    array x = ones({64});
    eval(x);
    for (int i = 0; i < 4; ++i) async_eval(exp(x, new_stream(Device::cpu)));
    testing::fail_allocation(2);
    return 7;
  }
  if (!std::strcmp(mode, "thread_exited")) {
    // A thread exits with work pending on its default stream (orphaned), then
    // the process exits before that work is done.
    std::thread([] {
      array x = array(1.0f);
      for (int i = 0; i < 200; ++i) {
        x = testing::on_eval(add(x, array(1.0f)), [] {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        });
      }
      async_eval(x);
    }).join();
    std::exit(8);
  }
  if (!std::strcmp(mode, "exit_from_thread")) {
    // Another thread calls std::exit while main waits in eval.
    auto work = start_work();
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::exit(9);
    }).detach();
    eval(work);
    std::this_thread::sleep_for(std::chrono::seconds(30));  // not reached
    return 1;
  }
  if (!std::strcmp(mode, "blocked")) {
    // A task that never finishes: exiting must not wait for it. Its gate is
    // never freed, so exit does not destroy what the worker waits on.
    auto* gate = new std::atomic<bool>(false);
    array stuck = testing::on_eval(
        array(1.0f),
        [gate] {
          while (!gate->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        },
        new_stream(Device::cpu));
    async_eval(stuck);
    auto work = start_work();
    return 10;
  }
  if (!std::strcmp(mode, "device_fault")) {
    // A kernel faults on the device (an illegal address): eval raises and says
    // the context is gone, later GPU work raises too, CPU work still runs,
    // and the process exits normally. Prints what it saw for the parent.
    Device gpu(Device::gpu, 0);
    if (!is_available(gpu)) return 12;
    array x = ones({64}, float32, gpu);
    eval(x);
    int seen = 0;
    try {
      eval(testing::device_fault(x, gpu));
    } catch (const std::runtime_error& e) {
      std::printf("fault: %s\n", e.what());
      if (std::strstr(e.what(), "no longer usable")) ++seen;
    }
    try {
      eval(add(x, x, gpu));
    } catch (const std::runtime_error& e) {
      std::printf("later: %s\n", e.what());
      ++seen;
    }
    array c = add(array(1.0f), array(2.0f), Device::cpu);
    if (c.item<float>() == 3.0f) ++seen;
    std::fflush(stdout);
    return seen == 3 ? 11 : 1;
  }
  return 1;
}
