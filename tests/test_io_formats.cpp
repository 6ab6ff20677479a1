// .npy and GGUF loading and saving, and the Reader/Writer overloads: round
// trips of every dtype and shape, files written by NumPy and by the gguf
// package, quantized GGUF tensors against a plain-loop dequantization, and
// malformed files raising std::runtime_error that names the file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

#include "rill/io.h"
#include "rill/rill.h"

using namespace rill;

namespace {

const std::string kData = RILL_TEST_DATA;

std::string temp_path(const std::string& name) {
  return "/tmp/rill_test_io_formats_" + std::to_string(::getpid()) + "_" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string write_file(const std::string& name, const std::string& bytes) {
  std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// The message of the std::runtime_error `f` raises ("" if none).
std::string runtime_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("unexpected exception: ") + e.what();
  }
  return "";
}

bool same(const array& a, const array& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         array_equal(a, b).item<bool>();
}

// In-memory files, to show that user-defined Readers and Writers work.
struct MemoryWriter : io::Writer {
  std::string bytes;
  size_t pos = 0;
  bool is_open() const override { return true; }
  bool good() const override { return true; }
  size_t tell() override { return pos; }
  void seek(int64_t off, std::ios_base::seekdir way) override {
    pos = static_cast<size_t>(way == std::ios_base::beg   ? off
                              : way == std::ios_base::end ? bytes.size() + off
                                                          : pos + off);
  }
  void write(const char* data, size_t n) override {
    if (bytes.size() < pos + n) bytes.resize(pos + n);
    std::memcpy(bytes.data() + pos, data, n);
    pos += n;
  }
  std::string label() const override { return "memory"; }
};

struct MemoryReader : io::Reader {
  explicit MemoryReader(std::string b) : bytes(std::move(b)) {}
  std::string bytes;
  size_t pos = 0;
  bool is_open() const override { return true; }
  bool good() const override { return true; }
  size_t tell() override { return pos; }
  void seek(int64_t off, std::ios_base::seekdir way) override {
    pos = static_cast<size_t>(way == std::ios_base::beg   ? off
                              : way == std::ios_base::end ? bytes.size() + off
                                                          : pos + off);
  }
  void read(char* data, size_t n) override {
    read(data, n, pos);
    pos += n;
  }
  void read(char* data, size_t n, size_t offset) override {
    if (offset > bytes.size() || n > bytes.size() - offset) {
      throw std::runtime_error("[read] memory: past the end");
    }
    std::memcpy(data, bytes.data() + offset, n);
  }
  std::string label() const override { return "memory buffer"; }
};

// Each case's file must raise std::runtime_error starting "[op]", naming the
// file and containing the expected words.
struct BadFile {
  std::string name, bytes, expect;
};
void expect_clear_errors(const std::vector<BadFile>& cases, const std::string& op,
                         const std::string& ext,
                         const std::function<void(const std::string&)>& loader) {
  for (const BadFile& c : cases) {
    std::string path = write_file(c.name + ext, c.bytes);
    std::string msg = runtime_error_of([&] { loader(path); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(path), std::string::npos)
        << c.name << " does not name the file: " << msg;
    EXPECT_EQ(msg.rfind("[" + op + "]", 0), 0u) << msg;
    std::remove(path.c_str());
  }
  std::string missing = "/nonexistent/dir/x" + ext;
  EXPECT_NE(runtime_error_of([&] { loader(missing); }).find(missing), std::string::npos);
}

std::vector<array> arrays_of_every_dtype_and_shape() {
  std::vector<array> out;
  for (Dtype t :
       {bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, bfloat16,
        float32, float64}) {
    for (Shape shape :
         {Shape{}, Shape{0}, Shape{0, 4}, Shape{5}, Shape{2, 3}, Shape{2, 3, 4}}) {
      int n = 1;
      for (int d : shape) n *= d;
      out.push_back(astype(
          reshape(remainder(arange(0.0, static_cast<double>(n)), array(7.0)), shape), t));
    }
    array m = astype(reshape(arange(0.0, 24.0), {2, 3, 4}), t);
    out.push_back(transpose(m));                               // column-major
    out.push_back(transpose(m, {1, 0, 2}));                    // neither
    out.push_back(slice(m, {0, 0, 1}, {2, 3, 4}, {1, 2, 2}));  // strided
    out.push_back(broadcast_to(astype(array(3.0), t), {2, 2}));
  }
  return out;
}

}  // namespace

TEST(Npy, RoundTripEveryDtypeAndShape) {
  std::string path = temp_path("roundtrip.npy");
  for (const array& a : arrays_of_every_dtype_and_shape()) {
    save(path, a);
    array b = load(path);
    EXPECT_TRUE(same(a, b)) << dtype_name(a.dtype()) << " " << a.ndim() << "-d " << a;
  }
  std::remove(path.c_str());
}

TEST(Npy, SaveAppendsTheExtensionAsMlxDoes) {
  std::string base = temp_path("noext");
  save(base, array({1.0f, 2.0f}));
  EXPECT_TRUE(same(load(base + ".npy"), array({1.0f, 2.0f})));
  std::remove((base + ".npy").c_str());
}

TEST(Npy, ColumnMajorArraysAreSavedInFortranOrder) {
  array t = transpose(reshape(arange(0.0f, 6.0f), {2, 3}));
  std::string path = temp_path("fortran.npy");
  save(path, t);
  std::string bytes = read_file(path);
  EXPECT_NE(bytes.find("'fortran_order': True"), std::string::npos)
      << bytes.substr(0, 128);
  EXPECT_NE(bytes.find("'shape': (3, 2)"), std::string::npos);
  EXPECT_EQ(bytes.size() % 64, 6 * 4 % 64) << "data not 64-byte aligned";
  EXPECT_TRUE(same(load(path), t));
  save(path, reshape(arange(0.0f, 6.0f), {2, 3}));
  EXPECT_NE(read_file(path).find("'fortran_order': False, 'shape': (2, 3), }"),
            std::string::npos);
  save(path, array({1, 2, 3}, int32));
  EXPECT_NE(
      read_file(path).find("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"),
      std::string::npos);
  save(path, astype(array({1.0f}), bfloat16));
  EXPECT_NE(read_file(path).find("'descr': '<V2'"), std::string::npos);  // MLX's bfloat16
  std::remove(path.c_str());
}

TEST(Npy, ReadsFilesNumPyWrote) {
  auto npy = [](const std::string& name) {
    return load(kData + "/npy/" + name + ".npy");
  };
  array six = reshape(arange(0, 6, int32), {2, 3});
  EXPECT_TRUE(same(npy("bool"), array({true, false, true})));
  EXPECT_TRUE(same(npy("uint8"), array({0, 7, 255}, uint8)));
  EXPECT_TRUE(same(npy("uint32"), array({1u, 4000000000u})));
  EXPECT_TRUE(same(npy("int32"), subtract(six, array(3))));
  EXPECT_TRUE(same(npy("int64"), array({int64_t{-(1ll << 40)}, int64_t{5}})));
  EXPECT_TRUE(same(npy("float16"), astype(array({1.5f, -0.25f, 65504.0f}), float16)));
  EXPECT_TRUE(same(npy("float32"), divide(astype(six, float32), array(4.0f))));
  EXPECT_TRUE(same(npy("float64"), array({3.25, -1e300}, {2, 1}, float64)));
  EXPECT_TRUE(same(npy("bfloat16_void"), astype(array({1.0f, -2.0f}), bfloat16)));
  EXPECT_TRUE(same(npy("big_int32"), subtract(six, array(3))));
  EXPECT_TRUE(same(npy("big_float64"), array({1.5, -2.0, 1e-300}, float64)));
  EXPECT_TRUE(same(npy("fortran"), multiply(astype(six, float32), array(1.5f))));
  EXPECT_TRUE(same(npy("fortran_3d"), reshape(arange(0, 24, int64), {2, 3, 4})));
  EXPECT_TRUE(same(npy("scalar"), array(2.5, float64)));
  EXPECT_TRUE(same(npy("empty"), zeros({0, 3})));
  EXPECT_TRUE(same(npy("v2"), six));
  EXPECT_TRUE(same(npy("v3"), astype(six, float32)));
}

TEST(Npy, UnsupportedDescrsNameTheFileAndTheDescr) {
  EXPECT_TRUE(same(load(kData + "/npy/int8.npy"), array({1, -1}, int8)));
  EXPECT_TRUE(same(load(kData + "/npy/uint16.npy"), array({1, 2}, uint16)));
  // complex64, either byte order.
  EXPECT_TRUE(same(load(kData + "/npy/complex64.npy"), array({complex64_t(1, 2)})));
  EXPECT_TRUE(same(load(kData + "/npy/big_complex64.npy"),
                   array({complex64_t(1, 2), complex64_t(-3.5f, -0.25f)})));
  for (auto [name, descr] : {std::pair{"complex128", "'<c16'"}}) {
    std::string path = kData + "/npy/" + name + ".npy";
    std::string msg = runtime_error_of([&] { load(path); });
    EXPECT_NE(msg.find("unsupported descr " + std::string(descr)), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
}

TEST(Npy, MalformedFilesRaiseClearErrors) {
  auto npy = [](int major, const std::string& header, const std::string& data = "",
                long long len = -1) {
    std::string b = "\x93NUMPY";
    b += static_cast<char>(major);
    b += '\0';
    uint64_t n = len < 0 ? header.size() : static_cast<uint64_t>(len);
    for (int i = 0; i < (major == 1 ? 2 : 4); ++i)
      b += static_cast<char>((n >> (8 * i)) & 0xff);
    return b + header + data;
  };
  auto dict = [](const std::string& descr, const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape +
           ", }\n";
  };
  std::vector<BadFile> cases = {
      {"empty", "", "too short"},
      {"magic", "\x93NUMPZ\x01\x00\x10\x00" + std::string(16, ' '), "bad magic"},
      {"version", npy(4, dict("<f4", "(1,)"), "abcd"), "version 4.0"},
      {"pastend", npy(1, dict("<f4", "(1,)"), "abcd", 5000), "past the end"},
      {"hugeheader", npy(2, "", "", 1ll << 31), "too large"},
      {"truncated", npy(1, dict("<f4", "(2, 3)"), std::string(20, '\0')),
       "needs 24 bytes"},
      {"noshape", npy(1, "{'descr': '<f4', 'fortran_order': False}\n"), "lacks"},
      {"extra", npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}"),
       "unexpected key 'x'"},
      {"duplicate", npy(1, "{'descr': '<f4', 'descr': '<f4'}"), "duplicate key"},
      {"negative", npy(1, dict("<f4", "(-1,)")), "non-negative"},
      {"float", npy(1, dict("<f4", "(1.5,)")), "malformed header"},
      {"garbage", npy(1, "hello"), "malformed header"},
      {"unterminated", npy(1, "{'descr': '<f4"), "unterminated"},
      {"fortran", npy(1, "{'descr': '<f4', 'fortran_order': 1, 'shape': ()}"),
       "True or False"},
      {"structured",
       npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}"),
       "structured"},
      {"bigdim", npy(1, dict("<f4", "(99999999999999999999,)")), "too large"},
      {"overflow", npy(1, dict("<f8", "(2147483647, 2147483647, 2147483647)")), "too"},
      {"empty_huge", npy(1, dict("<f8", "(0, 2147483647, 2147483647, 2147483647)")),
       "too large to address"},
      {"bool", npy(1, dict("|b1", "(3,)"), std::string("\x01\x02\x00", 3)),
       "bool element 1 is 2"},
      {"object", npy(1, dict("|O", "(1,)"), "12345678"), "unsupported descr '|O'"},
  };
  expect_clear_errors(cases, "load", ".npy", [](const std::string& f) { load(f); });
  EXPECT_NE(runtime_error_of([] {
              save("/nonexistent/dir/x", array(1.0f));
            }).find("/nonexistent/dir/x.npy"),
            std::string::npos);
}

// Every prefix of a valid file is malformed: each must raise, never crash.
TEST(Npy, EveryTruncationOfAFileRaises) {
  std::string whole = read_file(kData + "/npy/fortran_3d.npy");
  ASSERT_GT(whole.size(), 128u);
  std::string path = temp_path("cut.npy");
  for (size_t n = 0; n < whole.size(); ++n) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, n);
    std::string msg = runtime_error_of([&] { load(path); });
    ASSERT_NE(msg.find(path), std::string::npos) << n << " bytes: " << msg;
  }
  std::remove(path.c_str());
}

