// SPEC E1 (and D1 for ops): every public op rejects bad input when it is
// called, with std::invalid_argument (std::runtime_error for I/O) whose
// message starts "[op]". Table-driven: each op has a valid call, run with
// good and bad streams and devices, and a list of calls with bad shapes,
// axes, dtypes and values.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "rill/fast.h"
#include "rill/io.h"
#include "rill/nn.h"
#include "rill/random.h"
#include "rill/rill.h"
#include "test_util.h"

using namespace rill;

namespace {

using Arrays = std::vector<array>;
Arrays to_arrays(array a) {
  return {std::move(a)};
}
Arrays to_arrays(Arrays a) {
  return a;
}
Arrays to_arrays(std::pair<array, array> p) {
  return {p.first, p.second};
}

struct Bad {
  std::string what;
  std::function<void()> call;
};

struct OpCase {
  std::string op;  // the name the errors must carry, as "[op]"
  std::function<Arrays(StreamOrDevice)> valid;
  std::vector<Bad> bad;
};

// By value: arrays are handles, and the table outlives the function making it.
#define VALID(expr) [=](StreamOrDevice s) mutable -> Arrays { return to_arrays(expr); }
#define BAD(what, expr)                   \
  Bad {                                   \
    what, [=]() mutable { (void)(expr); } \
  }

// What an expected failure raised: "" if it raised nothing.
template <typename E>
std::string raised(const std::function<void()>& f, std::string& other) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    other = std::string("raised another type: ") + e.what();
    return "";
  }
  other = "raised nothing";
  return "";
}

std::string temp_path(const std::string& name) {
  return "/tmp/rill_test_bad_input_" + std::to_string(::getpid()) + "_" + name;
}

// Inputs shared by the table (all computed, so the valid calls are cheap).
struct Inputs {
  array f = reshape(arange(0.0, 6.0), {2, 3});   // float32 (2, 3)
  array i = reshape(arange(0, 6), {2, 3});       // int32 (2, 3)
  array b = greater(f, array(2.0f));             // bool (2, 3)
  array v = arange(0.0, 3.0);                    // float32 (3,)
  array m = reshape(arange(0.0, 12.0), {3, 4});  // float32 (3, 4)
  array e = zeros({2, 0});                       // empty
  array one = array(1.0f);                       // scalar
  array idx = array({0, 1}, int32);
  array key = random::key(7);
  array q = ones({1, 2, 4, 8});
  array kv = ones({1, 2, 5, 8});
  array w3 = ones({3});
  Inputs() { eval(f, i, b, v, m, e, one, idx, key, q, kv, w3); }
};

