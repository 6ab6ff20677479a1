// Every environment variable rill reads, in one table: each is read once, on
// first use, and a malformed value is a std::invalid_argument naming the
// variable, thrown by the call that needed it. README.md lists them.
// Internal; plain C++ so that the CUDA backend's .cu files read it too.
#pragma once

#include <string>

namespace rill::detail {

// X(id, variable, kind, default, values, audience, meaning):
//   kind      integer (values: "lo hi", inclusive) or word (values: the words
//             allowed, space-separated); an unset or empty variable takes
//             the default.
//   audience  user, or experiment: a switch kept for measuring alternatives,
//             read only by a build configured with -DRILL_EXPERIMENTS=ON (in
//             any other build, setting it is an error, so that a measurement
//             cannot silently run the default).
#define RILL_SETTINGS(X)                                                                  \
  X(device, "RILL_DEVICE", word, "", "cpu gpu", user,                                     \
    "the process's default device; unset: the GPU when there is one, else the CPU. "      \
    "gpu on a machine without one is an error at the first use")                          \
  X(cpu_workers, "RILL_CPU_WORKERS", integer, "0", "0 1024", user,                        \
    "threads of the CPU executor; 0: one per hardware thread")                            \
  X(gpu_streams, "RILL_GPU_STREAMS", integer, "16", "1 256", user,                        \
    "CUDA streams per device that rill's streams are bound to")                           \
  X(disable_compile, "RILL_DISABLE_COMPILE", integer, "0", "0 1", user,                  \
    "1: compiled functions run uncompiled (enable_compile overrides it)")                \
  X(jit, "RILL_JIT", integer, "1", "0 1", user,                                          \
    "0: compile runs fused chains through the kernels instead of generated code")        \
  X(cuda_graphs, "RILL_CUDA_GRAPHS", integer, "1", "0 1", user,                         \
    "0: compiled functions on a GPU run as launches, never as captured CUDA graphs")      \
  X(debug, "RILL_DEBUG", integer, "0", "0 1", user,                                       \
    "1: say on stderr where rill takes a slower path than it could (a compiled "          \
    "function that cannot run as a CUDA graph, and why)")                                 \
  X(profile, "RILL_PROFILE", integer, "0", "0 1", user,                                   \
    "1: time every op and print a table per primitive at exit")                           \
  X(packed_gemm, "RILL_PACKED_GEMM", integer, "1", "0 1", user,                           \
    "0: BLAS for every float32 CPU product (no packed-weight kernel)")                    \
  X(cpu_amx, "RILL_CPU_AMX", word, "1", "0 1 model", user,                                \
    "0: no AMX tiles for float32 CPU products; model: the tile kernel on its exact "      \
    "software model where the unit is absent (slow; for checking)")                       \
  X(cpu_attention_blas, "RILL_CPU_ATTENTION_BLAS", integer, "0", "0 1", user,             \
    "1: CPU attention's float32 block products through BLAS, not AVX-512")                \
  X(sdpa_decode, "RILL_SDPA_DECODE", integer, "0", "0 2", experiment,                     \
    "GPU decode attention: 0 the tensor-core kernel where it fits, 1 the FMA kernel, "    \
    "2 the FMA kernel with 8 keys per warp step")                                         \
  X(sdpa_decode_splits, "RILL_SDPA_DECODE_SPLITS", integer, "0", "0 4096", experiment,    \
    "GPU decode attention: chunks of keys per head; 0: chosen by the shape")              \
  X(sdpa_sm90, "RILL_SDPA_SM90", integer, "2", "0 3", experiment,                         \
    "Hopper attention: 0 off (the portable kernel), 1 the plain schedule, 2 the "         \
    "overlapped one, 3 overlapped with half the exponentials on the FMA pipes")           \
  X(sdpa_sm90_groups, "RILL_SDPA_SM90_GROUPS", integer, "3", "2 3", experiment,           \
    "Hopper attention at head size 64: consumer warpgroups per block")

enum class Setting : int {
#define RILL_SETTING_ID(id, var, kind, def, values, audience, meaning) id,
  RILL_SETTINGS(RILL_SETTING_ID)
#undef RILL_SETTING_ID
};

// The value of an integer setting / a word setting (throws as above).
long setting_int(Setting s);
const std::string& setting_word(Setting s);

// Tests and README checks: every variable's name, and what the text `text`
// in setting s's variable would give (the integer; 0 for a word) or raise.
const char* setting_variable(Setting s);
inline constexpr int kSettings = 0
#define RILL_SETTING_COUNT(id, var, kind, def, values, audience, meaning) +1
    RILL_SETTINGS(RILL_SETTING_COUNT);
#undef RILL_SETTING_COUNT
long parse_setting_for_testing(Setting s, const char* text);
// With RILL_DEBUG=1, writes "rill: " and `what` as one line on stderr.
void debug_note(const std::string& what);
// Whether this build reads the experiment switches (-DRILL_EXPERIMENTS=ON).
bool experiment_switches_read();

}  // namespace rill::detail
