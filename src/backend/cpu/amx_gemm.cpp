// float32 products on the tile unit (Intel AMX): each float is split exactly
// into three bfloat16 parts, x = h + m + l (h rounded to 8 significant bits,
// m the remainder rounded likewise, l what is left, which fits exactly), and
// a b is the sum of the six part products that matter,
//   h h + h m + m h + h l + m m + l h,
// each exact in float32 and accumulated in float32 by TDPBF16PS. The three
// dropped products (m l, l m, l l) weigh at most about 2^-23 |a b| together,
// on the order of float32's own rounding. The tile unit's bfloat16 peak is
// 16 times the vector unit's float32 one, which leaves room for six
// products; what they gain in practice is in bench/RESULTS.md.
//
// Layout. A C block is 32 x 32 floats in four accumulator tiles (tmm0..3);
// per 32-deep chunk of k, two A tiles (tmm4, 5: rows 0-15 and 16-31) and two
// B tiles (tmm6, 7: columns 0-15 and 16-31) are loaded per part. Every tile
// is 16 rows of 64 bytes stored contiguously (1 KiB):
//   A tile: row r holds the 32 bfloat16 of k for that row;
//   B tile: row i holds, for each of 16 columns, the pair (k = 2i, 2i + 1).
// B is packed once (PackedB); A is split and packed at every call.
// Rows, columns and k are padded with zeros to multiples of 32.
//
// Every element of C sums its products in the same order whatever m and the
// block its row falls in, so results do not depend on the batch size.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "backend/cpu/allocator.h"
#include "backend/cpu/packed_gemm.h"
#include "backend/cpu/vmath.h"
#include "runtime/config.h"

namespace rill::detail::cpu {
namespace {

constexpr int64_t kBlock = 32;       // rows, columns and k per block
constexpr int64_t kTile = 512;       // bfloat16 per tile (16 x 32)
constexpr int64_t kPartTiles = 2;    // tiles per part per block and chunk
constexpr int64_t kChunk = 3 * kPartTiles * kTile;  // one block's k chunk, 3 parts

int64_t up32(int64_t x) { return (x + kBlock - 1) / kBlock * kBlock; }

// Round-to-nearest-even bfloat16 bits of a finite float's bits, as a float's
// bits (low half zero); truncated instead where rounding would overflow.
inline uint32_t round_bf16(uint32_t bits) {
  const uint32_t r = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
  return (r & 0x7F800000u) == 0x7F800000u ? (bits & 0xFFFF0000u) : r;
}

// Round_bf16, reading a subnormal float as a zero of its sign, as the vector
// unit's bfloat16 conversion does.
inline uint32_t round_bf16_daz(uint32_t bits) {
  return (bits & 0x7F800000u) == 0 ? bits & 0x80000000u : round_bf16(bits);
}

// x = h + m + l exactly, for finite x outside float32's subnormal range.
// (Infinities and NaN never reach the tiles: an inf times a part that is 0
// would make a NaN that float32 arithmetic does not; see gemm_bf16x3.)
// kDaz (A's rows, whose fastest split uses the conversion): every rounding
// reads a subnormal float as zero, so a part below float32's normal range
// (|x| under about 2^-110) is 0. The tile unit reads subnormal parts as zero
// anyway, so the products lose nothing they kept.
template <bool kDaz>
inline void split3(float x, uint16_t& h, uint16_t& m, uint16_t& l) {
  auto round = [](uint32_t bits) { return kDaz ? round_bf16_daz(bits) : round_bf16(bits); };
  const uint32_t hb = round(std::bit_cast<uint32_t>(x));
  const float r = x - std::bit_cast<float>(hb);  // exact
  const uint32_t mb = round(std::bit_cast<uint32_t>(r));
  const float s = r - std::bit_cast<float>(mb);  // exact, at most 8 significant bits
  const uint32_t sb = std::bit_cast<uint32_t>(s);
  h = static_cast<uint16_t>(hb >> 16);
  m = static_cast<uint16_t>(mb >> 16);
  l = static_cast<uint16_t>((kDaz ? round_bf16_daz(sb) : sb) >> 16);
}

// A's split3 over a row, and whether the row is finite; compiled for wider
// vector units too.
RILL_VECTOR_CLONES
bool split_row(const float* __restrict x, int64_t n, uint16_t* __restrict h,
               uint16_t* __restrict m, uint16_t* __restrict l) {
  uint32_t special = 0;
  for (int64_t i = 0; i < n; ++i) {
    special |= static_cast<uint32_t>((std::bit_cast<uint32_t>(x[i]) & 0x7F800000u) == 0x7F800000u);
    split3<true>(x[i], h[i], m[i], l[i]);
  }
  return special == 0;
}

std::atomic<bool> g_forced{false};

#if defined(__x86_64__)
// CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE. Linux hands out tile
// data only on request (arch_prctl ARCH_REQ_XCOMP_PERM, feature 18).
bool amx_hardware() {
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d & (1u << 22)) || !(d & (1u << 24))) return false;
    if (!__builtin_cpu_supports("avx512f")) return false;
    constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
  }();
  return ok;
}
#else
bool amx_hardware() { return false; }
#endif

