// fused_jit.h: C++ source for a fused float32 chain, compiled by the system
// compiler into a shared library cached on disk, loaded with dlopen.
//
// The generated loop computes each element exactly as the CPU's kernels do
// (vmath.h's functions, embedded in the source; no contraction of multiplies
// and adds), so a compiled function's results equal the uncompiled ones bit
// for bit. sin and cos take vmath's polynomial, and a block of 256 elements
// in which one argument is past its range (|x| > 8192, inf, NaN) is computed
// again with libm there, as the kernels do.
#include "core/fused_jit.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/jit_sources.h"
#include "runtime/config.h"

// GCC 12 reports std::string's operator+ on literals as overlapping copies
// (its bug 105329, a false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

namespace rill::detail {

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // the loaded code would not be instrumented
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// The expression of op `f` on operand names; false if the generator does
// not write it. `exact`: sin and cos past vmath's range through libm.
bool expression(const FusedOp& f, const std::string& a, const std::string& b, bool exact,
                std::string& e) {
  if (f.dtype != float32) return false;
  if (f.kind == FusedOp::copy) {
    e = a;
    return true;
  }
  if (f.kind == FusedOp::binary) {
    switch (static_cast<BinaryOp>(f.op)) {
      case BinaryOp::add: e = a + " + " + b; return true;
      case BinaryOp::subtract: e = a + " - " + b; return true;
      case BinaryOp::multiply: e = a + " * " + b; return true;
      case BinaryOp::divide: e = a + " / " + b; return true;
      case BinaryOp::maximum: e = "rill_max(" + a + ", " + b + ")"; return true;
      case BinaryOp::minimum: e = "rill_min(" + a + ", " + b + ")"; return true;
      default: return false;
    }
  }
  if (f.kind != FusedOp::unary) return false;
  auto sincos = [&](bool cos) {
    const std::string fast = std::string("vsincos<") + (cos ? "true" : "false") + ">(" + a + ")";
    e = exact ? "(std::fabs(" + a + ") <= 8192.0f ? " + fast + " : std::" + (cos ? "cos" : "sin") +
                    "(" + a + "))"
              : fast;
  };
  switch (static_cast<UnaryOp>(f.op)) {
    case UnaryOp::negative: e = "-" + a; return true;
    case UnaryOp::abs: e = "std::fabs(" + a + ")"; return true;
    case UnaryOp::square: e = a + " * " + a; return true;
    case UnaryOp::sqrt: e = "std::sqrt(" + a + ")"; return true;
    case UnaryOp::rsqrt: e = "1.0f / std::sqrt(" + a + ")"; return true;
    case UnaryOp::reciprocal: e = "1.0f / " + a; return true;
    case UnaryOp::floor: e = "std::floor(" + a + ")"; return true;
    case UnaryOp::ceil: e = "std::ceil(" + a + ")"; return true;
    case UnaryOp::exp: e = "vexp_full(" + a + ")"; return true;
    case UnaryOp::log: e = "vlog(" + a + ")"; return true;
    case UnaryOp::tanh: e = "vtanh(" + a + ")"; return true;
    case UnaryOp::sigmoid: e = "vsigmoid(" + a + ")"; return true;
    case UnaryOp::erf: e = "verf(" + a + ")"; return true;
    case UnaryOp::gelu:
      e = "(" + a + " * 0.5f + " + a + " * 0.5f * verf(" + a + " * 0.7071067811865476f))";
      return true;
    case UnaryOp::sin: sincos(false); return true;
    case UnaryOp::cos: sincos(true); return true;
    default: return false;
  }
}

bool is_sincos(const FusedOp& f) {
  return f.kind == FusedOp::unary && (static_cast<UnaryOp>(f.op) == UnaryOp::sin ||
                                      static_cast<UnaryOp>(f.op) == UnaryOp::cos);
}

// The exact block's loop body (sin and cos past vmath's range through libm):
// one statement per op, then the store. False if an op is not written.
bool exact_body(const std::vector<FusedOp>& ops, std::string& out) {
  std::ostringstream s;
  auto name = [](int i) { return i < 0 ? "x" + std::to_string(-i - 1) : "t" + std::to_string(i); };
  for (size_t i = 0; i < ops.size(); ++i) {
    const FusedOp& f = ops[i];
    std::string e;
    if (!expression(f, name(f.args[0]), name(f.args[1]), true, e)) return false;
    s << "        const float t" << i << " = " << e << ";\n";
  }
  s << "        o[c] = t" << ops.size() - 1 << ";\n";
  out = s.str();
  return true;
}

bool expensive(const FusedOp& f) {
  if (f.kind == FusedOp::binary) return static_cast<BinaryOp>(f.op) == BinaryOp::divide;
  if (f.kind != FusedOp::unary) return false;
  switch (static_cast<UnaryOp>(f.op)) {
    case UnaryOp::exp: case UnaryOp::log: case UnaryOp::tanh: case UnaryOp::sigmoid:
    case UnaryOp::erf: case UnaryOp::gelu: case UnaryOp::sin: case UnaryOp::cos:
    case UnaryOp::sqrt: case UnaryOp::rsqrt: case UnaryOp::reciprocal:
      return true;
    default:
      return false;
  }
}

// The fast block, in stages: a stage ends after each costly op, and each
// stage is a loop of its own over the block whose results go to arrays in
// L1. One loop over a long chain of transcendentals is bound by their
// latency (its body overflows the core's reorder window, so iterations do not
// overlap); short loops keep the vector units busy.
bool staged_body(const std::vector<FusedOp>& ops, const std::vector<JitInput>& kinds, bool flag,
                 std::string& out) {
  std::vector<int> stage(ops.size());
  int n_stages = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    stage[i] = n_stages;
    if (expensive(ops[i])) ++n_stages;
  }
  if (stage.back() == n_stages) ++n_stages;
  std::ostringstream s;
  for (size_t i = 0; i + 1 < ops.size(); ++i) s << "  alignas(64) float t" << i << "[256];\n";
  for (int g = 0; g < n_stages; ++g) {
    s << "  for (long c = 0; c < n; ++c) {\n";
    for (size_t k = 0; k < kinds.size(); ++k) {
      s << "    const float x" << k << " = "
        << (kinds[k] == JitInput::scalar ? "s" + std::to_string(k)
                                         : "a" + std::to_string(k) + "[c]")
        << ";\n";
    }
    auto name = [&](int i) {
      if (i < 0) return "x" + std::to_string(-i - 1);
      return stage[i] == g ? "v" + std::to_string(i) : "t" + std::to_string(i) + "[c]";
    };
    for (size_t i = 0; i < ops.size(); ++i) {
      if (stage[i] != g) continue;
      const FusedOp& f = ops[i];
      std::string e;
      if (!expression(f, name(f.args[0]), name(f.args[1]), false, e)) return false;
      s << "    const float v" << i << " = " << e << ";\n";
      if (flag && is_sincos(f)) {
        s << "    bad |= !(std::fabs(" << name(f.args[0]) << ") <= 8192.0f);\n";
      }
      if (i + 1 < ops.size()) {
        s << "    t" << i << "[c] = v" << i << ";\n";
      } else {
        s << "    o[c] = v" << i << ";\n";
      }
    }
    s << "  }\n";
  }
  out = s.str();
  return true;
}

