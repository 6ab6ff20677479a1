// io::FileReader and io::FileWriter: a file descriptor each, read with
// read/pread and written with write, retrying short transfers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "core/format.h"
#include "rill/io/load.h"

namespace rill::io {

using detail::cat;

namespace {

size_t tell_fd(int fd) {
  off_t at = ::lseek(fd, 0, SEEK_CUR);
  return at < 0 ? 0 : static_cast<size_t>(at);
}

void seek_fd(int fd, int64_t off, std::ios_base::seekdir way, const std::string& label) {
  int whence = way == std::ios_base::beg   ? SEEK_SET
               : way == std::ios_base::end ? SEEK_END
                                           : SEEK_CUR;
  if (::lseek(fd, static_cast<off_t>(off), whence) < 0) {
    throw std::runtime_error(
        cat("[seek] ", label, ": cannot seek to ", off, " (", std::strerror(errno), ")"));
  }
}

// At most this much per system call (Linux transfers at most ~2 GiB at once).
constexpr size_t kChunk = size_t{1} << 30;

[[noreturn]] void short_read(const std::string& label, size_t n, ssize_t got, int err) {
  throw std::runtime_error(cat("[read] ", label, ": unable to read ", n, " bytes (",
                               got < 0 ? std::strerror(err) : "end of file", ")"));
}

}  // namespace

FileReader::FileReader(std::string file_path)
    : fd_(::open(file_path.c_str(), O_RDONLY | O_CLOEXEC)), path_(std::move(file_path)) {}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FileReader::tell() {
  return tell_fd(fd_);
}

void FileReader::seek(int64_t off, std::ios_base::seekdir way) {
  seek_fd(fd_, off, way, label());
}

void FileReader::read(char* data, size_t n) {
  while (n != 0) {
    ssize_t m = ::read(fd_, data, std::min(n, kChunk));
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) short_read(label(), n, m, errno);
    data += m;
    n -= static_cast<size_t>(m);
  }
}

void FileReader::read(char* data, size_t n, size_t offset) {
  while (n != 0) {
    ssize_t m = ::pread(fd_, data, std::min(n, kChunk), static_cast<off_t>(offset));
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) short_read(label(), n, m, errno);
    data += m;
    n -= static_cast<size_t>(m);
    offset += static_cast<size_t>(m);
  }
}

FileWriter::FileWriter(std::string file_path)
    : fd_(::open(file_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644)),
      path_(std::move(file_path)) {}

FileWriter::~FileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FileWriter::tell() {
  return tell_fd(fd_);
}

void FileWriter::seek(int64_t off, std::ios_base::seekdir way) {
  seek_fd(fd_, off, way, label());
}

void FileWriter::write(const char* data, size_t n) {
  while (n != 0) {
    ssize_t m = ::write(fd_, data, std::min(n, kChunk));
    if (m < 0 && errno == EINTR) continue;
    if (m <= 0) {
      throw std::runtime_error(cat("[write] ", label(), ": unable to write ", n,
                                   " bytes (",
                                   m < 0 ? std::strerror(errno) : "no progress", ")"));
    }
    data += m;
    n -= static_cast<size_t>(m);
  }
}

}  // namespace rill::io