std::vector<OpCase> table(Inputs& in, const std::string& file) {
  array &f = in.f, &i = in.i, &b = in.b, &v = in.v, &m = in.m, &e = in.e, &one = in.one,
        &idx = in.idx, &key = in.key, &q = in.q, &kv = in.kv, &w3 = in.w3;
  using fast::layer_norm;
  using fast::rms_norm;
  using fast::rope;
  using fast::scaled_dot_product_attention;
  std::vector<OpCase> t;
  // ---- creation
  t.push_back(
      {"zeros",
       VALID(zeros({2, 3}, int32, s)),
       {BAD("negative dim", zeros({2, -1})), BAD("negative dim", zeros({-3}, int32)),
        BAD("2^90 elements", zeros({1 << 30, 1 << 30, 1 << 30})),
        BAD("2^90 beside an empty axis", zeros({0, 1 << 30, 1 << 30, 1 << 30}))}});
  t.push_back(
      {"ones",
       VALID(ones({2}, s)),
       {BAD("negative dim", ones({-1})), BAD("negative dim", ones({1, -1}, int32)),
        BAD("2^63 float64", ones({1 << 21, 1 << 21, 1 << 21}, float64))}});
  t.push_back({"full",
               VALID(full({2, 3}, array(1), float32, s)),
               {BAD("negative dim", full({-2}, one)),
                BAD("values do not broadcast", full({2}, v)),
                BAD("values do not broadcast", full({2, 2}, f, float32))}});
  t.push_back({"zeros_like", VALID(zeros_like(f, s)), {}});
  t.push_back({"ones_like", VALID(ones_like(i, s)), {}});
  t.push_back({"arange",
               VALID(arange(0.0, 4.0, 0.5, s)),
               {BAD("step 0", arange(0.0, 4.0, 0.0)), BAD("int step 0", arange(0, 4, 0)),
                BAD("infinite stop", arange(0.0, INFINITY, 1.0)),
                BAD("NaN start", arange(NAN, 4.0)), BAD("bool dtype", arange(4.0, bool_)),
                BAD("too many elements", arange(0.0, 1e12, 1.0))}});
  t.push_back({"eye",
               VALID(eye(3, 4, 1, int32, s)),
               {BAD("negative n", eye(-1)), BAD("negative m", eye(2, -2))}});
  t.push_back({"astype", VALID(astype(i, float32, s)), {}});
  t.push_back({"astype", VALID(astype(f, float32, s)), {}});  // same dtype: no node
  t.push_back({"copy", VALID(copy(f, s)), {}});
  // ---- unary (integer inputs take the conversion path)
  t.push_back({"negative", VALID(negative(i, s)), {BAD("bool", negative(b))}});
  for (auto [name, fn] :
       std::vector<std::pair<const char*, array (*)(const array&, StreamOrDevice)>>{
           {"abs", abs},
           {"sign", sign},
           {"exp", exp},
           {"log", log},
           {"log1p", log1p},
           {"sqrt", sqrt},
           {"rsqrt", rsqrt},
           {"square", square},
           {"sin", sin},
           {"cos", cos},
           {"tanh", tanh},
           {"sigmoid", sigmoid},
           {"erf", erf},
           {"floor", floor},
           {"ceil", ceil},
           {"logical_not", logical_not}}) {
    t.push_back(
        {name, [=, fn = fn](StreamOrDevice s) -> Arrays { return {fn(i, s)}; }, {}});
  }
  t.push_back(
      {"round", VALID(round(f, 2, s)), {BAD("negative decimals on int", round(i, -1))}});
  // ---- binary (int32 with float32: the promotion path)
  using Binary = array (*)(const array&, const array&, StreamOrDevice);
  for (auto [name, fn] :
       std::vector<std::pair<const char*, Binary>>{{"add", add},
                                                   {"subtract", subtract},
                                                   {"multiply", multiply},
                                                   {"divide", divide},
                                                   {"maximum", maximum},
                                                   {"minimum", minimum},
                                                   {"power", power},
                                                   {"remainder", remainder},
                                                   {"equal", equal},
                                                   {"not_equal", not_equal},
                                                   {"less", less},
                                                   {"less_equal", less_equal},
                                                   {"greater", greater},
                                                   {"greater_equal", greater_equal},
                                                   {"logical_and", logical_and},
                                                   {"logical_or", logical_or}}) {
    t.push_back({name,
                 [=, fn = fn](StreamOrDevice s) -> Arrays { return {fn(i, f, s)}; },
                 {Bad{"shapes (2, 3) and (3, 4)", [=, fn = fn] { fn(f, m, {}); }},
                  Bad{"shapes (2, 3) and (3,) int", [=, fn = fn] { fn(i, m, {}); }}}});
  }
  t.push_back({"subtract", VALID(subtract(b, f, s)), {BAD("two bools", subtract(b, b))}});
  t.push_back({"where",
               VALID(where(i, i, f, s)),
               {BAD("condition shape", where(m, f, f)), BAD("y shape", where(b, f, m))}});
  t.push_back({"broadcast_shapes",
               [&](StreamOrDevice) -> Arrays { return {}; },
               {BAD("(2, 3) and (4,)", broadcast_shapes({2, 3}, {4}))}});
  // ---- reductions (bool and int inputs take conversion paths)
  using Reduce = array (*)(const array&, const std::vector<int>&, bool, StreamOrDevice);
  using ReduceAll = array (*)(const array&, StreamOrDevice);
  using ReduceAxis = array (*)(const array&, int, bool, StreamOrDevice);
  using ReduceKeep = array (*)(const array&, bool, StreamOrDevice);
  struct R {
    const char* name;
    Reduce axes;
    ReduceAll all;
    ReduceAxis axis;
    ReduceKeep keep;
  };
  for (R r : std::vector<R>{{"sum", sum, sum, sum, sum},
                            {"mean", mean, mean, mean, mean},
                            {"prod", prod, prod, prod, prod},
                            {"max", max, max, max, max},
                            {"min", min, min, min, min},
                            {"all", all, all, all, all},
                            {"any", any, any, any, any}}) {
    t.push_back({r.name,
                 [=](StreamOrDevice s) -> Arrays {
                   return {r.axes(i, {0, -1}, true, s), r.all(b, s),
                           r.axis(i, 1, false, s), r.keep(f, true, s)};
                 },
                 {Bad{"axis 2 of 2-D", [=] { r.axis(f, 2, false, {}); }},
                  Bad{"axis -3 of 2-D", [=] { r.axes(f, {-3}, false, {}); }},
                  Bad{"repeated axis",
                      [=] {
                        r.axes(f, {1, -1}, false, {});
                      }},
                  Bad{"axis of a scalar", [=] { r.axis(one, 0, false, {}); }}}});
  }
  t.push_back(
      {"max", VALID(max(f, s)), {BAD("empty axis", max(e, 1)), BAD("empty", max(e))}});
  t.push_back({"min", VALID(min(f, s)), {BAD("empty axis", min(e, 1))}});
  t.push_back({"argmax",
               VALID(Arrays({argmax(f, s), argmax(f, true, s), argmax(i, 1, true, s)})),
               {BAD("axis 2", argmax(f, 2)), BAD("empty", argmax(e)),
                BAD("empty axis", argmax(e, 1))}});
  t.push_back({"argmin",
               VALID(Arrays({argmin(f, s), argmin(f, true, s), argmin(i, 0, false, s)})),
               {BAD("axis -3", argmin(f, -3)), BAD("empty", argmin(e, true))}});
  // ---- matmul
  t.push_back(
      {"matmul",
       VALID(Arrays({matmul(v, m, s), matmul(f, astype(m, int32), s), matmul(f, v, s)})),
       {BAD("scalar operand", matmul(one, m)),
        BAD("int operands", matmul(i, astype(m, int32))),
        BAD("inner (2, 3) x (2, 3)", matmul(f, f)),
        BAD("vector (3,) x (2, 3)", matmul(v, f)),
        BAD("batch (2, 2, 3) x (3, 3, 4)",
            matmul(reshape(arange(0.0, 12.0), {2, 2, 3}),
                   reshape(arange(0.0, 36.0), {3, 3, 4})))}});
  t.push_back(
      {"addmm",
       VALID(Arrays({addmm(v, m, transpose(m), 1.0f, 1.0f, s),
                     addmm(one, v, m, 2.0f, 0.5f, s),
                     addmm(astype(slice(m, {0, 0}, {1, 4}), int32), f, astype(m, int32),
                           1.0f, 1.0f, s)})),
       {BAD("scalar operand", addmm(v, one, m)),
        BAD("int operands", addmm(i, i, astype(m, int32))),
        BAD("inner (2, 3) x (2, 3)", addmm(v, f, f)),
        BAD("c (3,) onto (2, 4)", addmm(v, f, m)),
        BAD("c (2, 2, 4) wider than (2, 4)", addmm(ones({2, 2, 4}), f, m)),
        BAD("batch (2, 2, 3) x (3, 3, 4)",
            addmm(one, reshape(arange(0.0, 12.0), {2, 2, 3}),
                  reshape(arange(0.0, 36.0), {3, 3, 4})))}});
  // ---- shapes and views
  t.push_back({"reshape",
               VALID(Arrays({reshape(f, {3, -1}, s), reshape(f, {2, 3}, s)})),
               {BAD("two -1", reshape(f, {-1, -1})), BAD("negative", reshape(f, {-2, 3})),
                BAD("size 6 into 4", reshape(f, {4})),
                BAD("size 6 into (-1, 4)", reshape(f, {-1, 4})),
                BAD("0 with -1", reshape(e, {0, -1})),
                BAD("empty into 2^90", reshape(e, {0, 1 << 30, 1 << 30, 1 << 30}))}});
  t.push_back({"flatten",
               VALID(Arrays({flatten(f, s), flatten(one, s), flatten(f, 0, 1, s)})),
               {BAD("start 2", flatten(f, 2)), BAD("end -3", flatten(f, 0, -3)),
                BAD("start after end", flatten(f, 1, 0))}});
  t.push_back(
      {"transpose",
       VALID(Arrays({transpose(f, s), transpose(f, {1, 0}, s)})),
       {BAD("too few axes", transpose(f, {0})), BAD("repeated", transpose(f, {1, 1})),
        BAD("out of range", transpose(f, {0, 2}))}});
  t.push_back({"swapaxes",
               VALID(swapaxes(f, 0, -1, s)),
               {BAD("axis 2", swapaxes(f, 0, 2)), BAD("axis -3", swapaxes(f, -3, 0))}});
  t.push_back(
      {"expand_dims",
       VALID(Arrays({expand_dims(f, 0, s), expand_dims(f, {0, 3}, s)})),
       {BAD("axis 3 of 2-D", expand_dims(f, 3)), BAD("repeated", expand_dims(f, {1, 1})),
        BAD("axis -4", expand_dims(f, -4))}});
  t.push_back({"squeeze",
               VALID(Arrays({squeeze(reshape(f, {1, 2, 3}), s),
                             squeeze(reshape(f, {2, 1, 3}), 1, s),
                             squeeze(reshape(f, {1, 2, 1, 3}), {0, 2}, s)})),
               {BAD("size 2", squeeze(f, 0)), BAD("axis 2", squeeze(f, 2)),
                BAD("repeated", squeeze(reshape(f, {1, 6}), {0, 0}))}});
  t.push_back({"broadcast_to",
               VALID(Arrays({broadcast_to(v, {2, 3}, s), broadcast_to(f, {2, 3}, s)})),
               {BAD("(2, 3) to (3, 3)", broadcast_to(f, {3, 3})),
                BAD("(2, 3) to (3,)", broadcast_to(f, {3})),
                BAD("negative", broadcast_to(one, {-1})),
                BAD("2^90 elements", broadcast_to(one, {1 << 30, 1 << 30, 1 << 30}))}});
  t.push_back({"slice",
               VALID(Arrays({slice(f, {0, 1}, {2, 3}, s),
                             slice(f, {1, 2}, {-3, -4}, {-1, -1}, s)})),
               {BAD("one start for 2-D", slice(f, {0}, {1, 1})),
                BAD("strides length", slice(f, {0, 0}, {1, 1}, {1})),
                BAD("step 0", slice(f, {0, 0}, {1, 1}, {1, 0}))}});
  t.push_back({"contiguous", VALID(contiguous(transpose(f), false, s)), {}});
  // ---- comparisons
  t.push_back({"isclose",
               VALID(isclose(i, f, 1e-5, 1e-8, true, s)),
               {BAD("shapes (2, 3) and (3, 4)", isclose(f, m))}});
  t.push_back({"allclose",
               VALID(allclose(f, i, 1e-5, 1e-8, false, s)),
               {BAD("shapes (2, 3) and (3, 4)", allclose(f, m))}});
  t.push_back({"array_equal",
               VALID(Arrays({array_equal(f, i, true, s), array_equal(f, m, false, s)})),
               {}});
  // ---- softmax and friends
  t.push_back({"softmax",
               VALID(Arrays({softmax(i, false, s), softmax(f, 0, false, s),
                             softmax(f, {0, 1}, true, s)})),
               {BAD("axis 2", softmax(f, 2)), BAD("repeated", softmax(f, {1, -1}))}});
  t.push_back(
      {"logsumexp",
       VALID(Arrays({logsumexp(i, s), logsumexp(f, true, s), logsumexp(f, 1, true, s),
                     logsumexp(f, {0}, false, s)})),
       {BAD("axis -3", logsumexp(f, -3)), BAD("repeated", logsumexp(f, {0, 0}))}});
  // ---- indexing, joining, splitting
  t.push_back(
      {"take",
       VALID(Arrays(
           {take(f, idx, 1, s), take(f, idx, s), take(f, 1, 0, s), take(f, -1, s)})),
       {BAD("axis 2", take(f, idx, 2)), BAD("float indices", take(f, v, 0)),
        BAD("index 5 of size 2", take(f, 5, 0)), BAD("index 6 of size 6", take(f, 6)),
        BAD("empty axis", take(e, idx, 1)), BAD("scalar", take(one, idx, 0))}});
  t.push_back(
      {"take_along_axis",
       VALID(take_along_axis(f, reshape(idx, {2, 1}), 1, s)),
       {BAD("1-D indices", take_along_axis(f, idx, 1)),
        BAD("float indices", take_along_axis(f, f, 1)),
        BAD("axis 2", take_along_axis(f, reshape(idx, {2, 1}), 2)),
        BAD("indices (3, 1)", take_along_axis(f, reshape(arange(0, 3), {3, 1}), 1))}});
  t.push_back(
      {"concatenate",
       VALID(Arrays({concatenate({f, i}, 0, s), concatenate({f}, 1, s),
                     concatenate({i}, 1, s), concatenate({f, v}, s)})),
       {BAD("none", concatenate({}, 0)), BAD("scalars", concatenate({one, one}, 0)),
        BAD("(2, 3) and (3, 4) on 0", concatenate({f, m}, 0)),
        BAD("axis 2", concatenate({f, f}, 2)),
        BAD("ndim differs", concatenate({f, v}, 0))}});
  t.push_back({"stack",
               VALID(Arrays({stack({f, i}, s), stack({f, f}, 2, s)})),
               {BAD("none", stack({})), BAD("shapes differ", stack({f, m})),
                BAD("axis 3", stack({f, f}, 3))}});
  t.push_back({"split",
               VALID(Arrays(split(f, 3, 1, s))),
               {BAD("axis 2", split(f, 2, 2)), BAD("0 parts", split(f, 0)),
                BAD("3 parts of 2", split(f, 3)),
                BAD("indices axis -3", split(f, Shape{1}, -3))}});
  t.push_back({"split", VALID(Arrays(split(f, Shape{1, 2}, 1, s))), {}});
  t.push_back({"split", VALID(Arrays(split(f, 2, s))), {}});
  t.push_back({"split", VALID(Arrays(split(f, Shape{1}, s))), {}});
  t.push_back(
      {"pad",
       VALID(Arrays(
           {pad(f, 1, array(0), "constant", s), pad(i, {1, 2}, one, "edge", s),
            pad(f, {{0, 1}, {2, 0}}, array(0), "constant", s),
            pad(f, std::vector<int>{1}, Shape{1}, Shape{0}, array(3), "constant", s)})),
       {BAD("mode", pad(f, 1, array(0), "wrap")), BAD("pad value shape", pad(f, 1, v)),
        BAD("negative", pad(f, -1)), BAD("pairs for 2-D", pad(f, {{1, 1}})),
        BAD("axes and sizes", pad(f, std::vector<int>{0, 1}, Shape{1}, Shape{1})),
        BAD("axis 2", pad(f, std::vector<int>{2}, Shape{1}, Shape{1})),
        BAD("repeated axis", pad(f, std::vector<int>{0, 0}, Shape{1, 1}, Shape{1, 1})),
        BAD("edge of empty", pad(e, 1, array(0), "edge"))}});
  t.push_back(
      {"cumsum",
       VALID(Arrays({cumsum(b, 1, false, true, s), cumsum(f, 0, true, false, s)})),
       {BAD("axis 2", cumsum(f, 2)), BAD("scalar", cumsum(one, 0))}});
  // ---- sorting
  using Sort = array (*)(const array&, int, StreamOrDevice);
  using SortFlat = array (*)(const array&, StreamOrDevice);
  for (auto [name, fn, flat] : std::vector<std::tuple<const char*, Sort, SortFlat>>{
           {"sort", sort, sort}, {"argsort", argsort, argsort}}) {
    t.push_back({name,
                 [=, fn = fn, flat = flat](StreamOrDevice s) -> Arrays {
                   return {fn(i, 0, s), flat(f, s)};
                 },
                 {Bad{"axis 2", [=, fn = fn] { fn(f, 2, {}); }},
                  Bad{"axis of a scalar", [=, fn = fn] { fn(one, 0, {}); }}}});
  }
  using Part = array (*)(const array&, int, int, StreamOrDevice);
  using PartFlat = array (*)(const array&, int, StreamOrDevice);
  for (auto [name, fn, flat] : std::vector<std::tuple<const char*, Part, PartFlat>>{
           {"partition", partition, partition},
           {"argpartition", argpartition, argpartition},
           {"topk", topk, topk}}) {
    t.push_back({name,
                 [=, fn = fn, flat = flat](StreamOrDevice s) -> Arrays {
                   return {fn(i, 1, 1, s), flat(f, 2, s)};
                 },
                 {Bad{"k 7 of 3", [=, fn = fn] { fn(f, 7, 1, {}); }},
                  Bad{"k -4 of 3", [=, fn = fn] { fn(f, -4, 1, {}); }},
                  Bad{"axis 2", [=, fn = fn] { fn(f, 1, 2, {}); }},
                  Bad{"flat k 7 of 6", [=, flat = flat] { flat(f, 7, {}); }}}});
  }
  // ---- fast
  for (const char* name : {"layer_norm", "rms_norm"}) {
    bool ln = name[0] == 'l';
    auto call = [ln](const array& x, std::optional<array> w, float eps,
                     StreamOrDevice s) {
      return ln ? layer_norm(x, w, w, eps, s) : rms_norm(x, w, eps, s);
    };
    t.push_back(
        {name,
         [=](StreamOrDevice s) -> Arrays {
           return {call(f, astype(w3, float16), 1e-5f, s), call(f, std::nullopt, 0, s)};
         },
         {Bad{"scalar x", [=] { call(one, std::nullopt, 1e-5f, {}); }},
          Bad{"weight (2,) for 3", [=] { call(f, ones({2}), 1e-5f, {}); }},
          Bad{"weight 2-D",
              [=] {
                call(f, ones({1, 3}), 1e-5f, {});
              }},
          Bad{"int x", [=] { call(i, std::nullopt, 1e-5f, {}); }},
          Bad{"negative eps", [=] { call(f, std::nullopt, -1.0f, {}); }},
          Bad{"NaN eps", [=] { call(f, std::nullopt, NAN, {}); }}}});
  }
  t.push_back(
      {"rope",
       VALID(Arrays({rope(q, 4, false, 10000.0f, 1.0f, 2, std::nullopt, s),
                     rope(q, 8, true, std::nullopt, 1.0f, array(1), ones({4}), s)})),
       {BAD("1-D x", rope(v, 2, false, 10000.0f, 1.0f, 0)),
        BAD("int x", rope(astype(q, int32), 4, false, 10000.0f, 1.0f, 0)),
        BAD("odd dims", rope(q, 3, false, 10000.0f, 1.0f, 0)),
        BAD("dims > D", rope(q, 10, false, 10000.0f, 1.0f, 0)),
        BAD("base and freqs", rope(q, 4, false, 10000.0f, 1.0f, 0, ones({2}))),
        BAD("neither base nor freqs", rope(q, 4, false, std::nullopt, 1.0f, 0)),
        BAD("negative base", rope(q, 4, false, -1.0f, 1.0f, 0)),
        BAD("freqs shape", rope(q, 4, false, std::nullopt, 1.0f, 0, ones({3}))),
        BAD("int freqs", rope(q, 4, false, std::nullopt, 1.0f, 0, array({1, 2}, int32))),
        BAD("float offset", rope(q, 4, false, 10000.0f, 1.0f, array(1.0f))),
        BAD("offset shape",
            rope(q, 4, false, 10000.0f, 1.0f, array({1, 2, 3}, int32)))}});
  t.push_back(
      {"scaled_dot_product_attention",
       VALID(Arrays(
           {scaled_dot_product_attention(q, kv, kv, 0.5f, "", std::nullopt, s),
            scaled_dot_product_attention(q, kv, kv, 0.5f, "causal", std::nullopt, s),
            scaled_dot_product_attention(q, kv, kv, 0.5f, "", ones({4, 5}, bool_), s)})),
       {BAD("3-D q", scaled_dot_product_attention(ones({2, 4, 8}), kv, kv, 1.0f)),
        BAD("batch", scaled_dot_product_attention(ones({2, 2, 4, 8}), kv, kv, 1.0f)),
        BAD("k and v lengths",
            scaled_dot_product_attention(q, kv, ones({1, 2, 6, 8}), 1.0f)),
        BAD("heads 3 of 2",
            scaled_dot_product_attention(ones({1, 3, 4, 8}), kv, kv, 1.0f)),
        BAD("head dim", scaled_dot_product_attention(ones({1, 2, 4, 6}), kv, kv, 1.0f)),
        BAD("int", scaled_dot_product_attention(astype(q, int32), astype(kv, int32),
                                                astype(kv, int32), 1.0f)),
        BAD("mask mode", scaled_dot_product_attention(q, kv, kv, 1.0f, "sliding")),
        BAD("mask shape",
            scaled_dot_product_attention(q, kv, kv, 1.0f, "", ones({3, 5}))),
        BAD("int mask",
            scaled_dot_product_attention(q, kv, kv, 1.0f, "", ones({4, 5}, int32)))}});
  // ---- nn
  using Act = array (*)(const array&, StreamOrDevice);
  for (auto [name, fn] :
       std::vector<std::pair<const char*, Act>>{{"gelu", nn::gelu},
                                                {"gelu_approx", nn::gelu_approx},
                                                {"silu", nn::silu},
                                                {"relu", nn::relu}}) {
    t.push_back(
        {name, [=, fn = fn](StreamOrDevice s) -> Arrays { return {fn(f, s)}; }, {}});
  }
  // ---- random
  t.push_back(
      {"bits",
       VALID(Arrays(
           {random::bits({2, 3}, 1, key, s), random::bits({4}, 4, std::nullopt, s)})),
       {BAD("negative dim", random::bits({-1})), BAD("width 3", random::bits({2}, 3)),
        BAD("key shape", random::bits({2}, 4, ones({3}, uint32))),
        BAD("key dtype", random::bits({2}, 4, ones({2})))}});
  t.push_back({"split",
               VALID(Arrays({random::split(key, 3, s)})),
               {BAD("num 0", random::split(key, 0)),
                BAD("key shape", random::split(ones({3}, uint32), 2))}});
  t.push_back(
      {"split", VALID(random::split(key, s)), {BAD("key dtype", random::split(f))}});
  t.push_back(
      {"uniform",
       VALID(Arrays({random::uniform(array(0), array(2.0f), {2, 3}, float16, key, s),
                     random::uniform({3}, float32, std::nullopt, s),
                     random::uniform({2}, key, s)})),
       {BAD("negative dim", random::uniform({-1})),
        BAD("2^90 elements", random::uniform({1 << 30, 1 << 30, 1 << 30})),
        BAD("int dtype", random::uniform({2}, int32)),
        BAD("low (3,) for (2,)", random::uniform(v, one, {2})),
        BAD("key shape", random::uniform({2}, float32, ones({3}, uint32)))}});
  t.push_back({"normal",
               VALID(Arrays({random::normal({2, 3}, bfloat16, 1.0f, 2.0f, key, s),
                             random::normal({3}, float32, std::nullopt, s),
                             random::normal({2}, key, s)})),
               {BAD("negative dim", random::normal({2, -2})),
                BAD("int dtype", random::normal({2}, uint32)),
                BAD("key dtype", random::normal({2}, float32, array({1, 2}, int32)))}});
  // ---- I/O (bad files are runtime errors, tested below)
  t.push_back({"load_safetensors",
               [=](StreamOrDevice s) -> Arrays {
                 auto loaded = load_safetensors(file, s);
                 return {loaded.first.at("w")};
               },
               {}});
  t.push_back(
      {"save_safetensors",
       [&](StreamOrDevice) -> Arrays { return {}; },
       {BAD("reserved name", save_safetensors(temp_path("x"), {{"__metadata__", f}}))}});
  // ---- arrays
  t.push_back({"array",
               [=](StreamOrDevice) -> Arrays {
                 return {array({1.0f, 2.0f}, {2})};
               },
               {BAD("3 values for (2, 2)", array({1.0f, 2.0f, 3.0f}, {2, 2})),
                BAD("2 values for (3,)", array(std::vector<int>{1, 2}, {3})),
                BAD("negative dim", array(std::vector<float>{}, {-1})),
                BAD("empty with 2^90",
                    array(std::vector<float>{}, {0, 1 << 30, 1 << 30, 1 << 30})),
                BAD("negative dim (iterator)", array(v.data<float>(), {2, -1}))}});
  t.push_back({"item",
               [&](StreamOrDevice) -> Arrays { return {}; },
               {BAD("int of float", one.item<int32_t>()),
                BAD("6 elements", f.item<float>()), BAD("0 elements", e.item<float>())}});
  t.push_back(
      {"data",
       [&](StreamOrDevice) -> Arrays { return {}; },
       {BAD("float of int", i.data<float>()), BAD("bool of float", f.data<bool>())}});
  t.push_back({"shape",
               [&](StreamOrDevice) -> Arrays { return {}; },
               {BAD("dim 2 of 2-D", f.shape(2)), BAD("dim -3 of 2-D", f.shape(-3))}});
  // ---- devices and streams (taking a stream or device, validated like ops)
  t.push_back({"StreamContext",
               [=](StreamOrDevice s) -> Arrays {
                 if (std::holds_alternative<std::monostate>(s)) return {};
                 StreamContext ctx(s);
                 return {add(f, one)};
               },
               {BAD("neither stream nor device", StreamContext({}))}});
  t.push_back({"to_stream",
               [&](StreamOrDevice s) -> Arrays {
                 to_stream(s);
                 return {};
               },
               {}});
  return t;
}

