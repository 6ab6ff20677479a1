// Reading the environment (runtime/config.h): each variable once, all with
// one parser and one error.
#include "runtime/config.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/format.h"

namespace rill::detail {
namespace {

enum class Kind { integer, word };
enum class Audience { user, experiment };

struct Spec {
  const char* var;
  Kind kind;
  const char* def;
  const char* values;
  Audience audience;
};

constexpr Spec kSpecs[] = {
#define RILL_SETTING_SPEC(id, var, kind, def, values, audience, meaning) \
  {var, Kind::kind, def, values, Audience::audience},
    RILL_SETTINGS(RILL_SETTING_SPEC)
#undef RILL_SETTING_SPEC
};
constexpr int kCount = sizeof(kSpecs) / sizeof(kSpecs[0]);

#if defined(RILL_EXPERIMENTS)
constexpr bool kExperiments = true;
#else
constexpr bool kExperiments = false;
#endif

struct Value {
  long number = 0;
  std::string word;
  std::string error;  // non-empty: the variable is malformed
};

std::vector<std::string> split(const char* s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

Value parse(const Spec& spec, const char* text) {
  Value v;
  if (spec.kind == Kind::word) {
    v.word = text;
    if (v.word == spec.def) return v;  // unset: the default, "" for some
    for (const std::string& w : split(spec.values)) {
      if (v.word == w) return v;
    }
    std::string allowed;
    for (const std::string& w : split(spec.values)) allowed += (allowed.empty() ? "" : ", ") + w;
    v.error = cat("[", spec.var, "] must be one of ", allowed, ", got \"", text, "\".");
    return v;
  }
  const std::vector<std::string> range = split(spec.values);
  const long lo = std::strtol(range[0].c_str(), nullptr, 10);
  const long hi = std::strtol(range[1].c_str(), nullptr, 10);
  char* end = nullptr;
  errno = 0;
  v.number = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v.number < lo || v.number > hi) {
    v.error = cat("[", spec.var, "] must be an integer in [", lo, ", ", hi, "], got \"", text,
                  "\".");
  }
  return v;
}

Value read(const Spec& spec, const char* text) {
  const bool set = text != nullptr && *text != '\0';
  if (set && spec.audience == Audience::experiment && !kExperiments) {
    Value v;
    v.error = cat("[", spec.var, "] is an experiment switch, read only by a build configured ",
                  "with -DRILL_EXPERIMENTS=ON; this build always uses ", spec.def, ".");
    return v;
  }
  return parse(spec, set ? text : spec.def);
}

const Value& value(Setting s) {
  static Value values[kCount];
  static std::once_flag once[kCount];
  const int i = static_cast<int>(s);
  std::call_once(once[i], [i] { values[i] = read(kSpecs[i], std::getenv(kSpecs[i].var)); });
  if (!values[i].error.empty()) throw std::invalid_argument(values[i].error);
  return values[i];
}

}  // namespace

long setting_int(Setting s) { return value(s).number; }
const std::string& setting_word(Setting s) { return value(s).word; }

const char* setting_variable(Setting s) { return kSpecs[static_cast<int>(s)].var; }

long parse_setting_for_testing(Setting s, const char* text) {
  const Value v = read(kSpecs[static_cast<int>(s)], text);
  if (!v.error.empty()) throw std::invalid_argument(v.error);
  return v.number;
}

bool experiment_switches_read() { return kExperiments; }

void debug_note(const std::string& what) {
  if (setting_int(Setting::debug) == 0) return;
  const std::string line = "rill: " + what + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines do not interleave
}

}  // namespace rill::detail
