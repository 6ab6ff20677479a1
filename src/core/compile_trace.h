// What compile (core/compile.cpp) keeps of a traced function: its steps in
// order, each a primitive over references to the call's inputs, the trace's
// constants and earlier steps. Shared with the CUDA-graph step
// (core/graph_step.h), which runs a trace inside one node. Internal.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/primitives.h"
#include "runtime/stream_state.h"

namespace rill::detail {

class GraphStep;

struct Ref {
  enum Kind : uint8_t { input, constant, step } kind;
  uint32_t index;
  bool operator==(const Ref& o) const { return kind == o.kind && index == o.index; }
};

struct Step {
  std::shared_ptr<Primitive> primitive;
  Shape shape;
  Dtype dtype;
  std::vector<Ref> inputs;
  StreamRef stream;  // given explicitly; null: the caller's default stream of `device`
  Device device;
};

struct Trace {
  std::vector<Shape> shapes;  // the inputs' (shapeless: only their lengths count)
  std::vector<Dtype> dtypes;
  // Every step is elementwise (its shape: its inputs' broadcast), so that a
  // shapeless function replays it on inputs of other shapes.
  bool elementwise = true;
  std::vector<array> constants;
  std::vector<Step> steps;
  std::vector<Ref> outputs;
  // Set when every step runs on the caller's default stream of one GPU and
  // may be captured (core/graph_step.h): the replay is then this one node.
  std::shared_ptr<GraphStep> graph;
};

}  // namespace rill::detail