// Streams and devices no op may accept.
std::vector<std::pair<std::string, StreamOrDevice>> bad_places() {
  std::vector<std::pair<std::string, StreamOrDevice>> out = {
      {"Device(cpu, 1)", Device(Device::cpu, 1)},
      {"Device(gpu, 99)", Device(Device::gpu, 99)},
      {"Device(cpu, -1)", Device(Device::cpu, -1)},
      {"Stream(cpu, 1073741824)", Stream(1 << 30, Device::cpu)},  // never created
      {"Device(gpu, 99)", Stream(0, Device(Device::gpu, 99))},
  };
  // A stream that existed: the default stream of a thread that has exited.
  Stream gone(-1, Device::cpu);
  std::thread([&] { gone = default_stream(Device::cpu); }).join();
  std::ostringstream name;
  name << gone;
  out.emplace_back(name.str(), gone);
  return out;
}

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    file_ = temp_path("valid.safetensors");
    save_safetensors(file_, {{"w", ones({2, 2})}});
  }
  static void TearDownTestSuite() { std::remove(file_.c_str()); }
  static std::string file_;
};
std::string BadInput::file_;

}  // namespace

TEST_F(BadInput, ValidCallsSucceedOnEveryGoodStream) {
  Inputs in;
  auto t = table(in, file_);
  Stream other = new_stream(Device::cpu);
  for (OpCase& c : t) {
    for (StreamOrDevice s :
         {StreamOrDevice{}, StreamOrDevice{Device(Device::cpu)}, StreamOrDevice{other}}) {
      try {
        Arrays out = c.valid(s);
        eval(out);
      } catch (const std::exception& e) {
        ADD_FAILURE() << c.op << ": valid call raised " << e.what();
      }
    }
  }
  std::cout << t.size() << " valid calls, each on 3 streams\n";
}

