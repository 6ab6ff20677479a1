// rill::fft: the transforms' front ends (MLX's semantics), the short-time
// transforms and the frequency helpers. The FFT primitive transforms an
// input's last one to three dims; a transform over other axes moves them
// there (a view) and back, and one over more axes runs in groups of three.
#include "rill/fft.h"

#include <cmath>
#include <numeric>
#include <set>

#include "core/format.h"
#include "core/op_checks.h"
#include "core/primitives.h"
#include "rill/ops.h"

namespace rill::fft {
namespace {

// `ax` counted from the end when negative, checked against ndim.
int axis_of(int ax, int ndim, const char* name) {
  int v = ax < 0 ? ax + ndim : ax;
  if (v < 0 || v >= ndim) {
    fail(name, cat("axis ", ax, " is out of range for an array of ", ndim, " dimensions."));
  }
  return v;
}

double scale_of(const Shape& n, FFTNorm norm, bool inverse) {
  double count = 1;
  for (int v : n) count *= v;
  switch (norm) {
    case FFTNorm::Backward: return inverse ? 1.0 / count : 1.0;
    case FFTNorm::Ortho: return 1.0 / std::sqrt(count);
    case FFTNorm::Forward: return inverse ? 1.0 : 1.0 / count;
  }
  return 1.0;
}

// One FFT node over `axes` of x (at most three, in this order), which become
// x's last dims for the primitive and return to their places after.
array transform_group(const array& x, const std::vector<int>& axes, bool inverse, bool real,
                      int real_n, const char* name, const StreamOrDevice& s) {
  const int nd = x.ndim();
  std::vector<int> perm;
  std::vector<bool> moved(nd, false);
  for (int ax : axes) moved[ax] = true;
  for (int d = 0; d < nd; ++d) {
    if (!moved[d]) perm.push_back(d);
  }
  for (int ax : axes) perm.push_back(ax);
  bool identity = true;
  for (int d = 0; d < nd; ++d) identity &= perm[d] == d;
  array in = identity ? x : transpose(x, perm, s);
  Shape shape = in.shape();
  if (real) shape.back() = inverse ? real_n : shape.back() / 2 + 1;
  Dtype out_type = real && inverse ? float32 : complex64;
  array out = detail::make_array(
      shape, out_type,
      std::make_shared<detail::FFT>(static_cast<int>(axes.size()), inverse, real, name), {in}, s,
      name);
  if (identity) return out;
  std::vector<int> back(nd);
  for (int d = 0; d < nd; ++d) back[perm[d]] = d;
  return transpose(out, back, s);
}

array fft_impl(const array& a, Shape n, const std::vector<int>& axes, bool real, bool inverse,
               FFTNorm norm, const char* name, const StreamOrDevice& s) {
  OuterOp outer(name);
  if (a.ndim() < 1) fail(name, "needs an array with at least one dimension.");
  if (n.size() != axes.size()) {
    fail(name, cat("got ", n.size(), " sizes ", tuple_str(n), " for ", axes.size(), " axes ",
                   tuple_str(axes), "."));
  }
  if (axes.empty()) return a;
  std::vector<int> valid;
  std::set<int> seen;
  for (int ax : axes) {
    int v = axis_of(ax, a.ndim(), name);
    if (!seen.insert(v).second) fail(name, cat("repeated axis in ", tuple_str(axes), "."));
    valid.push_back(v);
  }
  for (int v : n) {
    if (v <= 0) fail(name, cat("transform sizes must be positive, got ", tuple_str(n), "."));
  }
  // The input's shape: n along the axes (for irfftn, n / 2 + 1 frequencies on
  // the last one); crop what is longer, pad what is shorter with zeros.
  Shape in_shape = a.shape();
  for (size_t i = 0; i < valid.size(); ++i) in_shape[valid[i]] = n[i];
  if (real && inverse) in_shape[valid.back()] = n.back() / 2 + 1;
  Dtype in_type = real && !inverse ? float32 : complex64;
  array x = a.dtype() == in_type ? a : astype(a, in_type, s);
  Shape stop = x.shape();
  bool crop = false, grow = false;
  std::vector<std::pair<int, int>> widths(a.ndim(), {0, 0});
  for (int d = 0; d < a.ndim(); ++d) {
    if (in_shape[d] < stop[d]) {
      stop[d] = in_shape[d];
      crop = true;
    } else if (in_shape[d] > stop[d]) {
      widths[d].second = in_shape[d] - stop[d];
      grow = true;
    }
  }
  if (crop) x = slice(x, Shape(a.ndim(), 0), stop, s);
  if (grow) x = pad(x, widths, array(0.0f), "constant", s);

  // Groups of at most three axes: for real transforms the real axis (the
  // last) is in the last group, transformed first forwards and last inverse.
  std::vector<std::vector<int>> groups;
  for (int end = static_cast<int>(valid.size()); end > 0; end -= 3) {
    int begin = std::max(0, end - 3);
    groups.insert(groups.begin(), std::vector<int>(valid.begin() + begin, valid.begin() + end));
  }
  const int real_n = n.back();
  if (real && !inverse) {
    for (int g = static_cast<int>(groups.size()) - 1; g >= 0; --g) {
      const bool last = g + 1 == static_cast<int>(groups.size());
      x = transform_group(x, groups[g], false, last, real_n, name, s);
    }
  } else {
    for (size_t g = 0; g < groups.size(); ++g) {
      const bool last = g + 1 == groups.size();
      x = transform_group(x, groups[g], inverse, real && last, real_n, name, s);
    }
  }
  double scale = scale_of(n, norm, inverse);
  if (scale != 1.0) x = multiply(x, array(static_cast<float>(scale)), s);
  return x;
}

Shape sizes_of(const array& a, const std::vector<int>& axes, bool real, bool inverse,
               const char* name) {
  if (a.ndim() < 1) fail(name, "needs an array with at least one dimension.");
  Shape n;
  for (int ax : axes) {
    int v = axis_of(ax, a.ndim(), name);
    n.push_back(a.shape(v));
  }
  if (real && inverse && !n.empty()) n.back() = (n.back() - 1) * 2;
  return n;
}

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

}  // namespace

#define RILL_FFT_FAMILY(NAME, REAL, INVERSE)                                                   \
  array NAME(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm,      \
             StreamOrDevice s) {                                                               \
    return fft_impl(a, n, axes, REAL, INVERSE, norm, #NAME, s);                                \
  }                                                                                            \
  array NAME(const array& a, const std::vector<int>& axes, FFTNorm norm, StreamOrDevice s) {  \
    return fft_impl(a, sizes_of(a, axes, REAL, INVERSE, #NAME), axes, REAL, INVERSE, norm,    \
                    #NAME, s);                                                                 \
  }                                                                                            \
  array NAME(const array& a, FFTNorm norm, StreamOrDevice s) {                                 \
    return NAME(a, all_axes(a), norm, s);                                                      \
  }
RILL_FFT_FAMILY(fftn, false, false)
RILL_FFT_FAMILY(ifftn, false, true)
RILL_FFT_FAMILY(rfftn, true, false)
RILL_FFT_FAMILY(irfftn, true, true)
#undef RILL_FFT_FAMILY

array fftfreq(int n, double d, StreamOrDevice s) {
  if (n <= 0) fail("fftfreq", cat("n must be positive, got ", n, "."));
  if (d == 0.0) fail("fftfreq", "d must not be zero.");
  array pos = arange(0, (n + 1) / 2, float32, s);
  array neg = arange(-(n / 2), 0, float32, s);
  return multiply(concatenate({pos, neg}, 0, s),
                  array(static_cast<float>(1.0 / (static_cast<double>(n) * d))), s);
}

array rfftfreq(int n, double d, StreamOrDevice s) {
  if (n <= 0) fail("rfftfreq", cat("n must be positive, got ", n, "."));
  if (d == 0.0) fail("rfftfreq", "d must not be zero.");
  return multiply(arange(0, n / 2 + 1, float32, s),
                  array(static_cast<float>(1.0 / (static_cast<double>(n) * d))), s);
}

namespace {
array shift_impl(const array& a, const std::vector<int>& axes, bool inverse, const char* name,
                 const StreamOrDevice& s) {
  if (axes.empty()) return a;
  Shape shifts;
  for (int ax : axes) {
    int v = axis_of(ax, a.ndim(), name);
    int shift = a.shape(v) / 2;
    shifts.push_back(inverse ? -shift : shift);
  }
  return roll(a, shifts, axes, s);
}
}  // namespace

array fftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return shift_impl(a, axes, false, "fftshift", s);
}
array ifftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return shift_impl(a, axes, true, "ifftshift", s);
}
array fftshift(const array& a, StreamOrDevice s) {
  return a.ndim() < 1 ? a : fftshift(a, all_axes(a), s);
}
array ifftshift(const array& a, StreamOrDevice s) {
  return a.ndim() < 1 ? a : ifftshift(a, all_axes(a), s);
}

namespace {
// The window, centred and zero-padded to n_fft (float32, or x's complex64).
array padded_window(const std::optional<array>& window, int n_fft, int win_length,
                    const char* name, const StreamOrDevice& s) {
  array w = window ? *window : ones({win_length}, float32, s);
  if (w.ndim() != 1 || w.shape(0) != win_length) {
    fail(name, cat("window must be one-dimensional of length win_length (", win_length,
                   "), got shape ", tuple_str(w.shape()), "."));
  }
  if (!is_complex(w.dtype())) w = astype(w, float32, s);
  const int left = (n_fft - win_length) / 2;
  if (left > 0 || n_fft - win_length - left > 0) {
    w = pad(w, {{left, n_fft - win_length - left}}, array(0.0f), "constant", s);
  }
  return w;
}

void check_frame_args(int n_fft, int hop, int win_length, const char* name) {
  if (n_fft <= 0) fail(name, cat("n_fft must be positive, got ", n_fft, "."));
  if (hop <= 0) fail(name, cat("hop_length must be positive, got ", hop, "."));
  if (win_length <= 0 || win_length > n_fft) {
    fail(name, cat("win_length must be in [1, n_fft = ", n_fft, "], got ", win_length, "."));
  }
}
}  // namespace

array stft(const array& x, int n_fft, const std::optional<int>& hop_length,
           const std::optional<int>& win_length, const std::optional<array>& window, bool center,
           const std::string& pad_mode, FFTNorm norm, const std::optional<bool>& onesided,
           StreamOrDevice s) {
  const char* name = "stft";
  OuterOp outer(name);
  if (x.ndim() < 1) fail(name, "needs an array with at least one dimension.");
  const int hop = hop_length.value_or(n_fft / 4);
  const int wl = win_length.value_or(n_fft);
  check_frame_args(n_fft, hop, wl, name);
  if (pad_mode != "reflect" && pad_mode != "constant" && pad_mode != "edge") {
    fail(name, cat("pad_mode must be \"reflect\", \"constant\" or \"edge\", got \"", pad_mode,
                   "\"."));
  }
  const bool complex_in = is_complex(x.dtype());
  const bool one = onesided.value_or(!complex_in);
  if (one && complex_in) fail(name, "onesided transforms need a real input.");
  array sig = complex_in ? x : astype(x, float32, s);
  if (center) {
    std::vector<std::pair<int, int>> widths(sig.ndim(), {0, 0});
    widths.back() = {n_fft / 2, n_fft / 2};
    sig = pad(sig, widths, array(0.0f), pad_mode, s);
  }
  const int len = sig.shape(-1);
  if (len < n_fft) {
    fail(name, cat("the input (", len, " samples", center ? " after padding" : "",
                   ") is shorter than n_fft (", n_fft, ")."));
  }
  const int frames = 1 + (len - n_fft) / hop;
  // Frames as a strided view of the contiguous signal: [..., frames, n_fft].
  sig = contiguous(sig, false, s);
  Shape shape(sig.shape().begin(), sig.shape().end() - 1);
  Strides strides;
  int64_t step = len;
  for (int d = sig.ndim() - 2; d >= 0; --d) {
    strides.insert(strides.begin(), step);
    step *= sig.shape(d);
  }
  shape.push_back(frames);
  shape.push_back(n_fft);
  strides.push_back(hop);
  strides.push_back(1);
  array framed = as_strided(sig, shape, strides, 0, s);
  framed = multiply(framed, padded_window(window, n_fft, wl, name, s), s);
  array spec = one ? rfft(framed, -1, norm, s) : fft(framed, -1, norm, s);
  return swapaxes(spec, -1, -2, s);
}

array istft(const array& stft_matrix, const std::optional<int>& n_fft_in,
            const std::optional<int>& hop_length, const std::optional<int>& win_length,
            const std::optional<array>& window, bool center, FFTNorm norm,
            const std::optional<bool>& onesided, const std::optional<int>& length,
            StreamOrDevice s) {
  const char* name = "istft";
  OuterOp outer(name);
  if (stft_matrix.ndim() < 2) {
    fail(name, cat("needs an array of shape (..., frequencies, frames), got shape ",
                   tuple_str(stft_matrix.shape()), "."));
  }
  const bool one = onesided.value_or(true);
  const int freqs = stft_matrix.shape(-2), frames = stft_matrix.shape(-1);
  const int n_fft = n_fft_in.value_or(one ? 2 * (freqs - 1) : freqs);
  const int hop = hop_length.value_or(n_fft / 4);
  const int wl = win_length.value_or(n_fft);
  check_frame_args(n_fft, hop, wl, name);
  if ((one && freqs != n_fft / 2 + 1) || (!one && freqs != n_fft)) {
    fail(name, cat(freqs, " frequencies do not match n_fft = ", n_fft,
                   one ? " (onesided: n_fft / 2 + 1)." : "."));
  }
  if (length && *length < 0) fail(name, cat("length must be non-negative, got ", *length, "."));
  array spec = swapaxes(stft_matrix, -1, -2, s);  // [..., frames, freqs]
  array w = padded_window(window, n_fft, wl, name, s);
  w = real(w, s);
  array sig = one ? irfft(spec, n_fft, -1, norm, s) : real(ifft(spec, -1, norm, s), s);
  sig = multiply(sig, w, s);  // [..., frames, n_fft]
  // Overlap-add the frames and the squared window at hop-spaced positions.
  const int total = n_fft + hop * (frames - 1);
  std::vector<int32_t> pos(static_cast<size_t>(frames) * n_fft);
  for (int f = 0; f < frames; ++f) {
    for (int k = 0; k < n_fft; ++k) pos[size_t(f) * n_fft + k] = f * hop + k;
  }
  Shape flat(sig.shape().begin(), sig.shape().end() - 2);
  flat.push_back(frames * n_fft);
  Shape idx_shape(flat.size(), 1);
  idx_shape.back() = frames * n_fft;
  array idx(pos, idx_shape);
  Shape out_shape(flat.begin(), flat.end() - 1);
  out_shape.push_back(total);
  array y = scatter_add_axis(zeros(out_shape, float32, s), broadcast_to(idx, flat, s),
                             reshape(sig, flat, s), -1, s);
  array env = scatter_add_axis(zeros({total}, float32, s), reshape(idx, {frames * n_fft}, s),
                               reshape(broadcast_to(square(w, s), {frames, n_fft}, s),
                                       {frames * n_fft}, s),
                               0, s);
  // Positions no window reaches (zero weight) are left as they are.
  y = divide(y, where(greater(env, array(1e-11f), s), env, array(1.0f), s), s);
  const int start = center ? n_fft / 2 : 0;
  int end = center ? total - n_fft / 2 : total;
  if (length) end = start + *length;
  std::vector<std::pair<int, int>> widths(y.ndim(), {0, 0});
  if (end > total) {
    widths.back().second = end - total;
    y = pad(y, widths, array(0.0f), "constant", s);
  }
  Shape lo(y.ndim(), 0), hi = y.shape();
  lo.back() = start;
  hi.back() = end;
  return slice(y, lo, hi, s);
}

}  // namespace rill::fft
