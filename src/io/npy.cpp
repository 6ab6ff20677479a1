// NumPy's .npy format: a magic string, a version, a header length, a header
// that is a Python dict literal ({'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }) padded with spaces and a newline, then the data.
// Loading parses the header strictly and checks every number before reading
// the data into memory.
#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "backend/gpu.h"
#include "core/format.h"
#include "core/node.h"
#include "io/host_arrays.h"
#include "rill/io.h"
#include "rill/ops.h"
#include "rill/transforms.h"
#include "runtime/stream_state.h"

namespace rill {

using detail::cat;

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// Headers longer than this are refused: real ones are a few hundred bytes.
constexpr uint64_t kMaxHeader = 1u << 20;
// Data starts at a multiple of this (NumPy's alignment).
constexpr size_t kAlign = 64;

[[noreturn]] void bad(const std::string& label, const std::string& what) {
  throw std::runtime_error(cat("[load] ", label, ": ", what));
}

// The descr of each dtype (NumPy has no bfloat16: MLX writes it as two
// opaque bytes, 'V2').
struct Descr {
  char kind;
  int size;
  Dtype dtype;
};
constexpr Descr kDescrs[] = {
    {'b', 1, bool_},    {'u', 1, uint8},   {'u', 4, uint32},
    {'i', 4, int32},    {'i', 8, int64},   {'f', 2, float16},
    {'V', 2, bfloat16}, {'f', 4, float32}, {'f', 8, float64},
    {'i', 1, int8},     {'i', 2, int16},   {'u', 2, uint16},
    {'u', 8, uint64},   {'c', 8, complex64},
};

std::string descr_of(Dtype t) {
  for (const Descr& d : kDescrs) {
    if (d.dtype == t) return cat(d.size == 1 ? '|' : '<', d.kind, d.size);
  }
  throw std::logic_error("[save] no descr for " + dtype_name(t));
}

struct NpyHeader {
  Dtype dtype = float32;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<uint64_t> shape;
};

// A strict reader of the header's dict literal: string keys, and values that
// are strings, True/False or tuples of integers.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& label) : s_(s), label_(label) {}

