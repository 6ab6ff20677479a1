// The GPU's Fourier transforms through cuFFT, and complex64 from its parts.
//
// Plans are cached per device, pool stream and layout (rank, lengths, type,
// batch), and a plan only runs under its pool stream's lock: cuFFT allows one
// thread at a time per plan, and two logical streams may share a pool stream.
// Inputs are made row-major first (cuFFT's basic layout), and complex-to-real
// transforms read a copy (cuFFT overwrites their input).
#include <cufft.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "backend/cuda/host.h"
#include "core/format.h"

namespace rill::detail::gpu {
namespace {

const char* cufft_status_name(cufftResult r) {
  switch (r) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "unknown cuFFT status";
  }
}

void check(cufftResult r, const char* call) {
  if (r != CUFFT_SUCCESS) {
    throw std::runtime_error(cat("cuFFT error ", cufft_status_name(r), " (", static_cast<int>(r),
                                 ") in ", call));
  }
}

using PlanKey = std::tuple<int, int, std::vector<long long>, int, long long>;

struct PlanCache {
  std::mutex mu;
  std::map<PlanKey, cufftHandle> plans;  // kept for the process's life
};
PlanCache& plan_cache() {
  static PlanCache* c = new PlanCache;  // never destroyed: plans may run at exit
  return *c;
}

cufftHandle plan_for(const std::vector<long long>& n, cufftType type, long long batch) {
  const cu::Launch& l = cu::launch();
  PlanKey key{l.device, l.slot, n, static_cast<int>(type), batch};
  PlanCache& c = plan_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.plans.find(key);
  if (it != c.plans.end()) return it->second;
  cufftHandle h;
  check(cufftCreate(&h), "cufftCreate");
  long long in_dist = 1, out_dist = 1;
  for (size_t k = 0; k < n.size(); ++k) {
    const bool last = k + 1 == n.size();
    const long long half = n[k] / 2 + 1;
    in_dist *= last && type == CUFFT_C2R ? half : n[k];
    out_dist *= last && type == CUFFT_R2C ? half : n[k];
  }
  size_t work = 0;
  cufftResult r = cufftMakePlanMany64(h, static_cast<int>(n.size()),
                                      const_cast<long long*>(n.data()), nullptr, 1, in_dist,
                                      nullptr, 1, out_dist, type, batch, &work);
  if (r != CUFFT_SUCCESS) {
    cufftDestroy(h);
    check(r, "cufftMakePlanMany64");
  }
  c.plans.emplace(std::move(key), h);
  return h;
}

}  // namespace

void fft(const Node& in, int axes, bool inverse, bool real, Node& out) {
  gpu::allocate(out);
  if (out.size == 0 || in.size == 0) return;
  Node tmp(in.shape, in.dtype, nullptr, in.stream_id);
  const Node* x = &in;
  if (real && inverse) {
    copy(in, tmp);  // cuFFT overwrites a complex-to-real input
    x = &tmp;
  } else {
    x = &rows_of(in, tmp);
  }
  const Shape& signal = real && inverse ? out.shape : in.shape;
  const int nd = static_cast<int>(signal.size());
  std::vector<long long> n;
  long long batch = 1;
  for (int d = 0; d < nd; ++d) {
    if (d >= nd - axes) {
      n.push_back(signal[d]);
    } else {
      batch *= signal[d];
    }
  }
  const cufftType type = !real ? CUFFT_C2C : (inverse ? CUFFT_C2R : CUFFT_R2C);
  cufftHandle h = plan_for(n, type, batch);
  std::unique_lock<std::mutex> slot = cu::lock_workspace();
  check(cufftSetStream(h, stream()), "cufftSetStream");
  void* src = const_cast<void*>(x->data());
  void* dst = out.mutable_data();
  if (type == CUFFT_C2C) {
    check(cufftExecC2C(h, static_cast<cufftComplex*>(src), static_cast<cufftComplex*>(dst),
                       inverse ? CUFFT_INVERSE : CUFFT_FORWARD),
          "cufftExecC2C");
  } else if (type == CUFFT_R2C) {
    check(cufftExecR2C(h, static_cast<cufftReal*>(src), static_cast<cufftComplex*>(dst)),
          "cufftExecR2C");
  } else {
    check(cufftExecC2R(h, static_cast<cufftComplex*>(src), static_cast<cufftReal*>(dst)),
          "cufftExecC2R");
  }
}

void make_complex(const Node& re, const Node& im, Node& out) {
  gpu::allocate(out);
  if (out.size == 0) return;
  Iter it = iterate(out.shape, {broadcast_strides(re, out.shape), broadcast_strides(im, out.shape)});
  cu::make_complex(re.data(), it.st[0], im.data(), it.st[1], out.mutable_data(), it.dims,
                   n_of(out), stream());
}

}  // namespace rill::detail::gpu
