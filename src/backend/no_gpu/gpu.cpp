// The GPU backend of a build without one: there are no GPU devices.
#include <stdexcept>

#include "runtime/gpu.h"

namespace rill::detail {

int gpu_device_count() { return 0; }

std::string gpu_unavailable_reason() { return "this build of rill has no GPU backend"; }

const std::unordered_map<std::string, std::variant<std::string, size_t>>& gpu_device_info(
    int) {
  throw std::logic_error("gpu_device_info called without a GPU backend");
}

}  // namespace rill::detail
