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

  // This layer with its weight quantized (MLX's quantize: `bits`,
  // `group_size`, `mode`); an already quantized layer stays as it is.
  Linear quantize(int bits, int group_size = 64, const std::string& mode = "affine",
                  StreamOrDevice s = {}) const {
    if (quantized) return *this;
    auto q = rill::quantize(weight, group_size, bits, mode, std::nullopt, s);
    Linear out{q[0], bias, QuantizedWeight{q[1], std::nullopt, group_size, bits, mode}};
    if (q.size() > 2) out.quantized->biases = q[2];
    return out;
  }

  // x [..., in] -> [..., out]. Lazy: builds nodes on `s`.
  array operator()(const array& x, StreamOrDevice s = {}) const {
    if (quantized) {
      const QuantizedWeight& q = *quantized;
      array y = quantized_matmul(x, weight, q.scales, q.biases, /*transpose=*/true, q.group_size,
                                 q.bits, q.mode, s);
      return bias ? add(y, *bias, s) : y;
    }
    // transpose() is a view: the product reads W^T in place, no copy.
    if (bias) return addmm(*bias, x, transpose(weight, s), 1.0f, 1.0f, s);
    return matmul(x, transpose(weight, s), s);
  }
};

}  // namespace rill::llm