// ---- a software model of the tile instructions (machines without AMX) ----

struct Model {
  float c[4][16][16];
  const uint16_t* t[8];  // tmm4..7: where each tile was loaded from (contiguous)
};

inline float from_bf16(uint16_t v) {
  // The tile unit treats subnormal inputs as zero.
  if ((v & 0x7F80u) == 0 && (v & 0x7Fu) != 0) v &= 0x8000u;
  return std::bit_cast<float>(static_cast<uint32_t>(v) << 16);
}

// c += a b for a 16 x 32 A tile and a B tile of 16 pairs x 16 columns: per
// pair of k, both products are exact in float32 and added in order.
void model_dp(float (&c)[16][16], const uint16_t* a, const uint16_t* b) {
  for (int r = 0; r < 16; ++r) {
    for (int j = 0; j < 16; ++j) {
      float acc = c[r][j];
      for (int i = 0; i < 16; ++i) {
        acc += from_bf16(a[r * 32 + 2 * i]) * from_bf16(b[i * 32 + 2 * j]);
        acc += from_bf16(a[r * 32 + 2 * i + 1]) * from_bf16(b[i * 32 + 2 * j + 1]);
      }
      // Subnormal results are flushed to zero.
      if (std::abs(acc) < 1.17549435e-38f) acc = std::copysign(0.0f, acc);
      c[r][j] = acc;
    }
  }
}

}  // namespace

// ---- the kernel, twice: on the tile unit and on the model ----

#define RILL_AMX_KERNEL kernel_model
#define RILL_AMX_ATTR
#define RILL_AMX_STATE Model st;
#define RILL_AMX_BEGIN()
#define RILL_AMX_END()
#define TZERO(i) std::memset(st.c[i], 0, sizeof st.c[i])
#define TLOAD(i, p) st.t[i] = (p)
#define TDP(ci, ai, bi) model_dp(st.c[ci], st.t[ai], st.t[bi])
#define TSTORE(i, p) \
  for (int r = 0; r < 16; ++r) std::memcpy((p) + r * 32, st.c[i][r], 16 * sizeof(float))
#include "backend/cpu/amx_kernel.inc"

#if defined(__x86_64__)
namespace {
// Palette 1: eight tiles of 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
}  // namespace
#define RILL_AMX_KERNEL kernel_tiles
// AVX-512 for the C block's epilogue (every CPU with the tile unit has it).
#define RILL_AMX_ATTR __attribute__((target("amx-tile,amx-bf16,avx512f")))
#define RILL_AMX_STATE
#define RILL_AMX_BEGIN()          \
  static const TileConfig kConfig; \
  _tile_loadconfig(&kConfig)
#define RILL_AMX_END() _tile_release()
#define TZERO(i) _tile_zero(i)
#define TLOAD(i, p) _tile_loadd(i, p, 64)
#define TDP(ci, ai, bi) _tile_dpbf16ps(ci, ai, bi)
#define TSTORE(i, p) _tile_stored(i, p, 128)
#include "backend/cpu/amx_kernel.inc"
#endif

