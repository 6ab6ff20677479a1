// The GPU backend of a build without one: there are no GPU devices, so no GPU
// stream, buffer or event exists and the GPU entry points are unreachable.
#include <stdexcept>

#include "backend/kernels.h"
#include "core/node.h"
#include "backend/gpu.h"

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
void gpu_set_poison(bool) {}
GpuStreamStats gpu_stream_stats(int) { unreachable("gpu_stream_stats"); }
std::pair<int, int> gpu_segment_stream() { unreachable("gpu_segment_stream"); }
std::shared_ptr<Buffer> gpu_buffer(size_t) { unreachable("gpu_buffer"); }
void gpu_copy(void*, const void*, size_t) { unreachable("gpu_copy"); }
std::shared_ptr<GpuArena> gpu_arena_new() { unreachable("gpu_arena_new"); }
GpuArena* gpu_arena_enter(GpuArena*, bool) { unreachable("gpu_arena_enter"); }
void gpu_arena_leave(GpuArena*) {}
std::shared_ptr<GpuGraph> gpu_capture(const std::function<void()>&) {
  unreachable("gpu_capture");
}
void gpu_launch(GpuGraph&) { unreachable("gpu_launch"); }
GpuGraphStats gpu_graph_stats() { return {0, 0, 0}; }
void gpu_count_graph_fallback() {}
const GpuKernel* gpu_fused_kernel(int, const std::vector<FusedOp>&, const std::vector<JitInput>&,
                                  const std::vector<int>&) {
  return nullptr;
}
bool gpu_fused_run(const GpuKernel&, const std::vector<JitInput>&, const std::vector<const Node*>&,
                   Node&) {
  unreachable("gpu_fused_run");
}
GpuJitStats gpu_jit_stats() { return {0, 0}; }

// Every GPU entry point throws: without GPU streams none is reachable.
template <typename... Args>
void no_gpu_kernel(Args...) {
  unreachable("a GPU kernel");
}
const Kernels gpu_backend = {
#define RILL_NO_GPU_ENTRY(name, params) &no_gpu_kernel,
    RILL_BACKEND_KERNELS(RILL_NO_GPU_ENTRY)
#undef RILL_NO_GPU_ENTRY
};

}  // namespace rill::detail
