// The GPU backend of a build without one: there are no GPU devices, so no GPU
// stream, buffer or event exists and the GPU entry points are unreachable.
#include <stdexcept>

#include "backend/gpu_kernels.h"
#include "core/node.h"
#include "runtime/gpu.h"

namespace rill::detail {

int gpu_device_count() { return 0; }

std::string gpu_unavailable_reason() { return "this build of rill has no GPU backend"; }

const std::unordered_map<std::string, std::variant<std::string, size_t>>& gpu_device_info(
    int) {
  throw std::logic_error("gpu_device_info called without a GPU backend");
}

namespace {
[[noreturn]] void unreachable(const char* what) {
  throw std::logic_error(std::string(what) + " called in a build without a GPU backend");
}
}  // namespace

void gpu_release(GpuAlloc*) noexcept {}
int gpu_alloc_device(const GpuAlloc*) noexcept { return -1; }
void gpu_begin(StreamState&) { unreachable("gpu_begin"); }
void gpu_prepare(Node&) { unreachable("gpu_prepare"); }
std::exception_ptr gpu_end(StreamState&, Node* const*, size_t) noexcept {
  return std::make_exception_ptr(std::logic_error("gpu_end without a GPU backend"));
}
void host_prepare(Node&) {}
const void* host_data(Node& n) { return n.data(); }
void gpu_wait(Node&) { unreachable("gpu_wait"); }
void gpu_synchronize(StreamState&) { unreachable("gpu_synchronize"); }

GpuMemory gpu_memory(int) { unreachable("gpu_memory"); }
void gpu_reset_peak_memory(int) { unreachable("gpu_reset_peak_memory"); }
size_t gpu_set_memory_limit(int, size_t) { unreachable("gpu_set_memory_limit"); }
void gpu_clear_cache(int) { unreachable("gpu_clear_cache"); }
void gpu_set_cache_limit(int, size_t) { unreachable("gpu_set_cache_limit"); }
void gpu_set_poison(bool) {}  // no GPU buffers to poison

namespace gpu {
#define RILL_NO_GPU(SIG) \
  SIG { unreachable(__func__); }
RILL_NO_GPU(void unary(UnaryOp, const Node&, Node&, int))
RILL_NO_GPU(void binary(BinaryOp, const Node&, const Node&, Node&))
RILL_NO_GPU(void where(const Node&, const Node&, const Node&, Node&))
RILL_NO_GPU(void copy(const Node&, Node&))
RILL_NO_GPU(void reduce(ReduceOp, const Node&, const std::vector<int>&, Node&))
RILL_NO_GPU(void arg_reduce(ArgReduceOp, const Node&, int, Node&))
RILL_NO_GPU(void matmul(const Node&, const Node&, Node&))
RILL_NO_GPU(void addmm(const Node&, const Node&, const Node&, float, float, Node&))
RILL_NO_GPU(void arange(double, double, Node&))
RILL_NO_GPU(void eye(int, Node&))
RILL_NO_GPU(void softmax(const Node&, int, Node&))
RILL_NO_GPU(void logsumexp(const Node&, int, Node&))
RILL_NO_GPU(void layer_norm(const Node&, const Node*, const Node*, float, Node&))
RILL_NO_GPU(void rms_norm(const Node&, const Node*, float, Node&))
RILL_NO_GPU(void rope(const Node&, const Node*, const Node*, const RopeParams&, Node&))
RILL_NO_GPU(void scaled_dot_product_attention(const Node&, const Node&, const Node&,
                                              const Node*, float, bool, Node&))
RILL_NO_GPU(void allocate(Node&))
RILL_NO_GPU(void wild_write(const Node&, Node&))
RILL_NO_GPU(void take(const Node&, const Node&, int, Node&))
RILL_NO_GPU(void take_along_axis(const Node&, const Node&, int, Node&))
RILL_NO_GPU(void concatenate(const std::vector<const Node*>&, int, Node&))
RILL_NO_GPU(void pad(const Node&, const Node&, const std::vector<int>&, bool, Node&))
RILL_NO_GPU(void cumsum(const Node&, int, bool, bool, Node&))
RILL_NO_GPU(void sort(cpu::SortOp, const Node&, int, int, Node&))
RILL_NO_GPU(void random_bits(const Node&, int, Node&))
RILL_NO_GPU(void random_floats(const Node&, const Node*, const Node*, bool, double, double,
                               Node&))
#undef RILL_NO_GPU
}  // namespace gpu

}  // namespace rill::detail
