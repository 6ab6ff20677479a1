// A read-only mapping of a whole file, shared by the arrays that point into it
// and unmapped with the last of them. Internal.
#pragma once

#include <cstddef>
#include <string>

namespace rill::detail {

class Mapping {
 public:
  // Maps `file`; std::runtime_error "[op] file: cannot open (reason)" if it
  // cannot (or is not a regular file).
  Mapping(const std::string& file, const char* op);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace rill::detail
