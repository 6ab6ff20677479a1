// A child process for the exit-safety tests (E3): it leaves work in flight and
// exits in the way named by argv[1]. The parent checks the exit status.
#include <atomic>
#include <chrono>
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
  return 1;
}
