// SPEC E2 under injected faults: a task that throws (testing::fail_task) and an
// allocation that fails (testing::fail_allocation). Each must be kept with its
// stream, raised at every observer with the original message, the op and the
// stream, leave its dependents uncomputed, and leave the stream usable. Run
// under AddressSanitizer, nothing it touched may leak.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rill/rill.h"
#include "rill/testing.h"
#include "test_util.h"

using namespace rill;
namespace rt = rill::testing;
using rill::test::error_of;
using rill::test::name_of;

namespace {

bool mentions(const std::string& msg, const std::string& part) {
  return msg.find(part) != std::string::npos;
}

enum class Fault { task, allocation };

std::string fault_name(Fault f) {
  return f == Fault::task ? "Task" : "Allocation";
}

// The message each kind of fault leaves in the error.
std::string fault_text(Fault f) {
  return f == Fault::task ? "injected task fault" : "bad_alloc";
}

// Arms the fault so that the next node computed on `s` (task) or the next
// buffer allocated (allocation) fails.
void arm(Fault f, const Stream& s, int k = 1) {
  if (f == Fault::task) {
    rt::fail_task(s, k, fault_text(f));
  } else {
    rt::fail_allocation(k);
  }
}

void disarm(Fault f, const Stream& s) {
  if (f == Fault::task) {
    rt::fail_task(s, 0);
  } else {
    rt::fail_allocation(0);
  }
}

class Faults : public ::testing::TestWithParam<Fault> {};

}  // namespace

TEST(Faults, KthTaskOfAStreamFails) {
  Stream s = new_stream(Device::cpu);
  std::vector<std::atomic<int>> ran(6);
  array x = array(1.0f);
  std::vector<array> chain;
  for (int i = 0; i < 6; ++i) {
    x = rt::on_eval(
        x, [&ran, i] { ran[i]++; }, s);
    chain.push_back(x);
  }
  rt::fail_task(s, 3, "third task fails");
  std::string msg = error_of([&] { eval(x); });
  EXPECT_TRUE(mentions(msg, "third task fails")) << msg;
  EXPECT_TRUE(mentions(msg, "[on_eval]")) << msg;
  EXPECT_TRUE(mentions(msg, name_of(s))) << msg;
  // Tasks 1 and 2 ran, the 3rd failed before its kernel, the rest never ran.
  EXPECT_EQ(ran[0].load() + ran[1].load(), 2);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(ran[i].load(), 0) << "task " << i + 1;
  EXPECT_TRUE(chain[1].is_available());
  EXPECT_EQ(chain[1].item<float>(), 1.0f);
  EXPECT_TRUE(mentions(error_of([&] { chain[2].item<float>(); }), "third task fails"));
  // The fault fired once: the stream is disarmed.
  EXPECT_EQ(add(array(1.0f), array(2.0f), s).item<float>(), 3.0f);
  EXPECT_TRUE(mentions(error_of([&] { synchronize(s); }), "third task fails"));
  EXPECT_EQ(error_of([&] { synchronize(s); }), "");
}

TEST(Faults, HooksRejectBadArguments) {
  EXPECT_THROW(rt::fail_task(new_stream(Device::cpu), -1), std::invalid_argument);
  EXPECT_THROW(rt::fail_task(Stream(1 << 30, Device::cpu), 1), std::invalid_argument);
  EXPECT_THROW(rt::fail_allocation(-1), std::invalid_argument);
  std::string msg = error_of([] { rt::fail_task(Stream(1 << 30, Device::cpu), 1); });
  EXPECT_TRUE(mentions(msg, "[fail_task]")) << msg;
}

TEST(Faults, DisarmedFaultNeverFires) {
  Stream s = new_stream(Device::cpu);
  rt::fail_task(s, 1);
  rt::fail_task(s, 0);
  rt::fail_allocation(1);
  rt::fail_allocation(0);
  EXPECT_EQ(sum(add(ones({8}), ones({8}), s)).item<float>(), 16.0f);
  EXPECT_EQ(error_of([&] { synchronize(s); }), "");
}

TEST(Faults, AllocationOnTheCallingThreadFailsAtTheCall) {
  std::vector<float> host(1000, 1.0f);
  rt::fail_allocation(1);
  EXPECT_THROW(array(host.begin(), {1000}), std::bad_alloc);
  array ok(host.begin(), {1000});  // disarmed again
  EXPECT_EQ(sum(ok).item<float>(), 1000.0f);
}

