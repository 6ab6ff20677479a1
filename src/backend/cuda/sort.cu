// Scans and sorts along one axis: the scans (one thread per lane when lanes are
// many and interleaved, one block per contiguous row otherwise) and the sort
// family through CUB's stable segmented sort on order-preserving unsigned
// keys, so that the order is the CPU's: NaN last, -0 equal to +0, ties in
// input order.
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_sort.cuh>

#include "backend/cuda/device.cuh"
#include "common/scan_math.h"

namespace rill::detail::cu {
namespace {

// The accumulator of scan `op` over T (common/scan_math.h): loads widen the
// half types to float first.
template <ScanOp op, typename T>
using ScanAcc = scan_acc_t<op, acc_t<T>>;

template <typename A, typename T>
__device__ __forceinline__ A to_acc(T v) {
  return static_cast<A>(widen(v));
}
template <typename T, typename A>
__device__ __forceinline__ T from_acc(A v) {
  if constexpr (is_half<T>::value) {
    return narrow<T>(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

template <ScanOp op>
struct Combine {
  template <typename A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return scan_combine<op>(a, b);
  }
};

// Lanes [o, :, j] of a row-major [outer, len, inner] array, one per thread.
template <ScanOp op, typename T>
__global__ void scan_lanes(const T* in, T* out, int64_t outer, int64_t len, int64_t inner,
                           bool reverse, bool inclusive) {
  using A = ScanAcc<op, T>;
  const int64_t lanes = outer * inner;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t l = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; l < lanes; l += stride) {
    const int64_t o = l / inner, j = l - o * inner;
    const int64_t base = o * len * inner + j;
    A acc = scan_identity<op, A>();
    for (int64_t k = 0; k < len; ++k) {
      const int64_t at = base + (reverse ? len - 1 - k : k) * inner;
      const A v = to_acc<A>(in[at]);
      const A before = acc;
      acc = k == 0 ? v : scan_combine<op>(before, v);
      out[at] = from_acc<T, A>(inclusive ? acc : before);
    }
  }
}

// Contiguous rows, one block each, kItems elements per thread per step.
template <ScanOp op, typename T, int kBlock>
__global__ void scan_rows(const T* in, T* out, int64_t rows, int64_t len, bool reverse,
                          bool inclusive) {
  using A = ScanAcc<op, T>;
  constexpr int kItems = 4;
  using Scan = cub::BlockScan<A, kBlock>;
  __shared__ typename Scan::TempStorage tmp;
  const A id = scan_identity<op, A>();
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * len;
    T* y = out + r * len;
    A carry = id;
    for (int64_t base = 0; base < len; base += int64_t(kBlock) * kItems) {
      A v[kItems], s[kItems];
#pragma unroll
      for (int u = 0; u < kItems; ++u) {
        const int64_t k = base + threadIdx.x * kItems + u;
        v[u] = k < len ? to_acc<A>(x[reverse ? len - 1 - k : k]) : id;
      }
      A total;
      if (inclusive) {
        Scan(tmp).InclusiveScan(v, s, Combine<op>{}, total);
      } else {
        Scan(tmp).ExclusiveScan(v, s, id, Combine<op>{}, total);
      }
#pragma unroll
      for (int u = 0; u < kItems; ++u) {
        const int64_t k = base + threadIdx.x * kItems + u;
        if (k < len) y[reverse ? len - 1 - k : k] = from_acc<T, A>(scan_combine<op>(carry, s[u]));
      }
      carry = scan_combine<op>(carry, total);
      __syncthreads();  // tmp is reused
    }
  }
}

template <ScanOp op, typename T>
void scan_launch(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool reverse,
                 bool inclusive, cudaStream_t s) {
  if (inner > 1) {
    scan_lanes<op, T><<<blocks_for(outer * inner, 256), 256, 0, s>>>(x, y, outer, len, inner,
                                                                     reverse, inclusive);
  } else if (len <= 256) {
    const unsigned g = static_cast<unsigned>(outer < 65535 * 16 ? outer : 65535 * 16);
    scan_rows<op, T, 32><<<g, 32, 0, s>>>(x, y, outer, len, reverse, inclusive);
  } else {
    const unsigned g = static_cast<unsigned>(outer < 65535 * 16 ? outer : 65535 * 16);
    scan_rows<op, T, 256><<<g, 256, 0, s>>>(x, y, outer, len, reverse, inclusive);
  }
}

// ---- sort ----

// Unsigned keys whose ascending order is the CPU's order of the values.
template <typename T>
struct KeyOf {
  using type = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
};

template <typename T>
__device__ __forceinline__ typename KeyOf<T>::type key_of(T v) {
  if constexpr (is_float_v<T>) {
    if constexpr (std::is_same_v<T, double>) {
      if (v != v) return ~0ull;
      if (v == 0.0) v = 0.0;  // -0 sorts with +0
      const uint64_t b = static_cast<uint64_t>(__double_as_longlong(v));
      return (b >> 63) ? ~b : (b | (1ull << 63));
    } else {
      float f = static_cast<float>(widen(v));
      if (f != f) return ~0u;
      if (f == 0.0f) f = 0.0f;
      const uint32_t b = __float_as_uint(f);
      return (b >> 31) ? ~b : (b | (1u << 31));
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? 1u : 0u;
  } else if constexpr (std::is_signed_v<T>) {
    using K = typename KeyOf<T>::type;
    return static_cast<K>(v) ^ (K(1) << (sizeof(K) * 8 - 1));
  } else {
    return static_cast<typename KeyOf<T>::type>(v);
  }
}

template <typename T>
__global__ void make_keys(const T* in, SortArgs a, typename KeyOf<T>::type* keys,
                          uint32_t* pos, int64_t* offsets) {
  const int64_t n = a.rows * a.len;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / a.len, p = e - r * a.len;
    keys[e] = key_of(in[offset_of(r, a.keep, a.kst) + p * a.axis_st]);
    pos[e] = static_cast<uint32_t>(p);
    if (p == 0) offsets[r] = e;
    if (e == n - 1) offsets[a.rows] = n;
  }
}

template <typename T>
__global__ void write_sorted(const T* in, const uint32_t* order, SortArgs a, void* out) {
  const int64_t n = a.rows * a.m;
  const bool values = a.op == SortOp::sort || a.op == SortOp::partition || a.op == SortOp::topk;
  const int64_t skip = a.len - a.m;  // topk: the m largest are the last m
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / a.m, p = e - r * a.m;
    const uint32_t src = order[r * a.len + skip + p];
    const int64_t at = offset_of(r, a.keep, a.ost) + p * a.out_axis_st;
    if (values) {
      static_cast<T*>(out)[at] = in[offset_of(r, a.keep, a.kst) + int64_t(src) * a.axis_st];
    } else {
      static_cast<uint32_t*>(out)[at] = src;
    }
  }
}

// Scratch: keys in and out, positions in and out, rows + 1 offsets, then CUB's.
struct Layout {
  size_t keys_in, keys_out, pos_in, pos_out, offsets, cub, total, cub_bytes;
};
size_t up(size_t x) { return (x + 255) / 256 * 256; }

template <typename K>
Layout layout_for(const SortArgs& a) {
  const size_t n = static_cast<size_t>(a.rows * a.len);
  Layout l{};
  l.keys_in = 0;
  l.keys_out = up(n * sizeof(K));
  l.pos_in = l.keys_out + up(n * sizeof(K));
  l.pos_out = l.pos_in + up(n * 4);
  l.offsets = l.pos_out + up(n * 4);
  l.cub = l.offsets + up((a.rows + 1) * 8);
  size_t bytes = 0;
  check_call(cub::DeviceSegmentedSort::StableSortPairs(
                 nullptr, bytes, static_cast<const K*>(nullptr), static_cast<K*>(nullptr),
                 static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
                 static_cast<int64_t>(n), a.rows, static_cast<const int64_t*>(nullptr),
                 static_cast<const int64_t*>(nullptr)),
             "cub::DeviceSegmentedSort (size query)");
  l.cub_bytes = bytes;
  l.total = l.cub + up(bytes);
  return l;
}

}  // namespace