bool generate(const std::vector<FusedOp>& ops, const std::vector<JitInput>& kinds,
              std::string& src) {
  const bool sc = std::any_of(ops.begin(), ops.end(), is_sincos);
  std::string fast, exact;
  if (!staged_body(ops, kinds, sc, fast) || (sc && !exact_body(ops, exact))) return false;
  // A block of elements in a function of its own: the arrays as __restrict
  // parameters (the output is a fresh buffer) and single values by value, so
  // that the loop vectorises without checks of overlap between the arrays.
  std::ostringstream params, args, loads;
  params << "float* __restrict o";
  for (size_t k = 0; k < kinds.size(); ++k) {
    if (kinds[k] == JitInput::scalar) {
      params << ", float s" << k;
      loads << "        const float x" << k << " = s" << k << ";\n";
    } else {
      params << ", const float* __restrict a" << k;
      loads << "        const float x" << k << " = a" << k << "[c];\n";
    }
  }
  params << ", long n";
  args << "out + r * cols + c0";
  for (size_t k = 0; k < kinds.size(); ++k) {
    if (kinds[k] == JitInput::scalar) {
      args << ", s" << k;
    } else if (kinds[k] == JitInput::full) {
      args << ", p" << k << " + r * cols + c0";
    } else {
      args << ", p" << k << " + c0";
    }
  }
  args << ", end - c0";
  std::ostringstream s;
  s << "// Generated by rill (compile): a fused float32 chain.\n"
    << kVmathSource << "\n"
    << "using namespace rill::detail::cpu;\n"
    << "static inline float rill_max(float a, float b) {\n"
    << "  if (a != a || b != b) return a != a ? a : b;\n  return a > b ? a : b;\n}\n"
    << "static inline float rill_min(float a, float b) {\n"
    << "  if (a != a || b != b) return a != a ? a : b;\n  return a < b ? a : b;\n}\n"
    << "static int rill_block(" << params.str() << ") {\n"
    << "  int bad = 0;\n" << fast
    << "  return bad;\n}\n";
  if (sc) {
    s << "static void rill_block_exact(" << params.str() << ") {\n"
      << "  for (long c = 0; c < n; ++c) {\n" << loads.str() << exact << "  }\n}\n";
  }
  s << "extern \"C\" void rill_fused(const void* const* in, void* out_, long rows, long cols) {\n"
    << "  float* out = static_cast<float*>(out_);\n";
  for (size_t k = 0; k < kinds.size(); ++k) {
    if (kinds[k] == JitInput::scalar) {
      s << "  const float s" << k << " = static_cast<const float*>(in[" << k << "])[0];\n";
    } else {
      s << "  const float* p" << k << " = static_cast<const float*>(in[" << k << "]);\n";
    }
  }
  s << "  for (long r = 0; r < rows; ++r) {\n"
    << "    for (long c0 = 0; c0 < cols; c0 += 256) {\n"
    << "      const long end = cols - c0 < 256 ? cols : c0 + 256;\n"
    << "      const int bad = rill_block(" << args.str() << ");\n";
  if (sc) s << "      if (bad) rill_block_exact(" << args.str() << ");\n";
  s << "      (void)bad;\n    }\n  }\n}\n";
  src = s.str();
  return true;
}


