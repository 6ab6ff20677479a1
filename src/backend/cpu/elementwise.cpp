// Elementwise kernels: unary, binary, where, copy/convert, arange, eye.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "backend/cpu/kernels.h"
#include "common/strided_walk.h"
#include "backend/cpu/vmath.h"
#include "common/complex_math.h"
#include "common/elementwise_math.h"
#include "core/dispatch.h"

namespace rill::detail::cpu {
namespace {

template <typename T>
T* out_ptr(Node& out) {
  return static_cast<T*>(out.mutable_data());
}
template <typename T>
const T* in_ptr(const Node& in) {
  return static_cast<const T*>(in.data());
}

// The op's value (common/elementwise_math.h); erf, gelu, exp, log, tanh and
// sigmoid on float32 are the CPU's own (vmath.h: branch-free, so that loops
// vectorise; glibc's are scalar calls), gelu in nn::gelu's former order of
// operations (this file is compiled without contraction).
template <UnaryOp op, typename C>
inline C apply_unary(C x, int decimals) {
  if constexpr (!std::is_floating_point_v<C>) {
    return unary_integral(op, x);
  } else if constexpr (op == UnaryOp::erf) {
    if constexpr (std::is_same_v<C, float>) return verf(x);
    return std::erf(x);
  } else if constexpr (std::is_same_v<C, float> && op == UnaryOp::exp) {
    return vexp_full(x);
  } else if constexpr (std::is_same_v<C, float> && op == UnaryOp::log) {
    return vlog(x);
  } else if constexpr (std::is_same_v<C, float> && op == UnaryOp::tanh) {
    return vtanh(x);
  } else if constexpr (std::is_same_v<C, float> && op == UnaryOp::sigmoid) {
    return vsigmoid(x);
  } else if constexpr (op == UnaryOp::gelu) {
    // 0.5 x + 0.5 x erf(x / sqrt 2).
    const C half_x = x * C(0.5);
    if constexpr (std::is_same_v<C, float>) {
      return half_x + half_x * verf(x * 0.7071067811865476f);
    }
    return half_x + half_x * std::erf(x * C(0.7071067811865476));
  } else {
    return unary_floating(op, x, decimals);
  }
}

// Contiguous float32 arithmetic (the residual adds and scalings of a model),
// compiled for wider vector units too. `a_one` / `b_one`: that operand is one
// value, repeated. The output may be an input's (donated) buffer, so no
// __restrict: each element is read before the same element is written.
#define RILL_FLAT_F32(NAME, OP)                                                      \
  RILL_VECTOR_CLONES                                                                 \
  void NAME(const float* a, const float* b, float* o, int64_t n, bool a_one,        \
            bool b_one) {                                                            \
    if (a_one) {                                                                     \
      const float x = a[0];                                                          \
      for (int64_t j = 0; j < n; ++j) o[j] = x OP b[j];                              \
    } else if (b_one) {                                                              \
      const float y = b[0];                                                          \
      for (int64_t j = 0; j < n; ++j) o[j] = a[j] OP y;                              \
    } else {                                                                         \
      for (int64_t j = 0; j < n; ++j) o[j] = a[j] OP b[j];                           \
    }                                                                                \
  }
RILL_FLAT_F32(add_f32, +)
RILL_FLAT_F32(subtract_f32, -)
RILL_FLAT_F32(multiply_f32, *)
RILL_FLAT_F32(divide_f32, /)
#undef RILL_FLAT_F32

constexpr bool has_flat_f32(BinaryOp op) {
  return op == BinaryOp::add || op == BinaryOp::subtract || op == BinaryOp::multiply ||
         op == BinaryOp::divide;
}

template <BinaryOp op>
void flat_f32(const float* a, const float* b, float* o, int64_t n, bool a_one,
              bool b_one) {
  if constexpr (op == BinaryOp::add) add_f32(a, b, o, n, a_one, b_one);
  if constexpr (op == BinaryOp::subtract) subtract_f32(a, b, o, n, a_one, b_one);
  if constexpr (op == BinaryOp::multiply) multiply_f32(a, b, o, n, a_one, b_one);
  if constexpr (op == BinaryOp::divide) divide_f32(a, b, o, n, a_one, b_one);
}

// The op is a template parameter: each (op, dtype) pair gets its own loops,
// which the compiler vectorises where the layout allows.
template <typename T, BinaryOp op>
void binary_loops(const Node& a, const Node& b, Node& out) {
  using C = compute_t<T>;
  constexpr bool predicate = is_predicate(op);
  using O = std::conditional_t<predicate, bool, T>;
  auto f = [](C x, C y) -> O {
    if constexpr (predicate) {
      return compare_value(op, x, y);
    } else {
      return T(binary_value(op, x, y));
    }
  };
  const T* pa = in_ptr<T>(a);
  const T* pb = in_ptr<T>(b);
  O* po = out_ptr<O>(out);
  // Contiguous operands (or a one-element one): a flat loop, no stride
  // bookkeeping. This is most calls, and all small ones.
  bool a_flat = a.row_contiguous && (a.size == out.size || a.size == 1);
  bool b_flat = b.row_contiguous && (b.size == out.size || b.size == 1);
  if (a_flat && b_flat) {
    int64_t n = static_cast<int64_t>(out.size);
    if constexpr (std::is_same_v<T, float> && has_flat_f32(op)) {
      flat_f32<op>(pa, pb, po, n, a.size == 1 && n > 1,
                   a.size != 1 && b.size == 1 && n > 1);
      return;
    }
    if (a.size == 1 && n > 1) {
      C x = C(pa[0]);
      for (int64_t j = 0; j < n; ++j) po[j] = f(x, C(pb[j]));
    } else if (b.size == 1 && n > 1) {
      C y = C(pb[0]);
      for (int64_t j = 0; j < n; ++j) po[j] = f(C(pa[j]), y);
    } else {
      for (int64_t j = 0; j < n; ++j) po[j] = f(C(pa[j]), C(pb[j]));
    }
    return;
  }
  for_each_row<3>(
      out.shape,
      {broadcast_strides(a, out.shape), broadcast_strides(b, out.shape), out.strides},
      [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
        const T* x = pa + off[0];
        const T* y = pb + off[1];
        O* z = po + off[2];
        // Rows of a bias add or a scale: contiguous against contiguous or a
        // repeated value.
        if (s[2] == 1 && s[0] == 1 && s[1] == 1) {
          for (int64_t j = 0; j < n; ++j) z[j] = f(C(x[j]), C(y[j]));
        } else if (s[2] == 1 && s[0] == 1 && s[1] == 0) {
          C v = C(y[0]);
          for (int64_t j = 0; j < n; ++j) z[j] = f(C(x[j]), v);
        } else if (s[2] == 1 && s[0] == 0 && s[1] == 1) {
          C v = C(x[0]);
          for (int64_t j = 0; j < n; ++j) z[j] = f(v, C(y[j]));
        } else {
          for (int64_t j = 0; j < n; ++j) z[j * s[2]] = f(C(x[j * s[0]]), C(y[j * s[1]]));
        }
      });
}

template <typename T>
void binary_typed(BinaryOp op, const Node& a, const Node& b, Node& out) {
  switch (op) {
#define RILL_CASE(name, rule) \
  case BinaryOp::name: return binary_loops<T, BinaryOp::name>(a, b, out);
    RILL_BINARY_OPS(RILL_CASE)
#undef RILL_CASE
  }
}

// Contiguous float32 loops of the polynomial functions, compiled for wider
// vector units too (templates cannot be cloned, hence one function each). y
// may be x (a donated buffer).
RILL_VECTOR_CLONES
void erf_f32(const float* x, float* y, size_t n) {
  for (size_t j = 0; j < n; ++j) y[j] = apply_unary<UnaryOp::erf, float>(x[j], 0);
}
RILL_VECTOR_CLONES
void gelu_f32(const float* x, float* y, size_t n) {
  for (size_t j = 0; j < n; ++j) y[j] = apply_unary<UnaryOp::gelu, float>(x[j], 0);
}

#define RILL_FLAT_UNARY_F32(NAME, OP)                      \
  RILL_VECTOR_CLONES                                        \
  void NAME(const float* x, float* y, size_t n) {           \
    for (size_t j = 0; j < n; ++j) y[j] = apply_unary<OP, float>(x[j], 0); \
  }
RILL_FLAT_UNARY_F32(exp_f32, UnaryOp::exp)
RILL_FLAT_UNARY_F32(log_f32, UnaryOp::log)
RILL_FLAT_UNARY_F32(tanh_f32, UnaryOp::tanh)
RILL_FLAT_UNARY_F32(sigmoid_f32, UnaryOp::sigmoid)
#undef RILL_FLAT_UNARY_F32

// sin and cos of float32: the polynomial over blocks, then libm for the few
// arguments past its range (|x| > 8192, inf, NaN). Blocks, because y may be
// x's own buffer.
RILL_VECTOR_CLONES
void sincos_block(const float* x, float* y, size_t n, bool cos) {
  if (cos) {
    for (size_t j = 0; j < n; ++j) y[j] = vsincos<true>(x[j]);
  } else {
    for (size_t j = 0; j < n; ++j) y[j] = vsincos<false>(x[j]);
  }
}
void sincos_f32(const float* x, float* y, size_t n, bool cos) {
  constexpr size_t kBlock = 512;
  float keep[kBlock];
  for (size_t i = 0; i < n; i += kBlock) {
    const size_t m = std::min(kBlock, n - i);
    std::memcpy(keep, x + i, m * sizeof(float));
    sincos_block(keep, y + i, m, cos);
    for (size_t j = 0; j < m; ++j) {
      if (!(std::fabs(keep[j]) <= 8192.0f)) y[i + j] = cos ? std::cos(keep[j]) : std::sin(keep[j]);
    }
  }
}

template <typename T, UnaryOp op>
void unary_loops(const Node& in, Node& out, int decimals) {
  using C = compute_t<T>;
  const T* pi = in_ptr<T>(in);
  T* po = out_ptr<T>(out);
  if constexpr (std::is_same_v<T, float>) {
    if (in.row_contiguous) {
      constexpr auto flat = op == UnaryOp::erf       ? erf_f32
                            : op == UnaryOp::gelu    ? gelu_f32
                            : op == UnaryOp::exp     ? exp_f32
                            : op == UnaryOp::log     ? log_f32
                            : op == UnaryOp::tanh    ? tanh_f32
                            : op == UnaryOp::sigmoid ? sigmoid_f32
                                                     : nullptr;
      if constexpr (flat != nullptr) {
        flat(pi, po, in.size);
        return;
      } else if constexpr (op == UnaryOp::sin || op == UnaryOp::cos) {
        sincos_f32(pi, po, in.size, op == UnaryOp::cos);
        return;
      }
    }
  }
  if (in.row_contiguous) {
    for (size_t j = 0; j < in.size; ++j) po[j] = T(apply_unary<op, C>(C(pi[j]), decimals));
    return;
  }
  for_each_row<2>(in.shape, {in.strides, out.strides},
                  [&](const std::array<int64_t, 2>& off, int64_t n,
                      const std::array<int64_t, 2>& s) {
                    for (int64_t j = 0; j < n; ++j) {
                      po[off[1] + j * s[1]] =
                          T(apply_unary<op, C>(C(pi[off[0] + j * s[0]]), decimals));
                    }
                  });
}

// complex64: unary ops (real and imag write float32) and binary ops (the
// predicates write bool), elementwise through the strides.
void complex_unary_loops(UnaryOp op, const Node& in, Node& out) {
  const cfloat* pi = in_ptr<cfloat>(in);
  const bool part = op == UnaryOp::real || op == UnaryOp::imag;
  for_each_row<2>(in.shape, {in.strides, out.strides},
                  [&](const std::array<int64_t, 2>& off, int64_t n,
                      const std::array<int64_t, 2>& s) {
                    const cfloat* x = pi + off[0];
                    if (part) {
                      float* y = out_ptr<float>(out) + off[1];
                      for (int64_t j = 0; j < n; ++j) {
                        y[j * s[1]] = complex_unary(op, x[j * s[0]]).re;
                      }
                    } else {
                      cfloat* y = out_ptr<cfloat>(out) + off[1];
                      for (int64_t j = 0; j < n; ++j) y[j * s[1]] = complex_unary(op, x[j * s[0]]);
                    }
                  });
}

void complex_binary_loops(BinaryOp op, const Node& a, const Node& b, Node& out) {
  const cfloat* pa = in_ptr<cfloat>(a);
  const cfloat* pb = in_ptr<cfloat>(b);
  const bool predicate = is_predicate(op);
  for_each_row<3>(
      out.shape,
      {broadcast_strides(a, out.shape), broadcast_strides(b, out.shape), out.strides},
      [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
        const cfloat* x = pa + off[0];
        const cfloat* y = pb + off[1];
        if (predicate) {
          bool* z = out_ptr<bool>(out) + off[2];
          for (int64_t j = 0; j < n; ++j) {
            z[j * s[2]] = complex_compare(op, x[j * s[0]], y[j * s[1]]);
          }
        } else {
          cfloat* z = out_ptr<cfloat>(out) + off[2];
          for (int64_t j = 0; j < n; ++j) {
            z[j * s[2]] = complex_binary(op, x[j * s[0]], y[j * s[1]]);
          }
        }
      });
}

}  // namespace

void allocate_or_donate(Node& out, std::initializer_list<const Node*> donors,
                        bool elementwise) {
  for (const Node* d : donors) {
    if (d->buffer && !d->buffer->gpu && donatable(out, *d, elementwise)) {
      take_buffer(out, *d);
      return;
    }
  }
  allocate(out);
}

void unary(UnaryOp op, const Node& in, Node& out, int decimals) {
  allocate_or_donate(out, {&in});
  if (in.dtype == complex64) return complex_unary_loops(op, in, out);
  dispatch(in.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    using C = compute_t<T>;
    const T* pi = in_ptr<T>(in);
    if (op == UnaryOp::logical_not) {
      bool* po = out_ptr<bool>(out);
      for_each_row<2>(in.shape, {in.strides, out.strides},
                      [&](const std::array<int64_t, 2>& off, int64_t n,
                          const std::array<int64_t, 2>& s) {
                        for (int64_t j = 0; j < n; ++j) {
                          po[off[1] + j * s[1]] = C(pi[off[0] + j * s[0]]) == C(0);
                        }
                      });
      return;
    }
    switch (op) {  // logical_not was handled above
#define RILL_CASE(name, rule) \
  case UnaryOp::name: return unary_loops<T, UnaryOp::name>(in, out, decimals);
      RILL_UNARY_OPS(RILL_CASE)
#undef RILL_CASE
    }
  });
}

