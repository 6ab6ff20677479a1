// Choosing the next token from a step's logits.
#pragma once

#include <vector>

#include "rill/rill.h"

namespace rill::llm {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy (argmax)
  int top_k = 0;             // keep the k most likely tokens; 0: all
  float top_p = 1.0f;        // keep the fewest tokens whose probability reaches p; 1: all

  bool greedy() const { return temperature == 0.0f; }
  // Throws std::invalid_argument for a negative or non-finite temperature,
  // a negative top_k, or top_p outside (0, 1].
  void validate() const;
};

// The logits [B, V] with everything top_k and top_p leave out set to -inf,
// divided by the temperature (not greedy).
array filter_logits(const array& logits, const SamplingParams& params,
                    StreamOrDevice s = {});

// Token ids (int32 [B]) from logits [B, V]: argmax when greedy, else one
// draw per row from the filtered distribution, row b with keys[b] (one key
// per request, so that a request draws the same tokens in a batch or alone).
array sample(const array& logits, const SamplingParams& params,
             const std::vector<array>& keys, StreamOrDevice s = {});

}  // namespace rill::llm
