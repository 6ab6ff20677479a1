#include <stdexcept>

#include "backend/cpu/kernels.h"

namespace rill::detail::cpu {

void matmul(const Node&, const Node&, Node&) {
  throw std::logic_error("matmul: not implemented yet");
}

}  // namespace rill::detail::cpu
