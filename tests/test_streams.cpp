// SPEC section 2: streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "rill/rill.h"
#include "runtime/cpu_executor.h"
#include "rill/testing.h"
#include "test_util.h"

using namespace rill;
using rill::test::Gate;

TEST(Streams, PlainValueOrderingAndHash) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> idx(0, 4), ty(0, 1);
  std::vector<Stream> ss;
  for (int i = 0; i < 50; ++i) {
    ss.emplace_back(idx(rng), Device(ty(rng) ? Device::gpu : Device::cpu, idx(rng) % 2));
  }
  auto equiv = [](const Stream& a, const Stream& b) { return !(a < b) && !(b < a); };
  for (auto& a : ss) {
    EXPECT_FALSE(a < a);
    for (auto& b : ss) {
      if (a < b) {
        EXPECT_FALSE(b < a);
      }
      EXPECT_EQ(equiv(a, b), a == b);
      if (a == b) {
        EXPECT_EQ(std::hash<Stream>()(a), std::hash<Stream>()(b));
      }
      // Lexicographic: device first.
      if (a.device < b.device) {
        EXPECT_TRUE(a < b);
      }
      for (auto& c : ss) {
        if (a < b && b < c) {
          EXPECT_TRUE(a < c);
        }
        if (equiv(a, b) && equiv(b, c)) {
          EXPECT_TRUE(equiv(a, c));
        }
      }
    }
  }
  std::unordered_set<Stream> hashed(ss.begin(), ss.end());
  std::set<Stream> ordered(ss.begin(), ss.end());
  EXPECT_EQ(hashed.size(), ordered.size());
}

TEST(Streams, EachThreadHasItsOwnDefault) {
  for (int threads : {1, 2, 4, 8, 16}) {
    std::vector<Stream> got(threads, Stream(-1, Device::cpu));
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) {
      ts.emplace_back([&, i] {
        got[i] = default_stream(Device::cpu);
        EXPECT_EQ(default_stream(Device::cpu), got[i]);  // stable on one thread
        EXPECT_EQ(got[i].device, Device(Device::cpu));
      });
    }
    for (auto& t : ts) t.join();
    std::set<Stream> distinct(got.begin(), got.end());
    EXPECT_EQ(static_cast<int>(distinct.size()), threads);
    EXPECT_EQ(distinct.count(default_stream(Device::cpu)), 0u);
  }
}

TEST(Streams, SetDefaultStreamIsPerThread) {
  // On the default device (the GPU in a suite run with RILL_DEVICE=gpu).
  Stream original = default_stream(default_device());
  Stream s = new_stream(default_device());
  set_default_stream(s);
  EXPECT_EQ(default_stream(default_device()), s);
  EXPECT_EQ(array(zeros({2})).stream(), s);
  std::thread t([&] { EXPECT_NE(default_stream(default_device()), s); });
  t.join();
  set_default_stream(original);
  EXPECT_EQ(default_stream(default_device()), original);
  EXPECT_THROW(set_default_stream(Stream(1 << 30, default_device())), std::invalid_argument);
}

TEST(Streams, NewStreamUsableFromAnyThreadKeepsSubmissionOrder) {
  Stream s = new_stream(Device::cpu);
  constexpr int kThreads = 8, kPerThread = 200;
  std::mutex mu;
  std::vector<int> submitted, executed;  // guarded by mu
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        int id = t * kPerThread + k;
        array x = rill::testing::on_eval(
            array(1.0f),
            [&, id] {
              std::lock_guard lock(mu);
              executed.push_back(id);
            },
            s);
        // Record and submit atomically so `submitted` is the queue's order.
        std::lock_guard lock(mu);
        submitted.push_back(id);
        async_eval(x);
      }
    });
  }
  for (auto& t : ts) t.join();
  synchronize(s);
  std::lock_guard lock(mu);
  ASSERT_EQ(executed.size(), submitted.size());
  EXPECT_EQ(executed, submitted);
}

TEST(Streams, OneThreadsEvalDoesNotWaitForAnothersWork) {
  // Needs two workers: one is held by the blocked stream.
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 CPU workers";
  Gate gate;
  Stream busy = new_stream(Device::cpu);
  array blocked = rill::testing::on_eval(array(1.0f), [&] { gate.wait(); }, busy);
  async_eval(blocked);
  std::atomic<bool> done{false};
  std::thread other([&] {
    array y = add(array(2.0f), array(3.0f));
    EXPECT_EQ(y.item<float>(), 5.0f);
    done = true;
  });
  other.join();  // would hang for 20 s (the gate's limit) if it waited on `busy`
  EXPECT_TRUE(done);
  EXPECT_FALSE(gate.is_open());
  EXPECT_FALSE(blocked.is_available());
  gate.open();
  synchronize(busy);
  EXPECT_TRUE(blocked.is_available());
}