TEST_F(BadInput, EveryOpRejectsBadShapesAxesDtypesAndValues) {
  Inputs in;
  auto t = table(in, file_);
  int tried = 0;
  std::set<std::string> ops;
  for (OpCase& c : t) {
    ops.insert(c.op);
    for (Bad& bad : c.bad) {
      ++tried;
      std::string other;
      std::string msg = raised<std::invalid_argument>(bad.call, other);
      if (msg.empty()) {
        ADD_FAILURE() << c.op << " (" << bad.what << "): " << other;
        continue;
      }
      EXPECT_NE(msg.find("[" + c.op + "]"), std::string::npos)
          << c.op << " (" << bad.what << "): " << msg;
    }
  }
  RecordProperty("bad_inputs", tried);
  std::cout << tried << " bad arguments tried over " << ops.size() << " ops\n";
}

TEST_F(BadInput, EveryOpRejectsBadDevicesAndStreams) {
  Inputs in;
  auto t = table(in, file_);
  auto places = bad_places();
  int tried = 0;
  size_t streams_before = get_streams().size();
  for (OpCase& c : t) {
    if (c.op == "broadcast_shapes" || c.op == "save_safetensors" || c.op == "array" ||
        c.op == "item" || c.op == "data" || c.op == "shape") {
      continue;  // these take no stream
    }
    for (auto& [name, place] : places) {
      ++tried;
      std::string other;
      std::string msg = raised<std::invalid_argument>([&] { c.valid(place); }, other);
      if (msg.empty()) {
        ADD_FAILURE() << c.op << " on " << name << ": " << other;
        continue;
      }
      EXPECT_NE(msg.find("[" + c.op + "]"), std::string::npos)
          << c.op << " on " << name << ": " << msg;
      EXPECT_NE(msg.find(name), std::string::npos)
          << c.op << " does not name " << name << ": " << msg;
    }
  }
  EXPECT_EQ(get_streams().size(), streams_before) << "a rejected call made a stream";
  RecordProperty("bad_places", tried);
  std::cout << tried << " calls with bad devices and streams\n";
}