// What the machine code depends on besides the source: the CPU it targets.
const std::string& machine() {
  static const std::string m = [] {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("model name", 0) == 0 || line.rfind("flags", 0) == 0) return line;
    }
    return std::string("unknown");
  }();
  return m;
}

JitKernel load(const std::string& so) {
  void* h = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) return nullptr;
  return reinterpret_cast<JitKernel>(::dlsym(h, "rill_fused"));  // kept for the process
}

JitKernel build(const std::string& src) {
  const std::string dir = jit_cache_dir();
  std::ostringstream key;
  key << std::hex << std::hash<std::string>()(src + machine()) << "-" << src.size();
  const std::string base = dir + "/" + key.str();
  if (JitKernel k = load(base + ".so")) return k;
  make_dirs(dir);
  std::ostringstream tmp;
  tmp << base << "." << ::getpid() << "." << std::hash<std::thread::id>()(std::this_thread::get_id());
  {
    std::ofstream f(tmp.str() + ".cpp");
    f << src;
    if (!f) return nullptr;
  }
  const std::string cmd = "c++ -std=c++20 -O3 -march=native -mprefer-vector-width=512 "
                          "-fno-math-errno -fno-trapping-math "
                          "-ffp-contract=off -shared -fPIC -o '" + tmp.str() + ".so' '" +
                          tmp.str() + ".cpp' > '" + tmp.str() + ".log' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::remove((tmp.str() + ".cpp").c_str());
  std::remove((tmp.str() + ".log").c_str());
  if (rc != 0) {
    std::remove((tmp.str() + ".so").c_str());
    return nullptr;
  }
  // Renamed into place whole: another process may load it at any moment.
  if (std::rename((tmp.str() + ".so").c_str(), (base + ".so").c_str()) != 0) return nullptr;
  return load(base + ".so");
}

}  // namespace

std::string jit_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/rill/jit";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/rill/jit";
  return "/tmp/rill-jit-" + std::to_string(getuid());
}

void make_dirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
  }
}

JitKernel jit_kernel(const std::vector<FusedOp>& ops, const std::vector<JitInput>& kinds) {
  if (kSanitized || setting_int(Setting::jit) == 0) return nullptr;
  std::string src;
  if (!generate(ops, kinds, src)) return nullptr;
  static std::mutex mu;
  static std::unordered_map<std::string, JitKernel> kernels;  // by source; null: failed
  std::lock_guard lock(mu);  // one compile at a time: the machine has few cores
  auto it = kernels.find(src);
  if (it != kernels.end()) return it->second;
  JitKernel k = build(src);
  kernels.emplace(src, k);
  return k;
}

}  // namespace rill::detail
