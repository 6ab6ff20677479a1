// safetensors: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the data. Loading a file
// maps it and points the arrays into the mapping; loading from a Reader reads
// each tensor's bytes. Either way every header field is checked before any
// byte of data is touched, and BOOL data is read (a byte other than 0 or 1 is
// no bool).
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_set>

#include "backend/gpu.h"
#include "core/format.h"
#include "core/node.h"
#include "io/host_arrays.h"
#include "io/mapping.h"
#include "rill/io.h"
#include "rill/ops.h"
#include "rill/transforms.h"
#include "runtime/stream_state.h"

namespace rill {

using detail::cat;
using nlohmann::json;

namespace {

// Headers larger than this are refused: real ones are kilobytes.
constexpr uint64_t kMaxHeader = 100ull << 20;
// JSON nested deeper than this is refused (a header needs three levels).
constexpr int kMaxDepth = 64;

struct DtypeName {
  const char* name;
  Dtype dtype;
};
constexpr DtypeName kDtypes[] = {
    {"BOOL", bool_},    {"U8", uint8},    {"U32", uint32},
    {"I32", int32},     {"I64", int64},   {"F16", float16},
    {"BF16", bfloat16}, {"F32", float32}, {"F64", float64},
    {"I8", int8},       {"I16", int16},   {"U16", uint16},
    {"U64", uint64},    {"C64", complex64},
};

[[noreturn]] void bad(const std::string& label, const std::string& what) {
  throw std::runtime_error(cat("[load_safetensors] ", label, ": ", what));
}

struct Entry {
  std::string name;
  Dtype dtype = float32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// The JSON value as a non-negative integer that fits in uint64.
uint64_t to_uint(const json& v, const char* what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  // Integers past uint64 arrive as floats.
  if (v.is_number_float() && v.get<double>() >= 18446744073709551616.0) {
    throw std::runtime_error(cat(what, " is too large (", v.dump(), ")"));
  }
  throw std::runtime_error(cat(what, " must be a non-negative integer"));
}

Entry parse_entry(const std::string& label, const std::string& name, const json& v,
                  uint64_t data_size) {
  auto where = [&](const std::string& what) {
    return cat("tensor \"", name, "\": ", what);
  };
  if (!v.is_object()) bad(label, where("entry is not an object"));
  Entry e;
  e.name = name;
  auto dt = v.find("dtype");
  auto shape = v.find("shape");
  auto offsets = v.find("data_offsets");
  if (dt == v.end() || !dt->is_string()) bad(label, where("missing string \"dtype\""));
  if (shape == v.end() || !shape->is_array())
    bad(label, where("missing array \"shape\""));
  if (offsets == v.end() || !offsets->is_array() || offsets->size() != 2) {
    bad(label, where("\"data_offsets\" must be an array of two integers"));
  }
  const std::string& dtype = dt->get_ref<const std::string&>();
  auto known = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                            [&](const DtypeName& d) { return dtype == d.name; });
  if (known == std::end(kDtypes))
    bad(label, where(cat("unsupported dtype \"", dtype, "\"")));
  e.dtype = known->dtype;
  std::vector<uint64_t> dims;
  uint64_t count = 0;
  try {
    for (const json& d : *shape) dims.push_back(to_uint(d, "dimension"));
    e.begin = to_uint((*offsets)[0], "data offset");
    e.end = to_uint((*offsets)[1], "data offset");
  } catch (const std::runtime_error& err) {
    bad(label, where(err.what()));
  }
  e.shape = detail::checked_shape(
      dims, e.dtype, count, [&](const std::string& what) { bad(label, where(what)); });
  if (e.begin > e.end || e.end > data_size) {
    bad(label, where(cat("data_offsets [", e.begin, ", ", e.end, "] lie outside the ",
                         data_size, " bytes of data")));
  }
  if (count > std::numeric_limits<uint64_t>::max() / e.dtype.size ||
      count * e.dtype.size != e.end - e.begin) {
    bad(label, where(cat("shape ", detail::tuple_str(e.shape), " of ",
                         dtype_name(e.dtype), " needs ", count,
                         " elements but data_offsets give ", e.end - e.begin, " bytes")));
  }
  return e;
}

// Parses JSON refusing duplicate keys and deep nesting, which nlohmann's
// parser would accept (the last duplicate winning, recursing without bound
// when the document is destroyed).
json parse_json(std::string_view text) {
  std::vector<std::unordered_set<std::string>> keys;  // of each open object
  json::parser_callback_t check = [&](int depth, json::parse_event_t event,
                                      json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        if (depth >= kMaxDepth) throw std::runtime_error("JSON nested too deeply");
        keys.emplace_back();
        break;
      case json::parse_event_t::array_start:
        if (depth >= kMaxDepth) throw std::runtime_error("JSON nested too deeply");
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (!keys.back().insert(k).second) {
          throw std::runtime_error(cat("duplicate key \"", k, "\""));
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::exception& e) {
    throw std::runtime_error(e.what());
  }
}

struct Header {
  std::vector<Entry> entries;
  std::unordered_map<std::string, std::string> metadata;
};

// Checks the header (its JSON, every entry against the data's size, no two
// tensors overlapping).
Header parse_header(const std::string& label, std::string_view text, uint64_t data_size) {
  json doc;
  try {
    doc = parse_json(text);
  } catch (const std::runtime_error& e) {
    bad(label, cat("malformed JSON header: ", e.what()));
  }
  if (!doc.is_object()) bad(label, "header is not a JSON object");
  Header h;
  for (auto& [name, v] : doc.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) bad(label, "__metadata__ is not an object");
      for (auto& [k, m] : v.items()) {
        if (!m.is_string()) bad(label, cat("metadata \"", k, "\" is not a string"));
        h.metadata.emplace(k, m.get<std::string>());
      }
      continue;
    }
    h.entries.push_back(parse_entry(label, name, v, data_size));
  }
  std::vector<const Entry*> by_offset;
  for (const Entry& e : h.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      bad(label, cat("tensors \"", by_offset[i - 1]->name, "\" and \"",
                     by_offset[i]->name, "\" overlap"));
    }
  }
  return h;
}

