#include "io/mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/format.h"

namespace rill::detail {

Mapping::Mapping(const std::string& file, const char* op) {
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(cat("[", op, "] ", file, ": ", what));
  };
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(cat("cannot open (", std::strerror(errno), ")"));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(cat("cannot map (", std::strerror(err), ")"));
    }
    data_ = static_cast<const char*>(p);
  }
  ::close(fd);
}

Mapping::~Mapping() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace rill::detail
