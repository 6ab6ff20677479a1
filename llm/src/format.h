// Text of values in the llm library's error messages.
#pragma once

#include <string>

#include "rill/rill.h"

namespace rill::llm::detail {

// "(2, 64)"
inline std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + ")";
}

}  // namespace rill::llm::detail
