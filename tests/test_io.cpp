// safetensors loading and saving: round trips, mapping, and malformed files.
#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "rill/io.h"
#include "rill/rill.h"

using namespace rill;

namespace {

std::string temp_path(const std::string& name) {
  return "/tmp/rill_test_io_" + std::to_string(::getpid()) + "_" + name;
}

// Writes a file from a header string and raw data bytes (header length is
// computed unless `len` is given).
std::string write_raw(const std::string& name, const std::string& header,
                      const std::string& data, long long len = -1) {
  std::string path = temp_path(name);
  std::ofstream f(path, std::ios::binary);
  uint64_t n = len < 0 ? header.size() : static_cast<uint64_t>(len);
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header << data;
  return path;
}

std::string load_error(const std::string& path) {
  try {
    load_safetensors(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  std::unordered_map<std::string, array> arrays;
  for (Dtype t : {bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16,
                  bfloat16, float32, float64}) {
    arrays.emplace("x_" + dtype_name(t), astype(reshape(arange(0.0, 6.0), {2, 3}), t));
  }
  arrays.emplace("scalar", array(3.5f));
  arrays.emplace("empty", zeros({0, 4}));
  arrays.emplace("transposed", transpose(reshape(arange(0.0, 6.0), {2, 3})));
  std::string path = temp_path("roundtrip.safetensors");
  save_safetensors(path, arrays, {{"format", "pt"}, {"note", "quote \" and \\ kept"}});
  auto [loaded, meta] = load_safetensors(path);
  EXPECT_EQ(meta.at("format"), "pt");
  EXPECT_EQ(meta.at("note"), "quote \" and \\ kept");
  ASSERT_EQ(loaded.size(), arrays.size());
  for (auto& [name, a] : arrays) {
    const array& b = loaded.at(name);
    EXPECT_EQ(b.dtype(), a.dtype()) << name;
    EXPECT_EQ(b.shape(), a.shape()) << name;
    EXPECT_TRUE(array_equal(a, b).item<bool>()) << name;
  }
  std::remove(path.c_str());
}

TEST(Safetensors, LoadMapsTheFile) {
  std::string path = temp_path("mapped.safetensors");
  save_safetensors(path, {{"w", ones({256, 256})}});
  auto [loaded, meta] = load_safetensors(path);
  std::ifstream maps("/proc/self/maps");
  std::string line, all;
  while (std::getline(maps, line)) all += line + "\n";
  EXPECT_NE(all.find(path), std::string::npos) << "the file is not mapped";
  EXPECT_EQ(sum(loaded.at("w")).item<float>(), 65536.0f);
  std::remove(path.c_str());  // arrays stay valid: the mapping outlives the name
  EXPECT_EQ(sum(loaded.at("w")).item<float>(), 65536.0f);
}

TEST(Safetensors, MalformedFilesRaiseClearErrors) {
  struct Case {
    std::string name, header, data;
    long long len;
    std::string expect;
  };
  std::string f32 = R"("dtype":"F32","shape":[2])";
  std::vector<Case> cases = {
      {"short", "", "", -2, "too short"},
      {"hugelen", "{}", "", 1ll << 40, "too large"},
      {"pastend", "{}", "", 1000, "past the end"},
      {"badjson", "{\"a\":", "", -1, "malformed JSON"},
      {"notobject", "[1,2]", "", -1, "not a JSON object"},
      {"dtype", R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", "x", -1,
       "unsupported dtype"},
      {"negshape", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
       std::string(8, '\0'), -1, "non-negative"},
      {"outside", "{\"a\":{" + f32 + ",\"data_offsets\":[0,16]}}", std::string(8, '\0'), -1,
       "outside"},
      {"reversed", "{\"a\":{" + f32 + ",\"data_offsets\":[8,0]}}", std::string(8, '\0'), -1,
       "outside"},
      {"count", "{\"a\":{" + f32 + ",\"data_offsets\":[0,4]}}", std::string(8, '\0'), -1,
       "needs 2 elements"},
      {"overlap",
       "{\"a\":{" + f32 + ",\"data_offsets\":[0,8]},\"b\":{" + f32 + ",\"data_offsets\":[4,12]}}",
       std::string(12, '\0'), -1, "overlap"},
      {"missing", R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0'), -1,
       "shape"},
      {"metadata", R"({"__metadata__":{"k":1}})", "", -1, "not a string"},
      {"duplicate", "{\"a\":{" + f32 + ",\"data_offsets\":[0,8]},\"a\":{" + f32 +
                        ",\"data_offsets\":[0,8]}}",
       std::string(8, '\0'), -1, "duplicate"},
      {"deep", std::string(1000, '[') + std::string(1000, ']'), "", -1, "deeply"},
      {"bigdim", R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})",
       std::string(4, '\0'), -1, "too large"},
  };
  for (const Case& c : cases) {
    std::string path;
    if (c.len == -2) {
      path = temp_path(c.name);
      std::ofstream(path, std::ios::binary) << "abc";
    } else {
      path = write_raw(c.name, c.header, c.data, c.len);
    }
    std::string msg = load_error(path);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << c.name << " does not name the file: " << msg;
    EXPECT_NE(msg.find("[load_safetensors]"), std::string::npos) << msg;
    std::remove(path.c_str());
  }
  std::string msg = load_error("/nonexistent/dir/file.safetensors");
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  // A header of odd length puts the data at an odd address.
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )";
  float vals[2] = {1.5f, -2.25f};
  std::string data(reinterpret_cast<const char*>(vals), 8);
  std::string path = write_raw("misaligned", header, data);
  auto [loaded, meta] = load_safetensors(path);
  array a = loaded.at("a");
  EXPECT_EQ(a.data<float>()[0], 1.5f);
  EXPECT_EQ(a.data<float>()[1], -2.25f);
  std::remove(path.c_str());
}