// E2, every part of it, for one fault in the first op of a small graph.
TEST_P(Faults, EveryObserverRaisesAndTheStreamRecovers) {
  const Fault f = GetParam();
  Stream s = new_stream(Device::cpu), other = new_stream(Device::cpu);
  // Constants first: they allocate too.
  array x = array({0.5f});
  array one = array(1.0f), two = array(2.0f), three = array(3.0f);
  std::atomic<int> dependent_runs{0}, independent_runs{0};
  array bad = exp(x, s);
  array dep1 = rt::on_eval(
      add(bad, one, s), [&] { dependent_runs++; }, s);
  array dep2 = rt::on_eval(
      multiply(dep1, two, other), [&] { dependent_runs++; }, other);
  array dep3 = rt::on_eval(
      sum(dep2, other), [&] { dependent_runs++; }, other);
  array fine = rt::on_eval(
      three, [&] { independent_runs++; }, other);
  synchronize(s);
  synchronize(other);

  arm(f, s);
  const std::string expect = fault_text(f);
  const std::string stream = name_of(s);
  // Several threads observe different failed arrays at once.
  std::vector<std::string> seen(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      array target = t % 2 ? dep3 : bad;
      seen[t] = error_of([&] { eval(target); });
    });
  }
  for (auto& t : ts) t.join();
  seen[4] = error_of([&] { bad.item<float>(); });
  seen[5] = error_of([&] { bad.data<float>(); });
  seen[6] = error_of([&] { dep2.item<float>(); });
  seen[7] = error_of([&] { eval({dep1, fine}); });
  for (const std::string& msg : seen) {
    EXPECT_TRUE(mentions(msg, expect)) << msg;   // the original message
    EXPECT_TRUE(mentions(msg, "[exp]")) << msg;  // the op
    EXPECT_TRUE(mentions(msg, stream)) << msg;   // the stream
  }
  disarm(f, s);
  // Dependents were not computed, on either stream; independent work was.
  EXPECT_EQ(dependent_runs.load(), 0);
  EXPECT_EQ(fine.item<float>(), 3.0f);
  EXPECT_EQ(independent_runs.load(), 1);
  // Raised once by the next synchronize of the failing stream only.
  EXPECT_EQ(error_of([&] { synchronize(other); }), "");
  std::string sync = error_of([&] { synchronize(s); });
  EXPECT_TRUE(mentions(sync, expect) && mentions(sync, "[exp]")) << sync;
  EXPECT_EQ(error_of([&] { synchronize(s); }), "");
  // The stream takes new work; the failed arrays keep failing.
  EXPECT_FLOAT_EQ(add(exp(x, s), one, s).item<float>(), std::exp(0.5f) + 1.0f);
  EXPECT_EQ(error_of([&] { synchronize(s); }), "");
  EXPECT_TRUE(mentions(error_of([&] { eval(dep3); }), expect));
}

// A graph of elementwise ops, reductions, matmul, views and softmax over two
// streams, made to fail at each of its tasks (or allocations) in turn.
TEST_P(Faults, EveryStepOfAGraphCanFail) {
  const Fault f = GetParam();
  Stream s = new_stream(Device::cpu), other = new_stream(Device::cpu);
  array a = reshape(arange(0.0, 48.0), {6, 8});
  array b = reshape(arange(-12.0, 12.0), {8, 3});
  eval(a, b);
  auto build = [&] {
    array h = matmul(multiply(a, array(0.01f), s), b, s);               // [6, 3]
    array t = transpose(softmax(h, -1, false, other), other);           // [3, 6]
    array v = slice(t, {0, 1}, {3, 6}, {1, 2}, s);                      // [3, 3]
    array r = sum(add(v, max(h, 0, true, other), s), 1, false, other);  // [3]
    return concatenate({r, mean(exp(negative(abs(h, s), s), s), 0, false, other)}, 0,
                       s);  // [6]
  };
  array expected = build();
  eval(expected);
  std::vector<float> want(expected.data<float>(), expected.data<float>() + 6);

  int failures = 0, k = 1;
  for (;; ++k) {
    ASSERT_LT(k, 200) << "the fault never stopped firing";
    array out = build();
    arm(f, s, k);
    std::string msg = error_of([&] { eval(out); });
    disarm(f, s);
    std::string sync =
        error_of([&] { synchronize(s); }) + error_of([&] { synchronize(other); });
    if (msg.empty()) {  // k is past the last task (allocation): the graph ran whole
      for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(out.data<float>()[i], want[i]) << i;
      EXPECT_EQ(sync, "") << "k = " << k;
      break;
    }
    ++failures;
    EXPECT_TRUE(mentions(msg, fault_text(f))) << "k = " << k << ": " << msg;
    EXPECT_TRUE(mentions(msg, " on Stream(cpu, ")) << msg;
    // The failing stream raises it once more, then nothing.
    EXPECT_TRUE(mentions(sync, fault_text(f))) << "k = " << k << ": " << sync;
    EXPECT_EQ(error_of([&] { synchronize(s); }) + error_of([&] { synchronize(other); }),
              "");
    // Both streams still work.
    EXPECT_EQ(add(array(1.0f), array(1.0f), s).item<float>(), 2.0f);
    EXPECT_EQ(add(array(1.0f), array(1.0f), other).item<float>(), 2.0f);
  }
  EXPECT_GE(failures, 3);
  RecordProperty("faults_survived", failures);
  std::cout << fault_name(f) << " faults survived in one graph: " << failures << "\n";
}

