// Primitive: one kind of graph node (what to compute from the inputs). Internal.
#pragma once

#include <string>
#include <tuple>
#include <typeinfo>
#include <vector>

#include "backend/kernels.h"
#include "common/complex_math.h"
#include "core/node.h"

namespace rill::detail {

class Primitive {
 public:
  virtual ~Primitive() = default;
  // The op's public name, for error messages ("add", "matmul").
  virtual const char* name() const = 0;
  // Computes `out` from `inputs` with backend `k`'s kernels (backend/kernels.h):
  // cpu_backend on a CPU worker, gpu_backend on the device stream of the GPU
  // segment being run, where the inputs already are. One body serves every
  // backend. May throw; the error is attached to `out` and its stream.
  virtual void eval(const Kernels& k, const std::vector<array>& inputs, Node& out) = 0;
  // Whether a GPU evaluation takes input k where it is when that is the host
  // (gather indices, checked there before they are copied) instead of a
  // device copy.
  virtual bool host_input(size_t /*k*/) const { return false; }
  // Whether its kernels take complex64 inputs or outputs; make_array refuses
  // complex64 for every other primitive, naming the op.
  virtual bool accepts_complex() const { return false; }
  // Common subexpressions (compile): whether `o` computes the same function
  // of its inputs as this one (same class, same parameters). The default,
  // false, keeps every node of a primitive that does not say.
  virtual bool same_as(const Primitive& /*o*/) const { return false; }
};

// same_as for a class whose parameters compare with ==: the class, then its
// members as fields of `p` (none: no parameters).
#define RILL_SAME_AS(Self, ...)                                                \
  bool same_as(const Primitive& o) const override {                           \
    if (typeid(o) != typeid(Self)) return false;                              \
    auto tie = [](const Self& p) { (void)p; return std::tie(__VA_ARGS__); };  \
    return tie(*this) == tie(static_cast<const Self&>(o));                    \
  }


// Creation.
class Full : public Primitive {  // broadcasts its one input to the output shape
 public:
  RILL_SAME_AS(Full, )
  bool accepts_complex() const override { return true; }
  const char* name() const override { return "full"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
};
class Arange : public Primitive {
 public:
  Arange(double start, double step) : start_(start), step_(step) {}
  const char* name() const override { return "arange"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  double start_, step_;
};
class Eye : public Primitive {
 public:
  explicit Eye(int k) : k_(k) {}
  const char* name() const override { return "eye"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  int k_;
};
// astype, copy, contiguous: a row-major copy converted to out's dtype.
class Copy : public Primitive {
 public:
  RILL_SAME_AS(Copy, p.name_)
  bool accepts_complex() const override { return true; }
  explicit Copy(const char* name) : name_(name) {}
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  const char* name_;
};

class Unary : public Primitive {
 public:
  RILL_SAME_AS(Unary, p.op_, p.decimals_)
  bool accepts_complex() const override { return complex_ok(op_); }
  explicit Unary(UnaryOp op, int decimals = 0) : op_(op), decimals_(decimals) {}
  UnaryOp op() const { return op_; }
  int decimals() const { return decimals_; }
  const char* name() const override { return op_name(op_); }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  UnaryOp op_;
  int decimals_;
};

class Binary : public Primitive {
 public:
  RILL_SAME_AS(Binary, p.op_)
  bool accepts_complex() const override { return complex_ok(op_); }
  explicit Binary(BinaryOp op) : op_(op) {}
  BinaryOp op() const { return op_; }
  const char* name() const override { return op_name(op_); }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  BinaryOp op_;
};

// Inputs: x, then the lower bound if `lo`, then the upper bound if `hi`.
class Clip : public Primitive {
 public:
  RILL_SAME_AS(Clip, p.lo_, p.hi_)
  Clip(bool lo, bool hi) : lo_(lo), hi_(hi) {}
  bool lo() const { return lo_; }
  bool hi() const { return hi_; }
  const char* name() const override { return "clip"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  bool lo_, hi_;
};

class Where : public Primitive {
 public:
  RILL_SAME_AS(Where, )
  bool accepts_complex() const override { return true; }
  const char* name() const override { return "where"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
};

class Reduce : public Primitive {
 public:
  RILL_SAME_AS(Reduce, p.op_, p.name_, p.axes_)
  Reduce(ReduceOp op, const char* name, std::vector<int> axes)
      : op_(op), name_(name), axes_(std::move(axes)) {}
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  ReduceOp op_;
  const char* name_;
  std::vector<int> axes_;
};

class ArgReduce : public Primitive {
 public:
  RILL_SAME_AS(ArgReduce, p.op_, p.name_, p.axis_)
  ArgReduce(ArgReduceOp op, const char* name, int axis)
      : op_(op), name_(name), axis_(axis) {}
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  ArgReduceOp op_;
  const char* name_;
  int axis_;
};

class Matmul : public Primitive {
 public:
  RILL_SAME_AS(Matmul, )
  const char* name() const override { return "matmul"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
};

// Inputs: the addend (broadcast to the output's shape), then a and b.
class AddMM : public Primitive {
 public:
  RILL_SAME_AS(AddMM, p.alpha_, p.beta_)
  AddMM(float alpha, float beta) : alpha_(alpha), beta_(beta) {}
  const char* name() const override { return "addmm"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  float alpha_, beta_;
};

// A view of the input: same buffer, new strides and offset, computed from the
// input's strides when evaluated. Falls back to a copy when the input's layout
// cannot express the view (reshape merging dimensions that are not laid out
// one inside the other, as after a transpose).
class View : public Primitive {
 public:
  RILL_SAME_AS(View, p.kind_, p.name_, p.axes_, p.start_, p.step_, p.strides_, p.offset_)
  bool accepts_complex() const override { return true; }
  // diagonal: axes_ = {axis1, axis2}, start_ = their first indices; the
  // output's last axis walks both. strided: as_strided's element strides and
  // offset over a row-contiguous input.
  enum class Kind { reshape, transpose, broadcast, slice, diagonal, strided };
  View(Kind kind, const char* name, std::vector<int> axes = {}, Shape start = {},
       Shape step = {})
      : kind_(kind), name_(name), axes_(std::move(axes)), start_(std::move(start)),
        step_(std::move(step)) {}
  View(Strides strides, int64_t offset)
      : kind_(Kind::strided), name_("as_strided"), strides_(std::move(strides)),
        offset_(offset) {}
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  Kind kind_;
  const char* name_;
  std::vector<int> axes_;  // transpose: the permutation
  Shape start_, step_;     // slice: per-axis start (normalised) and step
  Strides strides_;        // strided
  int64_t offset_ = 0;
};

// view(a, dtype): a's bytes read as out's dtype. A view of the input when its
// layout allows (same element size, or row-major at an offset that is a whole
// number of output elements), else a view of a row-major copy.
class Bitcast : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  const char* name() const override { return "view"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
};

// depends: a view of input 0 that is computed only after inputs 1.. are.
class Depends : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  const char* name() const override { return "depends"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
};

// A row-major (or, when allowed, column-major) array: a view of the input if
// it already is one, else a copy.
class Contiguous : public Primitive {
 public:
  RILL_SAME_AS(Contiguous, p.allow_col_major_)
  bool accepts_complex() const override { return true; }
  explicit Contiguous(bool allow_col_major) : allow_col_major_(allow_col_major) {}
  const char* name() const override { return "contiguous"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  bool allow_col_major_;
};

// softmax / logsumexp over the input's last `axes` dims (the front end moves
// the requested axes there).
class Softmax : public Primitive {
 public:
  RILL_SAME_AS(Softmax, p.axes_)
  explicit Softmax(int axes) : axes_(axes) {}
  const char* name() const override { return "softmax"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  int axes_;
};
class LogSumExp : public Primitive {
 public:
  RILL_SAME_AS(LogSumExp, p.axes_)
  explicit LogSumExp(int axes) : axes_(axes) {}
  const char* name() const override { return "logsumexp"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  int axes_;
};

// Inputs: the array, then one index array per axis.
class Gather : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  explicit Gather(std::vector<int> axes) : axes_(std::move(axes)) {}
  const char* name() const override { return "gather"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
  bool host_input(size_t k) const override { return k >= 1; }

 private:
  std::vector<int> axes_;
};

// Inputs: the array, the updates, then one index array per axis.
class Scatter : public Primitive {
 public:
  bool accepts_complex() const override { return op_ == ScatterOp::scatter; }
  Scatter(ScatterOp op, std::vector<int> axes) : op_(op), axes_(std::move(axes)) {}
  const char* name() const override { return op_name(op_); }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
  bool host_input(size_t k) const override { return k >= 2; }