TEST(Npy, UserReadersAndWriters) {
  auto out = std::make_shared<MemoryWriter>();
  array a = reshape(astype(arange(0.0, 12.0), float16), {3, 4});
  save(out, a);
  EXPECT_TRUE(same(load(std::make_shared<MemoryReader>(out->bytes)), a));
  std::string msg =
      runtime_error_of([] { load(std::make_shared<MemoryReader>("\x93NUMPY")); });
  EXPECT_NE(msg.find("memory buffer"), std::string::npos) << msg;
  // The file classes are public (MLX's names).
  std::string path = temp_path("files.npy");
  save(std::make_shared<io::FileWriter>(path), a);
  EXPECT_TRUE(same(load(std::make_shared<io::ParallelFileReader>(path)), a));
  std::remove(path.c_str());
}

// Loaded arrays hold their data: usable from any thread and on any stream.
TEST(Npy, LoadedArraysWorkOnAnyThreadAndStream) {
  std::string path = temp_path("threads.npy");
  save(path, reshape(arange(0.0f, 100.0f), {10, 10}));
  Stream s = new_stream(Device::cpu);
  array a = load(path, s);
  EXPECT_EQ(a.stream(), s);
  float total = 0;
  std::thread([&] { total = sum(multiply(a, array(2.0f))).item<float>(); }).join();
  EXPECT_EQ(total, 9900.0f);
  if (is_available(Device::gpu)) {
    array g = load(path, Device::gpu);
    EXPECT_EQ(g.stream().device, Device(Device::gpu, 0));
    EXPECT_EQ(sum(g).item<float>(), 4950.0f);
  }
  std::remove(path.c_str());
}

