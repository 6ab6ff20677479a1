// libFuzzer harness for the safetensors loader. Any input must either load or
// raise std::runtime_error; whatever loads must have readable data that saves
// and loads back byte for byte. Anything else (a crash, a sanitizer report,
// another exception) is a bug.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#include "fuzz_util.h"
#include "rill/io.h"
#include "rill/rill.h"

using fuzz::checksum;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile in("fuzz_in"), out("fuzz_out");
  in.write(data, size);
  rill::SafetensorsLoad loaded;
  try {
    loaded = rill::load_safetensors(in.path);
  } catch (const std::runtime_error&) {
    return 0;  // rejected, as malformed files must be
  }
  for (auto& [name, a] : loaded.first) {
    checksum(a);
    // The values must be usable by ops (a bool byte other than 0 or 1 is not).
    // An op may refuse the shape (too large for float64): that is bad input
    // rejected at the call, not a bug.
    try {
      if (a.size() <= 4096) rill::eval(rill::sum(rill::astype(a, rill::float64)));
    } catch (const std::invalid_argument&) {
    }
  }
  rill::save_safetensors(out.path, loaded.first, loaded.second);
  auto again = rill::load_safetensors(out.path);
  if (again.first.size() != loaded.first.size() || again.second != loaded.second)
    std::abort();
  for (auto& [name, a] : loaded.first) {
    rill::array& b = again.first.at(name);
    if (b.dtype() != a.dtype() || b.shape() != a.shape() || checksum(b) != checksum(a)) {
      std::abort();
    }
  }
  return 0;
}
