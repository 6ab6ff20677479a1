#include "rill/llm/kv_cache.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "format.h"

namespace rill::llm {

using detail::shape_str;

KVCache::KVCache(const ModelConfig& config, int batch, Dtype dtype, int reserve, int step,
                 StreamOrDevice s)
    : batch_(batch),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      step_(step),
      dtype_(dtype) {
  if (batch <= 0 || reserve < 0 || step <= 0) {
    throw std::invalid_argument(
        "[llm::KVCache] batch and step must be positive and reserve "
        "non-negative, got batch " +
        std::to_string(batch) + ", reserve " + std::to_string(reserve) + ", step " +
        std::to_string(step));
  }
  if (!is_floating_point(dtype)) {
    throw std::invalid_argument("[llm::KVCache] dtype must be floating point, got " +
                                dtype_name(dtype));
  }
  capacity_ = reserve > 0 ? reserve : step;
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    keys_.push_back(zeros({batch_, kv_heads_, capacity_, head_dim_}, dtype_, s));
    values_.push_back(zeros({batch_, kv_heads_, capacity_, head_dim_}, dtype_, s));
  }
  left_padding_.assign(batch_, 0);
}

void KVCache::set_left_padding(std::vector<int> padding) {
  if (static_cast<int>(padding.size()) != batch_) {
    throw std::invalid_argument("[llm::KVCache] left padding has " +
                                std::to_string(padding.size()) + " rows, the batch " +
                                std::to_string(batch_));
  }
  if (offset_ != 0) {
    throw std::invalid_argument(
        "[llm::KVCache] left padding is set before the first token, "
        "but " +
        std::to_string(offset_) + " slots are filled");
  }
  for (int p : padding) {
    if (p < 0)
      throw std::invalid_argument("[llm::KVCache] negative left padding " +
                                  std::to_string(p));
  }
  left_padding_ = std::move(padding);
  padded_ = std::any_of(left_padding_.begin(), left_padding_.end(),
                        [](int p) { return p > 0; });
}

void KVCache::grow(int needed, StreamOrDevice s) {
  int cap = std::max(capacity_ + step_, (needed + step_ - 1) / step_ * step_);
  Shape extra{batch_, kv_heads_, cap - capacity_, head_dim_};
  for (size_t l = 0; l < keys_.size(); ++l) {
    keys_[l] = concatenate({keys_[l], zeros(extra, dtype_, s)}, 2, s);
    values_[l] = concatenate({values_[l], zeros(extra, dtype_, s)}, 2, s);
  }
  capacity_ = cap;
}

std::pair<array, array> KVCache::update(int layer, const array& k, const array& v,
                                        StreamOrDevice s) {
  if (layer < 0 || layer >= layers()) {
    throw std::invalid_argument("[llm::KVCache] layer " + std::to_string(layer) +
                                " is not in [0, " + std::to_string(layers()) + ")");
  }
  const int len = k.ndim() == 4 ? k.shape(2) : 0;
  const Shape want{batch_, kv_heads_, len, head_dim_};
  if (k.shape() != want || v.shape() != want) {
    throw std::invalid_argument("[llm::KVCache] keys and values must have shape " +
                                shape_str(want) + ", got " + shape_str(k.shape()) +
                                " and " + shape_str(v.shape()));
  }
  const int end = offset_ + len;
  if (end > capacity_) grow(end, s);
  const Shape start{0, 0, offset_, 0}, stop{batch_, kv_heads_, end, head_dim_};
  // The old buffer is dropped here: only the update node refers to it, so
  // the update may write into it.
  keys_[layer] = slice_update(keys_[layer], astype(k, dtype_, s), start, stop, s);
  values_[layer] = slice_update(values_[layer], astype(v, dtype_, s), start, stop, s);
  const Shape first{0, 0, 0, 0};
  return {slice(keys_[layer], first, stop, s), slice(values_[layer], first, stop, s)};
}

void KVCache::advance(int n) {
  if (n < 0 || offset_ + n > capacity_) {
    throw std::invalid_argument("[llm::KVCache] advance(" + std::to_string(n) +
                                ") from " + std::to_string(offset_) +
                                " passes the capacity " + std::to_string(capacity_));
  }
  offset_ += n;
}

void KVCache::keep_rows(const std::vector<int>& rows, StreamOrDevice s) {
  if (rows.empty()) {
    throw std::invalid_argument("[llm::KVCache] keep_rows needs at least one row");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= batch_ || (i > 0 && rows[i] <= rows[i - 1])) {
      throw std::invalid_argument(
          "[llm::KVCache] keep_rows: rows must be ascending and in [0, " +
          std::to_string(batch_) + "), got " + std::to_string(rows[i]));
    }
  }
  if (static_cast<int>(rows.size()) == batch_) return;
  array idx(rows, Shape{static_cast<int>(rows.size())}, int32);
  for (size_t l = 0; l < keys_.size(); ++l) {
    keys_[l] = take(keys_[l], idx, 0, s);
    values_[l] = take(values_[l], idx, 0, s);
  }
  std::vector<int> pad;
  for (int r : rows) pad.push_back(left_padding_[r]);
  left_padding_ = std::move(pad);
  padded_ = std::any_of(left_padding_.begin(), left_padding_.end(),
                        [](int p) { return p > 0; });
  batch_ = static_cast<int>(rows.size());
}

std::vector<array> KVCache::state() const {
  std::vector<array> all(keys_);
  all.insert(all.end(), values_.begin(), values_.end());
  return all;
}

}  // namespace rill::llm
