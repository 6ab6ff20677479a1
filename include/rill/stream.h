// Streams: plain values naming one ordered queue of work on one device.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <variant>
#include <vector>

#include "rill/device.h"

namespace rill {

struct Stream {
  constexpr Stream(int index, Device device) : index(index), device(device) {}
  int index;
  Device device;
};

constexpr bool operator==(const Stream& a, const Stream& b) {
  return a.index == b.index && a.device == b.device;
}
constexpr bool operator!=(const Stream& a, const Stream& b) { return !(a == b); }
// Strict weak ordering: by device, then index.
constexpr bool operator<(const Stream& a, const Stream& b) {
  return a.device != b.device ? a.device < b.device : a.index < b.index;
}
constexpr bool operator>(const Stream& a, const Stream& b) { return b < a; }
constexpr bool operator<=(const Stream& a, const Stream& b) { return !(b < a); }
constexpr bool operator>=(const Stream& a, const Stream& b) { return !(a < b); }

std::ostream& operator<<(std::ostream& os, const Stream& s);

namespace detail {
// The calling thread's default stream of the device it last looked up (index
// -1 when there is none yet or it changed), read inline by default_stream().
// Written only by the library, on the owning thread.
struct DefaultStreamCache {
  int index = -1;
  Device device{Device::cpu, 0};
};
// Inline, not extern: GCC's UBSan reports an extern thread_local read from
// another translation unit as a null pointer.
inline thread_local constinit DefaultStreamCache t_default_stream{};
Stream default_stream_slow(Device d);
}  // namespace detail

// The calling thread's default stream on `d`, made on first use. After that the
// lookup reads thread-local memory only: no lock, no atomic read-modify-write.
// Throws std::invalid_argument for an unavailable device.
inline Stream default_stream(Device d) {
  const detail::DefaultStreamCache& c = detail::t_default_stream;
  if (c.index >= 0 && c.device == d) return Stream(c.index, d);
  return detail::default_stream_slow(d);
}

// Makes `s` the calling thread's default stream for s.device. Other threads are
// not affected.
void set_default_stream(Stream s);

// A new stream on `d`, usable from any thread. Cheap: no thread is created.
Stream new_stream(Device d);

// Every live stream (all threads' default streams and all new_stream()s).
std::vector<Stream> get_streams();

// Waits for everything submitted to `s` so far. Rethrows, once, the first error
// raised by asynchronous work on `s` since the last synchronize.
void synchronize(Stream s);
// synchronize(default_stream(default_device())).
void synchronize();

// The stream or device an op runs on: empty means the calling thread's default
// stream of the default device, a Device means that device's default stream on
// the calling thread.
using StreamOrDevice = std::variant<std::monostate, Stream, Device>;

// Resolves a StreamOrDevice to a stream, validating it.
Stream to_stream(StreamOrDevice s);

// RAII: makes `s` (or the default stream of device `s`) the default device and
// stream of the calling thread only, and restores both when destroyed.
class StreamContext {
 public:
  explicit StreamContext(StreamOrDevice s);
  ~StreamContext();
  StreamContext(const StreamContext&) = delete;
  StreamContext& operator=(const StreamContext&) = delete;

 private:
  bool had_device_override_;
  Device saved_device_;
  Stream saved_stream_;
  std::shared_ptr<void> saved_state_;
};

}  // namespace rill

template <>
struct std::hash<rill::Stream> {
  size_t operator()(const rill::Stream& s) const noexcept {
    return std::hash<rill::Device>()(s.device) * 1000003u ^
           std::hash<int>()(s.index);
  }
};
