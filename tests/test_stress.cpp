// Randomized concurrency stress (SPEC S4, S6, S7, A1-A3): many threads build
// random graphs of elementwise ops, reductions, matmuls and views over their
// own default streams and shared streams, evaluate them with eval, async_eval,
// item/data and synchronize, hand lazy arrays to each other through a queue,
// and evaluate shared graphs several at once. Every value is checked against
// the same graph recomputed with plain loops (in double) on the building
// thread.
//
// RILL_STRESS_SEED replays a run's graphs (the seed is printed first);
// RILL_STRESS_SECONDS bounds its length (default 20); RILL_STRESS_THREADS sets
// the thread count (default 8).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rill/rill.h"
#include "test_util.h"

using namespace rill;

namespace {

long env_or(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

// The reference: a row-major matrix of doubles.
struct Ref {
  int r = 0, c = 0;
  std::vector<double> v;
  Ref() = default;
  Ref(int r, int c) : r(r), c(c), v(static_cast<size_t>(r) * c) {}
  double& at(int i, int j) { return v[static_cast<size_t>(i) * c + j]; }
  double at(int i, int j) const { return v[static_cast<size_t>(i) * c + j]; }
  double magnitude() const {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
  }
};

// A lazy array and the values it must have.
struct Item {
  array a;
  Ref ref;
  std::string how;  // the ops that made it, for failure messages
  // A scaled product's operands and the product before scaling, kept so that
  // a failure can say which step went wrong.
  struct Product;
  std::shared_ptr<Product> product = nullptr;
};
struct Item::Product {
  Item x, y;
  array raw;  // x @ y, before the 1/k
};

template <typename F>
Ref map(const Ref& x, F f) {
  Ref o(x.r, x.c);
  for (size_t i = 0; i < x.v.size(); ++i) o.v[i] = f(x.v[i]);
  return o;
}

// x op y with y broadcast from (1, c), (r, 1) or (1, 1).
template <typename F>
Ref zip(const Ref& x, const Ref& y, F f) {
  Ref o(x.r, x.c);
  for (int i = 0; i < x.r; ++i) {
    for (int j = 0; j < x.c; ++j)
      o.at(i, j) = f(x.at(i, j), y.at(y.r == 1 ? 0 : i, y.c == 1 ? 0 : j));
  }
  return o;
}

// Reads a computed 2-D float32 array through its strides and compares.
bool matches(array& a, const Ref& ref, std::string& why) {
  if (a.ndim() != 2 || a.shape(0) != ref.r || a.shape(1) != ref.c) {
    why = "shape differs";
    return false;
  }
  const float* p = a.data<float>();
  const Strides& st = a.strides();
  for (int i = 0; i < ref.r; ++i) {
    for (int j = 0; j < ref.c; ++j) {
      double got = p[i * st[0] + j * st[1]], want = ref.at(i, j);
      if (!(std::abs(got - want) <= 1e-3 + 1e-4 * std::abs(want))) {
        why = "element (" + std::to_string(i) + ", " + std::to_string(j) + ") is " +
              std::to_string(got) + ", expected " + std::to_string(want);
        return false;
      }
    }
  }
  return true;
}

struct Counters {
  std::atomic<long> graphs{0}, nodes{0}, checked{0}, handed_over{0}, shared_evals{0},
      overlapping_shared{0}, syncs{0}, child_threads{0}, new_streams{0}, slowest_us{0};
  std::atomic<int> slowest_action{-1};
};

// State shared by the threads of one run.
struct World {
  explicit World(uint64_t seed) : seed(seed) {
    for (int i = 0; i < 4; ++i) streams.push_back(new_stream(Device::cpu));
  }
  const uint64_t seed;
  Counters n;

  std::mutex streams_mu;
  std::vector<Stream> streams;  // guarded by streams_mu

  std::mutex queue_mu;
  std::deque<Item>
      queue;  // guarded by queue_mu: lazy arrays on their way to another thread

  struct SharedJob {
    std::vector<Item> outputs;  // immutable once published
    std::atomic<int> takers{0};
    std::atomic<int> evaluating{0};
  };
  std::mutex job_mu;
  std::shared_ptr<SharedJob> job;  // guarded by job_mu

  std::mutex fail_mu;
  long failures = 0;               // guarded by fail_mu
  std::vector<std::string> first;  // guarded by fail_mu

  void fail(const std::string& what) {
    std::lock_guard lock(fail_mu);
    ++failures;
    if (first.size() < 5) first.push_back(what);
  }
  // The queue bounds the work in flight: a full queue takes no more.
  bool queue_full() {
    std::lock_guard lock(queue_mu);
    return queue.size() >= 256;
  }
  void hand_over(std::vector<Item>& items) {
    std::lock_guard lock(queue_mu);
    for (Item& it : items) queue.push_back(std::move(it));
    n.handed_over += static_cast<long>(items.size());
  }
  Stream shared_stream(std::mt19937_64& rng) {
    std::lock_guard lock(streams_mu);
    return streams[rng() % streams.size()];
  }
  void replace_stream(std::mt19937_64& rng) {
    Stream fresh = new_stream(Device::cpu);
    std::lock_guard lock(streams_mu);
    streams[rng() % streams.size()] = fresh;
  }
};

// Builds random graphs on one thread, computing each node's reference as it goes.
class Builder {
 public:
  Builder(World& w, std::mt19937_64& rng) : w_(w), rng_(rng) {}

  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool chance(int one_in) { return pick(one_in) == 0; }

  // No stream (the thread's default), the default's device, or a shared stream.
  StreamOrDevice stream() {
    int k = pick(4);
    if (k == 0) return std::monostate{};
    if (k == 1) return Device(Device::cpu);
    return w_.shared_stream(rng_);
  }

  Item leaf(int r, int c) {
    Ref ref(r, c);
    std::vector<float> host(ref.v.size());
    for (size_t i = 0; i < host.size(); ++i) {
      host[i] = static_cast<float>(pick(17) - 8) / 8.0f;  // exact in float
      ref.v[i] = host[i];
    }
    if (chance(4)) {  // a lazy leaf: arange reshaped, on some stream
      for (size_t i = 0; i < host.size(); ++i) ref.v[i] = static_cast<double>(i) / 64.0;
      array a = multiply(reshape(arange(0.0, double(r * c), stream()), {r, c}, stream()),
                         array(1.0f / 64.0f), stream());
      return {a, ref, std::string("arange") + (a.stream().device.type == Device::gpu ? "@g" : "@c") +
                          std::to_string(r) + "x" + std::to_string(c)};
    }
    return {array(host.begin(), {r, c}), ref, "leaf" + std::to_string(r) + "x" + std::to_string(c)};
  }

  int dim() { return 1 + pick(pick(4) == 0 ? 48 : 12); }

  // An operand from the pool with the wanted shape (-1: any), or a new leaf.
  Item operand(std::vector<Item>& pool, int r, int c) {
    std::vector<int> fits;
    for (size_t i = 0; i < pool.size(); ++i) {
      if ((r < 0 || pool[i].ref.r == r) && (c < 0 || pool[i].ref.c == c))
        fits.push_back(int(i));
    }
    if (!fits.empty() && !chance(4)) return pool[fits[pick(int(fits.size()))]];
    Item l = leaf(r < 0 ? dim() : r, c < 0 ? dim() : c);
    pool.push_back(l);
    return l;
  }

  // One random op over the pool; its result joins the pool.
  Item step(std::vector<Item>& pool) {
    Item x = pool[pick(int(pool.size()))];
    const int r = x.ref.r, c = x.ref.c;
    StreamOrDevice s = stream();
    Item o = x;
    // Sizes stay small (broadcasts and matmuls grow them): a big operand is reduced.
    const bool big = x.ref.v.size() > 4096;
    switch (big ? 3 : pick(11)) {
      case 0: {
        switch (pick(4)) {
          case 0:
            o = {negative(x.a, s), map(x.ref, [](double v) { return -v; }), "negative"};
            break;
          case 1:
            o = {abs(x.a, s), map(x.ref, [](double v) { return std::abs(v); }), "abs"};
            break;
          case 2:
            o = {tanh(x.a, s), map(x.ref, [](double v) { return std::tanh(v); }), "tanh"};
            break;
          default:
            o = {square(x.a, s), map(x.ref, [](double v) { return v * v; }), "square"};
        }
        break;
      }
      case 1:
      case 2: {
        int shape = pick(4);
        Item y = operand(pool, shape == 1 ? 1 : r, shape == 2 ? 1 : c);
        if (shape == 3) y = operand(pool, r, c);
        switch (pick(4)) {
          case 0:
            o = {add(x.a, y.a, s), zip(x.ref, y.ref, std::plus<>()), "add"};
            break;
          case 1:
            o = {subtract(x.a, y.a, s), zip(x.ref, y.ref, std::minus<>()), "subtract"};
            break;
          case 2:
            o = {multiply(x.a, y.a, s), zip(x.ref, y.ref, std::multiplies<>()),
                 "multiply"};
            break;
          default:
            o = {maximum(x.a, y.a, s),
                 zip(x.ref, y.ref, [](double a, double b) { return std::max(a, b); }),
                 "maximum"};
        }
        break;
      }
      case 3: {  // reductions keep two dimensions
        int axis = big ? (r >= c ? 0 : 1) : pick(2);
        bool is_max = chance(2);
        Ref ref(axis == 0 ? 1 : r, axis == 0 ? c : 1);
        for (int i = 0; i < ref.r; ++i) {
          for (int j = 0; j < ref.c; ++j) {
            double acc = is_max ? -INFINITY : 0;
            for (int k = 0; k < (axis == 0 ? r : c); ++k) {
              double v = axis == 0 ? x.ref.at(k, j) : x.ref.at(i, k);
              acc = is_max ? std::max(acc, v) : acc + v;
            }
            ref.at(i, j) = acc;
          }
        }
        o = {is_max ? max(x.a, axis, true, s) : sum(x.a, axis, true, s), ref,
             is_max ? "max" : "sum"};
        break;
      }
      case 4:
      case 5: {  // matmul, scaled by 1/k to keep magnitudes small
        Item y = operand(pool, c, -1);
        if (static_cast<size_t>(r) * y.ref.c > 4096) {
          y = leaf(c, 1 + pick(8));
          pool.push_back(y);
        }
        Ref ref(r, y.ref.c);
        for (int i = 0; i < r; ++i) {
          for (int j = 0; j < y.ref.c; ++j) {
            double acc = 0;
            for (int k = 0; k < c; ++k) acc += x.ref.at(i, k) * y.ref.at(k, j);
            ref.at(i, j) = acc / c;
          }
        }
        array raw = matmul(x.a, y.a, s);
        o = {multiply(raw, array(1.0f / static_cast<float>(c)), stream()), ref, "matmul"};
        o.product = std::make_shared<Item::Product>(Item::Product{x, y, raw});
        break;
      }
      case 6: {
        Ref ref(c, r);
        for (int i = 0; i < r; ++i) {
          for (int j = 0; j < c; ++j) ref.at(j, i) = x.ref.at(i, j);
        }
        o = {transpose(x.a, s), ref, "transpose"};
        break;
      }
      case 7: {  // a strided slice, never empty
        int b0 = pick(r), b1 = pick(c), e0 = b0 + 1 + pick(r - b0),
            e1 = b1 + 1 + pick(c - b1);
        int s0 = 1 + pick(3), s1 = 1 + pick(3);
        Ref ref((e0 - b0 + s0 - 1) / s0, (e1 - b1 + s1 - 1) / s1);
        for (int i = 0; i < ref.r; ++i) {
          for (int j = 0; j < ref.c; ++j)
            ref.at(i, j) = x.ref.at(b0 + i * s0, b1 + j * s1);
        }
        o = {slice(x.a, {b0, b1}, {e0, e1}, {s0, s1}, s), ref, "slice"};
        break;
      }
      case 8: {  // reshape: the same row-major elements in another 2-D shape
        int rows = pick(3) == 0 ? 1 : (pick(2) ? c : r * c);
        if ((r * c) % rows) rows = 1;
        Ref ref(rows, r * c / rows);
        ref.v = x.ref.v;
        o = {reshape(x.a, {ref.r, ref.c}, s), ref, "reshape"};
        break;
      }
      case 9: {  // broadcast a row or a column, or softmax along rows
        if (r == 1 || c == 1) {
          Ref ref(r == 1 ? 1 + pick(8) : r, r == 1 ? c : 1 + pick(8));
          for (int i = 0; i < ref.r; ++i) {
            for (int j = 0; j < ref.c; ++j)
              ref.at(i, j) = x.ref.at(r == 1 ? 0 : i, c == 1 ? 0 : j);
          }
          o = {broadcast_to(x.a, {ref.r, ref.c}, s), ref, "broadcast_to"};
        } else {
          Ref ref(r, c);
          for (int i = 0; i < r; ++i) {
            double m = -INFINITY, total = 0;
            for (int j = 0; j < c; ++j) m = std::max(m, x.ref.at(i, j));
            for (int j = 0; j < c; ++j) total += std::exp(x.ref.at(i, j) - m);
            for (int j = 0; j < c; ++j)
              ref.at(i, j) = std::exp(x.ref.at(i, j) - m) / total;
          }
          o = {softmax(x.a, -1, false, s), ref, "softmax"};
        }
        break;
      }
      default: {
        o = {contiguous(x.a, false, s), x.ref, "contiguous"};
      }
    }
    // "matmul@g3x5": the op, where it ran and the shape it made.
    o.how = x.how + " " + o.how + (o.a.stream().device.type == Device::gpu ? "@g" : "@c") +
            std::to_string(o.ref.r) + "x" + std::to_string(o.ref.c);
    if (o.ref.magnitude() > 4) {
      auto product = o.product;
      o = {tanh(o.a, stream()), map(o.ref, [](double v) { return std::tanh(v); }),
           o.how + " tanh"};
      o.product = product;
    }
    w_.n.nodes++;
    pool.push_back(o);
    return o;
  }

  // A random graph; returns 1-3 of its nodes (sharing intermediates).
  std::vector<Item> graph() {
    std::vector<Item> pool;
    int leaves = 1 + pick(3);
    for (int i = 0; i < leaves; ++i) pool.push_back(leaf(dim(), dim()));
    int ops = 2 + pick(12);
    std::vector<Item> made;
    for (int i = 0; i < ops; ++i) made.push_back(step(pool));
    std::vector<Item> out{made.back()};
    int extra = pick(3);
    for (int i = 0; i < extra; ++i) out.push_back(made[pick(int(made.size()))]);
    w_.n.graphs++;
    return out;
  }

 private:
  World& w_;
  std::mt19937_64& rng_;
};

std::string layout(const array& a) {
  std::string s = "strides (";
  for (size_t i = 0; i < a.strides().size(); ++i) {
    s += (i ? ", " : "") + std::to_string(a.strides()[i]);
  }
  return s + ")";
}

// Which step of a failed product went wrong: an operand, the product of the
// operands' actual values, or the scaling after it.
std::string diagnose(Item& it) {
  if (!it.product) return "";
  Item::Product& p = *it.product;
  std::string out, why;
  for (Item* op : {&p.x, &p.y}) {
    out += std::string("; operand ") + (op == &p.x ? "x" : "y") + " [" + op->how + "] " +
           (matches(op->a, op->ref, why) ? "right" : "WRONG: " + why) + ", " + layout(op->a);
  }
  // The product of the operands' values as computed, in double.
  const int r = p.x.ref.r, k = p.x.ref.c, c = p.y.ref.c;
  const float* xv = p.x.a.data<float>();
  const float* yv = p.y.a.data<float>();
  const float* rv = p.raw.data<float>();
  const Strides &xs = p.x.a.strides(), &ys = p.y.a.strides(), &rs = p.raw.strides();
  double worst = 0;
  for (int i = 0; i < r; ++i) {
    for (int j = 0; j < c; ++j) {
      double acc = 0;
      for (int t = 0; t < k; ++t) acc += double(xv[i * xs[0] + t * xs[1]]) * yv[t * ys[0] + j * ys[1]];
      worst = std::max(worst, std::abs(acc - rv[i * rs[0] + j * rs[1]]));
    }
  }
  out += "; the product on " + std::string(p.raw.stream().device.type == Device::gpu ? "gpu" : "cpu") +
         " differs from its operands' product by " + std::to_string(worst) + ", scaling on " +
         (it.a.stream().device.type == Device::gpu ? "gpu" : "cpu");
  return out;
}

void check(World& w, Item& it, const char* where) {
  std::string why;
  try {
    if (!matches(it.a, it.ref, why))
      w.fail(std::string(where) + ": " + it.how + ": " + why + diagnose(it));
  } catch (const std::exception& e) {
    w.fail(std::string(where) + ": " + it.how + ": raised " + e.what());
  }
  w.n.checked++;
}

std::vector<array> arrays_of(const std::vector<Item>& items) {
  std::vector<array> out;
  for (const Item& it : items) out.push_back(it.a);
  return out;
}

// One thread's share of the run.
void worker(World& w, int id, std::chrono::steady_clock::time_point until) {
  std::mt19937_64 rng(w.seed * 1000003u + static_cast<uint64_t>(id));
  Builder b(w, rng);
  while (std::chrono::steady_clock::now() < until) {
    auto began = std::chrono::steady_clock::now();
    int action = b.pick(16);
    try {
      switch (action) {
        case 0:
        case 1:
        case 2: {  // eval, then read
          auto items = b.graph();
          eval(arrays_of(items));
          for (Item& it : items) check(w, it, "eval");
          break;
        }
        case 3:
        case 4: {  // async_eval, build more, then read (data waits)
          auto items = b.graph();
          async_eval(arrays_of(items));
          auto more = b.graph();
          for (Item& it : more) check(w, it, "item/data");
          for (Item& it : items) check(w, it, "async_eval");
          break;
        }
        case 5: {  // async_eval, then synchronize each output's stream
          auto items = b.graph();
          async_eval(arrays_of(items));
          for (Item& it : items) {
            synchronize(it.a.stream());
            w.n.syncs++;
            if (!it.a.is_available())
              w.fail("synchronize returned before its work: " + it.how);
          }
          for (Item& it : items) check(w, it, "synchronize");
          break;
        }
        case 6: {  // evaluate an intermediate first, then everything
          auto items = b.graph();
          Item& mid = items[b.pick(int(items.size()))];
          check(w, mid, "partial");
          for (Item& it : items) check(w, it, "after partial");
          break;
        }
        case 7:
        case 8: {  // hand lazy (or in-flight) arrays to whichever thread pops them
          auto items = b.graph();
          if (w.queue_full()) {  // never leave work in flight that nobody waits for
            for (Item& it : items) check(w, it, "queue full");
            break;
          }
          if (b.chance(2)) async_eval(arrays_of(items));
          w.hand_over(items);
          break;
        }
        case 9:
        case 10: {  // take arrays another thread built
          std::vector<Item> got;
          {
            std::lock_guard lock(w.queue_mu);
            for (int i = 0; i < 3 && !w.queue.empty(); ++i) {
              got.push_back(std::move(w.queue.front()));
              w.queue.pop_front();
            }
          }
          if (b.chance(2)) eval(arrays_of(got));
          for (Item& it : got) check(w, it, "handed over");
          break;
        }
        case 11:
        case 12:
        case 13: {  // a shared graph, evaluated by several threads at once
          std::shared_ptr<World::SharedJob> job;
          {
            std::lock_guard lock(w.job_mu);
            if (w.job && w.job->takers.load() < 4) job = w.job;
          }
          if (!job) {
            auto fresh = std::make_shared<World::SharedJob>();
            fresh->outputs = b.graph();
            std::lock_guard lock(w.job_mu);
            w.job = fresh;
            job = fresh;
          }
          job->takers++;
          // Give the other takers a moment to arrive so that evaluations overlap.
          auto wait_until =
              std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
          while (job->takers.load() < 2 &&
                 std::chrono::steady_clock::now() < wait_until) {
            std::this_thread::yield();
          }
          if (job->evaluating.fetch_add(1) > 0) w.n.overlapping_shared++;
          std::vector<Item> mine = job->outputs;
          std::shuffle(mine.begin(), mine.end(), rng);
          if (b.chance(2)) {
            eval(arrays_of(mine));
          } else {
            async_eval(arrays_of(mine));
          }
          for (Item& it : mine) check(w, it, "shared graph");
          job->evaluating--;
          w.n.shared_evals++;
          break;
        }
        case 14: {  // synchronize a shared stream others are using; sometimes replace it
          synchronize(w.shared_stream(rng));
          w.n.syncs++;
          if (b.chance(8)) {
            w.replace_stream(rng);
            w.n.new_streams++;
          }
          break;
        }
        default: {  // a short-lived thread: it may exit with its work still in flight
          bool wait_for_it = b.chance(2) || w.queue_full();
          uint64_t child_seed = rng();
          std::thread child([&w, child_seed, wait_for_it] {
            try {
              std::mt19937_64 crng(child_seed);
              Builder cb(w, crng);
              auto items = cb.graph();
              if (wait_for_it) {
                eval(arrays_of(items));
                for (Item& it : items) check(w, it, "child thread");
              } else {
                async_eval(arrays_of(items));
                w.hand_over(items);
              }
            } catch (const std::exception& e) {
              w.fail(std::string("child thread raised: ") + e.what());
            }
          });
          child.join();
          w.n.child_threads++;
        }
      }
    } catch (const std::exception& e) {
      w.fail(std::string("raised: ") + e.what());
    }
    long us = static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - began)
                                    .count());
    long prev = w.n.slowest_us.load();
    while (us > prev && !w.n.slowest_us.compare_exchange_weak(prev, us)) {
    }
    if (us > prev) w.n.slowest_action = action;
  }
}

}  // namespace

