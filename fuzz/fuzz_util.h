// What the harnesses share: an in-memory file the loaders open by name, and a
// checksum that reads every byte of an array (so that a bad offset shows up
// under AddressSanitizer).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/node.h"
#include "rill/array.h"

namespace fuzz {

struct MemFile {
  explicit MemFile(const char* name) : fd(memfd_create(name, 0)) {
    if (fd < 0) std::abort();
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  void write(const uint8_t* data, size_t size) {
    if (ftruncate(fd, 0) != 0) std::abort();
    if (size && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  }
  int fd;
  std::string path;
};

// Reads every byte of a computed, row-major array.
inline uint64_t checksum(const rill::array& a) {
  const_cast<rill::array&>(a).eval();
  const auto* p = static_cast<const unsigned char*>(a.node()->data());
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < a.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace fuzz
