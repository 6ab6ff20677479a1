// Loading and saving arrays in the safetensors format.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill {

using SafetensorsLoad = std::pair<std::unordered_map<std::string, array>,
                                  std::unordered_map<std::string, std::string>>;

// Arrays and metadata of a safetensors file. The file is mapped, not read
// into a second copy. A malformed file raises std::runtime_error naming the
// file and the problem.
SafetensorsLoad load_safetensors(const std::string& file, StreamOrDevice s = {});

void save_safetensors(const std::string& file, std::unordered_map<std::string, array> arrays,
                      std::unordered_map<std::string, std::string> metadata = {});

}  // namespace rill