TEST(Streams, HundredThousandStreamsSpawnNoThreads) {
  // Start the executor first so that its workers are in the baseline.
  rill::test::start_executor();
  long threads_before = rill::test::thread_count();
  long rss_before = rill::test::rss_kb();
  std::vector<Stream> made;
  made.reserve(100000);
  for (int i = 0; i < 100000; ++i) made.push_back(new_stream(Device::cpu));
  EXPECT_EQ(rill::test::thread_count(), threads_before);
  // Use a spread of them: still no new threads.
  std::vector<array> outs;
  for (int i = 0; i < 100000; i += 997) outs.push_back(add(array(1.0f), array(2.0f), made[i]));
  eval(outs);
  for (auto& o : outs) EXPECT_EQ(o.item<float>(), 3.0f);
  EXPECT_EQ(rill::test::thread_count(), threads_before);
  long rss_after = rill::test::rss_kb();
  long grown_mb = (rss_after - rss_before) / 1024;
  RecordProperty("rss_growth_mb_100k_streams", std::to_string(grown_mb));
  std::cout << "100,000 streams: threads " << threads_before << " -> "
            << rill::test::thread_count() << ", RSS " << rss_before / 1024 << " -> "
            << rss_after / 1024 << " MiB (+" << grown_mb << " MiB), "
            << get_streams().size() << " live streams\n";
  if (!rill::test::sanitized) {  // sanitizers shadow every mutex and allocation
    EXPECT_LT(grown_mb, 128) << "100,000 streams cost " << grown_mb << " MiB";
  }
  std::set<Stream> distinct(made.begin(), made.end());
  EXPECT_EQ(distinct.size(), made.size());
  EXPECT_LE(rill::testing::cpu_worker_count(),
            static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(Streams, BusyStreamsRunInParallel) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 CPU workers";
  // Each task waits until the other has started: only parallel execution
  // lets both finish.
  std::atomic<int> started{0};
  auto rendezvous = [&] {
    started.fetch_add(1);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (started.load() < 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    if (started.load() < 2) throw std::runtime_error("streams did not run in parallel");
  };
  array a = rill::testing::on_eval(array(1.0f), rendezvous, new_stream(Device::cpu));
  array b = rill::testing::on_eval(array(2.0f), rendezvous, new_stream(Device::cpu));
  eval(a, b);
  EXPECT_EQ(started.load(), 2);
}

TEST(Streams, ThreadExitReclaimsDefaultStreams) {
  rill::test::start_executor();
  // The default device's own start (a GPU's driver threads, made once per
  // process) happens before the count: the test is about threads per thread.
  EXPECT_EQ(add(array(1.0f), array(1.0f)).item<float>(), 2.0f);
  size_t streams_before = get_streams().size();
  long threads_before = rill::test::thread_count();
  long rss_before = rill::test::rss_kb();
  constexpr int kThreads = 10000;
  for (int i = 0; i < kThreads; ++i) {
    std::thread t([i] {
      array x = add(array(static_cast<float>(i)), array(1.0f));
      EXPECT_EQ(x.item<float>(), static_cast<float>(i) + 1.0f);
    });
    t.join();
  }
  // Reclaiming happens as each thread exits; its last work is already done.
  EXPECT_TRUE(rill::test::eventually([&] { return get_streams().size() == streams_before; }))
      << get_streams().size() << " streams live, " << streams_before << " before";
  EXPECT_EQ(rill::test::thread_count(), threads_before);
  long rss_after = rill::test::rss_kb();
  long grown_mb = (rss_after - rss_before) / 1024;
  RecordProperty("rss_growth_mb_10k_threads", std::to_string(grown_mb));
  std::cout << "10,000 short-lived threads: threads " << threads_before << " -> "
            << rill::test::thread_count() << ", RSS " << rss_before / 1024 << " -> "
            << rss_after / 1024 << " MiB (+" << grown_mb << " MiB), streams "
            << streams_before << " -> " << get_streams().size() << "\n";
  if (!rill::test::sanitized) {
    EXPECT_LT(grown_mb, 64) << "10,000 threads left " << grown_mb << " MiB behind";
  }
}

TEST(Streams, ThreadsExitingWithWorkInFlightLeaveNothing) {
  rill::test::start_executor();
  size_t streams_before = get_streams().size();
  long threads_before = rill::test::thread_count();
  long rss_before = rill::test::rss_kb();
  constexpr int kThreads = 10000;
  std::vector<array> results;
  results.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    array out = array(0.0f);
    std::thread t([&out, i] {
      out = multiply(add(array(static_cast<float>(i)), array(1.0f)), array(2.0f));
      async_eval(out);  // the thread exits without waiting
    });
    t.join();
    results.push_back(out);
  }
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_EQ(results[i].item<float>(), 2.0f * (static_cast<float>(i) + 1.0f));
  }
  results.clear();
  EXPECT_TRUE(rill::test::eventually([&] {
    return get_streams().size() == streams_before;
  })) << get_streams().size()
      << " streams live, " << streams_before << " before";
  EXPECT_EQ(rill::test::thread_count(), threads_before);
  long rss_after = rill::test::rss_kb();
  long grown_mb = (rss_after - rss_before) / 1024;
  std::cout << "10,000 threads exiting with work in flight: threads " << threads_before
            << " -> " << rill::test::thread_count() << ", RSS " << rss_before / 1024
            << " -> " << rss_after / 1024 << " MiB (+" << grown_mb << " MiB), streams "
            << streams_before << " -> " << get_streams().size() << "\n";
  if (!rill::test::sanitized) {
    EXPECT_LT(grown_mb, 64) << "10,000 threads left " << grown_mb << " MiB behind";
  }
}