void binary(BinaryOp op, const Node& a, const Node& b, Node& out) {
  allocate_or_donate(out, {&a, &b});
  if (a.dtype == complex64) return complex_binary_loops(op, a, b, out);
  dispatch(a.dtype, [&](auto t) { binary_typed<typename decltype(t)::type>(op, a, b, out); });
}

void where(const Node& cond, const Node& x, const Node& y, Node& out) {
  allocate_or_donate(out, {&x, &y, &cond});
  dispatch(storage_dtype(out.dtype), [&](auto t) {
    using T = typename decltype(t)::type;
    const bool* pc = in_ptr<bool>(cond);
    const T* px = in_ptr<T>(x);
    const T* py = in_ptr<T>(y);
    T* po = out_ptr<T>(out);
    for_each_row<4>(out.shape,
                    {broadcast_strides(cond, out.shape), broadcast_strides(x, out.shape),
                     broadcast_strides(y, out.shape), out.strides},
                    [&](const std::array<int64_t, 4>& off, int64_t n,
                        const std::array<int64_t, 4>& s) {
                      for (int64_t j = 0; j < n; ++j) {
                        po[off[3] + j * s[3]] = pc[off[0] + j * s[0]] ? px[off[1] + j * s[1]]
                                                                      : py[off[2] + j * s[2]];
                      }
                    });
  });
}

