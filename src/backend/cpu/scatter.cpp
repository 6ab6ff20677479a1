// MLX's gather and scatter, and slice_update: slices of `a` read from, or
// combined into, positions given by index arrays or a static region. Every
// index is checked before anything is read or written.
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "common/scatter_math.h"
#include "common/strided_walk.h"
#include "core/dispatch.h"
#include "core/format.h"

namespace rill::detail::cpu {
namespace {

// Offsets into an array with strides `st` of the slice starts the index
// arrays give: one per element of the broadcast index shape, row-major.
// Index k picks along axes[k]; a start whose slice of `slice[axes[k]]`
// elements leaves the axis throws.
std::vector<int64_t> slice_starts(const std::vector<const Node*>& indices,
                                  const std::vector<int>& axes, const Shape& a_shape,
                                  const Strides& st, const Shape& slice, const Shape& idx_shape,
                                  const char* op) {
  size_t count = 1;
  for (int32_t d : idx_shape) count *= static_cast<size_t>(d);
  std::vector<int64_t> starts(count, 0);
  for (size_t k = 0; k < indices.size(); ++k) {
    const Node& idx = *indices[k];
    const int axis = axes[k];
    const int64_t n = a_shape[axis], room = n - slice[axis];
    dispatch(idx.dtype, [&](auto tag) {
      using I = typename decltype(tag)::type;
      if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
        const I* p = static_cast<const I*>(idx.data());
        size_t at = 0;
        for_each_row<1>(idx_shape, {broadcast_strides(idx, idx_shape)},
                        [&](const std::array<int64_t, 1>& off, int64_t m,
                            const std::array<int64_t, 1>& s) {
                          for (int64_t j = 0; j < m; ++j) {
                            const int64_t v = static_cast<int64_t>(p[off[0] + j * s[0]]);
                            const int64_t w = v < 0 ? v + n : v;
                            if (w < 0 || w > room) throw_index_error(v, n, axis);
                            starts[at++] += w * st[axis];
                          }
                        });
      } else {
        throw std::logic_error(cat(op, ": indices must be integers, got ", idx.dtype));
      }
    });
  }
  return starts;
}

Shape leading(const Shape& s, size_t n) { return Shape(s.begin(), s.begin() + n); }
Shape trailing(const Shape& s, size_t n) { return Shape(s.end() - n, s.end()); }
Strides trailing(const Strides& s, size_t n) { return Strides(s.end() - n, s.end()); }

// Calls f(TypeTag<U>{}) with U an unsigned integer of `size` bytes.
template <typename F>
void dispatch_size(size_t size, F&& f) {
  switch (size) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    case 8: return f(TypeTag<uint64_t>{});
  }
  throw std::logic_error("unsupported element size");
}

// out = a: a's buffer if it may be donated, else a row-major copy.
void start_from(const Node& a, Node& out) {
  allocate_or_donate(out, {&a}, false);
  if (out.buffer != a.buffer) copy_into(a, out);
}

// out[o] = combine(out[o], u[j]) along a row.
template <ScatterOp op, typename T>
void combine_row(T* o, int64_t so, const T* u, int64_t su, int64_t m) {
  using C = compute_t<T>;
  for (int64_t j = 0; j < m; ++j) {
    T& dst = o[j * so];
    dst = static_cast<T>(scatter_combine<op, C>(static_cast<C>(dst), static_cast<C>(u[j * su])));
  }
}

template <typename F>
void dispatch_scatter(ScatterOp op, F&& f) {
  switch (op) {
#define RILL_SCATTER_CASE(name, rule) \
  case ScatterOp::name: return f(std::integral_constant<ScatterOp, ScatterOp::name>{});
    RILL_SCATTER_OPS(RILL_SCATTER_CASE)
#undef RILL_SCATTER_CASE
  }
}

}  // namespace