bool amx_enabled() {
  static const bool on = setting_word(Setting::cpu_amx) != "0" && amx_hardware();
  return on;
}

void force_bf16x3_for_testing(bool on) { g_forced.store(on, std::memory_order_relaxed); }

// RILL_CPU_AMX=model: the tile kernel on its software model where the unit is
// absent (slow; for checking the kernel's layout and numerics anywhere).
bool bf16x3_chosen() {
  static const bool model = setting_word(Setting::cpu_amx) == "model";
  return amx_enabled() || model || g_forced.load(std::memory_order_relaxed);
}

size_t bf16x3_rhs_elements(int64_t k, int64_t n) {
  return static_cast<size_t>(up32(n) / kBlock * (up32(k) / kBlock) * kChunk);
}

bool all_finite(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs) {
  bool ok = true;
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) ok &= std::isfinite(b[i * rs + j * cs]);
  }
  return ok;
}

// B tile (column block jb, chunk c, part p, half h) at ((jb nc + c) 3 + p) 2 + h;
// within it, element (k, column j) at (k / 2) 32 + 2 j + k % 2. b must be finite.
namespace {
void pack_rhs_portable(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs,
                       uint16_t* tiles) {
  const int64_t nc = up32(k) / kBlock, nb = up32(n) / kBlock;
  std::memset(tiles, 0, bf16x3_rhs_elements(k, n) * sizeof(uint16_t));
  for (int64_t i = 0; i < k; ++i) {
    const int64_t c = i / kBlock, kk = i % kBlock;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t jb = j / kBlock, h = (j % kBlock) / 16, jj = j % 16;
      uint16_t* base = tiles + ((jb * nc + c) * 3 * kPartTiles + h) * kTile +
                       (kk / 2) * 32 + 2 * jj + kk % 2;
      split3<false>(b[i * rs + j * cs], base[0], base[kPartTiles * kTile],
                    base[2 * kPartTiles * kTile]);
    }
  }
  (void)nb;
}
}  // namespace

// B's element (i, j) back from its tiles: h + m + l is exact in float32.
float rhs_element(const PackedB& b, int64_t i, int64_t j) {
  const int64_t nc = up32(b.k) / kBlock;
  const int64_t c = i / kBlock, kk = i % kBlock, jb = j / kBlock, h = (j % kBlock) / 16;
  const uint16_t* base = b.tiles + ((jb * nc + c) * 3 * kPartTiles + h) * kTile +
                         (kk / 2) * 32 + 2 * (j % 16) + kk % 2;
  auto f = [](uint16_t v) { return std::bit_cast<float>(static_cast<uint32_t>(v) << 16); };
  return (f(base[0]) + f(base[kPartTiles * kTile])) + f(base[2 * kPartTiles * kTile]);
}

namespace {

// One row of A split into its tiles: `dst` is the row's place in chunk 0,
// part 0's tile; chunk c, part p is kChunk c + kPartTiles kTile p further.
// Zeros past k. Returns false if the row holds an infinity or NaN.
bool split_row_portable(const float* x, int64_t k, int64_t nc, uint16_t* dst) {
  std::vector<uint16_t> parts(static_cast<size_t>(3 * nc * kBlock), 0);
  uint16_t* ph = parts.data();
  uint16_t* pm = ph + nc * kBlock;
  uint16_t* pl = pm + nc * kBlock;
  if (!split_row(x, k, ph, pm, pl)) return false;
  for (int64_t c = 0; c < nc; ++c) {
    for (int p = 0; p < 3; ++p) {
      std::memcpy(dst + c * kChunk + p * kPartTiles * kTile, parts.data() + p * nc * kBlock + c * kBlock,
                  kBlock * sizeof(uint16_t));
    }
  }
  return true;
}

#if defined(__x86_64__)
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// placeholder operands (_mm512_undefined_*) when inlined under a target
// attribute.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// round_bf16 on 16 lanes.
__attribute__((target("avx512f"))) inline __m512i round_bf16_x16(__m512i bits) {
  const __m512i exp = _mm512_set1_epi32(0x7F800000), hi = _mm512_set1_epi32(int(0xFFFF0000u));
  __m512i t = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7FFF)),
                               _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1)));
  t = _mm512_and_si512(t, hi);
  const __mmask16 ovf = _mm512_cmpeq_epi32_mask(_mm512_and_si512(t, exp), exp);
  return _mm512_mask_blend_epi32(ovf, t, _mm512_and_si512(bits, hi));
}

