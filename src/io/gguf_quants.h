// GGUF's 32-weight quantized blocks (Q4_0, Q4_1, Q8_0) in MLX's affine layout:
// w = scale * q + bias per group of 32, q packed into uint32 words from the
// low bits up (8 four-bit or 4 eight-bit values a word). Internal.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rill/dtype.h"

namespace rill::detail::gguf {

enum class BlockType { q4_0, q4_1, q8_0 };

constexpr int kBlockItems = 32;
constexpr size_t block_bytes(BlockType t) {
  return t == BlockType::q4_0 ? 18 : t == BlockType::q4_1 ? 20 : 34;
}
constexpr int bits(BlockType t) {
  return t == BlockType::q8_0 ? 8 : 4;
}

// Converts `nblocks` consecutive blocks at `src`: writes 32 * bits / 32 words
// to `words`, and one scale and bias per block.
void unpack_blocks(BlockType t, const unsigned char* src, size_t nblocks, uint32_t* words,
                   float16_t* scales, float16_t* biases);

}  // namespace rill::detail::gguf
