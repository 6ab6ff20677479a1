// CUDA devices: discovery, the per-device context made on first use, errors
// and their messages, and the device's description (gpu_device_info).
#include "backend/cuda/context.h"

#include <algorithm>
#include <stdexcept>

#include "backend/gpu.h"
#include "core/format.h"
#include "runtime/config.h"

namespace rill::detail {
namespace cu {

std::string describe(cudaError_t e) {
  std::string s = cat(cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  if (is_sticky(e)) {
    s += "; the CUDA context is no longer usable: every later GPU operation of this process "
         "will fail, restart the process";
  }
  return s;
}

bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

void throw_error(cudaError_t e, const char* call) {
  throw std::runtime_error(cat("CUDA error ", describe(e), " in ", call));
}

void throw_error(cublasStatus_t e, const char* call) {
  throw std::runtime_error(cat("cuBLAS error ", cublasLtGetStatusName(e), " (",
                               cublasLtGetStatusString(e), ") in ", call));
}

namespace {
thread_local int t_device = -1;  // the device this thread last selected
}  // namespace

void select_device(int device) {
  if (t_device != device) {
    RILL_CUDA(cudaSetDevice(device));
    t_device = device;
  }
}

Devices::Devices() {
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    reason = cat("no usable CUDA device: ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                 ")");
    count = 0;
    (void)cudaGetLastError();
  } else if (count == 0) {
    reason = "no CUDA device is present";
  }
  contexts.resize(count);
  once = std::vector<std::once_flag>(count);
}

Devices& devices() {
  static Devices* d = new Devices();  // never destroyed: work may outlive main
  return *d;
}

namespace {

void init_context(DeviceContext& c, int device) {
  c.index = device;
  select_device(device);
  RILL_CUDA(cudaGetDeviceProperties(&c.props, device));
  c.limit.store(c.props.totalGlobalMem, std::memory_order_relaxed);
  RILL_CUDA(cudaDeviceGetDefaultMemPool(&c.pool, device));
  // Keep freed memory in the pool for reuse (clear_cache returns it).
  uint64_t keep = std::numeric_limits<uint64_t>::max();
  RILL_CUDA(cudaMemPoolSetAttribute(c.pool, cudaMemPoolAttrReleaseThreshold, &keep));
  RILL_CUDA(cudaStreamCreateWithFlags(&c.copy_stream, cudaStreamNonBlocking));
  int n = static_cast<int>(setting_int(Setting::gpu_streams));
  c.streams.resize(n);
  c.bound.resize(n);
  c.workspaces.resize(n);
  c.cache.resize(n);
  c.load = std::make_unique<std::atomic<int>[]>(n);
  for (int i = 0; i < n; ++i) {
    c.cache_mu.push_back(std::make_unique<std::mutex>());
    c.workspace_mu.push_back(std::make_unique<std::mutex>());
  }
  for (int i = 0; i < n; ++i) {
    RILL_CUDA(cudaStreamCreateWithFlags(&c.streams[i], cudaStreamNonBlocking));
    RILL_CUDA(cudaMalloc(&c.workspaces[i], kWorkspaceBytes));
  }
  RILL_CUBLAS(cublasLtCreate(&c.lt));
}

}  // namespace

DeviceContext& device_context(int device) {
  Devices& d = devices();
  if (device < 0 || device >= d.count) {
    throw std::invalid_argument(cat("Device(gpu, ", device, ") is not available"));
  }
  std::call_once(d.once[device], [&] {
    auto c = std::make_unique<DeviceContext>();
    init_context(*c, device);
    d.contexts[device] = std::move(c);
  });
  return *d.contexts[device];
}

cublasLtHandle_t lt_handle() { return t_launch.ctx->lt; }

void* lt_workspace(size_t* bytes) {
  *bytes = kWorkspaceBytes;
  return t_launch.ctx->workspaces[t_launch.slot];
}

std::unique_lock<std::mutex> lock_workspace() {
  return std::unique_lock<std::mutex>(*t_launch.ctx->workspace_mu[t_launch.slot]);
}

}  // namespace cu

using cu::DeviceContext;

int gpu_device_count() { return cu::devices().count; }

std::string gpu_unavailable_reason() {
  const cu::Devices& d = cu::devices();
  return d.reason.empty() ? "no CUDA device" : d.reason;
}

const std::unordered_map<std::string, std::variant<std::string, size_t>>& gpu_device_info(
    int index) {
  using Info = std::unordered_map<std::string, std::variant<std::string, size_t>>;
  static std::mutex mu;
  static auto* infos = new std::unordered_map<int, Info>();
  std::lock_guard lock(mu);
  auto it = infos->find(index);
  if (it != infos->end()) return it->second;
  const cudaDeviceProp& p = cu::device_context(index).props;
  Info info;
  info["device_name"] = std::string(p.name);
  info["architecture"] = cat("sm_", p.major, p.minor);
  info["compute_capability"] = cat(p.major, ".", p.minor);
  info["total_memory"] = static_cast<size_t>(p.totalGlobalMem);
  info["multiprocessor_count"] = static_cast<size_t>(p.multiProcessorCount);
  info["max_threads_per_block"] = static_cast<size_t>(p.maxThreadsPerBlock);
  info["shared_memory_per_block"] = static_cast<size_t>(p.sharedMemPerBlockOptin);
  info["l2_cache_size"] = static_cast<size_t>(p.l2CacheSize);
  return infos->emplace(index, std::move(info)).first->second;
}

}  // namespace rill::detail