void clip(const Node& x, const Node* lo, const Node* hi, Node& out) {
  allocate_or_donate(out, {&x});
  dispatch(out.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    using C = compute_t<T>;
    const T* px = in_ptr<T>(x);
    // A missing bound reads x at stride 0 and is not applied.
    const T* pl = lo ? in_ptr<T>(*lo) : px;
    const T* ph = hi ? in_ptr<T>(*hi) : px;
    const Strides none(out.shape.size(), 0);
    T* po = out_ptr<T>(out);
    auto rows = [&](auto has_lo, auto has_hi) {
      for_each_row<4>(
          out.shape,
          {broadcast_strides(x, out.shape), lo ? broadcast_strides(*lo, out.shape) : none,
           hi ? broadcast_strides(*hi, out.shape) : none, out.strides},
          [&](const std::array<int64_t, 4>& off, int64_t n, const std::array<int64_t, 4>& s) {
            for (int64_t j = 0; j < n; ++j) {
              C v = C(px[off[0] + j * s[0]]);
              // maximum and minimum pick an operand: no rounding between.
              if constexpr (decltype(has_lo)::value) {
                v = binary_value(BinaryOp::maximum, v, C(pl[off[1] + j * s[1]]));
              }
              if constexpr (decltype(has_hi)::value) {
                v = binary_value(BinaryOp::minimum, v, C(ph[off[2] + j * s[2]]));
              }
              po[off[3] + j * s[3]] = T(v);
            }
          });
    };
    using yes = std::true_type;
    using no = std::false_type;
    if (lo && hi) return rows(yes{}, yes{});
    if (lo) return rows(yes{}, no{});
    rows(no{}, yes{});
  });
}