// split3 of 16 finite floats: the parts as floats' bits (low halves zero).
__attribute__((target("avx512f"))) inline void split_x16(__m512 v, __m512i& h, __m512i& m,
                                                          __m512i& l) {
  h = round_bf16_x16(_mm512_castps_si512(v));
  const __m512 r = _mm512_sub_ps(v, _mm512_castsi512_ps(h));
  m = round_bf16_x16(_mm512_castps_si512(r));
  l = _mm512_castps_si512(_mm512_sub_ps(r, _mm512_castsi512_ps(m)));
}

// The first `left` of 16 lanes (none if left <= 0).
inline __mmask16 first_lanes(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1) : __mmask16(0);
}

// Two rows' parts as one tile row: row 2i's in the low half of each 32-bit
// lane, row 2i + 1's in the high half.
__attribute__((target("avx512f"))) inline __m512i pair_rows(__m512i even, __m512i odd) {
  return _mm512_or_si512(_mm512_srli_epi32(even, 16),
                         _mm512_and_si512(odd, _mm512_set1_epi32(int(0xFFFF0000u))));
}

__attribute__((target("avx512f,avx512bf16"))) inline __m512 widen_bf16(__m256i parts) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(parts), 16));
}

// split_row_portable for up to 16 rows (one tile's rows, row stride lda), 16
// floats at a time, with AVX512-BF16's conversion: it rounds to nearest even
// and reads subnormal floats as zero, as split3<true> does, and differs only
// in overflowing to infinity, so where rounding would overflow the float is
// truncated first, as round_bf16 does. A chunk of every row before the next
// chunk, so that each tile's lines are written one after another. `dst`: the
// first row's place in chunk 0, part 0's tile. Returns the rows holding an
// infinity or NaN, as a mask. (Every CPU with the tile unit has AVX512-BF16;
// elsewhere the kernel runs only on its model, with the portable split.)
__attribute__((target("avx512f,avx512bf16"))) uint32_t split_rows_avx512bf16(
    const float* x, int64_t lda, int rows, int64_t k, int64_t nc, uint16_t* dst) {
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), hi = _mm512_set1_epi32(int(0xFFFF0000u));
  const __m512i largest = _mm512_set1_epi32(0x7F7FFFFF);     // largest finite float
  const __m512i rounds_down = _mm512_set1_epi32(0x7F7F7FFF);  // largest not rounding up to inf
  uint32_t bad_rows = 0;
  for (int64_t c = 0; c < nc; ++c) {
    for (int r = 0; r < rows; ++r) {
      __mmask16 bad = 0;
      for (int64_t half = 0; half < 2; ++half) {
        const int64_t i0 = c * kBlock + half * 16;
        const __m512i bits =
            _mm512_castps_si512(_mm512_maskz_loadu_ps(first_lanes(k - i0), x + r * lda + i0));
        const __m512i mag = _mm512_and_si512(bits, magnitude);
        bad |= _mm512_cmpgt_epi32_mask(mag, largest);
        const __mmask16 near_max = _mm512_cmpgt_epi32_mask(mag, rounds_down);
        const __m512 v = _mm512_castsi512_ps(bits);
        const __m256i h = (__m256i)_mm512_cvtneps_pbh(
            _mm512_castsi512_ps(_mm512_mask_and_epi32(bits, near_max, bits, hi)));
        const __m512 rest = _mm512_sub_ps(v, widen_bf16(h));
        const __m256i m = (__m256i)_mm512_cvtneps_pbh(rest);
        const __m256i l = (__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(rest, widen_bf16(m)));
        uint16_t* out = dst + c * kChunk + r * 32 + half * 16;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), h);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + kPartTiles * kTile), m);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * kPartTiles * kTile), l);
      }
      if (bad) bad_rows |= 1u << r;
    }
  }
  return bad_rows;
}

