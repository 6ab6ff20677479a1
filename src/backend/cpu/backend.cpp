// The CPU backend's table of entry points (backend/kernels.h), and its answer
// to the one kernel it has no use for.
#include <stdexcept>

#include "backend/cpu/kernels.h"

namespace rill::detail {

namespace cpu {
void wild_write(const Node&, Node&) {
  throw std::logic_error("device_fault runs on GPU streams only");
}
}  // namespace cpu

const Kernels cpu_backend = {
#define RILL_CPU_ENTRY(name, params) &cpu::name,
    RILL_BACKEND_KERNELS(RILL_CPU_ENTRY)
#undef RILL_CPU_ENTRY
};

}  // namespace rill::detail
