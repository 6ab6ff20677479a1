// safetensors: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the data. Loading maps the
// file and points the arrays into the mapping; every header field is checked
// before any byte of data is touched, and then only BOOL data is read (a byte
// other than 0 or 1 is no bool).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>

#include "core/format.h"
#include "core/node.h"
#include "backend/gpu.h"
#include "io/json.h"
#include "rill/io.h"
#include "rill/ops.h"
#include "rill/transforms.h"
#include "runtime/stream_state.h"

namespace rill {

using detail::cat;

namespace {

// Headers larger than this are refused: real ones are kilobytes.
constexpr uint64_t kMaxHeader = 100ull << 20;

struct DtypeName {
  const char* name;
  Dtype dtype;
};
constexpr DtypeName kDtypes[] = {
    {"BOOL", bool_},   {"U8", uint8},     {"U32", uint32},      {"I32", int32}, {"I64", int64},
    {"F16", float16},  {"BF16", bfloat16}, {"F32", float32},    {"F64", float64},
};

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw std::runtime_error(cat("[load_safetensors] ", file, ": ", what));
}

// A read-only mapping of a whole file, unmapped with its last user.
class Mapping {
 public:
  Mapping(const std::string& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) bad(file, cat("cannot open (", std::strerror(errno), ")"));
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      bad(file, "not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        bad(file, cat("cannot map (", std::strerror(err), ")"));
      }
      data_ = static_cast<const char*>(p);
    }
    ::close(fd);
  }
  ~Mapping() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

struct Entry {
  std::string name;
  Dtype dtype = float32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& file, const std::string& name, const detail::json::Value& v,
                  uint64_t data_size) {
  using detail::json::Value;
  auto where = [&](const std::string& what) { return cat("tensor \"", name, "\": ", what); };
  if (v.kind != Value::Kind::object) bad(file, where("entry is not an object"));
  Entry e;
  e.name = name;
  const Value* dt = v.find("dtype");
  const Value* shape = v.find("shape");
  const Value* offsets = v.find("data_offsets");
  if (!dt || dt->kind != Value::Kind::string) bad(file, where("missing string \"dtype\""));
  if (!shape || shape->kind != Value::Kind::array) bad(file, where("missing array \"shape\""));
  if (!offsets || offsets->kind != Value::Kind::array || offsets->items.size() != 2) {
    bad(file, where("\"data_offsets\" must be an array of two integers"));
  }
  auto known = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                            [&](const DtypeName& d) { return dt->text == d.name; });
  if (known == std::end(kDtypes)) bad(file, where(cat("unsupported dtype \"", dt->text, "\"")));
  e.dtype = known->dtype;
  uint64_t count = 1;
  int64_t extent = e.dtype.size;  // bytes spanned by the non-empty axes
  bool too_large = false;
  for (const Value& d : shape->items) {
    uint64_t n;
    try {
      n = detail::json::to_uint(d, "dimension");
    } catch (const std::runtime_error& err) {
      bad(file, where(err.what()));
    }
    if (n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      bad(file, where(cat("dimension ", n, " is too large")));
    }
    e.shape.push_back(static_cast<int32_t>(n));
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / n) {
      bad(file, where("shape has too many elements"));
    }
    count *= n;
    // Strides (int64, in elements, and bytes) must fit even beside an empty axis.
    if (n != 0) {
      too_large |= __builtin_mul_overflow(extent, static_cast<int64_t>(n), &extent);
    }
  }
  if (too_large) {
    bad(file, where(cat("shape ", detail::tuple_str(e.shape), " of ", dtype_name(e.dtype),
                        " is too large to address")));
  }
  try {
    e.begin = detail::json::to_uint(offsets->items[0], "data offset");
    e.end = detail::json::to_uint(offsets->items[1], "data offset");
  } catch (const std::runtime_error& err) {
    bad(file, where(err.what()));
  }
  if (e.begin > e.end || e.end > data_size) {
    bad(file, where(cat("data_offsets [", e.begin, ", ", e.end, "] lie outside the ", data_size,
                        " bytes of data")));
  }
  if (count > std::numeric_limits<uint64_t>::max() / e.dtype.size ||
      count * e.dtype.size != e.end - e.begin) {
    bad(file, where(cat("shape ", detail::tuple_str(e.shape), " of ", dtype_name(e.dtype),
                        " needs ", count, " elements but data_offsets give ", e.end - e.begin,
                        " bytes")));
  }
  return e;
}

}  // namespace

