// GGUF: "GGUF", a version, the tensor and key-value counts, the key-value
// metadata, the tensor infos (name, dimensions innermost first, type, offset
// into the data section), padding to the alignment, then the data. Loading
// maps the file and reads it through a bounds-checked cursor: every count,
// length, offset and size is checked against the file before it is used, and
// nothing is allocated before the bytes it describes are known to exist.
#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_set>

#include "backend/gpu.h"
#include "core/format.h"
#include "core/node.h"
#include "io/gguf_quants.h"
#include "io/host_arrays.h"
#include "io/mapping.h"
#include "rill/io.h"
#include "rill/ops.h"
#include "rill/transforms.h"
#include "runtime/stream_state.h"

namespace rill {

using detail::cat;
namespace gq = detail::gguf;

namespace {

constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 8;

enum ValueType : uint32_t {
  kU8,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64,
  kValueTypes
};
constexpr const char* kValueTypeNames[kValueTypes] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64"};
constexpr size_t kValueSizes[kValueTypes] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

std::string value_type_name(uint32_t t) {
  return t < kValueTypes ? kValueTypeNames[t] : cat("unknown (", t, ")");
}

// The rill dtype of a metadata number (float64 is read as float32, as MLX
// does), or nothing for the types rill has no dtype for yet.
std::optional<Dtype> value_dtype(uint32_t t) {
  switch (t) {
    case kU8:
      return uint8;
    case kI8:
      return int8;
    case kU16:
      return uint16;
    case kI16:
      return int16;
    case kU64:
      return uint64;
    case kU32:
      return uint32;
    case kI32:
      return int32;
    case kF32:
      return float32;
    case kBool:
      return bool_;
    case kI64:
      return int64;
    case kF64:
      return float32;
    default:
      return std::nullopt;
  }
}

enum TensorType : uint32_t {
  kF32Tensor = 0,
  kF16Tensor = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 8,
  kI8Tensor = 24,
  kI16Tensor = 25,
  kI32Tensor = 26,
  kBF16Tensor = 30,
};

std::string tensor_type_name(uint32_t t) {
  static constexpr const char* names[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16"};
  return t < std::size(names) ? names[t] : cat("unknown type ", t);
}

// Reads little-endian values from the mapped file, never past its end.
class Cursor {
 public:
  Cursor(const char* data, size_t size, const std::string& file)
      : data_(data), size_(size), file_(file) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(cat("[load_gguf] ", file_, ": ", what));
  }
  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t left() const { return size_ - pos_; }
  const char* here() const { return data_ + pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > left()) {
      fail(cat(what, " at byte ", pos_, " needs ", n, " bytes but the file ends after ",
               left(), " more (", size_, " bytes)"));
    }
  }
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view string(const char* what) {
    uint64_t len = get<uint64_t>(what);
    need(len, what);
    std::string_view s(data_ + pos_, len);
    pos_ += len;
    return s;
  }
  void skip(uint64_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
};

// `count` values of `type` at `p` as a rill array (0-d when `scalar`).
array number_array(Cursor& c, const std::string& key, uint32_t type, uint64_t count,
                   bool scalar, Stream stream) {
  std::optional<Dtype> dtype = value_dtype(type);
  if (!dtype) {
    c.fail(cat("metadata \"", key, "\" has type ", value_type_name(type),
               ", which rill has no dtype for yet"));
  }
  size_t size = kValueSizes[type];
  if (count > c.left() / size) {
    c.fail(cat("metadata \"", key, "\": ", count, " values of ", value_type_name(type),
               " run past the end of the file"));
  }
  if (count > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    c.fail(cat("metadata \"", key, "\": ", count, " values are too many for one array"));
  }
  const char* p = c.here();
  c.skip(count * size, "metadata value");
  auto buf = std::make_shared<detail::Buffer>(count * dtype->size);
  char* out = static_cast<char*>(buf->ptr);
  if (type == kF64) {
    for (uint64_t i = 0; i < count; ++i) {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      float f = static_cast<float>(d);
      std::memcpy(out + 4 * i, &f, 4);
    }
  } else if (count) {
    std::memcpy(out, p, count * size);
  }
  if (type == kBool) {
    size_t i = detail::first_non_bool(out, count);
    if (i != count) {
      c.fail(cat("metadata \"", key, "\": bool value ", i, " is ",
                 static_cast<int>(static_cast<unsigned char>(out[i])), ", not 0 or 1"));
    }
  }
  Shape shape = scalar ? Shape{} : Shape{static_cast<int32_t>(count)};
  return detail::host_array(std::move(shape), *dtype, std::move(buf), stream);
}

GGUFMetaData read_value(Cursor& c, const std::string& key, uint32_t type, Stream stream) {
  if (type == kString) return std::string(c.string("metadata string"));
  if (type != kArray) {
    if (type >= kValueTypes)
      c.fail(cat("metadata \"", key, "\" has unknown type ", type));
    return number_array(c, key, type, 1, /*scalar=*/true, stream);
  }
  uint32_t elem = c.get<uint32_t>("metadata array type");
  uint64_t count = c.get<uint64_t>("metadata array length");
  if (elem == kArray)
    c.fail(cat("metadata \"", key, "\": nested arrays are not supported"));
  if (elem >= kValueTypes)
    c.fail(cat("metadata \"", key, "\" is an array of unknown type ", elem));
  if (elem != kString) return number_array(c, key, elem, count, /*scalar=*/false, stream);
  // Each string takes at least its 8-byte length.
  if (count > c.left() / 8) {
    c.fail(
        cat("metadata \"", key, "\": ", count, " strings run past the end of the file"));
  }
  std::vector<std::string> strings;
  strings.reserve(count);
  for (uint64_t i = 0; i < count; ++i) strings.emplace_back(c.string("metadata string"));
  return strings;
}

struct TensorInfo {
  std::string name;
  Shape shape;  // rill's order: GGUF's dimensions reversed
  uint64_t count = 0;
  uint32_t type = 0;
  uint64_t offset = 0;  // into the data section
  uint64_t nbytes = 0;
};

// Bytes of `count` elements of a tensor type rill loads, or 0 for a type it
// does not (the caller raises the error naming it).
uint64_t tensor_bytes(const Cursor& c, const TensorInfo& t) {
  switch (t.type) {
    case kF32Tensor:
    case kI32Tensor:
      return t.count * 4;  // count * 8 fits: checked_shape
    case kI8Tensor:
      return t.count;
    case kI16Tensor:
      return t.count * 2;
    case kF16Tensor:
    case kBF16Tensor:
      return t.count * 2;
    case kQ4_0:
    case kQ4_1:
    case kQ8_0: {
      if (t.shape.empty() || t.shape.back() % gq::kBlockItems != 0) {
        c.fail(cat("tensor \"", t.name, "\" of type ", tensor_type_name(t.type),
                   " has shape ", detail::tuple_str(t.shape),
                   ": its last dimension must be a multiple of 32"));
      }
      gq::BlockType b = t.type == kQ4_0   ? gq::BlockType::q4_0
                        : t.type == kQ4_1 ? gq::BlockType::q4_1
                                          : gq::BlockType::q8_0;
      return t.count / gq::kBlockItems * gq::block_bytes(b);
    }
    default:
      c.fail(
          cat("tensor \"", t.name, "\" has type ", tensor_type_name(t.type),
              ", which is not supported (F32, F16, BF16, I8, I16, I32, Q4_0, Q4_1 and Q8_0 are)"));
  }
}

TensorInfo read_tensor_info(Cursor& c) {
  TensorInfo t;
  t.name = std::string(c.string("tensor name"));
  uint32_t ndim = c.get<uint32_t>("tensor dimension count");
  if (ndim > kMaxDims) {
    c.fail(cat("tensor \"", t.name, "\" has ", ndim, " dimensions (at most ", kMaxDims,
               ")"));
  }
  std::vector<uint64_t> dims(ndim);
  for (uint32_t i = 0; i < ndim; ++i)
    dims[ndim - 1 - i] = c.get<uint64_t>("tensor dimension");
  t.type = c.get<uint32_t>("tensor type");
  t.offset = c.get<uint64_t>("tensor offset");
  // Every type rill loads has at most 4 bytes an element.
  t.shape = detail::checked_shape(dims, float32, t.count, [&](const std::string& what) {
    c.fail(cat("tensor \"", t.name, "\": ", what));
  });
  t.nbytes = tensor_bytes(c, t);
  return t;
}

// `name` without ".weight" (MLX names the quantized triple's parts after it).
std::string quantized_prefix(const std::string& name) {
  constexpr std::string_view suffix = ".weight";
  if (name.size() >= suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

void load_tensor(Cursor& c, const TensorInfo& t, const char* p,
                 const std::shared_ptr<detail::Mapping>& map, Stream stream,
                 std::unordered_map<std::string, array>& out) {
  auto insert = [&](const std::string& name, array a) {
    if (!out.emplace(name, std::move(a)).second) {
      c.fail(cat("two tensors are named \"", name, "\"",
                 name == t.name ? "" : " (one from a quantized tensor's parts)"));
    }
  };
  if (t.type == kF32Tensor || t.type == kF16Tensor || t.type == kI32Tensor ||
      t.type == kI8Tensor || t.type == kI16Tensor) {
    Dtype dtype = t.type == kF32Tensor   ? float32
                  : t.type == kF16Tensor ? float16
                  : t.type == kI8Tensor  ? int8
                  : t.type == kI16Tensor ? int16
                                         : int32;
    std::shared_ptr<detail::Buffer> buf;
    if (reinterpret_cast<uintptr_t>(p) % dtype.size == 0 && t.nbytes > 0) {
      buf = std::make_shared<detail::Buffer>(const_cast<char*>(p), t.nbytes, map);
    } else {
      buf = std::make_shared<detail::Buffer>(t.nbytes);
      if (t.nbytes) std::memcpy(buf->ptr, p, t.nbytes);
    }
    insert(t.name, detail::host_array(t.shape, dtype, std::move(buf), stream));
    return;
  }
  if (t.type == kBF16Tensor) {
    // As float16, as MLX does.
    auto buf = std::make_shared<detail::Buffer>(t.count * 2);
    auto* dst = static_cast<float16_t*>(buf->ptr);
    for (uint64_t i = 0; i < t.count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, p + 2 * i, 2);
      dst[i] = float16_t(static_cast<float>(bfloat16_t::from_bits(bits)));
    }
    insert(t.name, detail::host_array(t.shape, float16, std::move(buf), stream));
    return;
  }
  gq::BlockType b = t.type == kQ4_0   ? gq::BlockType::q4_0
                    : t.type == kQ4_1 ? gq::BlockType::q4_1
                                      : gq::BlockType::q8_0;
  uint64_t nblocks = t.count / gq::kBlockItems;
  Shape wshape = t.shape, sshape = t.shape;
  wshape.back() /= 32 / gq::bits(b);
  sshape.back() /= gq::kBlockItems;
  auto words = std::make_shared<detail::Buffer>(t.count * gq::bits(b) / 8);
  auto scales = std::make_shared<detail::Buffer>(nblocks * 2);
  auto biases = std::make_shared<detail::Buffer>(nblocks * 2);
  gq::unpack_blocks(b, reinterpret_cast<const unsigned char*>(p), nblocks,
                    static_cast<uint32_t*>(words->ptr),
                    static_cast<float16_t*>(scales->ptr),
                    static_cast<float16_t*>(biases->ptr));
  std::string prefix = quantized_prefix(t.name);
  insert(t.name, detail::host_array(std::move(wshape), uint32, std::move(words), stream));
  insert(prefix + ".scales",
         detail::host_array(sshape, float16, std::move(scales), stream));
  insert(prefix + ".biases",
         detail::host_array(std::move(sshape), float16, std::move(biases), stream));
}

}  // namespace

GGUFLoad load_gguf(const std::string& file, StreamOrDevice s) {
  Stream stream = detail::resolve_stream(s, "load_gguf")->stream;
  auto map = std::make_shared<detail::Mapping>(file, "load_gguf");
  Cursor c(map->data(), map->size(), file);
  c.need(4, "magic");
  if (std::memcmp(c.here(), "GGUF", 4) != 0) c.fail("not a GGUF file (bad magic)");
  c.skip(4, "magic");
  uint32_t version = c.get<uint32_t>("version");
  if (version == 0x02000000u || version == 0x03000000u) {
    c.fail("big-endian GGUF files are not supported");
  }
  if (version != 2 && version != 3) c.fail(cat("unsupported GGUF version ", version));
  uint64_t n_tensors = c.get<uint64_t>("tensor count");
  uint64_t n_kv = c.get<uint64_t>("metadata count");
  // A key-value pair takes at least 13 bytes, a tensor info 24.
  if (n_kv > c.left() / 13) {
    c.fail(cat("metadata count ", n_kv, " cannot fit in the ", c.left(), " bytes left"));
  }
  if (n_tensors > c.left() / 24) {
    c.fail(
        cat("tensor count ", n_tensors, " cannot fit in the ", c.left(), " bytes left"));
  }

  GGUFLoad out;
  uint64_t alignment = kDefaultAlignment;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key(c.string("metadata key"));
    uint32_t type = c.get<uint32_t>("metadata type");
    GGUFMetaData value = read_value(c, key, type, stream);
    if (key == "general.alignment") {
      uint32_t a = 0;
      if (type == kU32) a = std::get<array>(value).item<uint32_t>();
      if (type != kU32 || a == 0 || (a & (a - 1)) != 0) {
        c.fail("general.alignment must be a uint32 power of two");
      }
      alignment = a;
    }
    if (!out.second.emplace(std::move(key), std::move(value)).second) {
      c.fail("a metadata key appears twice");
    }
  }
  std::vector<TensorInfo> infos;
  infos.reserve(n_tensors);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    infos.push_back(read_tensor_info(c));
    if (!names.insert(infos.back().name).second) {
      c.fail(cat("two tensors are named \"", infos.back().name, "\""));
    }
  }
  uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
  for (const TensorInfo& t : infos) {
    if (t.offset % alignment != 0) {
      c.fail(cat("tensor \"", t.name, "\": offset ", t.offset,
                 " is not a multiple of the alignment ", alignment));
    }
    if (data_start > c.size() || t.offset > c.size() - data_start ||
        t.nbytes > c.size() - data_start - t.offset) {
      c.fail(cat("tensor \"", t.name, "\": ", t.nbytes, " bytes at offset ", t.offset,
                 " of the data section (at byte ", data_start,
                 ") run past the end of the file (", c.size(), " bytes)"));
    }
    load_tensor(c, t, map->data() + data_start + t.offset, map, stream, out.first);
  }
  return out;
}