void copy(const Node& in, Node& out) {
  // Only from an input read once: whoever copies may read the other inputs next.
  allocate_or_donate(out, {&in}, false);
  // A donated buffer of the same dtype already holds the copy.
  if (out.buffer == in.buffer && out.dtype == in.dtype) return;
  copy_into(in, out);
}

void copy_into(const Node& in, Node& out) {
  dispatch_any(in.dtype, [&](auto ti) {
    using I = typename decltype(ti)::type;
    dispatch_any(out.dtype, [&](auto to) {
      using O = typename decltype(to)::type;
      const I* pi = in_ptr<I>(in);
      O* po = out_ptr<O>(out);
      for_each_row<2>(out.shape, {broadcast_strides(in, out.shape), out.strides},
                      [&](const std::array<int64_t, 2>& off, int64_t n,
                          const std::array<int64_t, 2>& s) {
                        const I* x = pi + off[0];
                        O* y = po + off[1];
                        // Contiguous rows and repeated values (a broadcast bias)
                        // get loops the compiler vectorises.
                        if (s[1] == 1 && s[0] == 1) {
                          if constexpr (std::is_same_v<I, O>) {
                            std::memcpy(y, x, static_cast<size_t>(n) * sizeof(O));
                          } else {
                            for (int64_t j = 0; j < n; ++j) y[j] = convert<O>(x[j]);
                          }
                        } else if (s[1] == 1 && s[0] == 0) {
                          const O v = convert<O>(x[0]);
                          for (int64_t j = 0; j < n; ++j) y[j] = v;
                        } else {
                          for (int64_t j = 0; j < n; ++j) {
                            y[j * s[1]] = convert<O>(x[j * s[0]]);
                          }
                        }
                      });
    });
  });
}

void arange(double start, double step, Node& out) {
  allocate(out);
  dispatch(out.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    T* po = out_ptr<T>(out);
    for (size_t i = 0; i < out.size; ++i) {
      po[i] = convert<T>(start + static_cast<double>(i) * step);
    }
  });
}

void eye(int k, Node& out) {
  allocate(out);
  dispatch(out.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    T* po = out_ptr<T>(out);
    int n = out.shape[0], m = out.shape[1];
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < m; ++j) po[int64_t(i) * m + j] = convert<T>(j - i == k ? 1 : 0);
    }
  });
}

}  // namespace rill::detail::cpu
