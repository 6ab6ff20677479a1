// Device-side helpers shared by the kernels: element types, conversions with
// the CPU's semantics (core/dispatch.h's convert), strided indexing and launch
// checks. Internal; included by .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "backend/cuda/launch.h"

namespace rill::detail::cu {

// Throws a std::runtime_error for a failed launch (configuration errors).
inline void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ") launching " + kernel);
  }
}

// Throws a std::runtime_error for a failed runtime call made by a .cu file.
inline void check_call(cudaError_t e, const char* call) {
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ") in " + call);
  }
}

template <typename T>
struct is_half : std::false_type {};
template <>
struct is_half<__half> : std::true_type {};
template <>
struct is_half<__nv_bfloat16> : std::true_type {};

// The type arithmetic on T is done in.
template <typename T>
using acc_t = std::conditional_t<is_half<T>::value, float, T>;

template <typename T>
__device__ __forceinline__ acc_t<T> widen(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return v;
  }
}

template <typename T>
__device__ __forceinline__ T narrow(acc_t<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(v);
  } else {
    return v;
  }
}

template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<acc_t<T>>;

template <typename To>
__device__ __forceinline__ To int_limit(bool high) {
  return high ? std::numeric_limits<To>::max() : std::numeric_limits<To>::min();
}

// Every pair of element types: floats to integers truncate toward zero and
// saturate (NaN gives 0), anything to bool is "not zero", doubles reach the
// half types through float (as on the CPU).
template <typename To, typename From>
__device__ __forceinline__ To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return widen(v) != acc_t<From>(0);
  } else if constexpr (is_half<To>::value) {
    return narrow<To>(static_cast<float>(widen(v)));
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(widen(v));
  } else if constexpr (is_float_v<From>) {
    double d = static_cast<double>(widen(v));
    if (d != d) return To(0);
    const double lo = static_cast<double>(int_limit<To>(false));
    const double hi = static_cast<double>(int_limit<To>(true));
    if (d <= lo) return int_limit<To>(false);
    if (d >= hi) return int_limit<To>(true);
    return static_cast<To>(d);
  } else {
    return static_cast<To>(v);
  }
}

// Calls f(TypeTag) with the C++ type of a DT.
template <typename T>
struct Tag {
  using type = T;
};
template <typename F>
void dispatch(DT t, F&& f) {
  switch (t) {
    case DT::bool_: return f(Tag<bool>{});
    case DT::u8: return f(Tag<uint8_t>{});
    case DT::u32: return f(Tag<uint32_t>{});
    case DT::i32: return f(Tag<int32_t>{});
    case DT::i64: return f(Tag<int64_t>{});
    case DT::f16: return f(Tag<__half>{});
    case DT::bf16: return f(Tag<__nv_bfloat16>{});
    case DT::f32: return f(Tag<float>{});
    case DT::f64: return f(Tag<double>{});
    case DT::i8: return f(Tag<int8_t>{});
    case DT::i16: return f(Tag<int16_t>{});
    case DT::u16: return f(Tag<uint16_t>{});
    case DT::u64: return f(Tag<uint64_t>{});
    case DT::c64: break;  // complex64 kernels handle it before dispatching
  }
  throw std::logic_error("a real-valued GPU kernel was given complex64");
}
template <typename F>
void dispatch_float(DT t, F&& f) {
  switch (t) {
    case DT::f16: return f(Tag<__half>{});
    case DT::bf16: return f(Tag<__nv_bfloat16>{});
    case DT::f32: return f(Tag<float>{});
    case DT::f64: return f(Tag<double>{});
    default: throw std::logic_error("a floating point kernel called on another dtype");
  }
}

// Blocks for n elements at `per_thread` each, capped (kernels loop).
inline unsigned blocks_for(int64_t n, int threads, int per_thread = 1) {
  int64_t b = (n + int64_t(threads) * per_thread - 1) / (int64_t(threads) * per_thread);
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return static_cast<unsigned>(b);
}

}  // namespace rill::detail::cu
