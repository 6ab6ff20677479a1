// Discrete Fourier transforms (MLX's mlx::core::fft): complex64 results,
// float32 for the inverse real transforms; other inputs are converted first
// (complex64, or float32 for rfft: the real part). `n` resizes each axis
// first (cropping, or padding with zeros). FFTW on the CPU, cuFFT on the GPU.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rill/array.h"
#include "rill/stream.h"

namespace rill::fft {

// The scaling: Backward (inverse by 1 / n), Ortho (both by 1 / sqrt n),
// Forward (forward by 1 / n).
enum class FFTNorm {
  Backward,
  Ortho,
  Forward,
};

array fftn(const array& a, const Shape& n, const std::vector<int>& axes,
           FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
array fftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
           StreamOrDevice s = {});
array fftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
array ifftn(const array& a, const Shape& n, const std::vector<int>& axes,
            FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
array ifftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});
array ifftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

inline array fft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward,
                 StreamOrDevice s = {}) {
  return fftn(a, {n}, {axis}, norm, s);
}
inline array fft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward,
                 StreamOrDevice s = {}) {
  return fftn(a, std::vector<int>{axis}, norm, s);
}
inline array ifft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward,
                  StreamOrDevice s = {}) {
  return ifftn(a, {n}, {axis}, norm, s);
}
inline array ifft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward,
                  StreamOrDevice s = {}) {
  return ifftn(a, std::vector<int>{axis}, norm, s);
}
inline array fft2(const array& a, const Shape& n, const std::vector<int>& axes,
                  FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return fftn(a, n, axes, norm, s);
}
inline array fft2(const array& a, const std::vector<int>& axes = {-2, -1},
                  FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return fftn(a, axes, norm, s);
}
inline array ifft2(const array& a, const Shape& n, const std::vector<int>& axes,
                   FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return ifftn(a, n, axes, norm, s);
}
inline array ifft2(const array& a, const std::vector<int>& axes = {-2, -1},
                   FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return ifftn(a, axes, norm, s);
}

// Real input: the last axis keeps n / 2 + 1 frequencies. The inverse takes
// them and gives n real values (n: by default 2 (m - 1) for m frequencies).
array rfftn(const array& a, const Shape& n, const std::vector<int>& axes,
            FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
array rfftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
            StreamOrDevice s = {});
array rfftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
array irfftn(const array& a, const Shape& n, const std::vector<int>& axes,
             FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});
array irfftn(const array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::Backward,
             StreamOrDevice s = {});
array irfftn(const array& a, FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {});

inline array rfft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward,
                  StreamOrDevice s = {}) {
  return rfftn(a, {n}, {axis}, norm, s);
}
inline array rfft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward,
                  StreamOrDevice s = {}) {
  return rfftn(a, std::vector<int>{axis}, norm, s);
}
inline array irfft(const array& a, int n, int axis, FFTNorm norm = FFTNorm::Backward,
                   StreamOrDevice s = {}) {
  return irfftn(a, {n}, {axis}, norm, s);
}
inline array irfft(const array& a, int axis = -1, FFTNorm norm = FFTNorm::Backward,
                   StreamOrDevice s = {}) {
  return irfftn(a, std::vector<int>{axis}, norm, s);
}
inline array rfft2(const array& a, const Shape& n, const std::vector<int>& axes,
                   FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return rfftn(a, n, axes, norm, s);
}
inline array rfft2(const array& a, const std::vector<int>& axes = {-2, -1},
                   FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return rfftn(a, axes, norm, s);
}
inline array irfft2(const array& a, const Shape& n, const std::vector<int>& axes,
                    FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return irfftn(a, n, axes, norm, s);
}
inline array irfft2(const array& a, const std::vector<int>& axes = {-2, -1},
                    FFTNorm norm = FFTNorm::Backward, StreamOrDevice s = {}) {
  return irfftn(a, axes, norm, s);
}

// Sample frequencies (float32) of an n-point transform with spacing d.
array fftfreq(int n, double d = 1.0, StreamOrDevice s = {});
array rfftfreq(int n, double d = 1.0, StreamOrDevice s = {});
// Rolls the zero frequency to the centre (every axis, or `axes`), and back.
array fftshift(const array& a, StreamOrDevice s = {});
array fftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array ifftshift(const array& a, StreamOrDevice s = {});
array ifftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});

// Short-time transform of x's last axis: frames of n_fft samples every
// hop_length (default n_fft / 4), times `window` (default ones of win_length,
// itself n_fft by default, centred in n_fft), x padded by n_fft / 2 at both
// ends first when `center` (pad_mode "reflect", "constant" or "edge").
// Shape (..., frequencies, frames); onesided (default: for real x) keeps
// n_fft / 2 + 1 frequencies.
array stft(const array& x, int n_fft = 2048, const std::optional<int>& hop_length = std::nullopt,
           const std::optional<int>& win_length = std::nullopt,
           const std::optional<array>& window = std::nullopt, bool center = true,
           const std::string& pad_mode = "reflect", FFTNorm norm = FFTNorm::Backward,
           const std::optional<bool>& onesided = std::nullopt, StreamOrDevice s = {});
// The inverse: overlap-added inverse transforms of the frames, divided by the
// overlap-added squared window; `length` crops or zero-pads the result.
array istft(const array& stft_matrix, const std::optional<int>& n_fft = std::nullopt,
            const std::optional<int>& hop_length = std::nullopt,
            const std::optional<int>& win_length = std::nullopt,
            const std::optional<array>& window = std::nullopt, bool center = true,
            FFTNorm norm = FFTNorm::Backward, const std::optional<bool>& onesided = std::nullopt,
            const std::optional<int>& length = std::nullopt, StreamOrDevice s = {});

}  // namespace rill::fft
