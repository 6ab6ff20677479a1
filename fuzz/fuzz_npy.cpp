// libFuzzer harness for the .npy loader. Any input must either load or raise
// std::runtime_error; whatever loads must have readable data that saves and
// loads back equal, byte for byte. Anything else (a crash, a sanitizer report,
// another exception) is a bug.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#include "fuzz_util.h"
#include "rill/io.h"
#include "rill/rill.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile in("fuzz_in"), out("fuzz_out");
  in.write(data, size);
  rill::array a(0.0f);
  try {
    a = rill::load(in.path);
  } catch (const std::runtime_error&) {
    return 0;  // rejected, as malformed files must be
  }
  // Readable, and usable by ops (a fortran_order file loads as a view).
  try {
    if (a.size() <= 4096) rill::eval(rill::sum(rill::astype(a, rill::float64)));
  } catch (const std::invalid_argument&) {
  }
  rill::array c = rill::contiguous(a);
  fuzz::checksum(c);
  rill::save(std::make_shared<rill::io::FileWriter>(out.path), a);
  rill::array b = rill::load(out.path);
  if (b.dtype() != a.dtype() || b.shape() != a.shape() ||
      fuzz::checksum(rill::contiguous(b)) != fuzz::checksum(c)) {
    std::abort();
  }
  return 0;
}
