// What the CUDA backend's host-side kernels (ops_*.cpp, products.cpp) share:
// the element type of a dtype, the segment's stream, iteration spaces for the
// .cu launchers, and output allocation on the segment's stream. Internal.
#pragma once

#include <initializer_list>
#include <span>
#include <vector>

#include "backend/cuda/common.h"
#include "backend/cuda/launch.h"
#include "backend/kernels.h"
#include "core/node.h"

namespace rill::detail::gpu {

using cu::DT;

inline DT dt(Dtype d) { return static_cast<DT>(static_cast<int>(d.val)); }
inline cudaStream_t stream() { return cu::launch().stream; }
inline int64_t n_of(const Node& n) { return static_cast<int64_t>(n.size); }

// An iteration space over `shape` for operands with the given strides, with
// size-1 dims dropped and adjacent dims merged where every operand allows.
// Throws std::runtime_error past kMaxDims merged dims (naming `what`).
struct Iter {
  cu::Dims dims;
  std::vector<cu::Steps> st;
};
Iter iterate(const Shape& shape, const std::vector<Strides>& ops, const char* what = "array");

// Gives `out` a fresh row-major buffer on the current device stream.
void allocate(Node& out);
// The device buffer of the first of `donors` that may donate it (donatable(),
// node.h, and only this stream used it), else a fresh one. `elementwise`:
// each output element is written by the thread that read the input elements
// at its index (every kernel here reads an element before writing it).
void allocate_or_donate(Node& out, std::initializer_list<const Node*> donors,
                        bool elementwise = true);
void allocate_or_donate(Node& out, std::span<const Node* const> donors, bool elementwise);

// `in` as contiguous rows: itself when row-major, else a copy into `tmp`.
const Node& rows_of(const Node& in, Node& tmp);

}  // namespace rill::detail::gpu
