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

// Long rows, few of them: each row cut into tiles of kTile elements, every
// tile scanned by one block in a single pass over the data. A block takes
// the next tile number from a counter (so every earlier tile has started),
// publishes its tile's total, then finds its carry by looking back over the
// earlier tiles of its row, 32 at a time (one per lane of warp 0), until one
// has published its inclusive prefix; then publishes its own.
// Per tile, three words: the state (0 nothing yet, 1 total, 2 prefix), the
// total and the inclusive prefix, each value written before its state.
constexpr int kLongBlock = 256, kLongItems = 8;
constexpr int64_t kLongTile = int64_t(kLongBlock) * kLongItems;

template <typename A>
__device__ __forceinline__ unsigned long long bits_of(A v) {
  static_assert(sizeof(A) <= 8, "a scan accumulator fits a word");
  unsigned long long b = 0;
  memcpy(&b, &v, sizeof(A));
  return b;
}
template <typename A>
__device__ __forceinline__ A from_bits(unsigned long long b) {
  A v;
  memcpy(&v, &b, sizeof(A));
  return v;
}

template <ScanOp op, typename T>
__global__ void __launch_bounds__(kLongBlock)
    scan_long(const T* in, T* out, int64_t len, int64_t tiles_per_row, bool reverse,
              bool inclusive, unsigned long long* status, unsigned long long* counter) {
  using A = ScanAcc<op, T>;
  using Scan = cub::BlockScan<A, kLongBlock>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ unsigned long long tile_s;
  __shared__ unsigned long long carry_s;
  const A id = scan_identity<op, A>();
  if (threadIdx.x == 0) tile_s = atomicAdd(counter, 1ull);
  __syncthreads();
  const int64_t tile = static_cast<int64_t>(tile_s);
  const int64_t r = tile / tiles_per_row, c = tile - r * tiles_per_row;
  const T* x = in + r * len;
  T* y = out + r * len;
  const int64_t base = c * kLongTile;
  A v[kLongItems], sc[kLongItems];
#pragma unroll
  for (int u = 0; u < kLongItems; ++u) {
    const int64_t k = base + threadIdx.x * kLongItems + u;
    v[u] = k < len ? to_acc<A>(x[reverse ? len - 1 - k : k]) : id;
  }
  A total;
  if (inclusive) {
    Scan(tmp).InclusiveScan(v, sc, Combine<op>{}, total);
  } else {
    Scan(tmp).ExclusiveScan(v, sc, id, Combine<op>{}, total);
  }
  volatile unsigned long long* st = status;
  if (threadIdx.x < 32) {
    const unsigned lane = threadIdx.x;
    A prefix = id;
    if (c > 0) {
      if (lane == 0) {
        st[3 * tile + 1] = bits_of(total);
        __threadfence();
        st[3 * tile] = 1;
      }
      const int64_t first = tile - c;  // the row's first tile: always a prefix
      for (int64_t end = tile - 1;; end -= 32) {
        const int64_t j = end - lane;
        unsigned long long state = 0;
        A got = id;
        if (j >= first) {
          do {
            state = st[3 * j];
          } while (state == 0);
          __threadfence();
          got = from_bits<A>(st[3 * j + state]);
        }
        // Lanes up to the nearest prefix count; lanes past it do not.
        const unsigned prefixes = __ballot_sync(0xffffffffu, state == 2);
        const unsigned stop = prefixes ? __ffs(prefixes) - 1 : 31;
        A w = lane <= stop ? got : id;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
          w = scan_combine<op>(w, from_bits<A>(__shfl_xor_sync(0xffffffffu, bits_of(w), o)));
        }
        prefix = scan_combine<op>(w, prefix);
        if (prefixes) break;
      }
    }
    if (lane == 0) {
      st[3 * tile + 2] = bits_of(scan_combine<op>(prefix, total));
      __threadfence();
      st[3 * tile] = 2;
      carry_s = bits_of(prefix);
    }
  }
  __syncthreads();
  const A carry = from_bits<A>(carry_s);
#pragma unroll
  for (int u = 0; u < kLongItems; ++u) {
    const int64_t k = base + threadIdx.x * kLongItems + u;
    if (k < len) y[reverse ? len - 1 - k : k] = from_acc<T, A>(scan_combine<op>(carry, sc[u]));
  }
}

// Rows at least this long, and at most kLongRows of them, take scan_long.
constexpr int64_t kLongLen = 1 << 16;
constexpr int64_t kLongRows = 256;

bool takes_long(int64_t outer, int64_t len, int64_t inner) {
  return inner == 1 && len >= kLongLen && outer <= kLongRows;
}

template <ScanOp op, typename T>
void scan_launch(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool reverse,
                 bool inclusive, void* scratch, cudaStream_t s) {
  if (takes_long(outer, len, inner)) {
    const int64_t per_row = (len + kLongTile - 1) / kLongTile;
    const int64_t tiles = outer * per_row;
    auto* counter = static_cast<unsigned long long*>(scratch);
    check_call(cudaMemsetAsync(scratch, 0, scan_scratch(outer, len, inner), s),
               "cudaMemsetAsync (scan tiles)");
    scan_long<op, T><<<static_cast<unsigned>(tiles), kLongBlock, 0, s>>>(
        x, y, len, per_row, reverse, inclusive, counter + 1, counter);
  } else if (inner > 1) {
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

size_t scan_scratch(int64_t outer, int64_t len, int64_t inner) {
  if (!takes_long(outer, len, inner)) return 0;
  const int64_t tiles = outer * ((len + kLongTile - 1) / kLongTile);
  return static_cast<size_t>(1 + 3 * tiles) * sizeof(unsigned long long);
}

void scan(ScanOp op, DT t, const void* in, void* out, int64_t outer, int64_t len, int64_t inner,
          bool reverse, bool inclusive, void* scratch, cudaStream_t s) {
  dispatch(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    switch (op) {
#define RILL_SCAN_CASE(name, rule)                                                 \
  case ScanOp::name:                                                              \
    return scan_launch<ScanOp::name, T>(x, y, outer, len, inner, reverse, inclusive, scratch, s);
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