 private:
  ScatterOp op_;
  std::vector<int> axes_;
};

// Inputs: the array and the update (of the region's shape).
class SliceUpdate : public Primitive {
 public:
  bool accepts_complex() const override { return op_ == ScatterOp::scatter; }
  SliceUpdate(ScatterOp op, Shape start, Shape step)
      : op_(op), start_(std::move(start)), step_(std::move(step)) {}
  const char* name() const override;
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  ScatterOp op_;
  Shape start_, step_;
};

// Inputs: the array, then the indices.
class Take : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  Take(int axis, bool along_axis) : axis_(axis), along_axis_(along_axis) {}
  const char* name() const override { return along_axis_ ? "take_along_axis" : "take"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
  bool host_input(size_t k) const override { return k == 1; }

 private:
  int axis_;
  bool along_axis_;
};

// concatenate and stack: each input copied into its slot along `axis`.
class Concatenate : public Primitive {
 public:
  RILL_SAME_AS(Concatenate, p.axis_, p.name_)
  bool accepts_complex() const override { return true; }
  Concatenate(int axis, const char* name) : axis_(axis), name_(name) {}
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  int axis_;
  const char* name_;
};

// Inputs: the array, then the pad value (a scalar of its dtype).
class Pad : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  Pad(std::vector<int> low, bool edge) : low_(std::move(low)), edge_(edge) {}
  const char* name() const override { return "pad"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  std::vector<int> low_;  // per dimension
  bool edge_;
};

// Inputs: the input, the weight and a scalar 0 (for padding), of one dtype.
class Conv : public Primitive {
 public:
  explicit Conv(ConvParams p) : p_(std::move(p)) {}
  const char* name() const override { return "conv_general"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  ConvParams p_;
};

// quantize (one node per result: `part` 0 the codes, 1 the scales, 2 the
// biases), dequantize and quantized_matmul; inputs are made row-major first.
// Inputs: quantize w [, global_scale]; dequantize w, scales [, biases]
// [, global_scale]; quantized_matmul x, w, scales [, biases].
class Quantize : public Primitive {
 public:
  Quantize(QuantParams p, int part) : p_(p), part_(part) {}
  const char* name() const override { return "quantize"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  QuantParams p_;
  int part_;
};
class Dequantize : public Primitive {
 public:
  Dequantize(QuantParams p, bool has_biases) : p_(p), has_biases_(has_biases) {}
  const char* name() const override { return "dequantize"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  QuantParams p_;
  bool has_biases_;
};
class QuantizedMatmul : public Primitive {
 public:
  QuantizedMatmul(QuantParams p, bool transpose) : p_(p), transpose_(transpose) {}
  const char* name() const override { return "quantized_matmul"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  QuantParams p_;
  bool transpose_;
};

class Scan : public Primitive {
 public:
  Scan(ScanOp op, int axis, bool reverse, bool inclusive)
      : op_(op), axis_(axis), reverse_(reverse), inclusive_(inclusive) {}
  const char* name() const override { return op_name(op_); }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  ScanOp op_;
  int axis_;
  bool reverse_, inclusive_;
};

// sort, argsort, partition, argpartition, topk; `kth` is the partition index
// or topk's k.
class Sort : public Primitive {
 public:
  Sort(SortOp op, int axis, int kth) : op_(op), axis_(axis), kth_(kth) {}
  const char* name() const override { return op_name(op_); }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  SortOp op_;
  int axis_;
  int kth_;
};

// complex64 from two float32 inputs (real, imaginary parts).
class MakeComplex : public Primitive {
 public:
  bool accepts_complex() const override { return true; }
  const char* name() const override { return "complex"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
};

// Unnormalised transforms over the input's last `axes` dims (kernels.h).
class FFT : public Primitive {
 public:
  FFT(int axes, bool inverse, bool real, const char* name)
      : axes_(axes), inverse_(inverse), real_(real), name_(name) {}
  bool accepts_complex() const override { return true; }
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  int axes_;
  bool inverse_, real_;
  const char* name_;
};

}  // namespace rill::detail