  NpyHeader parse() {
    NpyHeader h;
    std::optional<std::string> descr;
    std::optional<bool> fortran;
    std::optional<std::vector<uint64_t>> shape;
    expect('{');
    while (!take('}')) {
      std::string key = string();
      expect(':');
      if (key == "descr") {
        if (descr) fail("duplicate key 'descr'");
        if (peek() != '\'' && peek() != '"')
          fail("descr must be a string (structured dtypes are not supported)");
        descr = string();
      } else if (key == "fortran_order") {
        if (fortran) fail("duplicate key 'fortran_order'");
        fortran = boolean();
      } else if (key == "shape") {
        if (shape) fail("duplicate key 'shape'");
        shape = tuple();
      } else {
        fail(cat("unexpected key '", key, "'"));
      }
      if (!take(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the header's dict");
    if (!descr || !fortran || !shape)
      fail("the header lacks 'descr', 'fortran_order' or 'shape'");
    set_dtype(h, *descr);
    h.fortran_order = *fortran;
    h.shape = std::move(*shape);
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    bad(label_, cat("malformed header (", what, ") in \"", s_, "\""));
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' ||
                                s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  char peek() {
    skip_space();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool take(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!take(c)) fail(cat("expected '", c, "'"));
  }
  std::string string() {
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a string");
    size_t end = s_.find(q, ++pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    if (out.find('\\') != std::string::npos) fail("escapes in strings are not supported");
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("fortran_order must be True or False");
  }
  std::vector<uint64_t> tuple() {
    std::vector<uint64_t> dims;
    expect('(');
    while (!take(')')) {
      skip_space();
      size_t start = pos_;
      uint64_t n = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        uint64_t d = static_cast<uint64_t>(s_[pos_] - '0');
        if (n > (std::numeric_limits<uint64_t>::max() - d) / 10)
          fail("dimension too large");
        n = n * 10 + d;
        ++pos_;
      }
      if (pos_ == start) fail("shape must be a tuple of non-negative integers");
      dims.push_back(n);
      if (dims.size() > 64) fail("shape has more than 64 dimensions");
      if (!take(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }
  void set_dtype(NpyHeader& h, const std::string& descr) {
    auto unsupported = [&] {
      bad(label_, cat("unsupported descr '", descr,
                      "' (rill reads b1, u1, u2, u4, u8, i1, i2, i4, i8, f2, f4, "
                      "f8, c8 and V2 as bfloat16)"));
    };
    if (descr.size() < 3) unsupported();
    char order = descr[0];
    if (order != '<' && order != '>' && order != '|' && order != '=') unsupported();
    std::string_view rest = std::string_view(descr).substr(1);
    const Descr* found = nullptr;
    for (const Descr& d : kDescrs) {
      if (rest.size() == 2 && rest[0] == d.kind && rest[1] - '0' == d.size) found = &d;
    }
    if (!found) unsupported();
    h.dtype = found->dtype;
    h.big_endian = order == '>' && found->size > 1;
  }

  std::string_view s_;
  const std::string& label_;
  size_t pos_ = 0;
};

void swap_bytes(char* p, size_t count, int size) {
  for (size_t i = 0; i < count; ++i, p += size) std::reverse(p, p + size);
}

}  // namespace

array load(std::shared_ptr<io::Reader> in, StreamOrDevice s) {
  if (!in) throw std::invalid_argument("[load] the reader is null");
  std::string label = in->label();
  if (!in->good() || !in->is_open()) bad(label, "cannot open");
  Stream stream = detail::resolve_stream(s, "load")->stream;
  in->seek(0, std::ios_base::end);
  uint64_t size = in->tell();
  if (size < kMagicSize + 4)
    bad(label, cat("file of ", size, " bytes is too short for a header"));
  unsigned char pre[12] = {};
  in->read(reinterpret_cast<char*>(pre), std::min<uint64_t>(size, 12), 0);
  if (std::memcmp(pre, kMagic, kMagicSize) != 0)
    bad(label, "not a .npy file (bad magic string)");
  int major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    bad(label, cat("unsupported .npy format version ", major, ".", minor));
  }
  size_t len_size = major == 1 ? 2 : 4;
  uint64_t header_len = pre[8] | (pre[9] << 8);
  if (len_size == 4) header_len |= (uint64_t{pre[10]} << 16) | (uint64_t{pre[11]} << 24);
  uint64_t data_offset = 8 + len_size + header_len;
  if (header_len > kMaxHeader)
    bad(label, cat("header length ", header_len, " is too large"));
  if (data_offset > size) {
    bad(label, cat("header length ", header_len, " runs past the end of the file (", size,
                   " bytes)"));
  }
  std::string text(header_len, '\0');
  in->read(text.data(), header_len, 8 + len_size);
  NpyHeader h = HeaderParser(text, label).parse();

  uint64_t count = 0;
  Shape shape = detail::checked_shape(h.shape, h.dtype, count,
                                      [&](const std::string& what) { bad(label, what); });
  uint64_t available = size - data_offset;
  if (count > available / h.dtype.size) {
    bad(label,
        cat("shape ", detail::tuple_str(shape), " of ", dtype_name(h.dtype), " needs ",
            count * h.dtype.size, " bytes of data but the file has ", available));
  }
  size_t nbytes = count * h.dtype.size;
  auto buf = std::make_shared<detail::Buffer>(nbytes);
  char* p = static_cast<char*>(buf->ptr);
  if (nbytes) in->read(p, nbytes, data_offset);
  if (h.dtype == bool_) {
    size_t i = detail::first_non_bool(p, nbytes);
    if (i != nbytes) {
      bad(label, cat("bool element ", i, " is ",
                     static_cast<int>(static_cast<unsigned char>(p[i])), ", not 0 or 1"));
    }
  }
  // complex64: two big-endian float32s each.
  if (h.big_endian && h.dtype == complex64) {
    swap_bytes(p, 2 * count, 4);
  } else if (h.big_endian) {
    swap_bytes(p, count, h.dtype.size);
  }
  if (!h.fortran_order)
    return detail::host_array(std::move(shape), h.dtype, std::move(buf), stream);
  // Column-major data is the row-major data of the reversed shape.
  std::reverse(shape.begin(), shape.end());
  return transpose(detail::host_array(std::move(shape), h.dtype, std::move(buf), stream),
                   stream);
}

array load(std::string file, StreamOrDevice s) {
  auto in = std::make_shared<io::FileReader>(file);
  if (!in->is_open()) {
    throw std::runtime_error(
        cat("[load] ", in->label(), ": cannot open (", std::strerror(errno), ")"));
  }
  return load(std::move(in), s);
}

void save(std::shared_ptr<io::Writer> out, array a) {
  if (!out) throw std::invalid_argument("[save] the writer is null");
  a = contiguous(a, /*allow_col_major=*/true);
  a.eval();
  const detail::Node& n = *a.node();
  bool fortran = n.col_contiguous && !n.row_contiguous;
  std::string dims;
  for (int i = 0; i < a.ndim(); ++i) dims += cat(i ? ", " : "", a.shape(i));
  if (a.ndim() == 1) dims += ",";
  std::string header = cat("{'descr': '", descr_of(a.dtype()),
                           "', 'fortran_order': ", fortran ? "True" : "False",
                           ", 'shape': (", dims, "), }");
  // Version 1.0 while the length fits its two bytes; the whole prefix is
  // padded with spaces to a multiple of kAlign, ending in a newline.
  bool v1 = header.size() + 1 + 10 + kAlign <= 65535;
  size_t prefix = kMagicSize + 2 + (v1 ? 2 : 4);
  header.append((kAlign - (prefix + header.size() + 1) % kAlign) % kAlign, ' ');
  header += '\n';
  if (!out->good() || !out->is_open()) {
    throw std::runtime_error(cat("[save] cannot open ", out->label(), " for writing"));
  }
  std::string pre(kMagic, kMagicSize);
  pre += static_cast<char>(v1 ? 1 : 2);
  pre += '\0';
  uint64_t len = header.size();
  for (size_t i = 0; i < (v1 ? 2u : 4u); ++i)
    pre += static_cast<char>((len >> (8 * i)) & 0xff);
  out->write(pre.data(), pre.size());
  out->write(header.data(), header.size());
  // The host's copy of the data (a GPU array's is copied back here).
  if (a.nbytes())
    out->write(static_cast<const char*>(detail::host_data(*a.node())), a.nbytes());
}

void save(std::string file, array a) {
  if (file.size() < 4 || file.compare(file.size() - 4, 4, ".npy") != 0) file += ".npy";
  // Computed before the file is created, so that an error leaves no file.
  a = contiguous(a, true);
  a.eval();
  auto out = std::make_shared<io::FileWriter>(file);
  if (!out->is_open()) {
    throw std::runtime_error(
        cat("[save] cannot open ", file, " for writing (", std::strerror(errno), ")"));
  }
  save(std::move(out), std::move(a));
}

}  // namespace rill
