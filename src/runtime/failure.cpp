#include "runtime/failure.h"

#include <stdexcept>

namespace rill::detail {
namespace {

class AsyncError : public std::runtime_error, public std::nested_exception {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace

FailureRef current_failure(const char* op, const std::string& stream) {
  std::string what;
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  std::string prefix = std::string("[") + op + "] ";
  std::string message =
      what.compare(0, prefix.size(), prefix) == 0 ? what : prefix + what;
  message += std::string(" (in ") + op + " on " + stream + ")";
  return std::make_shared<const Failure>(
      Failure{std::move(message), std::current_exception()});
}

void raise(const Failure& f) {
  if (!f.original) throw AsyncError(f.message);
  try {
    std::rethrow_exception(f.original);
  } catch (...) {
    throw AsyncError(f.message);  // nests the original
  }
}

}  // namespace rill::detail