// B's tiles for a matrix with unit column stride, one tile row (a pair of
// k for 16 columns, 64 bytes) per part at a time: the pair's two parts are
// the low and high halves of each 32-bit lane. Writes every element of the
// tiles, padding included.
__attribute__((target("avx512f"))) void pack_rhs_rows_avx512(const float* b, int64_t k,
                                                              int64_t n, int64_t rs,
                                                              uint16_t* tiles) {
  const int64_t nc = up32(k) / kBlock, nb = up32(n) / kBlock;
  for (int64_t jb = 0; jb < nb; ++jb) {
    for (int64_t half = 0; half < 2; ++half) {
      const int64_t j0 = jb * kBlock + half * 16;
      const __mmask16 cols = first_lanes(n - j0);
      for (int64_t c = 0; c < nc; ++c) {
        uint16_t* dst = tiles + ((jb * nc + c) * 3 * kPartTiles + half) * kTile;
        for (int64_t pr = 0; pr < 16; ++pr, dst += 32) {
          const int64_t i = c * kBlock + 2 * pr;
          const __m512 x0 = i < k ? _mm512_maskz_loadu_ps(cols, b + i * rs + j0) : _mm512_setzero_ps();
          const __m512 x1 =
              i + 1 < k ? _mm512_maskz_loadu_ps(cols, b + (i + 1) * rs + j0) : _mm512_setzero_ps();
          __m512i h0, m0, l0, h1, m1, l1;
          split_x16(x0, h0, m0, l0);
          split_x16(x1, h1, m1, l1);
          _mm512_storeu_si512(dst, pair_rows(h0, h1));
          _mm512_storeu_si512(dst + kPartTiles * kTile, pair_rows(m0, m1));
          _mm512_storeu_si512(dst + 2 * kPartTiles * kTile, pair_rows(l0, l1));
        }
      }
    }
  }
}
#pragma GCC diagnostic pop
#endif

}  // namespace

void pack_rhs_bf16x3(const float* b, int64_t k, int64_t n, int64_t rs, int64_t cs,
                     uint16_t* tiles) {
#if defined(__x86_64__)
  static const bool wide = __builtin_cpu_supports("avx512f");
  if (wide && cs == 1) {
    pack_rhs_rows_avx512(b, k, n, rs, tiles);
    return;
  }
#endif
  pack_rhs_portable(b, k, n, rs, cs, tiles);
}

namespace {

// Which row split pack_lhs uses: 0 element by element, 1 AVX512-BF16's
// conversion (where the CPU has it); set_lhs_split_for_testing overrides the
// choice.
std::atomic<int> g_lhs_split{-1};

int lhs_split() {
  const int forced = g_lhs_split.load(std::memory_order_relaxed);
  if (forced >= 0) return forced;
#if defined(__x86_64__)
  static const int best =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16") ? 1 : 0;
  return best;
#else
  return 0;
#endif
}

// A tile (row block ib, chunk c, part p, half h) at ((ib nc + c) 3 + p) 2 + h;
// within it, element (row r, k) at r 32 + k. Rows holding an infinity or NaN
// are packed as zeros and listed in `special`.
void pack_lhs(int64_t m, const float* a, int64_t lda, int64_t k, uint16_t* tiles,
              std::vector<int64_t>& special) {
  const int64_t nc = up32(k) / kBlock, mp = up32(m);
#if defined(__x86_64__)
  const int how = lhs_split();
#endif
  // Sixteen rows (one tile's) at a time.
  for (int64_t g = 0; g < mp; g += 16) {
    uint16_t* dst = tiles + ((g / kBlock) * nc * 3 * kPartTiles + (g % kBlock) / 16) * kTile;
    const int rows = static_cast<int>(std::clamp<int64_t>(m - g, 0, 16));
    uint32_t bad = 0;
#if defined(__x86_64__)
    if (how == 1 && rows > 0) {
      bad = split_rows_avx512bf16(a + g * lda, lda, rows, k, nc, dst);
    } else
#endif
    {
      for (int r = 0; r < rows; ++r) {
        if (!split_row_portable(a + (g + r) * lda, k, nc, dst + r * 32)) bad |= 1u << r;
      }
    }
    // Rows with an infinity or NaN, and padding rows, as zeros.
    for (int r = 0; r < 16; ++r) {
      const bool real = r < rows;
      if (real && !((bad >> r) & 1u)) continue;
      if (real) special.push_back(g + r);
      for (int64_t c = 0; c < nc; ++c) {
        for (int p = 0; p < 3; ++p) {
          std::memset(dst + r * 32 + c * kChunk + p * kPartTiles * kTile, 0,
                      kBlock * sizeof(uint16_t));
        }
      }
    }
  }
}

}  // namespace

