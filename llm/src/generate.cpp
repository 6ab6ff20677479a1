#include "rill/llm/generate.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

namespace rill::llm {
namespace {

bool stops(const Request& r, int token) {
  return std::find(r.stop_ids.begin(), r.stop_ids.end(), token) != r.stop_ids.end();
}

// A request's key sequence: a fresh key for each draw.
struct KeyChain {
  array key;
  array next(StreamOrDevice s) {
    auto [k, sub] = random::split(key, s);
    key = k;
    return sub;
  }
};

}  // namespace

void check_request(const Model& model, const Request& r) {
  const int vocab = model.config().vocab_size;
  if (r.prompt.empty())
    throw std::invalid_argument("[llm::generate] the prompt is empty");
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= vocab) {
      throw std::invalid_argument("[llm::generate] prompt id " +
                                  std::to_string(r.prompt[i]) + " at position " +
                                  std::to_string(i) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab) + ")");
    }
  }
  if (r.max_tokens < 0) {
    throw std::invalid_argument("[llm::generate] max_tokens must be >= 0, got " +
                                std::to_string(r.max_tokens));
  }
  const int window = model.config().sliding_window;
  if (window > 0 && static_cast<int64_t>(r.prompt.size()) + r.max_tokens > window) {
    throw std::invalid_argument("[llm::generate] the prompt (" +
                                std::to_string(r.prompt.size()) + ") and max_tokens (" +
                                std::to_string(r.max_tokens) +
                                ") pass the model's sliding window (" +
                                std::to_string(window) + "), which is not implemented");
  }
  r.sampling.validate();
}

std::vector<int> generate(const Model& model, const Request& r,
                          const TokenCallback& on_token, StreamOrDevice s) {
  check_request(model, r);
  std::vector<int> out;
  if (r.max_tokens == 0) return out;
  const int len = static_cast<int>(r.prompt.size());
  KVCache cache(model.config(), 1, model.dtype(), len + r.max_tokens, 256, s);
  KeyChain keys{random::key(r.seed)};
  auto step = [&](const array& tokens) {
    array logits = model.forward(tokens, cache, false, s);
    if (r.sampling.greedy()) return sample(logits, r.sampling, {}, s);
    return sample(logits, r.sampling, {keys.next(s)}, s);
  };
  array y = step(array(r.prompt, Shape{1, len}, int32));
  async_eval({y});
  while (true) {
    // The next step is queued before this token is read: the device works
    // while the host waits for the value and builds the step after.
    std::optional<array> next;
    if (static_cast<int>(out.size()) + 1 < r.max_tokens) {
      next = step(reshape(y, {1, 1}, s));
      async_eval({*next});
    }
    const int token = y.item<int32_t>();
    out.push_back(token);
    if (on_token) on_token(0, token);
    if (!next || stops(r, token)) break;
    y = *next;
  }
  return out;
}

std::vector<std::vector<int>> generate_batch(const Model& model,
                                             const std::vector<Request>& requests,
                                             const TokenCallback& on_token,
                                             StreamOrDevice s) {
  std::vector<std::vector<int>> out(requests.size());
  std::vector<int> live;  // request of each row of the batch
  int longest = 0, most_tokens = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    check_request(model, requests[i]);
    if (requests[i].max_tokens == 0) continue;
    live.push_back(static_cast<int>(i));
    longest = std::max(longest, static_cast<int>(requests[i].prompt.size()));
    most_tokens = std::max(most_tokens, requests[i].max_tokens);
  }
  if (live.empty()) return out;

  const int batch = static_cast<int>(live.size());
  std::vector<int> padding, tokens(static_cast<size_t>(batch) * longest, 0);
  for (int b = 0; b < batch; ++b) {
    const std::vector<int>& p = requests[live[b]].prompt;
    const int pad = longest - static_cast<int>(p.size());
    padding.push_back(pad);
    std::copy(p.begin(), p.end(),
              tokens.begin() + static_cast<size_t>(b) * longest + pad);
  }
  KVCache cache(model.config(), batch, model.dtype(), longest + most_tokens, 256, s);
  cache.set_left_padding(padding);
  std::vector<KeyChain> keys;
  for (const Request& r : requests) keys.push_back({random::key(r.seed)});

  // One draw per row, each with its request's params and key; rows that
  // all share greedy params take one argmax.
  auto step = [&](const array& in) {
    array logits = model.forward(in, cache, false, s);
    const SamplingParams& first = requests[live[0]].sampling;
    const bool all_greedy = std::all_of(
        live.begin(), live.end(), [&](int r) { return requests[r].sampling.greedy(); });
    if (all_greedy) return sample(logits, first, {}, s);
    std::vector<array> ids;
    const int rows = static_cast<int>(live.size()), vocab = logits.shape(1);
    for (int b = 0; b < rows; ++b) {
      const Request& r = requests[live[b]];
      array row = slice(logits, {b, 0}, {b + 1, vocab}, s);
      ids.push_back(r.sampling.greedy()
                        ? sample(row, r.sampling, {}, s)
                        : sample(row, r.sampling, {keys[live[b]].next(s)}, s));
    }
    return rows == 1 ? ids[0] : concatenate(ids, 0, s);
  };

  array y = step(array(tokens, Shape{batch, longest}, int32));
  async_eval({y});
  while (true) {
    const int rows = static_cast<int>(live.size());
    bool more = false;
    for (int r : live)
      more = more || static_cast<int>(out[r].size()) + 1 < requests[r].max_tokens;
    std::optional<array> next;
    if (more) {
      next = step(reshape(y, {rows, 1}, s));
      async_eval({*next});
    }
    eval({y});
    const int32_t* ids = y.data<int32_t>();
    std::vector<int> keep;
    for (int b = 0; b < rows; ++b) {
      const int r = live[b];
      out[r].push_back(ids[b]);
      if (on_token) on_token(r, ids[b]);
      if (static_cast<int>(out[r].size()) < requests[r].max_tokens &&
          !stops(requests[r], ids[b])) {
        keep.push_back(b);
      }
    }
    if (keep.empty() || !next) break;
    if (static_cast<int>(keep.size()) < rows) {
      // Finished requests leave: their rows of the next step's tokens and
      // of the cache are dropped.
      cache.keep_rows(keep, s);
      next = take(*next, array(keep, Shape{static_cast<int>(keep.size())}, int32), 0, s);
      std::vector<int> still;
      for (int b : keep) still.push_back(live[b]);
      live = std::move(still);
    }
    y = *next;
  }
  return out;
}

}  // namespace rill::llm