TEST(SafetensorsIo, UserReadersAndWriters) {
  std::unordered_map<std::string, array> arrays = {
      {"a", reshape(arange(0.0f, 6.0f), {2, 3})},
      {"b", transpose(reshape(astype(arange(0, 6), bool_), {3, 2}))},
      {"c", astype(array(2.5f), bfloat16)}};
  auto out = std::make_shared<MemoryWriter>();
  save_safetensors(out, arrays, {{"k", "v"}});
  auto [loaded, meta] = load_safetensors(std::make_shared<MemoryReader>(out->bytes));
  EXPECT_EQ(meta.at("k"), "v");
  ASSERT_EQ(loaded.size(), arrays.size());
  for (auto& [k, a] : arrays) EXPECT_TRUE(same(loaded.at(k), a)) << k;
  // The Reader path checks what the mapped path checks.
  std::string bad = out->bytes;
  bad.resize(bad.size() - 1);
  std::string msg =
      runtime_error_of([&] { load_safetensors(std::make_shared<MemoryReader>(bad)); });
  EXPECT_NE(msg.find("[load_safetensors] memory buffer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("outside"), std::string::npos) << msg;
  std::string path = temp_path("reader.safetensors");
  save_safetensors(std::make_shared<io::FileWriter>(path), arrays);
  auto [from_file, m2] = load_safetensors(std::make_shared<io::FileReader>(path));
  for (auto& [k, a] : arrays) EXPECT_TRUE(same(from_file.at(k), a)) << k;
  std::remove(path.c_str());
}

TEST(Gguf, ReadsAFileTheGgufPackageWrote) {
  auto [arrays, meta] = load_gguf(kData + "/io.gguf");
  EXPECT_EQ(std::get<std::string>(meta.at("general.architecture")), "rilltest");
  auto num = [&](const std::string& k) { return std::get<array>(meta.at(k)); };
  EXPECT_TRUE(same(num("test.u32"), array(7u)));
  EXPECT_TRUE(same(num("test.i32"), array(-3)));
  EXPECT_TRUE(same(num("test.f32"), array(0.5f)));
  EXPECT_TRUE(same(num("test.f64"), array(0.25f)));  // float32, as MLX gives
  EXPECT_TRUE(same(num("test.bool"), array(true)));
  EXPECT_TRUE(same(num("test.u8"), array(uint8_t{200})));
  EXPECT_TRUE(same(num("test.i64"), array(int64_t{-(1ll << 40)})));
  EXPECT_TRUE(same(num("test.ints"), array({1, -2, 3}, int32)));
  EXPECT_TRUE(same(num("test.floats"), array({0.5f, 1.5f})));
  EXPECT_EQ(std::get<std::string>(meta.at("test.string")), "h\xc3\xa9llo");
  EXPECT_EQ(std::get<std::vector<std::string>>(meta.at("test.strings")),
            (std::vector<std::string>{"a", "bc", ""}));

  EXPECT_TRUE(
      same(arrays.at("f32"), reshape(subtract(arange(0.0f, 6.0f), array(2.5f)), {2, 3})));
  EXPECT_TRUE(
      same(arrays.at("f16"), astype(array({1.0f, -2.0f, 0.5f, 4.0f}, {1, 4}), float16)));
  EXPECT_TRUE(same(arrays.at("i32"), array({1, -2, 3, 4, 5, -6}, {3, 2}, int32)));
  // BF16 tensors become float16, as in MLX.
  EXPECT_TRUE(
      same(arrays.at("bf16"), astype(array({1.0f, -3.5f, 0.0078125f, 300.0f}), float16)));
}

// MLX's layout: w = scale * q + bias per group of 32, q packed from the low
// bits of each uint32 word up. Checked element by element against the values
// the gguf package's own dequantization gives.
TEST(Gguf, QuantizedTensorsMatchAPlainLoopDequantization) {
  auto [arrays, meta] = load_gguf(kData + "/io.gguf");
  for (auto [name, bits] : {std::pair{"q4_0", 4}, {"q4_1", 4}, {"q8_0", 8}}) {
    std::string prefix = std::string("blk.") + name;
    array w = arrays.at(prefix + ".weight");
    array scales = arrays.at(prefix + ".scales");
    array biases = arrays.at(prefix + ".biases");
    array ref = arrays.at(std::string("ref.") + name);
    ASSERT_EQ(ref.shape(), (Shape{3, 64}));
    EXPECT_EQ(w.dtype(), uint32);
    EXPECT_EQ(w.shape(), (Shape{3, 64 * bits / 32})) << name;
    EXPECT_EQ(scales.dtype(), float16);
    EXPECT_EQ(scales.shape(), (Shape{3, 2}));
    EXPECT_EQ(biases.shape(), (Shape{3, 2}));
    const uint32_t* words = w.data<uint32_t>();
    const float16_t* s = scales.data<float16_t>();
    const float16_t* b = biases.data<float16_t>();
    const float* r = ref.data<float>();
    int per_word = 32 / bits;
    int mismatches = 0;
    for (int row = 0; row < 3; ++row) {
      for (int col = 0; col < 64; ++col) {
        int i = row * 64 + col, group = row * 2 + col / 32;
        uint32_t q =
            (words[i / per_word] >> (bits * (i % per_word))) & ((1u << bits) - 1);
        float value = static_cast<float>(s[group]) * static_cast<float>(q) +
                      static_cast<float>(b[group]);
        if (value != r[i] && ++mismatches < 5) {
          ADD_FAILURE() << name << " [" << row << ", " << col << "]: " << value << " vs "
                        << r[i];
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << name;
  }
}

TEST(Gguf, RoundTrip) {
  std::unordered_map<std::string, array> tensors = {
      {"f32", reshape(arange(0.0f, 24.0f), {2, 3, 4})},
      {"f16", astype(array({1.5f, -2.0f}), float16)},
      {"i32", transpose(reshape(arange(0, 6, int32), {2, 3}))},  // saved row-major
      {"scalar", array(4.0f)},
      {"empty", zeros({0, 3})},
      {"strided", slice(arange(0.0f, 10.0f), {1}, {10}, {3})}};
  std::unordered_map<std::string, GGUFMetaData> meta = {
      {"s", std::string("text")},
      {"list", std::vector<std::string>{"x", "", "yz"}},
      {"f", array(1.25f)},
      {"u8", array(uint8_t{9})},
      {"u32", array(uint32_t{1u << 31})},
      {"i64", array(int64_t{-5})},
      {"b", array(false)},
      {"floats", array({0.5f, -1.0f})},
      {"ints", array({4, 5, 6}, int32)},
      {"bools", array({true, false})}};
  std::string base = temp_path("roundtrip");
  save_gguf(base, tensors, meta);  // ".gguf" appended
  auto [arrays, loaded_meta] = load_gguf(base + ".gguf");
  ASSERT_EQ(arrays.size(), tensors.size());
  for (auto& [k, a] : tensors) EXPECT_TRUE(same(arrays.at(k), a)) << k;
  ASSERT_EQ(loaded_meta.size(), meta.size());
  EXPECT_EQ(std::get<std::string>(loaded_meta.at("s")), "text");
  EXPECT_EQ(std::get<std::vector<std::string>>(loaded_meta.at("list")),
            std::get<std::vector<std::string>>(meta.at("list")));
  for (const char* k : {"f", "u8", "u32", "i64", "b", "floats", "ints", "bools"}) {
    EXPECT_TRUE(same(std::get<array>(loaded_meta.at(k)), std::get<array>(meta.at(k))))
        << k;
  }
  std::remove((base + ".gguf").c_str());
}

TEST(Gguf, SaveRefusesWhatGgufCannotHold) {
  std::string path = temp_path("refused.gguf");
  auto refused = [&](std::unordered_map<std::string, array> t,
                     std::unordered_map<std::string, GGUFMetaData> m) {
    return runtime_error_of([&] { save_gguf(path, t, m); });
  };
  EXPECT_NE(refused({{"x", astype(array({1.0f}), bfloat16)}}, {}).find("bfloat16"),
            std::string::npos);
  EXPECT_NE(refused({}, {{"m", zeros({2, 2})}}).find("more than one dimension"),
            std::string::npos);
  EXPECT_NE(refused({}, {{"m", zeros({0})}}).find("empty"), std::string::npos);
  EXPECT_NE(refused({}, {{"m", GGUFMetaData{}}}).find("no value"), std::string::npos);
  EXPECT_THROW(save_gguf(path, {}, {{"m", astype(array(1.0f), float16)}}),
               std::invalid_argument);
  EXPECT_EQ(refused({{"x", array(1.0f)}}, {{"s", std::string("ok")}}), "");
  std::remove(path.c_str());
  EXPECT_NE(runtime_error_of([] {
              save_gguf("/nonexistent/dir/x", {});
            }).find("/nonexistent/dir/x.gguf"),
            std::string::npos);
}

namespace {

// GGUF bytes, little-endian.
struct GgufBytes {
  std::string b;
  GgufBytes& u32(uint32_t v) { return raw(&v, 4); }
  GgufBytes& u64(uint64_t v) { return raw(&v, 8); }
  GgufBytes& str(const std::string& s) {
    u64(s.size());
    b += s;
    return *this;
  }
  GgufBytes& raw(const void* p, size_t n) {
    b.append(static_cast<const char*>(p), n);
    return *this;
  }
  GgufBytes& pad(size_t a = 32) {
    b.append((a - b.size() % a) % a, '\0');
    return *this;
  }
};

GgufBytes header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
  GgufBytes g;
  g.b = "GGUF";
  g.u32(version).u64(tensors).u64(kvs);
  return g;
}

// One tensor "t" with GGUF dimensions `dims`, type `type`, offset `offset`,
// and `data_bytes` zero bytes of data.
std::string one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset,
                       size_t data_bytes) {
  GgufBytes g = header(1, 0);
  g.str("t").u32(static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) g.u64(d);
  g.u32(type).u64(offset).pad();
  g.b.append(data_bytes, '\0');
  return g.b;
}

}  // namespace

TEST(Gguf, TensorsOfTypesRillLacksNameTheTensorAndType) {
  // I8 and I16 load as int8 and int16.
  for (auto [type, dtype] : {std::pair{24u, int8}, {25u, int16}}) {
    std::string path = write_file("type.gguf", one_tensor({4}, type, 0, 64));
    auto [arrays, meta] = load_gguf(path);
    ASSERT_EQ(arrays.count("t"), 1u);
    EXPECT_EQ(arrays.at("t").dtype(), dtype);
    EXPECT_TRUE(same(arrays.at("t"), zeros({4}, dtype)));
    std::remove(path.c_str());
  }
  for (auto [type, name] : {std::pair{12u, "Q4_K"}, {28u, "F64"}}) {
    std::string path = write_file("type.gguf", one_tensor({4}, type, 0, 64));
    std::string msg = runtime_error_of([&] { load_gguf(path); });
    EXPECT_NE(msg.find("tensor \"t\" has type " + std::string(name)), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    std::remove(path.c_str());
  }
}

TEST(Gguf, SmallIntegerMetadataKeepsItsDtype) {
  // A uint16 value (type 2) of 7: rill has the dtype now.
  std::string path = write_file("u16.gguf", header(0, 1).str("k").u32(2).raw("\x07\x00", 2).b);
  auto [arrays, meta] = load_gguf(path);
  ASSERT_EQ(meta.count("k"), 1u);
  array v = std::get<array>(meta.at("k"));
  EXPECT_EQ(v.dtype(), uint16);
  EXPECT_EQ(v.item<uint16_t>(), 7);
  std::remove(path.c_str());
}

TEST(Gguf, MalformedFilesRaiseClearErrors) {
  uint64_t huge = 1ull << 62;
  std::vector<BadFile> cases = {
      {"empty", "", "magic"},
      {"magic", "GGUX" + std::string(20, '\0'), "bad magic"},
      {"short", "GGUF\x03\x00", "version"},
      {"v1", header(0, 0, 1).b, "unsupported GGUF version 1"},
      {"bigendian", header(0, 0, 0x03000000).b, "big-endian"},
      {"tensorcount", header(huge, 0).b, "tensor count"},
      {"kvcount", header(0, huge).b, "metadata count"},
      {"keylen", header(0, 1).u64(huge).u32(4).raw(std::string(16, '\0').data(), 16).b,
       "metadata key"},
      {"strlen", header(0, 1).str("k").u32(8).u64(huge).b, "metadata string"},
      {"arraylen", header(0, 1).str("k").u32(9).u32(4).u64(huge).b, "past the end"},
      {"strings", header(0, 1).str("k").u32(9).u32(8).u64(huge).b, "past the end"},
      {"nested", header(0, 1).str("k").u32(9).u32(9).u64(1).b, "nested arrays"},
      {"valuetype", header(0, 1).str("k").u32(13).u32(0).b, "unknown type 13"},
      {"bool", header(0, 1).str("k").u32(7).raw("\x05", 1).b, "bool value 0 is 5"},
      {"dupkey", header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(1).b, "twice"},
      {"alignment", header(0, 1).str("general.alignment").u32(4).u32(3).b,
       "power of two"},
      {"ndim", header(1, 0).str("t").u32(9).raw(std::string(24, '\0').data(), 24).b,
       "9 dimensions"},
      {"dims", one_tensor({huge, huge}, 0, 0, 0), "too large"},
      {"overflow", one_tensor({1u << 30, 1u << 30, 1u << 30}, 0, 0, 0), "too"},
      {"offset", one_tensor({4}, 0, 64, 16), "run past the end"},
      {"hugeoffset", one_tensor({4}, 0, ~uint64_t{0} - 31, 16), "run past the end"},
      {"data", one_tensor({8}, 0, 0, 16), "run past the end"},
      {"misaligned", one_tensor({4}, 0, 8, 64), "not a multiple of the alignment"},
      {"type", one_tensor({4}, 99, 0, 64), "unknown type 99"},
      {"q4_0", one_tensor({16, 2}, 2, 0, 64), "multiple of 32"},
      {"q8_0_scalar", one_tensor({}, 8, 0, 64), "multiple of 32"},
  };
  {
    GgufBytes g = header(2, 0);
    for (int i = 0; i < 2; ++i) g.str("t").u32(1).u64(1).u32(0).u64(0);
    cases.push_back({"duptensor", g.pad().u32(0).b, "two tensors are named \"t\""});
    GgufBytes q = header(2, 0);
    q.str("a.weight").u32(1).u64(32).u32(8).u64(0);
    q.str("a.scales").u32(1).u64(1).u32(0).u64(64);
    q.pad().b.append(128, '\0');
    cases.push_back({"quantparts", q.b, "two tensors are named \"a.scales\""});
  }
  expect_clear_errors(cases, "load_gguf", ".gguf",
                      [](const std::string& f) { load_gguf(f); });
}

TEST(Gguf, EveryTruncationOfAFileRaises) {
  std::string whole = read_file(kData + "/io.gguf");
  ASSERT_GT(whole.size(), 1000u);
  std::string path = temp_path("cut.gguf");
  // The last tensor's data ends at the end of the file: any cut loses some.
  for (size_t n = 0; n < whole.size(); n += (n < 1100 ? 1 : 7)) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, n);
    std::string msg = runtime_error_of([&] { load_gguf(path); });
    ASSERT_NE(msg.find(path), std::string::npos) << n << " bytes: " << msg;
  }
  std::remove(path.c_str());
}