uint64_t header_length(const std::string& label, const unsigned char bytes[8],
                       uint64_t size) {
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | bytes[i];
  if (len > kMaxHeader) bad(label, cat("header length ", len, " is too large"));
  if (len > size - 8) {
    bad(label,
        cat("header length ", len, " runs past the end of the file (", size, " bytes)"));
  }
  return len;
}

void check_bools(const std::string& label, const Entry& e, const char* p) {
  size_t n = e.end - e.begin;
  size_t i = detail::first_non_bool(p, n);
  if (i != n) {
    bad(label, cat("tensor \"", e.name, "\": BOOL element ", i, " is ",
                   static_cast<int>(static_cast<unsigned char>(p[i])), ", not 0 or 1"));
  }
}

}  // namespace

SafetensorsLoad load_safetensors(const std::string& file, StreamOrDevice s) {
  Stream stream = detail::resolve_stream(s, "load_safetensors")->stream;
  auto map = std::make_shared<detail::Mapping>(file, "load_safetensors");
  if (map->size() < 8)
    bad(file, cat("file of ", map->size(), " bytes is too short for a header"));
  uint64_t header_len = header_length(
      file, reinterpret_cast<const unsigned char*>(map->data()), map->size());
  Header h = parse_header(file, std::string_view(map->data() + 8, header_len),
                          map->size() - 8 - header_len);
  const char* data = map->data() + 8 + header_len;

  SafetensorsLoad out;
  out.second = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    const char* p = data + e.begin;
    size_t n = e.end - e.begin;
    if (e.dtype == bool_) check_bools(file, e, p);
    std::shared_ptr<detail::Buffer> buf;
    if (reinterpret_cast<uintptr_t>(p) % e.dtype.size == 0 && n > 0) {
      buf = std::make_shared<detail::Buffer>(const_cast<char*>(p), n, map);
    } else {
      // Misaligned for its dtype (or empty): the one case that copies.
      buf = std::make_shared<detail::Buffer>(n);
      if (n) std::memcpy(buf->ptr, p, n);
    }
    out.first.emplace(e.name,
                      detail::host_array(e.shape, e.dtype, std::move(buf), stream));
  }
  return out;
}