TEST(Streams, ArraysOfAnExitedThreadStayEvaluable) {
  // On the default device (the GPU in a suite run with RILL_DEVICE=gpu).
  array lazy = array(0.0f);
  Stream dead(-1, default_device());
  std::thread t([&] {
    dead = default_stream(default_device());
    lazy = multiply(add(array(2.0f), array(3.0f)), array(4.0f));  // not evaluated
  });
  t.join();
  auto live = get_streams();
  EXPECT_EQ(std::count(live.begin(), live.end(), dead), 0);  // reclaimed
  EXPECT_EQ(lazy.stream(), dead);
  EXPECT_EQ(lazy.item<float>(), 20.0f);
  synchronize(dead);  // a reclaimed stream has nothing pending
}

TEST(Streams, ExitedThreadsStreamReclaimedOnlyAfterPendingWork) {
  // On the default device (the GPU in a suite run with RILL_DEVICE=gpu).
  Gate gate;
  Stream dead(-1, default_device());
  array pending = array(0.0f);
  std::thread t([&] {
    dead = default_stream(default_device());
    pending = rill::testing::on_eval(array(5.0f), [&] { gate.wait(); });
    async_eval(pending);
  });
  t.join();
  auto live = get_streams();
  EXPECT_EQ(std::count(live.begin(), live.end(), dead), 1) << "reclaimed with work pending";
  gate.open();
  synchronize(dead);
  EXPECT_EQ(pending.item<float>(), 5.0f);
  EXPECT_TRUE(rill::test::eventually([&] {
    auto now = get_streams();
    return std::count(now.begin(), now.end(), dead) == 0;
  }));
}

TEST(Streams, SynchronizeWaitsForSubmittedWork) {
  Stream s = new_stream(Device::cpu);
  std::atomic<int> ran{0};
  std::vector<array> xs;
  for (int i = 0; i < 20; ++i) {
    xs.push_back(rill::testing::on_eval(array(1.0f), [&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ran.fetch_add(1);
    }, s));
    async_eval(xs.back());
  }
  synchronize(s);
  EXPECT_EQ(ran.load(), 20);
  for (auto& x : xs) EXPECT_TRUE(x.is_available());

  // synchronize() is the calling thread's default stream of the default device.
  std::atomic<bool> flag{false};
  array y = rill::testing::on_eval(array(1.0f), [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    flag = true;
  });
  async_eval(y);
  synchronize();
  EXPECT_TRUE(flag.load());
}

TEST(Streams, GetStreamsListsLiveStreams) {
  Stream mine = default_stream(Device::cpu);
  Stream a = new_stream(Device::cpu);
  Stream b = new_stream(Device::cpu);
  auto live = get_streams();
  EXPECT_EQ(std::count(live.begin(), live.end(), a), 1);
  EXPECT_EQ(std::count(live.begin(), live.end(), b), 1);
  EXPECT_EQ(std::count(live.begin(), live.end(), mine), 1);
  EXPECT_THROW(synchronize(Stream(1 << 30, Device::cpu)), std::invalid_argument);
  EXPECT_THROW(add(array(1.0f), array(1.0f), Stream(1 << 30, Device::cpu)),
               std::invalid_argument);
}

// Intra-op parallelism (runtime/cpu_executor.h): every index runs exactly
// once, on the caller and on workers that were idle; errors reach the caller;
// a chunk may split its own work again; many callers at once (every worker
// busy) each finish.
TEST(Streams, ParallelForCoversEveryIndexOnce) {
  rill::testing::cpu_worker_count();
  eval(array(1.0f) + array(1.0f));  // the workers exist
  for (int64_t n : {0, 1, 7, 100, 4096, 100003}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    rill::detail::cpu_parallel_for(n, 16, [&](int64_t lo, int64_t hi) {
      EXPECT_LE(0, lo);
      EXPECT_LT(lo, hi);
      EXPECT_LE(hi, n);
      for (int64_t i = lo; i < hi; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << n << " at " << i;
  }
}

TEST(Streams, ParallelForRethrowsAChunksError) {
  eval(array(1.0f) + array(1.0f));
  std::atomic<int64_t> ran{0};
  EXPECT_THROW(rill::detail::cpu_parallel_for(1000, 1,
                                              [&](int64_t lo, int64_t hi) {
                                                ran += hi - lo;
                                                if (lo == 0) throw std::runtime_error("chunk 0");
                                              }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 1000);  // the other chunks still ran: none is left half-done
}

TEST(Streams, ParallelForNestsAndRunsFromManyThreads) {
  eval(array(1.0f) + array(1.0f));
  std::atomic<int64_t> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      rill::detail::cpu_parallel_for(64, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          rill::detail::cpu_parallel_for(100, 10, [&](int64_t a, int64_t b) { total += b - a; });
        }
      });
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(total.load(), 8 * 64 * 100);
}
