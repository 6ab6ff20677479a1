// SPEC section 3: arrays and evaluation (A1 to A3), on the CPU.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "rill/rill.h"
#include "rill/testing.h"
#include "test_util.h"

using namespace rill;
using rill::test::Gate;

TEST(Eval, OpsAreLazyUntilEval) {
  std::atomic<int> runs{0};
  array x = rill::testing::on_eval(array(3.0f), [&] { runs++; });
  array y = multiply(x, array(2.0f));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
  EXPECT_FALSE(y.is_available());
  eval(y);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_TRUE(y.is_available());
  EXPECT_EQ(y.item<float>(), 6.0f);
  eval(y);  // computed once
  EXPECT_EQ(runs.load(), 1);
}

TEST(Eval, AsyncEvalReturnsAtOnce) {
  Gate gate;
  array x = rill::testing::on_eval(array(1.0f), [&] { gate.wait(); });
  async_eval(x);  // would block here for 20 s if it waited
  EXPECT_FALSE(x.is_available());
  gate.open();
  EXPECT_EQ(x.item<float>(), 1.0f);
}

TEST(Eval, ItemDataAndPrintingEvaluate) {
  std::atomic<int> runs{0};
  array a = rill::testing::on_eval(array({1.0f, 2.0f, 3.0f}), [&] { runs++; });
  EXPECT_EQ(a.data<float>()[2], 3.0f);
  EXPECT_EQ(runs.load(), 1);
  array b = add(rill::testing::on_eval(array({1, 2}), [&] { runs++; }), array(1));
  std::ostringstream os;
  os << b;
  EXPECT_EQ(os.str(), "array([2, 3], dtype=int32)");
  EXPECT_EQ(runs.load(), 2);
  array c = rill::testing::on_eval(array(7), [&] { runs++; });
  EXPECT_EQ(c.item<int>(), 7);
  EXPECT_EQ(runs.load(), 3);
  EXPECT_THROW(c.item<float>(), std::invalid_argument);  // wrong type, named
  EXPECT_THROW(a.item<float>(), std::invalid_argument);  // not one element
}

TEST(Eval, OpRunsOnItsStream) {
  Stream s = new_stream(Device::cpu);
  std::thread::id worker;
  array x = rill::testing::on_eval(array(1.0f), [&] { worker = std::this_thread::get_id(); }, s);
  EXPECT_EQ(x.stream(), s);
  array y = add(x, array(1.0f), Device::cpu);
  EXPECT_EQ(y.stream(), default_stream(Device::cpu));
  array z = add(x, array(1.0f));
  EXPECT_EQ(z.stream(), default_stream(default_device()));
  eval(y);
  EXPECT_EQ(y.item<float>(), 2.0f);
  // async_eval hands work to the executor; eval may run it on the caller.
  std::thread::id async_worker;
  array w = rill::testing::on_eval(array(1.0f),
                                   [&] { async_worker = std::this_thread::get_id(); }, s);
  async_eval(w);
  synchronize(s);
  EXPECT_NE(async_worker, std::this_thread::get_id());
}

TEST(Eval, CrossStreamDependenciesAreOrdered) {
  Stream s1 = new_stream(Device::cpu), s2 = new_stream(Device::cpu);
  std::mutex mu;
  std::vector<std::string> order;
  auto log = [&](const char* what) {
    return [&, what] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::lock_guard lock(mu);
      order.push_back(what);
    };
  };
  for (int round = 0; round < 20; ++round) {
    order.clear();
    array a = rill::testing::on_eval(array(float(round)), log("a"), s1);
    array b = rill::testing::on_eval(add(a, array(1.0f), s2), log("b"), s2);
    array c = rill::testing::on_eval(multiply(b, array(2.0f), s1), log("c"), s1);
    array d = add(c, a, s2);
    EXPECT_EQ(d.item<float>(), (round + 1.0f) * 2.0f + round);
    ASSERT_EQ(order.size(), 3u);
    EXPECT_EQ(order[0], "a");
    EXPECT_EQ(order[1], "b");
    EXPECT_EQ(order[2], "c");
  }
}

TEST(Eval, ArrayBuiltOnOneThreadEvaluatedOnAnother) {
  array built = array(0.0f);
  std::thread a([&] {
    built = sum(multiply(arange(0.0, 10.0), array(2.0f)));  // on thread a's default stream
  });
  a.join();
  float got = -1;
  std::thread b([&] { got = built.item<float>(); });
  b.join();
  EXPECT_EQ(got, 90.0f);
}

TEST(Eval, SharedGraphEvaluatedByManyThreadsComputesEachNodeOnce) {
  for (int round = 0; round < 200; ++round) {
    constexpr int kNodes = 40, kThreads = 8;
    std::vector<std::atomic<int>> runs(kNodes);
    // A diamond-rich graph: node i reads nodes i-1 and i/2.
    std::vector<array> nodes;
    // Odd rounds spread the nodes over three streams.
    std::vector<Stream> streams = {default_stream(Device::cpu)};
    if (round % 2) streams = {new_stream(Device::cpu), new_stream(Device::cpu), streams[0]};
    auto on = [&](int i) { return streams[i % streams.size()]; };
    nodes.push_back(rill::testing::on_eval(array(1.0f), [&] { runs[0]++; }, on(0)));
    for (int i = 1; i < kNodes; ++i) {
      array v = add(nodes[i - 1], nodes[i / 2], on(i));
      nodes.push_back(rill::testing::on_eval(v, [&, i] { runs[i]++; }, on(i + 1)));
    }
    std::vector<double> expect(kNodes);
    expect[0] = 1;
    for (int i = 1; i < kNodes; ++i) expect[i] = expect[i - 1] + expect[i / 2];
    std::atomic<int> ready{0};
    std::vector<float> got(kThreads);
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        ready++;
        while (ready.load() < kThreads) std::this_thread::yield();
        // Each thread evaluates from a different node, then the last.
        array mine = nodes[kNodes - 1 - t];
        eval(mine);
        got[t] = nodes.back().item<float>();
      });
    }
    for (auto& t : ts) t.join();
    for (int i = 0; i < kNodes; ++i) ASSERT_EQ(runs[i].load(), 1) << "node " << i;
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(got[t], static_cast<float>(expect.back()));
  }
}

TEST(Eval, LongChainsNeitherRecurseNorLeak) {
  array x = array(0.0f);
  for (int i = 0; i < 200000; ++i) x = add(x, array(1.0f));
  EXPECT_EQ(x.item<float>(), 200000.0f);
  array y = array(0.0f);
  for (int i = 0; i < 200000; ++i) y = add(y, array(1.0f));
  y = array(0.0f);  // dropping an unevaluated chain must not overflow the stack
  SUCCEED();
}

TEST(Eval, ConstantsAreAvailableAndSharedAcrossThreads) {
  array c = array({1.0f, 2.0f});
  EXPECT_TRUE(c.is_available());
  std::vector<std::thread> ts;
  std::vector<float> got(4);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] { got[t] = sum(multiply(c, array(float(t)))).item<float>(); });
  }
  for (auto& t : ts) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(got[t], 3.0f * t);
}
