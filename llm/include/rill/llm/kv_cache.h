// The keys and values a decoder has computed so far, per layer, for one
// request or one batch of requests stepped together.
#pragma once

#include <utility>
#include <vector>

#include "rill/llm/config.h"
#include "rill/rill.h"

namespace rill::llm {

// Each layer's keys and values live in one buffer [B, KV heads, capacity,
// head_dim], written in place: a step's keys go in with slice_update into
// the slots after the filled ones, and, since the cache holds the only
// reference to its buffer, slice_update reuses that buffer rather than
// copying it (rill's donation). When a step does not fit, the capacity grows
// by `step` slots at once (one copy).
//
// Rows of a batch share the slot count; a row whose prompt is shorter is
// left-padded (left_padding()[b] slots of padding before its first token):
// its position at slot i is i - left_padding()[b], and its padding is masked
// out of attention.
//
// Not thread-safe: a cache belongs to one request (or one batch) and is used
// by one thread at a time.
class KVCache {
 public:
  // `reserve`: slots to allocate up front (0: one step's worth); the buffers
  // are made on `s`.
  KVCache(const ModelConfig& config, int batch, Dtype dtype, int reserve = 0,
          int step = 256, StreamOrDevice s = {});

  int batch() const { return batch_; }
  int layers() const { return static_cast<int>(keys_.size()); }
  int capacity() const { return capacity_; }
  // Slots filled, the same for every row.
  int offset() const { return offset_; }
  const std::vector<int>& left_padding() const { return left_padding_; }
  bool padded() const { return padded_; }
  // Before the first token: padding slots per row (all zero by default).
  void set_left_padding(std::vector<int> padding);

  // Writes k and v [B, KV heads, L, head_dim] of `layer` into slots
  // offset() .. offset() + L - 1 and returns views of slots 0 .. offset() + L - 1
  // of that layer's keys and values. Every layer writes the same L; then
  // advance(L) moves the offset.
  std::pair<array, array> update(int layer, const array& k, const array& v,
                                 StreamOrDevice s = {});
  void advance(int n);

  // Keeps the rows `rows` (ascending) of the batch, in that order: requests
  // that finished leave a batch.
  void keep_rows(const std::vector<int>& rows, StreamOrDevice s = {});

  // The buffers, for evaluating or inspecting them.
  std::vector<array> state() const;

 private:
  void grow(int needed, StreamOrDevice s);

  int batch_, kv_heads_, head_dim_, capacity_ = 0, step_;
  int offset_ = 0;
  Dtype dtype_;
  std::vector<array> keys_, values_;
  std::vector<int> left_padding_;
  bool padded_ = false;
};

}  // namespace rill::llm