SafetensorsLoad load_safetensors(std::shared_ptr<io::Reader> in, StreamOrDevice s) {
  if (!in) throw std::invalid_argument("[load_safetensors] the reader is null");
  std::string label = in->label();
  if (!in->good() || !in->is_open()) bad(label, "cannot open");
  Stream stream = detail::resolve_stream(s, "load_safetensors")->stream;
  in->seek(0, std::ios_base::end);
  uint64_t size = in->tell();
  if (size < 8) bad(label, cat("file of ", size, " bytes is too short for a header"));
  unsigned char len_bytes[8];
  in->read(reinterpret_cast<char*>(len_bytes), 8, 0);
  uint64_t header_len = header_length(label, len_bytes, size);
  std::string text(header_len, '\0');
  in->read(text.data(), header_len, 8);
  Header h = parse_header(label, text, size - 8 - header_len);

  SafetensorsLoad out;
  out.second = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    size_t n = e.end - e.begin;
    auto buf = std::make_shared<detail::Buffer>(n);
    if (n) in->read(static_cast<char*>(buf->ptr), n, 8 + header_len + e.begin);
    if (e.dtype == bool_) check_bools(label, e, static_cast<const char*>(buf->ptr));
    out.first.emplace(e.name,
                      detail::host_array(e.shape, e.dtype, std::move(buf), stream));
  }
  return out;
}

namespace {

// A file's worth: the header (padded to 8 bytes) and the arrays, computed,
// row-major, in the order of their data.
struct Prepared {
  std::string header;
  std::map<std::string, array> arrays;
};

Prepared prepare(std::unordered_map<std::string, array>& arrays,
                 std::unordered_map<std::string, std::string>& metadata) {
  auto name_of = [](Dtype t) {
    for (const DtypeName& d : kDtypes) {
      if (d.dtype == t) return d.name;
    }
    return "?";
  };
  if (arrays.count("__metadata__")) {
    throw std::invalid_argument(
        "[save_safetensors] \"__metadata__\" is reserved for metadata.");
  }
  Prepared p;
  std::vector<array> to_eval;
  for (auto& [k, a] : arrays) {
    array c = contiguous(a);
    p.arrays.emplace(k, c);
    to_eval.push_back(c);
  }
  eval(to_eval);
  json doc = json::object();
  if (!metadata.empty()) {
    json& meta = doc["__metadata__"] = json::object();
    for (auto& [k, v] : metadata) meta[k] = v;
  }
  uint64_t offset = 0;
  for (auto& [k, a] : p.arrays) {
    doc[k] = {{"dtype", name_of(a.dtype())},
              {"shape", a.shape()},
              {"data_offsets", {offset, offset + a.nbytes()}}};
    offset += a.nbytes();
  }
  try {
    p.header = doc.dump();
  } catch (const json::type_error& e) {
    throw std::invalid_argument(cat(
        "[save_safetensors] names and metadata must be valid UTF-8 (", e.what(), ")"));
  }
  while ((8 + p.header.size()) % 8) p.header.push_back(' ');
  return p;
}

void write(io::Writer& out, const Prepared& p) {
  uint64_t len = p.header.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out.write(len_bytes, 8);
  out.write(p.header.data(), p.header.size());
  for (auto& [k, a] : p.arrays) {
    // The host's copy of the data (a GPU array's is copied back here).
    if (a.nbytes())
      out.write(static_cast<const char*>(detail::host_data(*a.node())), a.nbytes());
  }
}

}  // namespace

void save_safetensors(std::shared_ptr<io::Writer> out,
                      std::unordered_map<std::string, array> arrays,
                      std::unordered_map<std::string, std::string> metadata) {
  if (!out) throw std::invalid_argument("[save_safetensors] the writer is null");
  Prepared p = prepare(arrays, metadata);
  if (!out->good() || !out->is_open()) {
    throw std::runtime_error(
        cat("[save_safetensors] cannot open ", out->label(), " for writing"));
  }
  write(*out, p);
}

void save_safetensors(const std::string& file,
                      std::unordered_map<std::string, array> arrays,
                      std::unordered_map<std::string, std::string> metadata) {
  Prepared p = prepare(arrays, metadata);
  io::FileWriter out(file);
  if (!out.is_open()) {
    throw std::runtime_error(
        cat("[save_safetensors] cannot open ", file, " for writing"));
  }
  write(out, p);
}

}  // namespace rill
