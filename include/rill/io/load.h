// Byte sources and sinks for loading and saving arrays (MLX's io::Reader and
// io::Writer), and their files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ios>
#include <string>

namespace rill::io {

// Where a loader reads bytes from. read(data, n) reads at the position and
// advances it; read(data, n, offset) reads at `offset` and leaves the position
// alone. A read that cannot deliver all n bytes throws std::runtime_error.
class Reader {
 public:
  virtual bool is_open() const = 0;
  virtual bool good() const = 0;
  virtual size_t tell() = 0;
  virtual void seek(int64_t off, std::ios_base::seekdir way = std::ios_base::beg) = 0;
  virtual void read(char* data, size_t n) = 0;
  virtual void read(char* data, size_t n, size_t offset) = 0;
  // Names the source in error messages ("file model.npy").
  virtual std::string label() const = 0;
  virtual ~Reader() = default;
};

// Where a saver writes bytes to. A write that cannot take all n bytes throws
// std::runtime_error.
class Writer {
 public:
  virtual bool is_open() const = 0;
  virtual bool good() const = 0;
  virtual size_t tell() = 0;
  virtual void seek(int64_t off, std::ios_base::seekdir way = std::ios_base::beg) = 0;
  virtual void write(const char* data, size_t n) = 0;
  virtual std::string label() const = 0;
  virtual ~Writer() = default;
};

// A file opened for reading. Positioned reads (read with an offset) may run
// from several threads at once; seek and plain reads move the one position.
class FileReader : public Reader {
 public:
  explicit FileReader(std::string file_path);
  ~FileReader() override;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  bool is_open() const override { return fd_ >= 0; }
  bool good() const override { return is_open(); }
  size_t tell() override;
  void seek(int64_t off, std::ios_base::seekdir way = std::ios_base::beg) override;
  void read(char* data, size_t n) override;
  void read(char* data, size_t n, size_t offset) override;
  std::string label() const override { return "file " + path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// MLX's name for its file reader.
using ParallelFileReader = FileReader;

// A file created (or truncated) for writing.
class FileWriter : public Writer {
 public:
  explicit FileWriter(std::string file_path);
  ~FileWriter() override;
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  bool is_open() const override { return fd_ >= 0; }
  bool good() const override { return is_open(); }
  size_t tell() override;
  void seek(int64_t off, std::ios_base::seekdir way = std::ios_base::beg) override;
  void write(const char* data, size_t n) override;
  std::string label() const override { return "file " + path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace rill::io
