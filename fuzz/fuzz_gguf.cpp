// libFuzzer harness for the GGUF loader. Any input must either load or raise
// std::runtime_error; whatever loads must have readable data, and its plain
// tensors and metadata must save and load back equal. Anything else (a crash,
// a sanitizer report, another exception) is a bug.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#include "fuzz_util.h"
#include "rill/io.h"
#include "rill/rill.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile in("fuzz_in");
  static const std::string out =
      "/dev/shm/rill_fuzz_gguf_" + std::to_string(::getpid()) + ".gguf";
  in.write(data, size);
  rill::GGUFLoad loaded;
  try {
    loaded = rill::load_gguf(in.path);
  } catch (const std::runtime_error&) {
    return 0;  // rejected, as malformed files must be
  }
  std::unordered_map<std::string, rill::array> plain;
  for (auto& [name, a] : loaded.first) {
    fuzz::checksum(a);
    if (a.dtype() == rill::float32 || a.dtype() == rill::float16 ||
        a.dtype() == rill::int32) {
      plain.emplace(name, a);
    }
  }
  std::unordered_map<std::string, rill::GGUFMetaData> meta;
  for (auto& [key, v] : loaded.second) {
    if (auto* a = std::get_if<rill::array>(&v)) {
      fuzz::checksum(*a);
      if (a->size() == 0 || a->dtype() == rill::float16) continue;  // not savable
    }
    meta.emplace(key, v);
  }
  rill::save_gguf(out, plain, meta);
  auto again = rill::load_gguf(out);
  if (again.first.size() != plain.size() || again.second.size() != meta.size())
    std::abort();
  for (auto& [name, a] : plain) {
    rill::array& b = again.first.at(name);
    if (b.dtype() != a.dtype() || b.shape() != a.shape() ||
        fuzz::checksum(b) != fuzz::checksum(a)) {
      std::abort();
    }
  }
  return 0;
}
