#include "rill/llm/sampling.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace rill::llm {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) {
    throw std::invalid_argument(
        "[llm::sample] temperature must be finite and >= 0, got " +
        std::to_string(temperature));
  }
  if (top_k < 0) {
    throw std::invalid_argument("[llm::sample] top_k must be >= 0, got " +
                                std::to_string(top_k));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    throw std::invalid_argument("[llm::sample] top_p must be in (0, 1], got " +
                                std::to_string(top_p));
  }
}

array filter_logits(const array& logits, const SamplingParams& p, StreamOrDevice s) {
  p.validate();
  if (logits.ndim() != 2) {
    throw std::invalid_argument("[llm::sample] logits must be [batch, vocab], got " +
                                std::to_string(logits.ndim()) + " dimensions");
  }
  const int vocab = logits.shape(1);
  const array neg_inf(-std::numeric_limits<float>::infinity());
  array x = astype(logits, float32, s);
  if (!p.greedy()) x = divide(x, array(p.temperature), s);
  if (p.top_k > 0 && p.top_k < vocab) {
    // The k-th largest value of each row; smaller ones are dropped (ties
    // with it stay).
    array kth = min(topk(x, p.top_k, -1, s), -1, true, s);
    x = where(less(x, kth, s), neg_inf, x, s);
  }
  if (p.top_p < 1.0f) {
    // Sorted by decreasing probability, a token stays while the mass before
    // it is below p: the most likely one always stays.
    array order = argsort(negative(x, s), -1, s);
    array sorted = take_along_axis(x, order, -1, s);
    array probs = softmax(sorted, -1, true, s);
    array before = cumsum(probs, -1, false, /*inclusive=*/false, s);
    array kept = where(less(before, array(p.top_p), s), sorted, neg_inf, s);
    x = put_along_axis(x, order, kept, -1, s);
  }
  return x;
}

array sample(const array& logits, const SamplingParams& p, const std::vector<array>& keys,
             StreamOrDevice s) {
  if (logits.ndim() != 2) {
    throw std::invalid_argument("[llm::sample] logits must be [batch, vocab], got " +
                                std::to_string(logits.ndim()) + " dimensions");
  }
  p.validate();
  if (p.greedy()) return astype(argmax(logits, -1, false, s), int32, s);
  const int batch = logits.shape(0);
  if (static_cast<int>(keys.size()) != batch) {
    throw std::invalid_argument(
        "[llm::sample] one key per row: " + std::to_string(batch) + " rows, " +
        std::to_string(keys.size()) + " keys");
  }
  array x = filter_logits(logits, p, s);
  std::vector<array> rows;
  for (int b = 0; b < batch; ++b) {
    array row = slice(x, {b, 0}, {b + 1, x.shape(1)}, s);
    rows.push_back(random::categorical(row, -1, keys[b], s));
  }
  array ids = batch == 1 ? rows[0] : concatenate(rows, 0, s);
  return astype(ids, int32, s);
}

}  // namespace rill::llm
