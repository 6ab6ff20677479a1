// A linear layer y = x W^T + b with W stored as Hugging Face stores it,
// [out, in].
#pragma once

#include <optional>
#include <string>

#include "rill/rill.h"

namespace rill::llm {

// MLX's quantized layout of a weight: `Linear::weight` then holds the packed
// uint32 words [out, in * bits / 32], with a scale and (mode "affine") a bias
// per group of `group_size` inputs ([out, in / group_size] each).
struct QuantizedWeight {
  array scales;
  std::optional<array> biases;  // none in the fp4/fp8 modes
  int group_size = 64;
  int bits = 4;
  std::string mode = "affine";
};

struct Linear {
  array weight;               // [out, in], or packed (see QuantizedWeight)
  std::optional<array> bias;  // [out]
  std::optional<QuantizedWeight> quantized;

  int out_features() const { return weight.shape(0); }

  // x [..., in] -> [..., out]. Lazy: builds nodes on `s`.
  array operator()(const array& x, StreamOrDevice s = {}) const {
    if (quantized) {
      // The quantized form's product goes here:
      //   y = quantized_matmul(x, weight, q.scales, q.biases, /*transpose=*/true,
      //                        q.group_size, q.bits, q.mode, s), plus the bias.
      throw std::invalid_argument("[llm::Linear] quantized weights (" + quantized->mode +
                                  ", " + std::to_string(quantized->bits) +
                                  " bits) need quantized_matmul, not built in yet");
    }
    // transpose() is a view: the product reads W^T in place, no copy.
    if (bias) return addmm(*bias, x, transpose(weight, s), 1.0f, 1.0f, s);
    return matmul(x, transpose(weight, s), s);
  }
};

}  // namespace rill::llm
