#include "io/gguf_quants.h"

#include <cstring>

namespace rill::detail::gguf {

namespace {

float16_t half_at(const unsigned char* p) {
  return float16_t::from_bits(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}

}  // namespace

void unpack_blocks(BlockType t, const unsigned char* src, size_t nblocks, uint32_t* words,
                   float16_t* scales, float16_t* biases) {
  const size_t size = block_bytes(t);
  const int per_word = 32 / bits(t);
  for (size_t b = 0; b < nblocks; ++b, src += size) {
    float16_t d = half_at(src);
    uint32_t* out = words + b * (kBlockItems / per_word);
    std::memset(out, 0, sizeof(uint32_t) * (kBlockItems / per_word));
    if (t == BlockType::q8_0) {
      // Signed bytes q in [-128, 127] become q + 128 with a bias of -128 d.
      scales[b] = d;
      biases[b] = float16_t(-128.0f * static_cast<float>(d));
      for (int i = 0; i < kBlockItems; ++i) {
        uint32_t q = static_cast<uint32_t>(src[2 + i] ^ 0x80u);
        out[i / 4] |= q << (8 * (i % 4));
      }
      continue;
    }
    // Q4_0 centres its nibbles on 8; Q4_1 stores its minimum after the scale.
    const unsigned char* qs = src + (t == BlockType::q4_0 ? 2 : 4);
    scales[b] = d;
    biases[b] = t == BlockType::q4_0 ? float16_t(-8.0f * static_cast<float>(d))
                                     : half_at(src + 2);
    // Byte j holds weight j in its low nibble and weight j + 16 in its high one.
    for (int i = 0; i < kBlockItems; ++i) {
      uint32_t q = i < 16 ? (qs[i] & 0x0fu) : (qs[i - 16] >> 4);
      out[i / 8] |= q << (4 * (i % 8));
    }
  }
}

}  // namespace rill::detail::gguf
