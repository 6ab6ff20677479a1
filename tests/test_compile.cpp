// compile (rill/compile.h): traced once per input signature, replayed after;
// results equal the uncompiled function's for every op family, on the default
// device (the GPU in a suite run with RILL_DEVICE=gpu); threads; streams;
// errors; the simplifications; the switches.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/compile_stats.h"
#include "rill/rill.h"
#include "rill/testing.h"
#include "test_util.h"

using namespace rill;

namespace {

array rnd(const Shape& shape, uint64_t seed, Dtype t = float32) {
  return astype(random::uniform(-1.0, 1.0, shape, float32, random::key(seed)), t);
}

// Largest |a - b| over the elements, on the host in float64.
double max_diff(const array& a, const array& b) {
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_EQ(a.dtype(), b.dtype());
  array d = astype(abs(subtract(astype(a, float64, Device::cpu), astype(b, float64, Device::cpu),
                                Device::cpu),
                       Device::cpu),
                   float64, Device::cpu);
  return d.size() ? max(d, false, Device::cpu).item<double>() : 0.0;
}

void expect_same(const std::vector<array>& got, const std::vector<array>& want, double tol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_LE(max_diff(got[i], want[i]), tol) << what << ", output " << i;
  }
}

struct Family {
  std::string name;
  CompiledFunction fun;
  std::vector<array> inputs;
};

std::vector<Family> families() {
  std::vector<Family> f;
  array a = rnd({4, 6}, 1), b = rnd({4, 6}, 2), r = rnd({6}, 3), s = rnd({6, 5}, 4);
  f.push_back({"elementwise chain with broadcasts",
               [](const std::vector<array>& x) {
                 array y = exp(x[0]) * x[1] + sin(x[2]) - 0.5f;
                 y = maximum(tanh(y), x[0] / (abs(x[1]) + 1.0f));
                 return std::vector<array>{where(y > 0.0f, y, sqrt(abs(y))), square(y)};
               },
               {a, b, r}});
  f.push_back({"reductions and arg reductions",
               [](const std::vector<array>& x) {
                 return std::vector<array>{sum(x[0], 1), max(x[0], 0, true), mean(x[0]),
                                           argmax(x[0], 1), logsumexp(x[0], 1)};
               },
               {a}});
  f.push_back({"products",
               [](const std::vector<array>& x) {
                 return std::vector<array>{matmul(x[0], x[1]),
                                           addmm(x[2], x[0], x[1], 0.5f, 2.0f)};
               },
               {a, s, rnd({4, 5}, 5)}});
  f.push_back({"views, reshapes and copies",
               [](const std::vector<array>& x) {
                 array t = transpose(x[0]);
                 array v = reshape(t, {3, 8});
                 array sl = slice(x[0], {1, 0}, {4, 6}, {2, 3});
                 return std::vector<array>{contiguous(t) + 1.0f, v * 2.0f, sl,
                                           astype(x[0], float16), broadcast_to(x[1], {3, 6})};
               },
               {a, r}});
  f.push_back({"softmax, normalisation, concatenation, indexing",
               [](const std::vector<array>& x) {
                 array idx = array({2, 0, 3}, Shape{3}, int32);
                 return std::vector<array>{
                     softmax(x[0], std::vector<int>{1}),
                     fast::rms_norm(x[0], x[1], 1e-5f),
                     fast::layer_norm(x[0], x[1], std::nullopt, 1e-5f),
                     concatenate({x[0], x[0] * 2.0f}, 0),
                     take(x[0], idx, 0),
                 };
               },
               {a, r}});
  f.push_back({"scans and sorts",
               [](const std::vector<array>& x) {
                 return std::vector<array>{cumsum(x[0], 1), sort(x[0], 1), argsort(x[0], 0)};
               },
               {a}});
  return f;
}

}  // namespace

TEST(Compile, EqualsUncompiledForEveryOpFamily) {
  for (const Family& fam : families()) {
    SCOPED_TRACE(fam.name);
    CompiledFunction c = compile(fam.fun);
    const std::vector<array> want = fam.fun(fam.inputs);
    expect_same(c(fam.inputs), want, 1e-6, "first call (trace)");
    expect_same(c(fam.inputs), want, 1e-6, "second call (replay)");
    // New values of the same signature: the replay computes them, not the trace's.
    std::vector<array> other;
    for (size_t i = 0; i < fam.inputs.size(); ++i) other.push_back(fam.inputs[i] * 0.5f);
    expect_same(c(other), fam.fun(other), 1e-6, "replay on other values");
  }
}

