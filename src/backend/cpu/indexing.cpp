// Gathering and joining: take, take_along_axis, concatenate, pad. They only
// move elements, so they work on raw bytes of the element's size, whatever
// the dtype.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::cpu {
namespace {

// Calls f(TypeTag<U>{}) with U an unsigned integer of `size` bytes.
template <typename F>
void dispatch_bytes(size_t size, F&& f) {
  switch (size) {
    case 1:
      return f(TypeTag<uint8_t>{});
    case 2:
      return f(TypeTag<uint16_t>{});
    case 4:
      return f(TypeTag<uint32_t>{});
    case 8:
      return f(TypeTag<uint64_t>{});
  }
  throw std::logic_error("unsupported element size");
}

template <typename F>
void dispatch_index(Dtype t, const char* op, F&& f) {
  dispatch(t, [&](auto tag) {
    using I = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      f(tag);
    } else {
      throw std::logic_error(cat(op, ": indices must be integers, got ", t));
    }
  });
}

// `v` counted from the end when negative. Never lets a bad index through: the
// op fails with the value instead of reading out of bounds.
template <typename I>
inline int64_t checked_index(I v, int64_t n, int axis) {
  int64_t i = static_cast<int64_t>(v);
  int64_t j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) throw_index_error(i, n, axis);
  return j;
}

// Copies a strided row of n elements.
template <typename E>
inline void copy_row(const E* src, int64_t ss, E* dst, int64_t ds, int64_t n) {
  if (ss == 1 && ds == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(E));
  } else {
    for (int64_t j = 0; j < n; ++j) dst[j * ds] = src[j * ss];
  }
}

// True when the dims of size > 1 are row-major with unit innermost stride.
bool is_dense(const Shape& shape, const Strides& strides) {
  int64_t expect = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (strides[d] != expect) return false;
    expect *= shape[d];
  }
  return true;
}

}  // namespace

void take(const Node& a, const Node& indices, int axis, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  const int64_t n = a.shape[axis], sa = a.strides[axis];
  // All indices are checked before anything is copied.
  std::vector<int64_t> idx;
  idx.reserve(indices.size);
  dispatch_index(indices.dtype, "take", [&](auto tag) {
    using I = typename decltype(tag)::type;
    const I* pi = static_cast<const I*>(indices.data());
    for_each_row<1>(indices.shape, {indices.strides},
                    [&](const std::array<int64_t, 1>& off, int64_t m,
                        const std::array<int64_t, 1>& s) {
                      for (int64_t j = 0; j < m; ++j) {
                        idx.push_back(checked_index(pi[off[0] + j * s[0]], n, axis));
                      }
                    });
  });
  const Shape pre(a.shape.begin(), a.shape.begin() + axis);
  const Strides pre_strides(a.strides.begin(), a.strides.begin() + axis);
  const Shape post(a.shape.begin() + axis + 1, a.shape.end());
  const Strides post_strides(a.strides.begin() + axis + 1, a.strides.end());
  const Strides post_out = row_major_strides(post);
  int64_t block = 1;
  for (int32_t d : post) block *= d;
  const bool dense = is_dense(post, post_strides);
  dispatch_bytes(a.dtype.size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const E* pa = static_cast<const E*>(a.data());
    E* po = static_cast<E*>(out.mutable_data());
    for_each_row<1>(pre, {pre_strides},
                    [&](const std::array<int64_t, 1>& off, int64_t m,
                        const std::array<int64_t, 1>& s) {
                      for (int64_t j = 0; j < m; ++j) {
                        const E* base = pa + off[0] + j * s[0];
                        for (int64_t k : idx) {
                          const E* src = base + k * sa;
                          if (block == 1) {
                            *po = *src;
                          } else if (dense) {
                            std::memcpy(po, src, static_cast<size_t>(block) * sizeof(E));
                          } else {
                            for_each_row<2>(
                                post, {post_strides, post_out},
                                [&](const std::array<int64_t, 2>& o, int64_t r,
                                    const std::array<int64_t, 2>& t) {
                                  copy_row(src + o[0], t[0], po + o[1], t[1], r);
                                });
                          }
                          po += block;
                        }
                      }
                    });
  });
}

