// SPEC section 4: errors (E2, E3) on the CPU. Bad input (E1) is covered op by
// op in the op tests and device by device in test_devices.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>

#include "rill/rill.h"
#include "rill/testing.h"
#include "test_util.h"

using namespace rill;
using rill::test::error_of;
using rill::test::failing;
using rill::test::name_of;

TEST(Errors, FailedTaskRaisesAtEveryObserver) {
  Stream s = new_stream(Device::cpu);
  array bad = failing(array(1.0f), "injected failure", s);
  std::vector<std::string> seen(6);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] { seen[t] = error_of([&] { eval(bad); }); });
  }
  for (auto& t : ts) t.join();
  seen[4] = error_of([&] { bad.item<float>(); });
  seen[5] = error_of([&] { bad.data<float>(); });
  for (const std::string& msg : seen) {
    EXPECT_NE(msg.find("injected failure"), std::string::npos) << msg;  // original message
    EXPECT_NE(msg.find("on_eval"), std::string::npos) << msg;           // the op
    EXPECT_NE(msg.find(name_of(s)), std::string::npos) << msg;          // the stream
  }
  // Raised once at the next synchronize of the stream, then not again.
  EXPECT_NE(error_of([&] { synchronize(s); }).find("injected failure"), std::string::npos);
  EXPECT_EQ(error_of([&] { synchronize(s); }), "");
  // The failed array keeps failing for later observers.
  EXPECT_THROW(eval(bad), std::runtime_error);
}

TEST(Errors, DependentsAreNotComputed) {
  Stream s = new_stream(Device::cpu), other = new_stream(Device::cpu);
  std::atomic<int> dependent_runs{0}, independent_runs{0};
  array bad = failing(array(1.0f), "first", s);
  array dep1 = rill::testing::on_eval(add(bad, array(1.0f), s), [&] { dependent_runs++; }, s);
  array dep2 = rill::testing::on_eval(multiply(dep1, array(2.0f), other), [&] { dependent_runs++; },
                                other);
  array fine = rill::testing::on_eval(array(3.0f), [&] { independent_runs++; }, s);
  EXPECT_THROW(eval(dep2), std::runtime_error);
  EXPECT_EQ(fine.item<float>(), 3.0f);
  EXPECT_EQ(dependent_runs.load(), 0);
  EXPECT_EQ(independent_runs.load(), 1);
  // The dependent carries the original error.
  EXPECT_NE(error_of([&] { dep1.item<float>(); }).find("first"), std::string::npos);
  // The other stream saw no failure of its own.
  EXPECT_EQ(error_of([&] { synchronize(other); }), "");
  EXPECT_NE(error_of([&] { synchronize(s); }).find("first"), std::string::npos);
}

TEST(Errors, EarliestErrorWinsAndStreamWorksAfterwards) {
  Stream s = new_stream(Device::cpu);
  array a = failing(array(1.0f), "earliest", s);
  array b = failing(array(2.0f), "later", s);
  async_eval(a);
  async_eval(b);
  std::string msg = error_of([&] { synchronize(s); });
  EXPECT_NE(msg.find("earliest"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("later"), std::string::npos) << msg;
  // Both arrays still report their own error.
  EXPECT_NE(error_of([&] { eval(b); }).find("later"), std::string::npos);
  // New work on the stream succeeds.
  array ok = add(array(2.0f), array(2.0f), s);
  EXPECT_EQ(ok.item<float>(), 4.0f);
  EXPECT_EQ(error_of([&] { synchronize(s); }), "");
}

TEST(Errors, OriginalExceptionIsNested) {
  array bad = rill::testing::on_eval(array(1.0f), [] { throw std::out_of_range("deep"); });
  try {
    eval(bad);
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    try {
      std::rethrow_if_nested(e);
      FAIL() << "original not nested";
    } catch (const std::out_of_range& inner) {
      EXPECT_STREQ(inner.what(), "deep");
    }
  }
  EXPECT_THROW(synchronize(), std::runtime_error);  // the stream keeps it too
}

TEST(Errors, FailureOnAWorkerNeverTerminates) {
  // Many failures on many streams at once: the process survives them all.
  std::vector<array> bad;
  for (int i = 0; i < 64; ++i) {
    bad.push_back(failing(array(float(i)), "x", new_stream(Device::cpu)));
  }
  async_eval(bad);
  int raised = 0;
  for (auto& b : bad) {
    try {
      eval(b);
    } catch (const std::runtime_error&) {
      ++raised;
    }
  }
  EXPECT_EQ(raised, 64);
}

// The device-fault hook is for GPU streams; elsewhere it is refused at the call.
TEST(Errors, DeviceFaultHookNeedsAGpuStream) {
  EXPECT_THROW(rill::testing::device_fault(array(1.0f), Device(Device::cpu)),
               std::invalid_argument);
}

class ExitSafety : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(ExitSafety, ExitsWithExpectedStatus) {
  auto [mode, expected] = GetParam();
  std::string cmd = std::string("timeout 60 ") + RILL_EXIT_CHILD + " " + mode;
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << "child " << mode << " crashed";
  EXPECT_EQ(WEXITSTATUS(status), expected) << "child " << mode << " (124 means it hung)";
}

INSTANTIATE_TEST_SUITE_P(Modes, ExitSafety,
                         ::testing::Values(std::make_pair("return", 3),
                                           std::make_pair("exit", 4),
                                           std::make_pair("threads", 5),
                                           std::make_pair("failed", 6),
                                           std::make_pair("failed_alloc", 7),
                                           std::make_pair("thread_exited", 8),
                                           std::make_pair("exit_from_thread", 9),
                                           std::make_pair("blocked", 10)),
                         [](const auto& info) { return std::string(info.param.first); });
