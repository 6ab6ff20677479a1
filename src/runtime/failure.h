// Why asynchronous work failed, kept with the failed nodes and their stream
// until an observer raises it. Internal.
#pragma once

#include <exception>
#include <memory>
#include <new>
#include <string>

namespace rill::detail {

// What an allocator throws when it refuses a request (a memory limit, or no
// memory left): a std::bad_alloc, so that handlers for one catch it, whose
// what() says what was asked and why it was refused.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message)
      : message_(std::make_shared<const std::string>(std::move(message))) {}
  const char* what() const noexcept override { return message_->c_str(); }

 private:
  std::shared_ptr<const std::string> message_;  // shared: copies cannot throw
};

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
