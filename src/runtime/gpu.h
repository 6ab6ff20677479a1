// What the runtime asks of a GPU backend. Without one (no CUDA build) the
// answers say there is no GPU. Internal.
#pragma once

#include <string>
#include <unordered_map>
#include <variant>

namespace rill::detail {

int gpu_device_count();
// Why there is no GPU device ("built without a GPU backend", ...).
std::string gpu_unavailable_reason();
const std::unordered_map<std::string, std::variant<std::string, size_t>>& gpu_device_info(
    int index);

}  // namespace rill::detail