void gather(const Node& a, const std::vector<const Node*>& indices, const std::vector<int>& axes,
            Node& out) {
  const size_t nd = a.shape.size();
  const Shape idx_shape = leading(out.shape, out.shape.size() - nd);
  const Shape slice = trailing(out.shape, nd);
  // Checked before the output exists: a bad index allocates nothing.
  std::vector<int64_t> starts = slice_starts(indices, axes, a.shape, a.strides, slice, idx_shape,
                                             "gather");
  allocate(out);
  if (out.size == 0) return;
  const Strides out_slice = row_major_strides(slice);
  int64_t block = 1;
  for (int32_t d : slice) block *= d;
  dispatch_size(a.dtype.size, [&](auto tag) {
    using E = typename decltype(tag)::type;
    const E* pa = static_cast<const E*>(a.data());
    E* po = static_cast<E*>(out.mutable_data());
    for (int64_t start : starts) {
      for_each_row<2>(slice, {a.strides, out_slice},
                      [&](const std::array<int64_t, 2>& off, int64_t m,
                          const std::array<int64_t, 2>& s) {
                        const E* src = pa + start + off[0];
                        E* dst = po + off[1];
                        for (int64_t j = 0; j < m; ++j) dst[j * s[1]] = src[j * s[0]];
                      });
      po += block;
    }
  });
}

void scatter(ScatterOp op, const Node& a, const std::vector<const Node*>& indices,
             const Node& updates, const std::vector<int>& axes, Node& out) {
  const size_t nd = a.shape.size();
  const size_t ni = updates.shape.size() - nd;
  const Shape idx_shape = leading(updates.shape, ni);
  const Shape slice = trailing(updates.shape, nd);
  const Strides rm = row_major_strides(a.shape);  // out's strides once made
  std::vector<int64_t> starts =
      slice_starts(indices, axes, a.shape, rm, slice, idx_shape, op_name(op));
  start_from(a, out);
  if (updates.size == 0) return;
  const Strides upd_lead(updates.strides.begin(), updates.strides.begin() + ni);
  const Strides upd_slice = trailing(updates.strides, nd);
  const Strides out_slice = trailing(out.strides, nd);
  dispatch(storage_dtype(out.dtype), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pu = static_cast<const T*>(updates.data());
    T* po = static_cast<T*>(out.mutable_data());
    dispatch_scatter(op, [&](auto opc) {
      constexpr ScatterOp kOp = decltype(opc)::value;
      size_t i = 0;
      for_each_row<1>(idx_shape.empty() ? Shape{1} : idx_shape,
                      {idx_shape.empty() ? Strides{0} : upd_lead},
                      [&](const std::array<int64_t, 1>& lead, int64_t m,
                          const std::array<int64_t, 1>& ls) {
                        for (int64_t j = 0; j < m; ++j, ++i) {
                          const T* u = pu + lead[0] + j * ls[0];
                          T* o = po + starts[i];
                          for_each_row<2>(slice, {out_slice, upd_slice},
                                          [&](const std::array<int64_t, 2>& off, int64_t r,
                                              const std::array<int64_t, 2>& s) {
                                            combine_row<kOp, T>(o + off[0], s[0], u + off[1],
                                                                s[1], r);
                                          });
                        }
                      });
    });
  });
}

void slice_update(ScatterOp op, const Node& a, const Node& update, const Shape& start,
                  const Shape& step, Node& out) {
  start_from(a, out);
  if (update.size == 0) return;
  int64_t base = 0;
  Strides region(out.strides.size());
  for (size_t d = 0; d < out.strides.size(); ++d) {
    base += int64_t(start[d]) * out.strides[d];
    region[d] = out.strides[d] * step[d];
  }
  dispatch(storage_dtype(out.dtype), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pu = static_cast<const T*>(update.data());
    T* po = static_cast<T*>(out.mutable_data()) + base;
    dispatch_scatter(op, [&](auto opc) {
      constexpr ScatterOp kOp = decltype(opc)::value;
      for_each_row<2>(update.shape, {region, update.strides},
                      [&](const std::array<int64_t, 2>& off, int64_t m,
                          const std::array<int64_t, 2>& s) {
                        combine_row<kOp, T>(po + off[0], s[0], pu + off[1], s[1], m);
                      });
    });
  });
}

}  // namespace rill::detail::cpu
