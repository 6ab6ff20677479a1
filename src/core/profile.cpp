#include "core/profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/config.h"

namespace rill::detail {
namespace {

struct Entry {
  int64_t calls = 0;
  int64_t ns = 0;
};

struct Table {
  std::mutex mu;  // guards ops
  std::unordered_map<std::string, Entry> ops;
};

Table& table() {
  static Table* t = new Table();  // never destroyed: read at exit
  return *t;
}

void print_table() {
  Table& t = table();
  std::lock_guard lock(t.mu);
  std::vector<std::pair<std::string, Entry>> rows(t.ops.begin(), t.ops.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  int64_t total = 0;
  for (auto& [name, e] : rows) total += e.ns;
  std::fprintf(stderr, "\nrill profile (CPU kernel time, all threads)\n");
  std::fprintf(stderr, "%-30s %10s %12s %10s %7s\n", "op", "calls", "total ms", "mean us",
               "share");
  for (auto& [name, e] : rows) {
    std::fprintf(stderr, "%-30s %10lld %12.2f %10.2f %6.1f%%\n", name.c_str(),
                 static_cast<long long>(e.calls), e.ns / 1e6, e.ns / 1e3 / e.calls,
                 100.0 * e.ns / std::max<int64_t>(total, 1));
  }
}

}  // namespace

bool profiling() {
  static const bool on = [] {
    const bool enabled = setting_int(Setting::profile) != 0;
    if (enabled) std::atexit(print_table);
    return enabled;
  }();
  return on;
}

void profile_record(const char* op, int64_t ns) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  Entry& e = t.ops[op];
  ++e.calls;
  e.ns += ns;
}

}  // namespace rill::detail