SafetensorsLoad load_safetensors(const std::string& file, StreamOrDevice s) {
  Stream stream = detail::resolve_stream(s, "load_safetensors")->stream;
  auto map = std::make_shared<Mapping>(file);
  if (map->size() < 8) bad(file, cat("file of ", map->size(), " bytes is too short for a header"));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) {
    header_len = (header_len << 8) | static_cast<unsigned char>(map->data()[i]);
  }
  if (header_len > kMaxHeader) bad(file, cat("header length ", header_len, " is too large"));
  if (header_len > map->size() - 8) {
    bad(file, cat("header length ", header_len, " runs past the end of the file (",
                  map->size(), " bytes)"));
  }
  detail::json::Value header;
  try {
    header = detail::json::parse(std::string_view(map->data() + 8, header_len));
  } catch (const std::runtime_error& e) {
    bad(file, cat("malformed JSON header: ", e.what()));
  }
  if (header.kind != detail::json::Value::Kind::object) bad(file, "header is not a JSON object");
  const char* data = map->data() + 8 + header_len;
  uint64_t data_size = map->size() - 8 - header_len;

  SafetensorsLoad out;
  std::vector<Entry> entries;
  for (auto& [name, v] : header.members) {
    if (name == "__metadata__") {
      if (v.kind != detail::json::Value::Kind::object) bad(file, "__metadata__ is not an object");
      for (auto& [k, m] : v.members) {
        if (m.kind != detail::json::Value::Kind::string) {
          bad(file, cat("metadata \"", k, "\" is not a string"));
        }
        out.second.emplace(k, m.text);
      }
      continue;
    }
    entries.push_back(parse_entry(file, name, v, data_size));
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      bad(file, cat("tensors \"", by_offset[i - 1]->name, "\" and \"", by_offset[i]->name,
                    "\" overlap"));
    }
  }
  for (const Entry& e : entries) {
    const char* p = data + e.begin;
    size_t n = e.end - e.begin;
    if (e.dtype == bool_) {
      const void* odd = std::find_if(p, p + n, [](char c) { return c != 0 && c != 1; });
      if (odd != p + n) {
        size_t i = static_cast<const char*>(odd) - p;
        bad(file,
            cat("tensor \"", e.name, "\": BOOL element ", i, " is ",
                static_cast<int>(static_cast<unsigned char>(p[i])), ", not 0 or 1"));
      }
    }
    std::shared_ptr<detail::Buffer> buf;
    if (reinterpret_cast<uintptr_t>(p) % e.dtype.size == 0 && n > 0) {
      buf = std::make_shared<detail::Buffer>(const_cast<char*>(p), n, map);
    } else {
      // Misaligned for its dtype (or empty): the one case that copies.
      buf = std::make_shared<detail::Buffer>(n);
      if (n) std::memcpy(buf->ptr, p, n);
    }
    out.first.emplace(e.name, array(std::make_shared<detail::Node>(e.shape, e.dtype,
                                                                   std::move(buf), stream)));
  }
  return out;
}

void save_safetensors(const std::string& file, std::unordered_map<std::string, array> arrays,
                      std::unordered_map<std::string, std::string> metadata) {
  auto name_of = [](Dtype t) {
    for (const DtypeName& d : kDtypes) {
      if (d.dtype == t) return d.name;
    }
    return "?";
  };
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        q.push_back('\\');
        q.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        q += buf;
      } else {
        q.push_back(c);
      }
    }
    return q + "\"";
  };
  if (arrays.count("__metadata__")) {
    throw std::invalid_argument("[save_safetensors] \"__metadata__\" is reserved for metadata.");
  }
  std::map<std::string, array> sorted;
  std::vector<array> to_eval;
  for (auto& [k, a] : arrays) {
    array c = contiguous(a);
    sorted.emplace(k, c);
    to_eval.push_back(c);
  }
  eval(to_eval);
  std::string header = "{";
  if (!metadata.empty()) {
    std::map<std::string, std::string> meta(metadata.begin(), metadata.end());
    header += "\"__metadata__\":{";
    bool first = true;
    for (auto& [k, v] : meta) {
      if (!first) header += ",";
      header += quote(k);
      header += ":";
      header += quote(v);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (auto& [k, a] : sorted) {
    if (header.size() > 1) header += ",";
    header += quote(k) + ":{\"dtype\":\"" + name_of(a.dtype()) + "\",\"shape\":[";
    for (int i = 0; i < a.ndim(); ++i) {
      if (i) header += ",";
      header += std::to_string(a.shape(i));
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + a.nbytes()) + "]}";
    offset += a.nbytes();
  }
  header += "}";
  while ((8 + header.size()) % 8) header.push_back(' ');
  std::ofstream f(file, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error(cat("[save_safetensors] cannot open ", file, " for writing"));
  uint64_t len = header.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  f.write(len_bytes, 8);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (auto& [k, a] : sorted) {
    // The host's copy of the data (a GPU array's is copied back here).
    if (a.nbytes()) {
      f.write(static_cast<const char*>(detail::host_data(*a.node())),
              static_cast<std::streamsize>(a.nbytes()));
    }
  }
  if (!f) throw std::runtime_error(cat("[save_safetensors] writing ", file, " failed"));
}

}  // namespace rill
