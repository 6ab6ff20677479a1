// SPEC A4: randomness never races.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "rill/rill.h"

using namespace rill;

namespace {
std::vector<uint32_t> values(array a) {
  a = contiguous(a);
  const uint32_t* p = a.data<uint32_t>();
  return std::vector<uint32_t>(p, p + a.size());
}
}  // namespace

TEST(Random, ExplicitKeysAreDeterministic) {
  auto a = values(random::bits({64}, 4, random::key(42)));
  auto b = values(random::bits({64}, 4, random::key(42)));
  auto c = values(random::bits({64}, 4, random::key(43)));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<uint32_t> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 60u);
}

TEST(Random, ExplicitKeysAgreeAcrossThreads) {
  auto expect = values(random::bits({256}, 4, random::key(7)));
  std::vector<std::thread> ts;
  std::vector<std::vector<uint32_t>> got(8);
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] { got[t] = values(random::bits({256}, 4, random::key(7))); });
  }
  for (auto& t : ts) t.join();
  for (auto& g : got) EXPECT_EQ(g, expect);
}

TEST(Random, SplitGivesDistinctKeys) {
  array k = random::key(1);
  auto [a, b] = random::split(k);
  EXPECT_NE(values(a), values(b));
  EXPECT_NE(values(a), values(k));
  array many = random::split(k, 5);
  EXPECT_EQ(many.shape(), (Shape{5, 2}));
  auto v = values(many);
  std::set<std::pair<uint32_t, uint32_t>> keys;
  for (int i = 0; i < 5; ++i) keys.insert({v[2 * i], v[2 * i + 1]});
  EXPECT_EQ(keys.size(), 5u);
  // The pair is split(k, 2)'s rows (split(k, 5) starts elsewhere, as in MLX).
  auto two = values(random::split(k, 2));
  EXPECT_EQ(values(a), std::vector<uint32_t>(two.begin(), two.begin() + 2));
  EXPECT_EQ(values(b), std::vector<uint32_t>(two.begin() + 2, two.end()));
  EXPECT_THROW(random::split(array({1.0f, 2.0f})), std::invalid_argument);
  EXPECT_THROW(random::bits({2}, 3), std::invalid_argument);
}

TEST(Random, SeedIsPerThread) {
  random::seed(5);
  auto mine = values(random::bits({16}));
  random::seed(5);
  EXPECT_EQ(values(random::bits({16})), mine);  // reseeding replays
  std::vector<uint32_t> other_seeded, other_unseeded;
  std::thread t([&] {
    random::seed(5);
    other_seeded = values(random::bits({16}));
  });
  t.join();
  EXPECT_EQ(other_seeded, mine);
  // Seeding on another thread did not move this thread's sequence.
  random::seed(5);
  (void)random::bits({16});
  std::thread u([&] { random::seed(999); });
  u.join();
  auto next = values(random::bits({16}));
  random::seed(5);
  (void)random::bits({16});
  EXPECT_EQ(values(random::bits({16})), next);
}

TEST(Random, UnseededThreadsDrawDifferentNumbers) {
  constexpr int kThreads = 8;
  std::vector<std::vector<uint32_t>> got(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] { got[t] = values(random::bits({8})); });
  }
  for (auto& t : ts) t.join();
  std::set<std::vector<uint32_t>> distinct(got.begin(), got.end());
  EXPECT_EQ(static_cast<int>(distinct.size()), kThreads);
}

TEST(Random, UniformAndNormalMoments) {
  array u = random::uniform({20000}, random::key(3));
  float lo = min(u).item<float>(), hi = max(u).item<float>();
  EXPECT_GE(lo, 0.0f);
  EXPECT_LT(hi, 1.0f);
  EXPECT_NEAR(mean(u).item<float>(), 0.5f, 0.01f);
  array r = random::uniform(array(-2.0f), array(4.0f), {20000}, float32, random::key(4));
  EXPECT_GE(min(r).item<float>(), -2.0f);
  EXPECT_LT(max(r).item<float>(), 4.0f);
  EXPECT_NEAR(mean(r).item<float>(), 1.0f, 0.06f);
  array n = random::normal({20000}, float32, 1.0f, 2.0f, random::key(5));
  float m = mean(n).item<float>();
  EXPECT_NEAR(m, 1.0f, 0.06f);
  float var = mean(square(subtract(n, array(m)))).item<float>();
  EXPECT_NEAR(var, 4.0f, 0.2f);
  EXPECT_EQ(random::normal({3}, bfloat16, random::key(1)).dtype(), bfloat16);
  EXPECT_THROW(random::uniform({2}, int32), std::invalid_argument);
}

namespace rill::test {
namespace {

// MLX's values for the same keys (mlx.core.random in MLX 0.32): split and
// bits are bit for bit MLX's, on every device.
TEST(Random, SplitAndBitsMatchMlx) {
  auto words = [](const array& a) {
    array c = astype(a, uint32);
    c.eval();
    return std::vector<uint32_t>(c.data<uint32_t>(), c.data<uint32_t>() + c.size());
  };
  array k = random::key(0);
  EXPECT_EQ(words(k), (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(words(random::split(k, 2)),
            (std::vector<uint32_t>{4146024105u, 967050713u, 2718843009u, 1272950319u}));
  EXPECT_EQ(words(random::split(k, 3)),
            (std::vector<uint32_t>{2467461003u, 428148500u, 3186719485u, 3840466878u,
                                   2562233961u, 1946702221u}));
  auto [a, b] = random::split(k);
  EXPECT_EQ(words(a), (std::vector<uint32_t>{4146024105u, 967050713u}));
  EXPECT_EQ(words(b), (std::vector<uint32_t>{2718843009u, 1272950319u}));
  EXPECT_EQ(words(random::bits({5}, 4, random::key(7))), (std::vector<uint32_t>{276534068u, 861967409u, 2793701230u, 1641862660u, 2900896126u}));
  EXPECT_EQ(words(random::bits({5}, 1, random::key(7))), (std::vector<uint32_t>{191u, 40u, 160u, 11u, 191u}));
  EXPECT_EQ(words(random::bits({3}, 2, random::key(7))), (std::vector<uint32_t>{10431u, 2976u, 22207u}));
  EXPECT_EQ(random::bits({3}, 2).dtype(), uint16);
  // A seed past 32 bits: its high word first.
  array big = random::key(1099511627781ull);
  EXPECT_EQ(words(big), (std::vector<uint32_t>{256u, 5u}));
  EXPECT_EQ(words(random::split(big, 3)),
            (std::vector<uint32_t>{1070028816u, 3116542653u, 3600761423u, 1908725145u,
                                   1447120341u, 1212153964u}));
}

}  // namespace
}  // namespace rill::test
