// A small strict JSON reader for file headers (safetensors). Internal.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rill::detail::json {

struct Member;

struct Value {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  // Numbers keep their text; integers are read from it on demand.
  std::string text;
  std::vector<Value> items;
  // Object members in file order; duplicates are rejected by the parser.
  std::vector<Member> members;

  const Value* find(std::string_view key) const;
};

// Not std::pair: a pair may not hold the incomplete Value (clang rejects it).
struct Member {
  Member(std::string key, Value value)
      : first(std::move(key)), second(std::move(value)) {}
  std::string first;
  Value second;
};

// Parses `text`; throws std::runtime_error("... at byte N") when malformed.
// Nesting deeper than `max_depth` is an error (no unbounded recursion).
Value parse(std::string_view text, int max_depth = 64);

// The value as a non-negative integer that fits in uint64; throws otherwise.
uint64_t to_uint(const Value& v, const std::string& what);

}  // namespace rill::detail::json