void take_along_axis(const Node& a, const Node& indices, int axis, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  const int64_t n = a.shape[axis], sa = a.strides[axis];
  Strides a_strides = broadcast_strides(a, out.shape);
  a_strides[axis] = 0;  // the index supplies the position along the axis
  const Strides i_strides = broadcast_strides(indices, out.shape);
  dispatch_index(indices.dtype, "take_along_axis", [&](auto itag) {
    using I = typename decltype(itag)::type;
    const I* pi = static_cast<const I*>(indices.data());
    dispatch_bytes(a.dtype.size, [&](auto tag) {
      using E = typename decltype(tag)::type;
      const E* pa = static_cast<const E*>(a.data());
      E* po = static_cast<E*>(out.mutable_data());
      for_each_row<3>(out.shape, {a_strides, i_strides, out.strides},
                      [&](const std::array<int64_t, 3>& off, int64_t m,
                          const std::array<int64_t, 3>& s) {
                        for (int64_t j = 0; j < m; ++j) {
                          int64_t k = checked_index(pi[off[1] + j * s[1]], n, axis);
                          po[off[2] + j * s[2]] = pa[off[0] + j * s[0] + k * sa];
                        }
                      });
    });
  });
}

void concatenate(const std::vector<const Node*>& ins, int axis, Node& out) {
  allocate(out);
  if (out.size == 0) return;
  dispatch_bytes(out.dtype.size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    E* po = static_cast<E*>(out.mutable_data());
    int64_t pos = 0;
    for (const Node* in : ins) {
      Shape shape = in->shape;
      Strides strides = in->strides;
      if (shape.size() < out.shape.size()) {
        shape.insert(shape.begin() + axis, 1);
        strides.insert(strides.begin() + axis, 0);
      }
      const E* src = static_cast<const E*>(in->data());
      E* dst = po + pos * out.strides[axis];
      pos += shape[axis];
      for_each_row<2>(shape, {strides, out.strides},
                      [&](const std::array<int64_t, 2>& off, int64_t m,
                          const std::array<int64_t, 2>& s) {
                        copy_row(src + off[0], s[0], dst + off[1], s[1], m);
                      });
    }
  });
}

void pad(const Node& in, const Node& value, const std::vector<int>& low, bool edge,
         Node& out) {
  allocate(out);
  if (out.size == 0) return;
  const int nd = static_cast<int>(out.shape.size());
  dispatch_bytes(out.dtype.size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const E* pa = static_cast<const E*>(in.data());
    E* po = static_cast<E*>(out.mutable_data());
    if (!edge) {
      std::fill(po, po + out.size, *static_cast<const E*>(value.data()));
      int64_t base = 0;
      for (int d = 0; d < nd; ++d) base += int64_t(low[d]) * out.strides[d];
      for_each_row<2>(in.shape, {in.strides, out.strides},
                      [&](const std::array<int64_t, 2>& off, int64_t m,
                          const std::array<int64_t, 2>& s) {
                        copy_row(pa + off[0], s[0], po + base + off[1], s[1], m);
                      });
      return;
    }
    if (nd == 0) {
      po[0] = pa[0];
      return;
    }
    // Edge: output index o of dim d reads input index clamp(o - low, 0, n - 1);
    // tables of those offsets per dim, then one walk over the output.
    std::vector<std::vector<int64_t>> table(nd);
    for (int d = 0; d < nd; ++d) {
      table[d].resize(out.shape[d]);
      const int64_t n = in.shape[d];
      for (int64_t o = 0; o < out.shape[d]; ++o) {
        table[d][o] = std::clamp<int64_t>(o - low[d], 0, n - 1) * in.strides[d];
      }
    }
    const std::vector<int64_t>& inner = table[nd - 1];
    std::vector<int32_t> idx(nd - 1, 0);
    int64_t outer = 0;
    for (int d = 0; d < nd - 1; ++d) outer += table[d][0];
    for (;;) {
      for (int64_t src : inner) *po++ = pa[outer + src];
      int d = nd - 2;
      for (; d >= 0; --d) {
        outer -= table[d][idx[d]];
        if (++idx[d] < out.shape[d]) {
          outer += table[d][idx[d]];
          break;
        }
        idx[d] = 0;
        outer += table[d][0];
      }
      if (d < 0) return;
    }
  });
}

}  // namespace rill::detail::cpu
