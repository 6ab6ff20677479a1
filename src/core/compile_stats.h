// What compile's last trace on the calling thread found (tests). Internal.
#pragma once

namespace rill::detail {

struct TraceStats {
  int steps = 0;      // nodes the outputs reach, before simplification
  int kept = 0;       // steps replayed per call
  int merged = 0;     // steps that were common subexpressions
  int folded = 0;     // one-element steps of constants computed at trace time
  int constants = 0;  // arrays the trace holds
  int fused = 0;      // elementwise steps run inside fused chains
  int chains = 0;     // fused chains
  int generated = 0;  // chains run as generated code (C++ on the CPU, NVRTC on a GPU)
  bool graph = false; // replayed as one node, captured as a CUDA graph on a GPU
};
TraceStats last_trace_stats();

}  // namespace rill::detail
