// Why asynchronous work failed, kept with the failed nodes and their stream
// until an observer raises it. Internal.
#pragma once

#include <exception>
#include <memory>
#include <string>

namespace rill::detail {

// Immutable once made; shared by a failed node, its dependents and the stream.
struct Failure {
  std::string message;          // "[op] what (in op on Stream(cpu, n))"
  std::exception_ptr original;  // what the kernel threw
};
using FailureRef = std::shared_ptr<const Failure>;

// Must be called inside a catch block: the failure of `op` on `stream`.
FailureRef current_failure(const char* op, const std::string& stream);

// Throws a new std::runtime_error with `f.message`, the original nested
// (std::rethrow_if_nested). Each observer gets an exception object of its own:
// rethrowing one shared object to several threads would have them read it while
// another may free it, ordered only by the standard library's reference counts,
// which ThreadSanitizer cannot see.
[[noreturn]] void raise(const Failure& f);

}  // namespace rill::detail