TEST(Safetensors, SaveErrors) {
  EXPECT_THROW(save_safetensors("/nonexistent/dir/x.safetensors", {{"a", ones({2})}}),
               std::runtime_error);
  EXPECT_THROW(save_safetensors(temp_path("meta"), {{"__metadata__", ones({2})}}),
               std::invalid_argument);
}

// Found by fuzz/fuzz_safetensors (crash-936dd909): a BOOL byte other than 0 or 1
// loaded, and the first op reading it was undefined behaviour.
TEST(Safetensors, BoolBytesOtherThanZeroOrOneAreRejected) {
  std::string header = R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";
  std::string path = write_raw("bool", header, std::string("\x01\x20\x00", 3));
  std::string msg = load_error(path);
  EXPECT_NE(msg.find("BOOL element 1 is 32"), std::string::npos) << msg;
  std::remove(path.c_str());
  path = write_raw("bool_ok", header, std::string("\x01\x00\x01", 3));
  auto [loaded, meta] = load_safetensors(path);
  EXPECT_EQ(sum(loaded.at("b")).item<int32_t>(), 2);
  std::remove(path.c_str());
}

// An empty axis beside axes whose product overflows int64: zero bytes of
// data, but the strides of the array overflowed (undefined behaviour).
TEST(Safetensors, ShapesTooLargeToAddressAreRejected) {
  for (std::string shape :
       {"[0,2147483647,2147483647,2147483647]", "[0,1073741824,1073741824,8]",
        "[3,0,2147483647,2147483647]"}) {
    std::string header =
        R"({"a":{"dtype":"F64","shape":)" + shape + R"(,"data_offsets":[0,0]}})";
    std::string path = write_raw("huge", header, "");
    std::string msg = load_error(path);
    EXPECT_NE(msg.find("too large to address"), std::string::npos)
        << shape << ": " << msg;
    std::remove(path.c_str());
  }
  // Large but addressable empty shapes still load.
  std::string path = write_raw(
      "big_empty",
      R"({"a":{"dtype":"F32","shape":[0,65536,65536],"data_offsets":[0,0]}})", "");
  auto [loaded, meta] = load_safetensors(path);
  EXPECT_EQ(loaded.at("a").size(), 0u);
  std::remove(path.c_str());
}

// Duplicate keys were found by comparing each key with every earlier one: a
// 2.7 MB header of 200,000 metadata keys took 62 s to load (quadratic; a
// 100 MB header would not finish). Now linear.
TEST(Safetensors, HeadersWithManyKeysLoadInLinearTime) {
  constexpr int kKeys = 200000;
  std::string header = "{\"__metadata__\":{";
  for (int i = 0; i < kKeys; ++i)
    header += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"v\"";
  header += "}}";
  std::string path = write_raw("many_keys", header, "");
  auto start = std::chrono::steady_clock::now();
  auto [loaded, meta] = load_safetensors(path);
  double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(meta.size(), static_cast<size_t>(kKeys));
  EXPECT_LT(took, 20.0) << "200,000 keys took " << took << " s";  // 62 s when quadratic
  std::remove(path.c_str());
  // A duplicate among many is still found.
  header.insert(header.size() - 2, ",\"k17\":\"again\"");
  path = write_raw("many_keys_dup", header, "");
  EXPECT_NE(load_error(path).find("duplicate key \"k17\""), std::string::npos);
  std::remove(path.c_str());
}

// Found by fuzz/fuzz_safetensors (crash-b7152414): an empty F16 array whose
// other axes multiply past 2^31 loaded, and converting it overflowed int32
// while the copy kernel merged its axes (undefined behaviour; UBSan lane).
TEST(Safetensors, EmptyArraysWithLargeAxesComputeWithoutOverflow) {
  std::string path = write_raw(
      "empty_large_axes",
      R"({"a":{"dtype":"F16","shape":[8,21474836,47,0,135136584],"data_offsets":[0,0]}})",
      "");
  auto [loaded, meta] = load_safetensors(path);
  array a = loaded.at("a");
  array total = sum(astype(a, float64));
  EXPECT_EQ(total.item<double>(), 0.0);
  EXPECT_EQ(astype(a, float32).shape(), a.shape());
  std::remove(path.c_str());
}
