// Shape ops and views: each result is checked element by element against the
// index arithmetic that defines it, on a base whose values are their own flat
// positions. Views must share the base's memory; non-contiguous views must
// feed every kind of kernel correctly.
#include <gtest/gtest.h>

#include <functional>

#include "ops_helpers.h"

namespace rill {
namespace {

using test::all_close;
using test::for_each_index;
using test::numel;
using test::to_doubles;
using test::to_vector;

// An array of `shape` whose element at flat position i is i.
array positions(const Shape& shape, Dtype t = int32) {
  return astype(reshape(arange(static_cast<int>(numel(shape))), shape), t);
}

int64_t flat_of(const Shape& s, const std::vector<int>& idx) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return f;
}

// Expects v to have `shape` and, at each index, the base position `source`.
::testing::AssertionResult is_view_of(
    const array& v, const Shape& shape,
    const std::function<int64_t(const std::vector<int>&)>& source) {
  if (v.shape() != shape) {
    return ::testing::AssertionFailure()
           << "shape " << test::str(v.shape()) << " != " << test::str(shape);
  }
  std::vector<double> want;
  for_each_index(shape, [&](const std::vector<int>& idx) {
    want.push_back(static_cast<double>(source(idx)));
  });
  return all_close(to_doubles(v), want);
}

// Python's slice: the indices start, start + step, ... of an axis of size n.
std::vector<int> py_slice(int n, int start, int stop, int step) {
  auto fix = [&](int i) {
    if (i < 0) i += n;
    return step > 0 ? std::clamp(i, 0, n) : std::clamp(i, -1, n - 1);
  };
  std::vector<int> out;
  int b = fix(start), e = fix(stop);
  for (int i = b; step > 0 ? i < e : i > e; i += step) out.push_back(i);
  return out;
}

const int32_t* base_ptr(array& a) {
  return a.data<int32_t>();
}

TEST(Views, ReshapeKeepsRowMajorOrder) {
  // These check buffer addresses, which only host arrays expose.
  StreamContext on_cpu(Device(Device::cpu));
  array a = positions({2, 3, 4});
  EXPECT_TRUE(
      is_view_of(reshape(a, {4, 6}), {4, 6}, [](auto& i) { return i[0] * 6 + i[1]; }));
  EXPECT_TRUE(
      is_view_of(reshape(a, {-1, 8}), {3, 8}, [](auto& i) { return i[0] * 8 + i[1]; }));
  EXPECT_TRUE(is_view_of(reshape(a, {24}), {24}, [](auto& i) { return i[0]; }));
  EXPECT_EQ(reshape(a, {2, 3, 4}).node(), a.node());
  EXPECT_EQ(reshape(positions({1}), {}).item<int32_t>(), 0);
  EXPECT_EQ(reshape(zeros({0, 3}), {3, -1, 5}).shape(), (Shape{3, 0, 5}));
  // A row-major input is viewed, not copied.
  array r = reshape(a, {6, 4});
  r.eval();
  EXPECT_EQ(r.data<int32_t>(), base_ptr(a));
  // A transposed input cannot be viewed: reshape copies in logical order.
  array t = transpose(positions({3, 4}));  // t[i][j] = 4 j + i
  EXPECT_TRUE(is_view_of(reshape(t, {2, 6}), {2, 6}, [](auto& i) {
    int f = i[0] * 6 + i[1];
    return 4 * (f % 3) + f / 3;
  }));
  // A row slice is still row-major: a view with an offset.
  array base = positions({4, 5});
  array rows = slice(base, {1, 0}, {3, 5});
  array flat = reshape(rows, {10});
  EXPECT_TRUE(is_view_of(flat, {10}, [](auto& i) { return 5 + i[0]; }));
  EXPECT_EQ(flat.data<int32_t>(), base_ptr(base) + 5);
}

TEST(Views, ReshapeViewsStridedInputsWhenTheLayoutAllows) {
  StreamContext on_cpu(Device(Device::cpu));  // checks buffer addresses
  // The encoder's head split: [B, S, 3, H, Dh] -> [3, B, H, S, Dh], one part
  // sliced, its leading 1 dropped. Every step is a view of the projection.
  Shape sh = {2, 5, 3, 4, 6};
  array qkv = positions(sh);
  array t = transpose(qkv, {2, 0, 3, 1, 4});
  array k = reshape(slice(t, {1, 0, 0, 0, 0}, {2, 2, 4, 5, 6}), {2, 4, 5, 6});
  EXPECT_TRUE(is_view_of(k, {2, 4, 5, 6}, [&](auto& i) {
    return flat_of(sh, {i[0], i[2], 1, i[1], i[3]});
  }));
  const int32_t* base = base_ptr(qkv);
  EXPECT_GE(k.data<int32_t>(), base);
  EXPECT_LT(k.data<int32_t>(), base + numel(sh));
  // Splitting and merging runs that are laid out one inside the other.
  array cols = slice(positions({4, 6, 8}), {0, 0, 2}, {4, 6, 6});  // [4, 6, 4]
  array merged = reshape(cols, {24, 4});
  EXPECT_TRUE(is_view_of(merged, {24, 4}, [](auto& i) { return i[0] * 8 + 2 + i[1]; }));
  array split = reshape(cols, {2, 2, 3, 2, 2, 2, 1});
  EXPECT_TRUE(is_view_of(split, {2, 2, 3, 2, 2, 2, 1}, [](auto& i) {
    int r = i[0] * 2 + i[1], c = i[2] * 2 + i[3], e = i[4] * 2 + i[5];
    return r * 48 + c * 8 + 2 + e;
  }));
  // Reversed and broadcast axes.
  array rev = slice(positions({3, 4}), {2, 0}, {-4, 4}, {-1, 1});
  EXPECT_TRUE(is_view_of(reshape(rev, {3, 2, 2}), {3, 2, 2}, [](auto& i) {
    return (2 - i[0]) * 4 + i[1] * 2 + i[2];
  }));
  array bc = broadcast_to(positions({1, 4}), {3, 4});
  EXPECT_TRUE(is_view_of(reshape(bc, {3, 2, 2}), {3, 2, 2},
                         [](auto& i) { return i[1] * 2 + i[2]; }));
  // Merging a broadcast axis with another needs a copy, in logical order.
  EXPECT_TRUE(is_view_of(reshape(bc, {12}), {12}, [](auto& i) { return i[0] % 4; }));
  EXPECT_TRUE(is_view_of(reshape(bc, {6, 2}), {6, 2},
                         [](auto& i) { return (i[0] * 2 + i[1]) % 4; }));
}

TEST(Views, Flatten) {
  array a = positions({2, 3, 4});
  EXPECT_TRUE(is_view_of(flatten(a), {24}, [](auto& i) { return i[0]; }));
  EXPECT_TRUE(
      is_view_of(flatten(a, 1), {2, 12}, [](auto& i) { return i[0] * 12 + i[1]; }));
  EXPECT_TRUE(
      is_view_of(flatten(a, 0, 1), {6, 4}, [](auto& i) { return i[0] * 4 + i[1]; }));
  EXPECT_TRUE(is_view_of(flatten(a, -2, -2), {2, 3, 4},
                         [](auto& i) { return i[0] * 12 + i[1] * 4 + i[2]; }));
  EXPECT_EQ(flatten(array(3)).shape(), (Shape{1}));
  EXPECT_TRUE(is_view_of(flatten(transpose(a)), {24}, [](auto& i) {
    int f = i[0];  // transposed [4, 3, 2]: f = (k * 3 + j) * 2 + l
    int l = f % 2, j = (f / 2) % 3, k = f / 6;
    return l * 12 + j * 4 + k;
  }));
}

TEST(Views, TransposeAndSwapaxes) {
  // These check buffer addresses, which only host arrays expose.
  StreamContext on_cpu(Device(Device::cpu));
  Shape s{2, 3, 4};
  array a = positions(s);
  EXPECT_TRUE(is_view_of(transpose(a), {4, 3, 2}, [&](auto& i) {
    return flat_of(s, {i[2], i[1], i[0]});
  }));
  EXPECT_TRUE(is_view_of(transpose(a, {1, 2, 0}), {3, 4, 2}, [&](auto& i) {
    return flat_of(s, {i[2], i[0], i[1]});
  }));
  EXPECT_TRUE(is_view_of(transpose(a, {-1, 0, -2}), {4, 2, 3}, [&](auto& i) {
    return flat_of(s, {i[1], i[2], i[0]});
  }));
  EXPECT_TRUE(is_view_of(swapaxes(a, 0, -1), {4, 3, 2}, [&](auto& i) {
    return flat_of(s, {i[2], i[1], i[0]});
  }));
  EXPECT_TRUE(is_view_of(swapaxes(a, 1, 1), s, [&](auto& i) { return flat_of(s, i); }));
  // Transposing twice gives the original order; views share memory.
  array tt = transpose(transpose(a, {2, 0, 1}), {1, 2, 0});
  EXPECT_TRUE(is_view_of(tt, s, [&](auto& i) { return flat_of(s, i); }));
  array t = transpose(a);
  t.eval();
  EXPECT_EQ(t.data<int32_t>(), base_ptr(a));
  EXPECT_EQ(t.strides(), (Strides{1, 4, 12}));
  EXPECT_EQ(transpose(array(1)).ndim(), 0);
}

TEST(Views, ExpandDimsAndSqueeze) {
  array a = positions({2, 3});
  EXPECT_EQ(expand_dims(a, 0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(expand_dims(a, -1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(expand_dims(a, 1).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(expand_dims(a, {0, 3}).shape(), (Shape{1, 2, 3, 1}));
  EXPECT_EQ(expand_dims(a, {-1, 0}).shape(), (Shape{1, 2, 3, 1}));
  EXPECT_TRUE(
      is_view_of(expand_dims(a, 1), {2, 1, 3}, [](auto& i) { return i[0] * 3 + i[2]; }));
  array b = positions({1, 2, 1, 3, 1});
  EXPECT_EQ(squeeze(b).shape(), (Shape{2, 3}));
  EXPECT_EQ(squeeze(b, 0).shape(), (Shape{2, 1, 3, 1}));
  EXPECT_EQ(squeeze(b, -1).shape(), (Shape{1, 2, 1, 3}));
  EXPECT_EQ(squeeze(b, {0, 2}).shape(), (Shape{2, 3, 1}));
  EXPECT_TRUE(is_view_of(squeeze(b), {2, 3}, [](auto& i) { return i[0] * 3 + i[1]; }));
  EXPECT_EQ(squeeze(positions({1})).ndim(), 0);
  // On a transposed input (not row-major) the values keep their logical order.
  array t = transpose(expand_dims(a, 1));  // [3, 1, 2]
  EXPECT_TRUE(is_view_of(squeeze(t), {3, 2}, [](auto& i) { return i[1] * 3 + i[0]; }));
  EXPECT_TRUE(is_view_of(expand_dims(transpose(a), 0), {1, 3, 2},
                         [](auto& i) { return i[2] * 3 + i[1]; }));
}

TEST(Views, BroadcastTo) {
  // These check buffer addresses, which only host arrays expose.
  StreamContext on_cpu(Device(Device::cpu));
  array a = positions({3, 1});
  array b = broadcast_to(a, {2, 3, 4});
  EXPECT_TRUE(is_view_of(b, {2, 3, 4}, [](auto& i) { return i[1]; }));
  b.eval();
  EXPECT_EQ(b.strides(), (Strides{0, 1, 0}));
  EXPECT_EQ(b.data<int32_t>(), base_ptr(a));
  EXPECT_TRUE(
      is_view_of(broadcast_to(array(7), {2, 2}), {2, 2}, [](auto&) { return 7; }));
  EXPECT_EQ(broadcast_to(a, {3, 1}).node(), a.node());
  EXPECT_EQ(broadcast_to(a, {3, 0}).size(), 0u);
  // Of a transposed view.
  EXPECT_TRUE(is_view_of(broadcast_to(transpose(positions({2, 3})), {2, 3, 2}), {2, 3, 2},
                         [](auto& i) { return i[2] * 3 + i[1]; }));
}

TEST(Views, SliceLikePython) {
  const int n = 7;
  array a = positions({n});
  const std::vector<int> points{-9, -7, -3, -1, 0, 1, 3, 6, 7, 9};
  for (int step : {1, 2, 3, -1, -2, -4}) {
    for (int start : points) {
      for (int stop : points) {
        SCOPED_TRACE(::testing::Message()
                     << "[" << start << ":" << stop << ":" << step << "]");
        std::vector<int> want = py_slice(n, start, stop, step);
        array s = slice(a, {start}, {stop}, {step});
        EXPECT_TRUE(is_view_of(s, {static_cast<int32_t>(want.size())},
                               [&](auto& i) { return want[i[0]]; }));
      }
    }
  }
}

TEST(Views, SliceManyAxesAndSlicesOfSlices) {
  // These check buffer addresses, which only host arrays expose.
  StreamContext on_cpu(Device(Device::cpu));
  Shape sh{5, 6, 7};
  array a = positions(sh);
  std::vector<int> r0 = py_slice(5, -1, -6, -2), r1 = py_slice(6, 1, 6, 2),
                   r2 = py_slice(7, 6, 0, -3);
  array s = slice(a, {-1, 1, 6}, {-6, 6, 0}, {-2, 2, -3});
  Shape want{static_cast<int>(r0.size()), static_cast<int>(r1.size()),
             static_cast<int>(r2.size())};
  EXPECT_TRUE(is_view_of(s, want, [&](auto& i) {
    return flat_of(sh, {r0[i[0]], r1[i[1]], r2[i[2]]});
  }));
  s.eval();
  EXPECT_EQ(s.strides(), (Strides{-84, 14, -3}));
  // Slice of that slice (reversing it back), then a transpose of it.
  array ss = slice(s, {2, 0, -1}, {-4, 3, -3}, {-1, 2, -1});
  std::vector<int> q0 = py_slice(want[0], 2, -4, -1), q1 = py_slice(want[1], 0, 3, 2),
                   q2 = py_slice(want[2], -1, -3, -1);
  EXPECT_TRUE(is_view_of(ss,
                         {static_cast<int>(q0.size()), static_cast<int>(q1.size()),
                          static_cast<int>(q2.size())},
                         [&](auto& i) {
                           return flat_of(sh, {r0[q0[i[0]]], r1[q1[i[1]]], r2[q2[i[2]]]});
                         }));
  array ts = transpose(s);
  EXPECT_TRUE(is_view_of(ts, {want[2], want[1], want[0]}, [&](auto& i) {
    return flat_of(sh, {r0[i[2]], r1[i[1]], r2[i[0]]});
  }));
  // Slices share memory.
  array row = slice(a, {2, 0, 0}, {3, 6, 7});
  row.eval();
  EXPECT_EQ(row.data<int32_t>(), base_ptr(a) + 2 * 42);
  // Empty result.
  EXPECT_EQ(slice(a, {3, 0, 0}, {1, 6, 7}).shape(), (Shape{0, 6, 7}));
  EXPECT_EQ(to_doubles(slice(a, {3, 0, 0}, {1, 6, 7})).size(), 0u);
}

TEST(Views, Contiguous) {
  // These check buffer addresses, which only host arrays expose.
  StreamContext on_cpu(Device(Device::cpu));
  array a = positions({3, 4});
  array c = contiguous(a);
  c.eval();
  EXPECT_EQ(c.data<int32_t>(), base_ptr(a));  // already row-major: a view
  array t = transpose(a);
  array tc = contiguous(t);
  EXPECT_TRUE(is_view_of(tc, {4, 3}, [](auto& i) { return i[1] * 4 + i[0]; }));
  EXPECT_EQ(tc.strides(), (Strides{3, 1}));
  EXPECT_NE(tc.data<int32_t>(), base_ptr(a));
  // Column-major is accepted when allowed.
  array tcol = contiguous(t, true);
  tcol.eval();
  EXPECT_EQ(tcol.strides(), (Strides{1, 4}));
  EXPECT_EQ(tcol.data<int32_t>(), base_ptr(a));
  array s = contiguous(slice(a, {2, 3}, {-4, -5}, {-1, -2}));
  EXPECT_TRUE(
      is_view_of(s, {3, 2}, [](auto& i) { return (2 - i[0]) * 4 + 3 - 2 * i[1]; }));
  EXPECT_EQ(s.strides(), (Strides{2, 1}));
  array b = contiguous(broadcast_to(positions({3}), {2, 3}));
  EXPECT_TRUE(is_view_of(b, {2, 3}, [](auto& i) { return i[1]; }));
  EXPECT_EQ(b.strides(), (Strides{3, 1}));
}

// Non-contiguous inputs of every kind into elementwise kernels.
TEST(Views, NonContiguousIntoElementwise) {
  Shape sh{4, 6};
  for (Dtype t : {int32, float32, float16, float64}) {
    SCOPED_TRACE(dtype_name(t));
    array a = positions(sh, t);
    array tr = transpose(a);                                // [6, 4]
    array rev = slice(a, {3, 5}, {-5, -7}, {-1, -1});       // reversed [4, 6]
    array step = slice(a, {0, 1}, {4, 6}, {2, 2});          // [2, 3]
    array bc = broadcast_to(slice(a, {1, 0}, {2, 6}), sh);  // row 1 repeated
    auto tr_src = [&](const std::vector<int>& i) { return flat_of(sh, {i[1], i[0]}); };
    auto rev_src = [&](const std::vector<int>& i) {
      return flat_of(sh, {3 - i[0], 5 - i[1]});
    };
    // Unary.
    EXPECT_TRUE(is_view_of(negative(negative(tr)), {6, 4}, tr_src));
    EXPECT_TRUE(is_view_of(abs(rev), sh, rev_src));
    EXPECT_TRUE(is_view_of(floor(step), {2, 3}, [&](auto& i) {
      return flat_of(sh, {2 * i[0], 1 + 2 * i[1]});
    }));
    EXPECT_TRUE(
        is_view_of(negative(negative(bc)), sh, [&](auto& i) { return 6 + i[1]; }));
    // Binary: two differently laid out views of one base; a view with a scalar.
    array sum2 = add(rev, a);  // (23 - f) + f
    EXPECT_TRUE(is_view_of(sum2, sh, [](auto&) { return 23; }));
    EXPECT_TRUE(is_view_of(subtract(transpose(tr), a), sh, [](auto&) { return 0; }));
    EXPECT_TRUE(is_view_of(bc * 2, sh, [&](auto& i) { return 2 * (6 + i[1]); }));
    EXPECT_TRUE(is_view_of(maximum(tr, transpose(rev)), {6, 4}, [&](auto& i) {
      int64_t f = flat_of(sh, {i[1], i[0]});
      return std::max<int64_t>(f, 23 - f);
    }));
    EXPECT_TRUE(is_view_of(astype(greater(rev, a), int32), sh, [&](auto& i) {
      return 23 - flat_of(sh, i) > flat_of(sh, i);
    }));
    // Where with three views.
    array w = where(a > 11, rev, bc);
    EXPECT_TRUE(is_view_of(w, sh, [&](auto& i) {
      int64_t f = flat_of(sh, i);
      return f > 11 ? 23 - f : 6 + i[1];
    }));
    // Conversions.
    EXPECT_TRUE(is_view_of(astype(tr, int64), {6, 4}, tr_src));
    EXPECT_TRUE(is_view_of(astype(rev, bfloat16), sh, rev_src));
    EXPECT_TRUE(is_view_of(copy(step), {2, 3}, [&](auto& i) {
      return flat_of(sh, {2 * i[0], 1 + 2 * i[1]});
    }));
  }
}

TEST(Views, ChainedViewsOfComputedArrays) {
  // Views of an op's output, then ops on the views, all lazy until the end.
  array a = positions({4, 6}, float32) * 2.0f;  // value 2 f
  array v = reshape(transpose(slice(a, {0, 0}, {4, 6}, {1, 2})), {12});
  // slice -> [4, 3] (columns 0, 2, 4); transpose -> [3, 4]; flat index k =
  // c * 4 + r reads a[r][2 c].
  EXPECT_TRUE(is_view_of(v, {12}, [](auto& i) {
    int c = i[0] / 4, r = i[0] % 4;
    return 2 * (r * 6 + 2 * c);
  }));
  array e = expand_dims(v, 0) + broadcast_to(zeros({2, 1}), {2, 12});
  EXPECT_TRUE(is_view_of(e, {2, 12}, [](auto& i) {
    int c = i[1] / 4, r = i[1] % 4;
    return 2 * (r * 6 + 2 * c);
  }));
  EXPECT_EQ(sum(squeeze(slice(e, {1, 0}, {2, 12}))).item<float>(),
            2.0f * 3 * (0 + 6 + 12 + 18) + 2.0f * 4 * (0 + 2 + 4));
}

}  // namespace
}  // namespace rill