TEST(Compile, TracesOncePerSignature) {
  std::atomic<int> calls{0};
  CompiledFunction c = compile([&](const std::vector<array>& x) {
    ++calls;
    return std::vector<array>{x[0] * 2.0f + x[1]};
  });
  array a = ones({3}), b = ones({3});
  for (int i = 0; i < 5; ++i) {
    array y = c({a + float(i), b})[0];
    EXPECT_EQ(y.shape(), Shape{3});
    EXPECT_FLOAT_EQ(sum(y).item<float>(), 3.0f * (2.0f * (1.0f + i) + 1.0f)) << i;
  }
  EXPECT_EQ(calls.load(), 1);
  // Another shape, another dtype: traced again, each once.
  EXPECT_EQ(c({ones({2, 2}), ones({2, 2})})[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(c({ones({2, 2}), ones({2, 2})})[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(c({ones({3}, int32), ones({3}, int32)})[0].dtype(), float32);
  EXPECT_EQ(calls.load(), 3);
  // shapeless with a reduction: traced again for each new shape.
  std::atomic<int> scalls{0};
  CompiledFunction s = compile([&](const std::vector<array>& x) {
    ++scalls;
    return std::vector<array>{sum(x[0] * x[0], 0)};
  }, true);
  EXPECT_FLOAT_EQ(s({full({4}, 2.0f)})[0].item<float>(), 16.0f);
  EXPECT_FLOAT_EQ(s({full({7}, 1.0f)})[0].item<float>(), 7.0f);
  EXPECT_EQ(scalls.load(), 2);
}

// shapeless, elementwise only: one trace serves inputs of any shape of the
// same ranks and dtypes, each op's shape its inputs' broadcast.
TEST(Compile, ShapelessElementwiseReplaysOnOtherShapes) {
  std::atomic<int> calls{0};
  auto fn = [&](const std::vector<array>& x) {
    ++calls;
    return std::vector<array>{tanh(exp(x[0] * 0.5f) * x[1]) + 1.0f};
  };
  auto ref = [](const array& a, const array& b) { return tanh(exp(a * 0.5f) * b) + 1.0f; };
  CompiledFunction c = compile(fn, true);
  array a = rnd({2, 3}, 40), b = rnd({1, 3}, 41);
  expect_same(c({a, b}), {ref(a, b)}, 0, "traced shapes");
  array a2 = rnd({40, 300}, 42), row = rnd({1, 300}, 43), col = rnd({40, 1}, 44);
  expect_same(c({a2, row}), {ref(a2, row)}, 0, "a row");
  expect_same(c({a2, col}), {ref(a2, col)}, 0, "a column");
  expect_same(c({a2, a2}), {ref(a2, a2)}, 0, "full");
  EXPECT_EQ(c({a2, col})[0].shape(), (Shape{40, 300}));
  EXPECT_EQ(calls.load(), 1);
  // Another rank or dtype: traced again.
  c({rnd({5}, 45), rnd({5}, 46)});
  c({astype(a, float16), astype(b, float16)});
  EXPECT_EQ(calls.load(), 3);
  // Shapes that do not broadcast: a clear error at the call.
  try {
    c({rnd({4, 5}, 47), rnd({4, 6}, 48)});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[compile] a shapeless function's"), std::string::npos)
        << e.what();
  }
}

TEST(Compile, CapturedArraysAreConstantsOfTheTrace) {
  array w = rnd({5, 3}, 7);
  array bias = rnd({3}, 8);
  CompiledFunction lin = compile([w, bias](const std::vector<array>& x) {
    return std::vector<array>{matmul(x[0], w) + bias};
  });
  array x = rnd({2, 5}, 9);
  expect_same(lin({x}), {matmul(x, w) + bias}, 1e-6, "captured weights");
  EXPECT_GE(detail::last_trace_stats().constants, 2);
  // The function can return an input, or a captured array, unchanged.
  CompiledFunction pass = compile([w](const std::vector<array>& x) {
    return std::vector<array>{x[0], w};
  });
  auto out = pass({x});
  EXPECT_EQ(out[0].node(), x.node());
  EXPECT_EQ(out[1].node(), w.node());
}

TEST(Compile, SimplifiesCommonSubexpressionsAndScalarConstants) {
  CompiledFunction c = compile([](const std::vector<array>& x) {
    array a = exp(x[0]) + exp(x[0]);             // exp once
    array k = array(2.0f) * array(3.0f);          // folded at trace time
    return std::vector<array>{a * k, sin(x[0]) * sin(x[0])};
  });
  array x = rnd({8}, 10);
  expect_same(c({x}), {(exp(x) + exp(x)) * 6.0f, sin(x) * sin(x)}, 1e-5, "simplified");
  detail::TraceStats st = detail::last_trace_stats();
  EXPECT_EQ(st.merged, 2) << "exp and sin each once";
  EXPECT_EQ(st.folded, 1);
  // Fusion then runs each chain of elementwise steps as one.
  EXPECT_EQ(st.kept, st.steps - st.merged - st.fused + st.chains);
  // no_simplify keeps every node; the results do not change.
  set_compile_mode(CompileMode::no_simplify);
  CompiledFunction d = compile([](const std::vector<array>& x) {
    return std::vector<array>{exp(x[0]) + exp(x[0])};
  });
  expect_same(d({x}), {exp(x) + exp(x)}, 1e-6, "no_simplify");
  EXPECT_EQ(detail::last_trace_stats().merged, 0);
  set_compile_mode(CompileMode::enabled);
  // Nodes the outputs do not reach are not replayed.
  CompiledFunction e = compile([](const std::vector<array>& x) {
    array unused = log(x[0]) * 3.0f;
    (void)unused;
    return std::vector<array>{x[0] + 1.0f};
  });
  e({x});
  EXPECT_EQ(detail::last_trace_stats().kept, 1);
}

TEST(Compile, DisabledCallsTheFunctionEveryTime) {
  std::atomic<int> calls{0};
  CompiledFunction c = compile([&](const std::vector<array>& x) {
    ++calls;
    return std::vector<array>{x[0] + 1.0f};
  });
  disable_compile();
  EXPECT_EQ(compile_mode(), CompileMode::disabled);
  c({ones({2})});
  c({ones({2})});
  EXPECT_EQ(calls.load(), 2);
  enable_compile();
  c({ones({2})});
  c({ones({2})});
  EXPECT_EQ(calls.load(), 3);
  EXPECT_THROW(set_compile_mode(static_cast<CompileMode>(7)), std::invalid_argument);
}

TEST(Compile, EvaluatingAnInputWhileTracingThrows) {
  CompiledFunction c = compile([](const std::vector<array>& x) {
    array v = x[0];
    if (v.item<float>() > 0) return std::vector<array>{x[0]};  // control flow on values
    return std::vector<array>{-x[0]};
  });
  try {
    c({ones({})});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[eval] cannot evaluate an array computed from the "
                                         "inputs of a function being compiled"),
              std::string::npos)
        << e.what();
  }
  // Arrays that do not depend on the inputs may be evaluated while tracing.
  CompiledFunction d = compile([](const std::vector<array>& x) {
    const float k = sum(ones({2}) * 3.0f).item<float>();
    return std::vector<array>{x[0] * k};
  });
  EXPECT_FLOAT_EQ(d({ones({})})[0].item<float>(), 6.0f);
  // ... or queued (async_eval): the trace then holds them as constants.
  CompiledFunction q = compile([](const std::vector<array>& x) {
    array k = sum(ones({4}) * 2.0f);
    async_eval({k});
    return std::vector<array>{x[0] * k};
  });
  EXPECT_FLOAT_EQ(q({ones({})})[0].item<float>(), 8.0f);
  EXPECT_FLOAT_EQ(q({full({}, 2.0f)})[0].item<float>(), 16.0f);
  EXPECT_THROW(compile([](const std::vector<array>& x) {
                 async_eval({x[0] + 1.0f});
                 return std::vector<array>{x[0]};
               })({ones({})}),
               std::invalid_argument);
  // An error thrown by the function while it is traced reaches the caller,
  // and nothing is cached: the next call traces again.
  std::atomic<int> calls{0};
  CompiledFunction e = compile([&](const std::vector<array>& x) {
    if (++calls == 1) throw std::runtime_error("first call fails");
    return std::vector<array>{x[0]};
  });
  EXPECT_THROW(e({ones({2})}), std::runtime_error);
  EXPECT_EQ(e({ones({2})}).size(), 1u);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_THROW(compile(CompiledFunction{}), std::invalid_argument);
}

// E2: an op of a replayed graph that fails raises at the sync point that
// observes it, every call.
TEST(Compile, ErrorsOfReplayedOpsSurfaceAtEval) {
  CompiledFunction c = compile([](const std::vector<array>& x) {
    array y = rill::testing::on_eval(x[0] * 2.0f, [] { throw std::runtime_error("kernel failed"); });
    return std::vector<array>{y + 1.0f};
  });
  for (int i = 0; i < 3; ++i) {
    array out = c({ones({4})})[0];
    EXPECT_THROW(out.eval(), std::runtime_error) << i;
  }
  // The stream keeps the first failure for synchronize (E2), once.
  EXPECT_THROW(synchronize(), std::runtime_error);
  synchronize();
}

// Any number of threads call one compiled function at once; each call's ops
// run on the calling thread's default stream, and a stream given inside the
// function is kept.
TEST(Compile, ManyThreadsAtOnceOnTheirOwnStreams) {
  const Device dev = default_device();
  Stream given = new_stream(dev);
  CompiledFunction c = compile([given](const std::vector<array>& x) {
    array y = tanh(matmul(x[0], x[1])) + x[0];
    array z = multiply(y, array(2.0f), given);
    return std::vector<array>{y, z};
  });
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        array a = rnd({6, 6}, 100 + t * 20 + i), b = rnd({6, 6}, 1000 + i);
        auto out = c({a, b});
        if (out[0].stream() != default_stream(dev)) ++bad;
        if (out[1].stream() != given) ++bad;
        array want = tanh(matmul(a, b)) + a;
        if (max_diff(out[0], want) > 1e-5 || max_diff(out[1], want * 2.0f) > 1e-5) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Compile, CompiledFunctionsNest) {
  CompiledFunction inner = compile([](const std::vector<array>& x) {
    return std::vector<array>{exp(x[0]) - 1.0f};
  });
  CompiledFunction outer = compile([inner](const std::vector<array>& x) {
    array h = inner({x[0] * 2.0f})[0];
    return std::vector<array>{inner({h})[0] + x[0]};
  });
  array x = rnd({5}, 11);
  array h = exp(x * 2.0f) - 1.0f;
  expect_same(outer({x}), {exp(h) - 1.0f + x}, 1e-5, "nested");
  expect_same(outer({x}), {exp(h) - 1.0f + x}, 1e-5, "nested, replayed");
}

// ---- The whole trace as one node (core/graph_step.h) ----
// On a GPU a trace whose steps all run on the caller's default stream is one
// node, captured as a CUDA graph per device stream from its second call; on
// the CPU the tests make the same node (run step by step there), so that both
// backends reach its logic: the inputs' copies, several outputs packed into
// one buffer, outputs that are inputs, constants or views.
namespace {

struct GraphStepsOnCpu {
  GraphStepsOnCpu() { rill::testing::compile_graph_steps_on_cpu(true); }
  ~GraphStepsOnCpu() { rill::testing::compile_graph_steps_on_cpu(false); }
  GraphStepsOnCpu(const GraphStepsOnCpu&) = delete;
  GraphStepsOnCpu& operator=(const GraphStepsOnCpu&) = delete;
};

// A small encoder-like block: a product with a captured weight, a norm, an
// elementwise chain, a reduction; outputs of every kind.
std::vector<array> block(const array& w, const std::vector<array>& x) {
  array h = matmul(x[0], w) + x[1];
  array g = fast::layer_norm(h, std::nullopt, std::nullopt, 1e-5f);
  array y = g * sigmoid(g * 1.702f);
  return {y, transpose(h), sum(y, 1), x[1], w, y, astype(y, bfloat16)};
}

}  // namespace

TEST(Compile, WholeTraceAsOneNodeEqualsUncompiled) {
  GraphStepsOnCpu on;
  const array w = rnd({16, 16}, 7);
  auto f = [w](const std::vector<array>& x) { return block(w, x); };
  CompiledFunction c = compile(f);
  const rill::testing::GpuGraphStats before = rill::testing::gpu_graph_stats();
  for (int i = 0; i < 5; ++i) {
    // New values each call: a graph that read the first call's inputs fails.
    const array a = rnd({8, 16}, 20 + i), b = rnd({16}, 40 + i);
    const std::vector<array> got = c({a, b});
    if (i == 0) {
      EXPECT_TRUE(detail::last_trace_stats().graph);
    }
    expect_same(got, f({a, b}), 1e-5, "call " + std::to_string(i));
    EXPECT_EQ(got[0].stream(), default_stream(default_device()));
  }
  if (default_device() == Device::gpu) {
    const rill::testing::GpuGraphStats after = rill::testing::gpu_graph_stats();
    EXPECT_EQ(after.captures - before.captures, 1u);  // one device stream, one capture
    EXPECT_EQ(after.launches - before.launches, 4u);  // every call after the first
    EXPECT_EQ(after.fallbacks, before.fallbacks);
  }
}

TEST(Compile, WholeTraceAsOneNodeFromManyThreads) {
  GraphStepsOnCpu on;
  const array w = rnd({16, 16}, 8);
  auto f = [w](const std::vector<array>& x) { return block(w, x); };
  CompiledFunction c = compile(f);
  // More threads than a GPU's pool has streams: some share a device stream,
  // and with it the captured graph and its buffers.
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const array a = rnd({8, 16}, 1000 + t * 10 + i), b = rnd({16}, 3000 + t * 10 + i);
        const std::vector<array> got = c({a, b});
        const std::vector<array> want = f({a, b});
        for (size_t k = 0; k < got.size(); ++k) {
          if (max_diff(got[k], want[k]) > 1e-5) ++bad;
        }
        if (got[0].stream() != default_stream(default_device())) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Compile, WholeTraceAsOneNodeTakesAnyInputLayout) {
  GraphStepsOnCpu on;
  const array w = rnd({16, 16}, 9);
  auto f = [w](const std::vector<array>& x) { return block(w, x); };
  CompiledFunction c = compile(f);
  for (int i = 0; i < 4; ++i) {
    const array a = rnd({16, 8}, 50 + i), b = rnd({16}, 60 + i);
    // A transposed view on odd calls: not row-major, so not what a graph reads.
    const array x = i % 2 ? transpose(a) : contiguous(transpose(a));
    expect_same(c({x, b}), f({x, b}), 1e-5, "call " + std::to_string(i));
  }
}

TEST(Compile, WholeTraceAsOneNodeRecoversFromAFailedCall) {
  GraphStepsOnCpu on;
  auto fail = std::make_shared<std::atomic<int>>(1);  // the first call's run fails
  CompiledFunction c = compile([fail](const std::vector<array>& x) {
    array y = rill::testing::on_eval(x[0] * 2.0f, [fail] {
      if (fail->exchange(0)) throw std::runtime_error("kernel failed");
    });
    return std::vector<array>{exp(y) + 1.0f};
  });
  const array x = rnd({32}, 70);
  array first = c({x})[0];
  EXPECT_THROW(first.eval(), std::runtime_error);
  EXPECT_THROW(synchronize(), std::runtime_error);  // the stream's failure, once (E2)
  for (int i = 0; i < 3; ++i) {
    const array v = x + static_cast<float>(i);
    expect_same(c({v}), {exp(v * 2.0f) + 1.0f}, 1e-5, "call " + std::to_string(i));
  }
}

TEST(Compile, FunctionPointerOverload) {
  CompiledFunction c = compile(+[](const std::vector<array>& x) {
    return std::vector<array>{x[0] * x[0]};
  });
  EXPECT_FLOAT_EQ(c({full({}, 3.0f)})[0].item<float>(), 9.0f);
  std::vector<array> (*null_fn)(const std::vector<array>&) = nullptr;
  EXPECT_THROW(compile(null_fn), std::invalid_argument);
}

// Fused elementwise chains over many chunks (and a shorter last one), with
// inputs of the full shape, broadcast along rows, along columns, scalars, a
// transposed view (the chain then runs op by op), and dtypes changing inside.
TEST(Compile, FusedChainsEqualTheOpsOverEveryLayout) {
  const int R = 300, C = 70;  // 21000 elements: chunks of 117 rows, then 66
  array a = rnd({R, C}, 20), row = rnd({C}, 21), col = rnd({R, 1}, 22);
  array bt = transpose(rnd({C, R}, 23));
  auto chain = [](const std::vector<array>& x) {
    array y = exp(x[0] * 0.5f) + x[1];             // row broadcast
    y = y * y - tanh(y) / (abs(x[0]) + 1.0f);
    array mask = greater(y, x[1] * 0.1f);           // bool inside the chain
    y = where(mask, y, -y) + 2.0f;
    array h = astype(y, float16);                   // float16 inside the chain
    y = astype(sqrt(astype(h, float32)), float32);
    return std::vector<array>{maximum(y, x[2]) * x[3]};  // then x[3]'s layout
  };
  struct Case {
    const char* what;
    std::vector<array> inputs;
  };
  for (const Case& c : {Case{"full and row-broadcast inputs", {a, row, rnd({C}, 24), a}},
                        Case{"column-broadcast input", {a, row, col, a}},
                        Case{"scalar input", {a, row, array(0.3f), a}},
                        Case{"transposed input", {a, row, col, bt}}}) {
    SCOPED_TRACE(c.what);
    CompiledFunction f = compile(chain);
    auto got = f(c.inputs);
    const detail::TraceStats st = detail::last_trace_stats();
    EXPECT_GE(st.chains, 1);
    EXPECT_GE(st.fused, 10);
    expect_same(got, chain(c.inputs), 2e-3, "fused");  // float16 rounding inside
    expect_same(f(c.inputs), chain(c.inputs), 2e-3, "fused, replayed");
  }
  // A result read outside the chain is not absorbed into it.
  CompiledFunction g = compile([](const std::vector<array>& x) {
    array y = exp(x[0]) * 2.0f;
    return std::vector<array>{y + 1.0f, y};
  });
  expect_same(g({a}), {exp(a) * 2.0f + 1.0f, exp(a) * 2.0f}, 1e-5, "shared intermediate");
}

// A float32 chain runs as one generated loop (not in sanitizer builds), equal
// to the ops run one by one bit for bit: inputs of the full shape, a row and
// a scalar; NaN through maximum; sin past its polynomial's range.
// Generated loops are the CPU's: these tests run there whatever the suite's
// default device.
struct OnCpu {
  Device previous = default_device();
  OnCpu() { set_default_device(Device::cpu); }
  ~OnCpu() { set_default_device(previous); }
  OnCpu(const OnCpu&) = delete;
  OnCpu& operator=(const OnCpu&) = delete;
};

TEST(Compile, GeneratedLoopEqualsTheKernelsBitForBit) {
  OnCpu on_cpu;
  const int R = 37, C = 300;
  std::vector<float> big(R * C);
  for (int i = 0; i < R * C; ++i) big[i] = (i % 7 == 0) ? 1e4f + i : float(i % 113) * 0.37f - 20.0f;
  big[5] = std::numeric_limits<float>::quiet_NaN();
  big[6] = std::numeric_limits<float>::infinity();
  array a(big.data(), {R, C}, float32);
  array row = rnd({C}, 30), s = array(0.75f);
  auto chain = [](const std::vector<array>& x) {
    array y = sin(x[0]) * x[2] + cos(x[1]);
    y = maximum(y, x[1]) - sigmoid(y) / (abs(x[0]) + 1.0f);
    y = tanh(y) + exp(minimum(y, x[2])) + log(abs(y) + 1.0f) * rsqrt(square(y) + 2.0f);
    return std::vector<array>{y * y + y};  // y read twice inside the chain
  };
  CompiledFunction f = compile(chain);
  array got = f({a, row, s})[0];
  const detail::TraceStats st = detail::last_trace_stats();
  EXPECT_EQ(st.chains, 1) << st.steps << " steps, " << st.kept << " kept, " << st.fused << " fused";
  EXPECT_EQ(st.kept, 2);  // cos of the row, then the chain
  if (!test::sanitized) {
    EXPECT_EQ(st.generated, 1);
  }
  array want = chain({a, row, s})[0];
  EXPECT_TRUE(array_equal(got, want, true).item<bool>());
  EXPECT_TRUE(array_equal(f({a, row, s})[0], want, true).item<bool>());
  // A transposed input of the full shape: the loop does not take it; the
  // chain runs through the kernels, with the same values.
  array at = transpose(transpose(a) + 0.0f);
  EXPECT_TRUE(array_equal(f({at, row, s})[0], chain({at, row, s})[0], true).item<bool>());
}

// Large chains split among idle workers (by rows when an input is a row,
// else by runs of elements): still equal to the ops bit for bit.
TEST(Compile, GeneratedLoopSplitAmongWorkersEqualsTheKernels) {
  OnCpu on_cpu;
  eval(array(1.0f) + array(1.0f));  // the workers exist
  auto chain = [](const std::vector<array>& x) {
    array y = tanh(x[0] * x[1] + 0.5f) - exp(minimum(x[0], x[1])) / (abs(x[0]) + 1.0f);
    return std::vector<array>{y * sigmoid(y) + log(abs(y) + 1.0f)};
  };
  CompiledFunction f = compile(chain);
  const array big = rnd({600, 300}, 80), row = rnd({300}, 81);  // 3 pieces of rows
  const array flat = rnd({200003}, 82), flat2 = rnd({200003}, 83);  // 4 runs of elements
  for (const auto& x : {std::vector<array>{big, row}, std::vector<array>{flat, flat2}}) {
    const array got = f(x)[0];
    if (!test::sanitized) {
      EXPECT_EQ(detail::last_trace_stats().generated, 1);
    }
    EXPECT_TRUE(array_equal(got, chain(x)[0], true).item<bool>());
    EXPECT_TRUE(array_equal(f(x)[0], chain(x)[0], true).item<bool>());
  }
}

// The generated code's cache survives the process: a second process with no
// compiler on its PATH still runs the chain as generated code, loaded from
// the cache. The processes are this test program, run twice on the helper
// test below with a fresh cache directory.
TEST(Compile, GeneratedCodeCacheSurvivesTheProcess) {
  if (test::sanitized) GTEST_SKIP() << "no generated code in sanitizer builds";
  char dir[] = "/tmp/rill-jit-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  // By its full path: the second process's PATH leads nowhere.
  const std::string timeout =
      std::filesystem::exists("/usr/bin/timeout") ? "/usr/bin/timeout 120 " : "";
  auto child = [&](const std::string& path) {
    const std::string cmd = "env RILL_COMPILE_CHILD=1 XDG_CACHE_HOME=" + std::string(dir) +
                            " PATH=" + path + " " + timeout + self +
                            " --gtest_filter=Compile.GeneratedCodeChild > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  const char* path = std::getenv("PATH");
  EXPECT_EQ(child(path ? path : "/usr/bin:/bin"), 0) << "first process (compiles)";
  EXPECT_EQ(child("/nonexistent"), 0) << "second process (no compiler: loads)";
  std::filesystem::remove_all(dir);
}

// The helper: compiles a chain and fails unless it runs as generated code.
TEST(Compile, GeneratedCodeChild) {
  if (!std::getenv("RILL_COMPILE_CHILD")) GTEST_SKIP() << "run by GeneratedCodeCacheSurvivesTheProcess";
  OnCpu on_cpu;
  CompiledFunction f = compile([](const std::vector<array>& x) {
    return std::vector<array>{tanh(x[0] * 3.0f + 1.0f) * x[0]};
  });
  array x = rnd({64, 64}, 50);
  array got = f({x})[0];
  ASSERT_EQ(detail::last_trace_stats().generated, 1);
  EXPECT_TRUE(array_equal(got, tanh(x * 3.0f + 1.0f) * x).item<bool>());
}

// On a GPU a fused chain runs as one kernel that NVRTC compiled from source
// written at trace time: equal to the ops run one by one, bit for bit, in
// every floating dtype, over inputs of the full shape, a row and a scalar;
// NaN and infinities through the comparisons and maximum; a transposed input
// (not the layout the kernel was made for) runs through the kernels instead.
TEST(Compile, GeneratedGpuKernelEqualsTheKernelsBitForBit) {
  if (!is_available(Device::gpu)) GTEST_SKIP() << "no GPU";
  StreamContext on_gpu(Device::gpu);
  const int R = 45, C = 333;
  std::vector<float> big(R * C);
  for (int i = 0; i < R * C; ++i) big[i] = (i % 7 == 0) ? 1e4f + i : float(i % 113) * 0.37f - 20.0f;
  big[5] = std::numeric_limits<float>::quiet_NaN();
  big[6] = std::numeric_limits<float>::infinity();
  big[7] = -std::numeric_limits<float>::infinity();
  const array a32(big.data(), {R, C}, float32);
  auto chain = [](const std::vector<array>& x) {
    array y = sin(x[0]) * x[2] + cos(x[1]);
    y = maximum(y, x[1]) - sigmoid(y) / (abs(x[0]) + 1.0f);
    y = tanh(y) + exp(minimum(y, x[2])) + log(abs(y) + 1.0f) * rsqrt(square(y) + 2.0f);
    y = where(greater(y, x[1]), nn::gelu(y), erf(y) * y);
    y = y * y + floor(y * 3.0f) / 7.0f;
    return std::vector<array>{y};
  };
  for (Dtype t : {float32, bfloat16, float16, float64}) {
    SCOPED_TRACE(dtype_name(t));
    const array a = astype(a32, t), row = rnd({C}, 30, t), s = astype(array(0.75f), t);
    CompiledFunction f = compile(chain);
    const array got = f({a, row, s})[0];
    const detail::TraceStats st = detail::last_trace_stats();
    EXPECT_EQ(st.chains, 1) << st.steps << " steps, " << st.kept << " kept";
    EXPECT_EQ(st.generated, 1);
    const array want = chain({a, row, s})[0];
    EXPECT_EQ(got.dtype(), t);
    EXPECT_TRUE(array_equal(got, want, true).item<bool>())
        << "largest difference " << max_diff(got, want);
    EXPECT_TRUE(array_equal(f({a, row, s})[0], want, true).item<bool>());
    const array at = transpose(transpose(a) + astype(array(0.0f), t));
    EXPECT_TRUE(array_equal(f({at, row, s})[0], chain({at, row, s})[0], true).item<bool>());
  }
  // Conversions and a bool chain: float32 -> bfloat16 -> float16 -> float64
  // -> bool -> float32.
  CompiledFunction g = compile([](const std::vector<array>& x) {
    array h = astype(astype(x[0] * 3.0f, bfloat16), float16);
    array d = astype(h, float64) * 1.5;
    array m = logical_not(astype(d, bool_));
    return std::vector<array>{astype(m, float32) + astype(d, float32)};
  });
  const array z = rnd({R, C}, 31) * 0.01f;
  const array got = g({z})[0];
  EXPECT_EQ(detail::last_trace_stats().generated, 1);
  const array h = astype(astype(z * 3.0f, bfloat16), float16);
  const array d = astype(h, float64) * 1.5;
  const array want = astype(logical_not(astype(d, bool_)), float32) + astype(d, float32);
  EXPECT_TRUE(array_equal(got, want, true).item<bool>());
}

// The generated GPU kernels' cache survives the process: a second process
// with the same cache directory loads the kernel NVRTC compiled for the
// first. Both are this test program, on the helper test below.
TEST(Compile, GeneratedGpuKernelCacheSurvivesTheProcess) {
  if (!is_available(Device::gpu)) GTEST_SKIP() << "no GPU";
  char dir[] = "/tmp/rill-jit-gpu-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string timeout =
      std::filesystem::exists("/usr/bin/timeout") ? "/usr/bin/timeout 120 " : "";
  auto child = [&](const char* expect) {
    const std::string cmd = "env RILL_COMPILE_GPU_CHILD=" + std::string(expect) +
                            " XDG_CACHE_HOME=" + std::string(dir) + " " + timeout + self +
                            " --gtest_filter=Compile.GeneratedGpuKernelChild > /dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  EXPECT_EQ(child("compiled"), 0) << "first process (NVRTC compiles)";
  EXPECT_EQ(child("loaded"), 0) << "second process (loads from the cache)";
  std::filesystem::remove_all(dir);
}

TEST(Compile, GeneratedGpuKernelChild) {
  const char* expect = std::getenv("RILL_COMPILE_GPU_CHILD");
  if (!expect) GTEST_SKIP() << "run by GeneratedGpuKernelCacheSurvivesTheProcess";
  ASSERT_TRUE(is_available(Device::gpu));
  StreamContext on_gpu(Device::gpu);
  CompiledFunction f = compile([](const std::vector<array>& x) {
    return std::vector<array>{tanh(x[0] * 3.0f + 1.0f) * x[0]};
  });
  const array x = rnd({64, 64}, 50);
  const array got = f({x})[0];
  ASSERT_EQ(detail::last_trace_stats().generated, 1);
  EXPECT_TRUE(array_equal(got, tanh(x * 3.0f + 1.0f) * x).item<bool>());
  const rill::testing::GpuJitStats st = rill::testing::gpu_jit_stats();
  if (std::string(expect) == "compiled") {
    EXPECT_EQ(st.compiled, 1u);
    EXPECT_EQ(st.loaded, 0u);
  } else {
    EXPECT_EQ(st.compiled, 0u);
    EXPECT_EQ(st.loaded, 1u);
  }
}

// clip is one kernel uncompiled; traced, it is maximum then minimum and fuses
// with the elementwise ops around it (one chain), with the same values.
TEST(Compile, ClipFusesWithTheOpsAroundIt) {
  auto chain = [](const std::vector<array>& x) {
    return std::vector<array>{exp(clip(x[0] * 2.0f, array(-1.0f), x[1])) + 1.0f};
  };
  CompiledFunction f = compile(chain);
  const array a = rnd({64, 50}, 90), hi = rnd({50}, 91);
  const array got = f({a, hi})[0];
  const detail::TraceStats st = detail::last_trace_stats();
  EXPECT_EQ(st.chains, 1);
  EXPECT_EQ(st.fused, 5);  // multiply, maximum, minimum, exp, add
  EXPECT_TRUE(array_equal(got, chain({a, hi})[0], true).item<bool>());
  // One bound, and a function traced with fusion off keeps clip one step.
  CompiledFunction g = compile([](const std::vector<array>& x) {
    return std::vector<array>{clip(x[0], std::nullopt, array(0.25f)) * 3.0f};
  });
  EXPECT_TRUE(array_equal(g({a})[0], clip(a, std::nullopt, array(0.25f)) * 3.0f).item<bool>());
  EXPECT_EQ(detail::last_trace_stats().fused, 2);
}