namespace {

class ByteWriter {
 public:
  template <typename T>
  void put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_ += s;
  }
  void raw(const void* p, size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  void pad(uint64_t alignment) {
    bytes_.append((alignment - bytes_.size() % alignment) % alignment, '\0');
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

uint32_t metadata_type(Dtype t) {
  if (t == float32) return kF32;
  if (t == int64) return kI64;
  if (t == int32) return kI32;
  if (t == uint32) return kU32;
  if (t == uint8) return kU8;
  if (t == int8) return kI8;
  if (t == uint16) return kU16;
  if (t == int16) return kI16;
  if (t == uint64) return kU64;
  if (t == bool_) return kBool;
  throw std::invalid_argument(
      cat("[save_gguf] array type ", dtype_name(t), " is not supported for metadata"));
}

uint32_t tensor_type(Dtype t) {
  if (t == float32) return kF32Tensor;
  if (t == float16) return kF16Tensor;
  if (t == int32) return kI32Tensor;
  if (t == int16) return kI16Tensor;
  if (t == int8) return kI8Tensor;
  throw std::runtime_error(cat("[save_gguf] dtype ", dtype_name(t),
                               " is not supported (float32, float16, int32, int16 and int8 are)"));
}

}  // namespace

void save_gguf(std::string file, std::unordered_map<std::string, array> array_map,
               std::unordered_map<std::string, GGUFMetaData> meta_data) {
  if (file.size() < 5 || file.compare(file.size() - 5, 5, ".gguf") != 0) file += ".gguf";
  std::map<std::string, GGUFMetaData*> meta;
  for (auto& [k, v] : meta_data) meta.emplace(k, &v);
  std::map<std::string, array> tensors;
  std::vector<array> to_eval;
  for (auto& [k, v] : meta) {
    if (auto* a = std::get_if<array>(v)) {
      if (a->ndim() > 1) {
        throw std::runtime_error(cat(
            "[save_gguf] metadata \"", k, "\" has shape ", detail::tuple_str(a->shape()),
            ": arrays of more than one dimension cannot be saved"));
      }
      if (a->size() == 0) {
        throw std::runtime_error(
            cat("[save_gguf] metadata \"", k, "\" is an empty array"));
      }
      metadata_type(a->dtype());
      *a = contiguous(*a);
      to_eval.push_back(*a);
    } else if (std::holds_alternative<std::monostate>(*v)) {
      throw std::runtime_error(cat("[save_gguf] metadata \"", k, "\" holds no value"));
    }
  }
  for (auto& [k, a] : array_map) {
    tensor_type(a.dtype());
    array c = contiguous(a);
    tensors.emplace(k, c);
    to_eval.push_back(c);
  }
  eval(to_eval);

  uint64_t alignment = kDefaultAlignment;
  if (auto it = meta.find("general.alignment"); it != meta.end()) {
    auto* a = std::get_if<array>(it->second);
    uint32_t v = a && a->ndim() == 0 && a->dtype() == uint32 ? a->item<uint32_t>() : 0;
    if (v == 0 || (v & (v - 1)) != 0) {
      throw std::invalid_argument(
          "[save_gguf] general.alignment must be a 0-d uint32 power of two");
    }
    alignment = v;
  }

  ByteWriter w;
  w.raw("GGUF", 4);
  w.put<uint32_t>(3);
  w.put<uint64_t>(tensors.size());
  w.put<uint64_t>(meta.size());
  for (auto& [k, v] : meta) {
    w.string(k);
    if (auto* str = std::get_if<std::string>(v)) {
      w.put<uint32_t>(kString);
      w.string(*str);
    } else if (auto* list = std::get_if<std::vector<std::string>>(v)) {
      w.put<uint32_t>(kArray);
      w.put<uint32_t>(kString);
      w.put<uint64_t>(list->size());
      for (const std::string& s : *list) w.string(s);
    } else {
      array& a = std::get<array>(*v);
      uint32_t type = metadata_type(a.dtype());
      if (a.ndim() == 1) {
        w.put<uint32_t>(kArray);
        w.put<uint32_t>(type);
        w.put<uint64_t>(a.size());
      } else {
        w.put<uint32_t>(type);
      }
      w.raw(detail::host_data(*a.node()), a.nbytes());
    }
  }
  uint64_t offset = 0;
  for (auto& [k, a] : tensors) {
    w.string(k);
    w.put<uint32_t>(static_cast<uint32_t>(a.ndim()));
    for (int i = a.ndim() - 1; i >= 0; --i)
      w.put<uint64_t>(static_cast<uint64_t>(a.shape(i)));
    w.put<uint32_t>(tensor_type(a.dtype()));
    w.put<uint64_t>(offset);
    offset += (a.nbytes() + alignment - 1) / alignment * alignment;
  }
  io::FileWriter out(file);
  if (!out.is_open()) {
    throw std::runtime_error(cat("[save_gguf] cannot open ", file, " for writing"));
  }
  w.pad(alignment);
  out.write(w.bytes().data(), w.bytes().size());
  for (auto& [k, a] : tensors) {
    std::string pad((alignment - a.nbytes() % alignment) % alignment, '\0');
    if (a.nbytes())
      out.write(static_cast<const char*>(detail::host_data(*a.node())), a.nbytes());
    out.write(pad.data(), pad.size());
  }
}

}  // namespace rill
