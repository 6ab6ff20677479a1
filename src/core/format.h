// Formatting values for error messages. Internal.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace rill::detail {

// "(2, 3)" for shapes and axis lists; "(4,)" for one element.
template <typename T>
std::string tuple_str(const std::vector<T>& v) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << (v.size() == 1 ? ",)" : ")");
  return os.str();
}

// Concatenates the arguments with operator<<.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace rill::detail
