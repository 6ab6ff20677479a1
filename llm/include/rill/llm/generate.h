// Generating tokens for requests: one request on the calling thread, or a
// batch of requests stepped together.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "rill/llm/model.h"
#include "rill/llm/sampling.h"

namespace rill::llm {

struct Request {
  std::vector<int> prompt;  // token ids, each below the vocabulary size
  int max_tokens = 16;
  SamplingParams sampling;
  uint64_t seed = 0;          // the request's own random key (random::key(seed))
  std::vector<int> stop_ids;  // generation ends after one of these
};

// Throws std::invalid_argument naming the problem: an empty prompt, a token
// id outside [0, vocab_size), a negative max_tokens, bad sampling params.
void check_request(const Model& model, const Request& request);

// Told each token as soon as its value is known: the request's index (0 for
// generate) and the token. Runs on the generating thread.
using TokenCallback = std::function<void(int request, int token)>;

// One request on stream `s` (the calling thread's default stream unless
// given): the prompt in one step, then one token a step, each step's graph
// queued (async_eval) before the previous token is read. Returns the
// generated ids (the stop id included when one ended it).
std::vector<int> generate(const Model& model, const Request& request,
                          const TokenCallback& on_token = {}, StreamOrDevice s = {});

// The requests as one batch: prompts left-padded to the longest, all rows
// stepped together, and a request leaves the batch when it is done. Each
// request draws with its own key, as generate() does, so its tokens are
// those it would get alone (up to the rounding of batched products).
std::vector<std::vector<int>> generate_batch(const Model& model,
                                             const std::vector<Request>& requests,
                                             const TokenCallback& on_token = {},
                                             StreamOrDevice s = {});

}  // namespace rill::llm
