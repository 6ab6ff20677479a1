// GraphStep: a compiled function's whole trace (core/compile_trace.h) as one
// node, so that on a GPU its kernels run as one CUDA graph. Internal.
//
// The node's inputs are the call's inputs, then the trace's constants. Its
// output is the trace's one output step, or, for several, their bytes packed
// into one buffer (each at a multiple of 256 bytes) that GraphOutput views
// slice into the function's outputs.
//
// On a GPU, per device stream of the pool (where the work of any logical
// stream bound there runs in order), an instance goes through three states:
//   1. first call: the steps run as launches, their buffers from a new arena
//      (backend/gpu.h), which records them; the inputs are first copied into
//      buffers the instance keeps;
//   2. second call: the same launches are captured, with the arena repeating
//      the first run's blocks, then the graph is launched;
//   3. later calls: the inputs are copied in, the graph is launched, and the
//      outputs are copied out of the arena into fresh buffers.
// A trace that cannot be captured (an op that waits on the host, a layout the
// first run did not see) runs as launches from then on, and RILL_DEBUG=1 says
// why. An input that is not row-major runs that call as launches. On the CPU
// the steps run one after the other inside the node.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/compile_trace.h"

namespace rill::detail {

class GraphStep : public Primitive {
 public:
  explicit GraphStep(const Trace& t);
  const char* name() const override { return "compiled"; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;
  bool accepts_complex() const override { return true; }

  // The distinct steps that are outputs, and where each lies in the packed
  // output (bytes; only when there are several).
  const std::vector<uint32_t>& outputs() const { return outs_; }
  size_t offset(size_t j) const { return offsets_[j]; }
  size_t packed_bytes() const { return total_; }

 private:
  struct Instance;
  // Runs the steps over `in` (inputs replaced by `staged` where given) and
  // returns the output steps' nodes.
  std::vector<std::shared_ptr<Node>> run(const Kernels& k, const std::vector<array>& in,
                                         const std::vector<array>* staged,
                                         const Stream& stream) const;
  // Copies the output steps' data into `out` (one output, or the packed ones).
  void copy_out(const std::vector<const void*>& from, Node& out) const;
  // The steps run one after the other on `k`, outside any instance.
  void step_by_step(const Kernels& k, const std::vector<array>& in, Node& out) const;
  void on_gpu(const std::vector<array>& in, Node& out);

  // The trace's parts this node needs (the trace also holds it: no cycle).
  std::vector<Shape> in_shapes_;
  std::vector<Dtype> in_dtypes_;
  std::vector<Step> steps_;
  std::vector<uint32_t> outs_;
  std::vector<size_t> offsets_;
  size_t total_ = 0;

  std::mutex mu_;
  std::map<std::pair<int, int>, std::shared_ptr<Instance>> instances_;  // by device stream
};

// One output of a packed GraphStep: a view of its bytes from `offset` on.
class GraphOutput : public Primitive {
 public:
  explicit GraphOutput(size_t offset) : offset_(offset) {}
  const char* name() const override { return "compiled"; }
  bool accepts_complex() const override { return true; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  size_t offset_;
};

// Whether a trace of these steps may run as a GraphStep: every step on the
// default stream of one GPU, nothing read on the host, nothing empty.
bool graph_capturable(const Trace& t);

// testing::compile_graph_steps: make GraphSteps of CPU traces too (where
// they run step by step), so that the CPU tests reach the node's logic.
void set_graph_steps_on_cpu(bool on);
bool graph_steps_on_cpu();

}  // namespace rill::detail