void scan(ScanOp op, DT t, const void* in, void* out, int64_t outer, int64_t len, int64_t inner,
          bool reverse, bool inclusive, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    switch (op) {
#define RILL_SCAN_CASE(name, rule)                                                 \
  case ScanOp::name:                                                              \
    return scan_launch<ScanOp::name, T>(x, y, outer, len, inner, reverse, inclusive, s);
      RILL_SCAN_OPS(RILL_SCAN_CASE)
#undef RILL_SCAN_CASE
    }
  });
  check_launch(op_name(op));
}

size_t sort_scratch(DT t, const SortArgs& a) {
  size_t total = 0;
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    total = layout_for<typename KeyOf<T>::type>(a).total;
  });
  return total;
}

void sort(DT t, const void* in, void* out, void* scratch, size_t scratch_bytes,
          const SortArgs& a, cudaStream_t s) {
  if (a.len > 0xffffffffLL) throw std::runtime_error("sort on the GPU: axis longer than 2^32");
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using K = typename KeyOf<T>::type;
    const Layout l = layout_for<K>(a);
    if (scratch_bytes < l.total) throw std::logic_error("sort: scratch too small");
    char* base = static_cast<char*>(scratch);
    K* keys_in = reinterpret_cast<K*>(base + l.keys_in);
    K* keys_out = reinterpret_cast<K*>(base + l.keys_out);
    uint32_t* pos_in = reinterpret_cast<uint32_t*>(base + l.pos_in);
    uint32_t* pos_out = reinterpret_cast<uint32_t*>(base + l.pos_out);
    int64_t* offsets = reinterpret_cast<int64_t*>(base + l.offsets);
    const int64_t n = a.rows * a.len;
    make_keys<T><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<const T*>(in), a, keys_in,
                                                     pos_in, offsets);
    check_launch("sort (keys)");
    size_t bytes = l.cub_bytes;
    check_call(cub::DeviceSegmentedSort::StableSortPairs(
                   base + l.cub, bytes, keys_in, keys_out, pos_in, pos_out, n, a.rows,
                   offsets, offsets + 1, s),
               "cub::DeviceSegmentedSort::StableSortPairs");
    write_sorted<T><<<blocks_for(a.rows * a.m, 256), 256, 0, s>>>(static_cast<const T*>(in),
                                                                   pos_out, a, out);
    check_launch("sort");
  });
}

}  // namespace rill::detail::cu
