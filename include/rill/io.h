// Loading and saving arrays: NumPy's .npy, safetensors and GGUF, with MLX's
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
using GGUFLoad = std::pair<std::unordered_map<std::string, array>,
                           std::unordered_map<std::string, GGUFMetaData>>;
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

// Arrays and metadata of a GGUF file (versions 2 and 3). Shapes are GGUF's
// dimensions reversed. F32, F16 and I32 tensors load as they are; BF16 ones
// as float16; Q4_0, Q4_1 and Q8_0 tensors "x.weight" become MLX's affine
// quantized triple (group size 32): "x.weight" (uint32, 8 or 4 values a word),
// "x.scales" and "x.biases" (float16). Metadata values: numbers and bools as
// 0-d arrays, arrays of them as 1-d arrays (float64 as float32), strings, and
// lists of strings. Types rill has no dtype for (int8, int16, uint16, uint64)
// and the other quantized types raise std::runtime_error naming the tensor or
// key and the type.
GGUFLoad load_gguf(const std::string& file, StreamOrDevice s = {});

// Saves float32, float16 and int32 arrays, and metadata of strings, string
// lists and arrays of at most one dimension (0-d: a single value). Appends
// ".gguf" to a name without it.
void save_gguf(std::string file, std::unordered_map<std::string, array> array_map,
               std::unordered_map<std::string, GGUFMetaData> meta_data = {});

}  // namespace rill