// Many threads, each arming faults on its own default stream (or, for
// allocations, anywhere in the process) while the others keep working: every
// result is either right or raises the injected fault, never anything else.
TEST_P(Faults, FaultsUnderConcurrentLoad) {
  const Fault f = GetParam();
  constexpr int kThreads = 6;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::vector<Stream> shared;
  for (int i = 0; i < 3; ++i) shared.push_back(new_stream(Device::cpu));
  std::atomic<long> evals{0}, raised{0}, wrong{0};
  std::mutex mu;
  std::string first_wrong;  // guarded by mu
  auto report = [&](const std::string& what) {
    wrong++;
    std::lock_guard lock(mu);
    if (first_wrong.empty()) first_wrong = what;
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      Stream mine = default_stream(Device::cpu);
      while (std::chrono::steady_clock::now() < until) {
        int n = 1 + static_cast<int>(rng() % 32);
        try {
          array x = reshape(arange(0.0, double(n * 4)), {n, 4});
          Stream s2 = rng() % 2 ? mine : shared[rng() % shared.size()];
          if (rng() % 3 == 0) {
            if (f == Fault::task) {
              rt::fail_task(mine, 1 + static_cast<int>(rng() % 4), fault_text(f));
            } else {
              rt::fail_allocation(1 + static_cast<int>(rng() % 8));
            }
          }
          array y = sum(multiply(add(x, array(1.0f)), array(2.0f), s2), 0);
          array z = matmul(transpose(x), reshape(arange(0.0, double(n)), {n, 1}), s2);
          eval(y, z);
          evals++;
          float want_y = 0, want_z = 0;
          for (int i = 0; i < n; ++i) {
            want_y += 2.0f * (4.0f * i + 1.0f);
            want_z += 4.0f * i * i;
          }
          if (y.data<float>()[0] != want_y || z.data<float>()[0] != want_z) {
            report("wrong values with n = " + std::to_string(n));
          }
        } catch (const std::bad_alloc&) {
          raised++;  // an allocation on this thread (a constant), at the call
        } catch (const std::exception& e) {
          if (mentions(e.what(), fault_text(f))) {
            raised++;
          } else {
            report(e.what());
          }
        }
        if (rng() % 8 == 0) {
          std::string msg = error_of([] { synchronize(); });
          if (!msg.empty() && !mentions(msg, fault_text(f))) report(msg);
        }
      }
      rt::fail_task(mine, 0);
      error_of([] { synchronize(); });
    });
  }
  for (auto& t : ts) t.join();
  rt::fail_allocation(0);
  for (const Stream& s : shared) error_of([&] { synchronize(s); });
  EXPECT_EQ(wrong.load(), 0) << first_wrong;
  EXPECT_GT(raised.load(), 0);
  EXPECT_GT(evals.load(), 0);
  // Everything still works afterwards.
  for (const Stream& s : shared)
    EXPECT_EQ(add(array(1.0f), array(2.0f), s).item<float>(), 3.0f);
  RecordProperty("faults_raised", static_cast<int>(raised.load()));
  std::cout << fault_name(f) << " faults under load: " << raised.load() << " raised, "
            << evals.load() << " evals succeeded, " << kThreads << " threads\n";
}

INSTANTIATE_TEST_SUITE_P(Kinds, Faults, ::testing::Values(Fault::task, Fault::allocation),
                         [](const auto& info) { return fault_name(info.param); });
