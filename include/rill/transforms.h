// Evaluation of lazy arrays.
#pragma once

#include <vector>

#include "rill/array.h"

namespace rill {

// Computes `outputs` and everything they depend on that is not computed yet,
// each node on its own stream, and waits. Thread-safe: several threads may
// evaluate overlapping graphs at once; each node is computed exactly once.
// Rethrows the error of a failed output (every caller sees it).
void eval(std::vector<array> outputs);
template <typename... Arrays>
void eval(Arrays&&... outputs) {
  eval(std::vector<array>{std::forward<Arrays>(outputs)...});
}

// Schedules `outputs` and returns at once; a later eval, item or data waits.
void async_eval(std::vector<array> outputs);
template <typename... Arrays>
void async_eval(Arrays&&... outputs) {
  async_eval(std::vector<array>{std::forward<Arrays>(outputs)...});
}

}  // namespace rill