bool set_lhs_split_for_testing(int how) {
  if (how > 1) return false;
#if defined(__x86_64__)
  if (how == 1 && !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16")))
    return false;
#else
  if (how > 0) return false;
#endif
  g_lhs_split.store(how, std::memory_order_relaxed);
  return true;
}

std::vector<int64_t> pack_lhs_for_testing(int64_t m, const float* a, int64_t lda, int64_t k,
                                          std::vector<uint16_t>& tiles) {
  const int64_t nc = up32(k) / kBlock;
  tiles.assign(static_cast<size_t>(up32(m) / kBlock * nc * kChunk), 0xFFFF);
  std::vector<int64_t> special;
  pack_lhs(m, a, lda, k, tiles.data(), special);
  return special;
}

void gemm_bf16x3(int64_t m, const float* a, int64_t lda, const PackedB& b, float alpha,
                 float beta, float* c, int64_t ldc, const float* addend) {
  if (m <= 0 || b.n <= 0) return;
  const int64_t nc = up32(b.k) / kBlock;
  const size_t a_bytes = static_cast<size_t>(up32(m) / kBlock * nc * kChunk) * sizeof(uint16_t);
  uint16_t* at = static_cast<uint16_t*>(allocate(std::max<size_t>(a_bytes, 64)));
  struct Release {
    void* p;
    size_t n;
    ~Release() { release(p, n); }
  } guard{at, std::max<size_t>(a_bytes, 64)};
  std::vector<int64_t> special;
  pack_lhs(m, a, lda, b.k, at, special);
  // Rows with an infinity or NaN get float32's own arithmetic, in k order,
  // into a side buffer first (the kernel overwrites c, which beta reads).
  std::vector<float> fixed(special.size() * static_cast<size_t>(b.n));
  for (size_t s = 0; s < special.size(); ++s) {
    const float* ar = a + special[s] * lda;
    const float* cr = addend ? addend : c + special[s] * ldc;
    for (int64_t j = 0; j < b.n; ++j) {
      float acc = 0.0f;
      for (int64_t i = 0; i < b.k; ++i) acc += ar[i] * rhs_element(b, i, j);
      fixed[s * b.n + j] = beta == 0.0f ? alpha * acc : alpha * acc + beta * cr[j];
    }
  }
#if defined(__x86_64__)
  if (amx_hardware()) {
    kernel_tiles(m, b.n, nc, at, b.tiles, alpha, beta, c, ldc, addend);
  } else {
    kernel_model(m, b.n, nc, at, b.tiles, alpha, beta, c, ldc, addend);
  }
#else
  kernel_model(m, b.n, nc, at, b.tiles, alpha, beta, c, ldc, addend);
#endif
  for (size_t s = 0; s < special.size(); ++s) {
    std::memcpy(c + special[s] * ldc, fixed.data() + s * b.n, b.n * sizeof(float));
  }
}

}  // namespace rill::detail::cpu
