// Discrete Fourier transforms through FFTW (single precision), and complex64
// from its parts.
//
// FFTW's planner keeps global state: plans are made and destroyed under one
// mutex, and executed outside it (executing a plan is thread-safe). Plans are
// made for the call's own arrays with FFTW_ESTIMATE, which neither measures
// nor touches them, through the guru interface, which takes the operands'
// strides: strided inputs are read in place, with no copy, except by
// complex-to-real transforms, whose input FFTW overwrites (they read a copy).
#include <fftw3.h>

#include <complex>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "backend/cpu/kernels.h"
#include "common/complex_math.h"
#include "common/strided_walk.h"
#include "core/format.h"

namespace rill::detail::cpu {
namespace {

std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

// Destroys the plan under the planner's mutex.
struct Plan {
  fftwf_plan p = nullptr;
  ~Plan() {
    if (p) {
      std::lock_guard<std::mutex> lock(planner_mutex());
      fftwf_destroy_plan(p);
    }
  }
};

}  // namespace

void make_complex(const Node& re, const Node& im, Node& out) {
  allocate(out);
  const float* pr = static_cast<const float*>(re.data());
  const float* pi = static_cast<const float*>(im.data());
  cfloat* po = static_cast<cfloat*>(out.mutable_data());
  for_each_row<3>(
      out.shape,
      {broadcast_strides(re, out.shape), broadcast_strides(im, out.shape), out.strides},
      [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
        for (int64_t j = 0; j < n; ++j) {
          po[off[2] + j * s[2]] = {pr[off[0] + j * s[0]], pi[off[1] + j * s[1]]};
        }
      });
}

void fft(const Node& in, int axes, bool inverse, bool real, Node& out) {
  allocate(out);
  if (out.size == 0 || in.size == 0) return;
  const int nd = static_cast<int>(out.shape.size());
  // The transform's dims (the last `axes`) and the batch (the rest), with
  // strides in elements of each side's type. n: the logical (complex or real
  // signal) length, which is the real side's for real transforms.
  const Node* real_side = real ? (inverse ? &out : &in) : &out;
  std::vector<fftwf_iodim64> dims, batch;
  for (int d = 0; d < nd; ++d) {
    fftwf_iodim64 io;
    io.n = real_side->shape[d];
    io.is = in.strides[d];
    io.os = out.strides[d];
    if (d >= nd - axes) {
      dims.push_back(io);
    } else if (io.n > 1) {
      batch.push_back(io);
    }
  }
  const int rank = static_cast<int>(dims.size());
  const int howmany = static_cast<int>(batch.size());
  Plan plan;
  if (!real) {
    auto* src = reinterpret_cast<fftwf_complex*>(const_cast<void*>(in.data()));
    auto* dst = reinterpret_cast<fftwf_complex*>(out.mutable_data());
    std::lock_guard<std::mutex> lock(planner_mutex());
    plan.p = fftwf_plan_guru64_dft(rank, dims.data(), howmany, batch.data(), src, dst,
                                   inverse ? FFTW_BACKWARD : FFTW_FORWARD, FFTW_ESTIMATE);
  } else if (!inverse) {
    auto* src = static_cast<float*>(const_cast<void*>(in.data()));
    auto* dst = reinterpret_cast<fftwf_complex*>(out.mutable_data());
    std::lock_guard<std::mutex> lock(planner_mutex());
    plan.p = fftwf_plan_guru64_dft_r2c(rank, dims.data(), howmany, batch.data(), src, dst,
                                       FFTW_ESTIMATE);
  } else {
    // FFTW overwrites a multi-dimensional complex-to-real input: transform a
    // row-major copy.
    std::vector<cfloat> copy(in.size);
    for_each_row<2>(in.shape, {in.strides, row_major_strides(in.shape)},
                    [&](const std::array<int64_t, 2>& off, int64_t n,
                        const std::array<int64_t, 2>& s) {
                      const cfloat* x = static_cast<const cfloat*>(in.data()) + off[0];
                      for (int64_t j = 0; j < n; ++j) copy[off[1] + j * s[1]] = x[j * s[0]];
                    });
    const Strides rm = row_major_strides(in.shape);
    int k = 0, b = 0;
    for (int d = 0; d < nd; ++d) {
      if (d >= nd - axes) {
        dims[k++].is = rm[d];
      } else if (out.shape[d] > 1) {
        batch[b++].is = rm[d];
      }
    }
    auto* src = reinterpret_cast<fftwf_complex*>(copy.data());
    auto* dst = static_cast<float*>(out.mutable_data());
    {
      std::lock_guard<std::mutex> lock(planner_mutex());
      plan.p = fftwf_plan_guru64_dft_c2r(rank, dims.data(), howmany, batch.data(), src, dst,
                                         FFTW_ESTIMATE);
    }
    if (!plan.p) throw std::runtime_error("irfft: FFTW could not plan the transform");
    fftwf_execute(plan.p);
    return;
  }
  if (!plan.p) {
    throw std::runtime_error(cat(real ? "rfft" : (inverse ? "ifft" : "fft"),
                                 ": FFTW could not plan the transform"));
  }
  fftwf_execute(plan.p);
}

}  // namespace rill::detail::cpu