TEST(Stress, RandomGraphsOnManyThreads) {
  uint64_t seed = static_cast<uint64_t>(env_or("RILL_STRESS_SEED", 0));
  if (seed == 0) seed = std::random_device()() | 1;
  const long seconds = env_or("RILL_STRESS_SECONDS", 20);
  const int threads = static_cast<int>(env_or("RILL_STRESS_THREADS", 8));
  std::cout << "stress seed: " << seed << " (replay with RILL_STRESS_SEED=" << seed
            << "), " << seconds << " s, " << threads << " threads" << std::endl;
  RecordProperty("seed", std::to_string(seed));

  World w(seed);
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::seconds(seconds);
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i) ts.emplace_back([&, i] { worker(w, i, until); });
  for (auto& t : ts) t.join();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
        .count();
  };
  double joined = since();
  // Whatever is still in the queue is checked here, on yet another thread.
  size_t drained = w.queue.size();
  for (Item& it : w.queue) check(w, it, "drained");
  w.queue.clear();
  for (const Stream& s : w.streams) synchronize(s);
  double took = since();

  std::cout << "stress: " << w.n.graphs << " graphs, " << w.n.nodes << " ops, "
            << w.n.checked << " arrays checked, " << w.n.handed_over
            << " handed between threads, " << w.n.shared_evals << " shared-graph evals ("
            << w.n.overlapping_shared << " overlapping), " << w.n.syncs
            << " synchronizes, " << w.n.child_threads << " short-lived threads, "
            << w.n.new_streams << " streams replaced, in " << took
            << " s (threads done at " << joined << " s, then " << drained
            << " queued arrays checked); slowest iteration " << w.n.slowest_us / 1000
            << " ms (action " << w.n.slowest_action << ")" << std::endl;
  RecordProperty("graphs", std::to_string(w.n.graphs.load()));
  RecordProperty("arrays_checked", std::to_string(w.n.checked.load()));
  std::lock_guard lock(w.fail_mu);
  for (const std::string& f : w.first) ADD_FAILURE() << f;
  EXPECT_EQ(w.failures, 0) << "seed " << seed;
  EXPECT_GT(w.n.checked.load(), 0);
  if (threads > 1) {
    EXPECT_GT(w.n.overlapping_shared.load(), 0);
  }
}