TEST_F(BadInput, DevicesAndStreamsThemselves) {
  int tried = 0;
  auto expect = [&](const char* op, const std::function<void()>& f) {
    ++tried;
    std::string other;
    std::string msg = raised<std::invalid_argument>(f, other);
    EXPECT_NE(msg.find(std::string("[") + op + "]"), std::string::npos)
        << op << ": " << msg << other;
  };
  for (Device d :
       {Device(Device::cpu, 1), Device(Device::gpu, 99), Device(Device::cpu, -1)}) {
    expect("default_stream", [&] { default_stream(d); });
    expect("new_stream", [&] { new_stream(d); });
    expect("set_default_device", [&] { set_default_device(d); });
    expect("device_info", [&] { device_info(d); });
    expect("synchronize", [&] { synchronize(Stream(0, d)); });
    expect("set_default_stream", [&] { set_default_stream(Stream(0, d)); });
  }
  expect("synchronize", [&] { synchronize(Stream(1 << 30, Device::cpu)); });
  expect("set_default_stream", [&] { set_default_stream(Stream(1 << 30, Device::cpu)); });
  std::cout << tried << " bad device and stream calls\n";
}

TEST_F(BadInput, FilesRaiseRuntimeErrors) {
  auto expect = [](const char* op, const std::function<void()>& f) {
    std::string other;
    std::string msg = raised<std::runtime_error>(f, other);
    EXPECT_NE(msg.find(std::string("[") + op + "]"), std::string::npos)
        << op << ": " << msg << other;
  };
  expect("load_safetensors", [] { load_safetensors("/nonexistent/x.safetensors"); });
  expect("load_safetensors", [] { load_safetensors("/tmp"); });  // a directory
  expect("save_safetensors", [] {
    save_safetensors("/nonexistent/dir/x.safetensors", {{"a", ones({2})}});
  });
}
