// Loading and saving arrays: NumPy's .npy and safetensors, with MLX's
// functions. Errors: a file that cannot be opened, read or written, or whose
// contents are malformed or unsupported, raises std::runtime_error naming the
// function, the file and the problem; bad arguments raise
// std::invalid_argument. Loaded arrays hold their data (nothing is read
// later): they may be used from any thread and on any stream or device.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "rill/array.h"
#include "rill/io/load.h"
#include "rill/stream.h"

namespace rill {

using GGUFMetaData =
    std::variant<std::monostate, array, std::string, std::vector<std::string>>;
using SafetensorsLoad = std::pair<std::unordered_map<std::string, array>,
                                  std::unordered_map<std::string, std::string>>;

// .npy (format versions 1.0, 2.0 and 3.0). Saving writes `a` in row-major
// order, or in column-major order (fortran_order) when that is how it is laid
// out; bfloat16 is written as '<V2', as MLX does. save(file, a) appends ".npy"
// to a name without it.
void save(std::shared_ptr<io::Writer> out_stream, array a);
void save(std::string file, array a);
// Loading reads the data at once. Big-endian data is byte-swapped; a
// fortran_order file gives the transposed view of its data, as in MLX.
array load(std::shared_ptr<io::Reader> in_stream, StreamOrDevice s = {});
array load(std::string file, StreamOrDevice s = {});

// Arrays and metadata of a safetensors file. load_safetensors(file) maps the
// file, not reading it into a second copy; the Reader overload reads the data.
SafetensorsLoad load_safetensors(std::shared_ptr<io::Reader> in_stream,
                                 StreamOrDevice s = {});
SafetensorsLoad load_safetensors(const std::string& file, StreamOrDevice s = {});

void save_safetensors(std::shared_ptr<io::Writer> out_stream,
                      std::unordered_map<std::string, array> arrays,
                      std::unordered_map<std::string, std::string> metadata = {});
void save_safetensors(const std::string& file,
                      std::unordered_map<std::string, array> arrays,
                      std::unordered_map<std::string, std::string> metadata = {});

}  // namespace rill
