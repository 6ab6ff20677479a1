// Per-thread defaults: the default device override of a StreamContext and each
// thread's default stream per device. The lookup after first use reads only
// thread-local memory: no lock, no atomic read-modify-write.
#include <cstdlib>
#include <atomic>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <memory>
#include <vector>

#include "runtime/stream_registry.h"
#include "runtime/stream_state.h"
#include "runtime/config.h"

namespace rill {
namespace detail {
namespace {

// Slot of a device in a thread's table: cpu 0, gpu i at 1 + i.
inline unsigned slot_of(const Device& d) {
  if (d.index < 0) return ~0u;
  return d.type == Device::cpu ? (d.index == 0 ? 0u : ~0u) : 1u + static_cast<unsigned>(d.index);
}

struct ThreadDefaults {
  struct Entry {
    Stream stream{-1, Device::cpu};
    StreamRef state;  // the current default (made here or set_default_stream)
    StreamRef owned;  // the default this thread made, reclaimed at exit
  };
  // One per device slot; `n` of them. A plain array: the fast path reads
  // `n` and one entry, nothing else.
  unsigned n;
  std::unique_ptr<Entry[]> entries;
  bool device_override = false;  // set by StreamContext
  Device device{Device::cpu, 0};

  ThreadDefaults()
      : n(1u + static_cast<unsigned>(device_count(Device::gpu))),
        entries(std::make_unique<Entry[]>(n)) {}
  ~ThreadDefaults();
};

// The fast path reads only this trivially destructible pointer; `t_holder`
// owns the object and reclaims the thread's streams when the thread exits.
thread_local ThreadDefaults* t_defaults = nullptr;
thread_local bool t_exited = false;

struct Holder {
  ThreadDefaults* p = nullptr;
  ~Holder() {
    delete p;
    t_defaults = nullptr;
    t_exited = true;
    t_default_stream.index = -1;
  }
};
thread_local Holder t_holder;

ThreadDefaults::~ThreadDefaults() {
  for (unsigned i = 0; i < n; ++i) {
    if (entries[i].owned) orphan_stream(entries[i].owned);
  }
}

void set_entry(ThreadDefaults::Entry& e, StreamRef state) {
  e.state = std::move(state);
  e.stream = e.state->stream;
  if (t_default_stream.device == e.stream.device) t_default_stream.index = -1;
}

ThreadDefaults* thread_defaults() {
  if (t_defaults) return t_defaults;
  if (t_exited) return nullptr;
  t_holder.p = new ThreadDefaults();
  t_defaults = t_holder.p;
  return t_defaults;
}

// Streams handed to code that runs on a thread after its thread-locals were
// destroyed (from another thread_local's destructor). Never reclaimed.
const StreamRef& exiting_thread_stream(const Device& d) {
  static std::mutex mu;
  static auto* streams = new std::vector<StreamRef>(1 + device_count(Device::gpu));
  static thread_local StreamRef out;
  std::lock_guard lock(mu);
  StreamRef& s = (*streams)[slot_of(d)];
  if (!s) s = create_stream(d);
  out = s;
  return out;
}

// Slow path: validates `d`, then makes the thread's default stream on it.
const StreamRef& make_default(const Device& d, const char* op) {
  check_device(d, op);
  ThreadDefaults* t = thread_defaults();
  if (!t) return exiting_thread_stream(d);
  ThreadDefaults::Entry& e = t->entries[slot_of(d)];
  if (!e.state) {
    e.owned = create_stream(d);
    set_entry(e, e.owned);
  }
  return e.state;
}

inline const ThreadDefaults::Entry* cached_entry(const Device& d) {
  ThreadDefaults* t = t_defaults;
  if (!t) return nullptr;
  unsigned slot = slot_of(d);
  if (slot >= t->n || !t->entries[slot].state) return nullptr;
  return &t->entries[slot];
}

inline const StreamRef* cached_default(const Device& d) {
  const ThreadDefaults::Entry* e = cached_entry(d);
  return e ? &e->state : nullptr;
}

const StreamRef& default_state(const Device& d, const char* op) {
  if (const StreamRef* s = cached_default(d)) return *s;
  return make_default(d, op);
}

const StreamRef& lookup(const Stream& s, const char* op) {
  if (const StreamRef* own = cached_default(s.device); own && (*own)->stream == s) {
    return *own;
  }
  check_device(s.device, op);
  static thread_local StreamRef found;
  found = find_stream(s.index);
  if (!found || found->stream.device != s.device) {
    std::ostringstream msg;
    msg << "[" << op << "] " << s << " does not exist"
        << (stream_existed(s.index) && !found ? " any more (its thread exited)." : ".");
    throw std::invalid_argument(msg.str());
  }
  return found;
}

// The process default device: the gpu when one is available, unless the
// environment says RILL_DEVICE=cpu (e.g. to run a test suite on the CPU on a
// machine with a GPU). RILL_DEVICE=gpu on a machine without one is an error at
// the first use, so that such a run cannot silently test the CPU.
Device initial_default_device() {
  const Device gpu(Device::gpu, 0);
  const std::string& want = setting_word(Setting::device);
  if (want == "cpu") return Device(Device::cpu, 0);
  if (want == "gpu") {
    check_device(gpu, "RILL_DEVICE=gpu");
    return gpu;
  }
  return is_available(gpu) ? gpu : Device(Device::cpu, 0);
}

std::atomic<Device>& process_default_atomic() {
  static std::atomic<Device> d{initial_default_device()};
  return d;
}

}  // namespace

const StreamRef& resolve_stream(const StreamOrDevice& s, const char* op) {
  switch (s.index()) {
    case 0:
      return default_state(default_device(), op);
    case 1:
      return lookup(std::get<Stream>(s), op);
    default:
      return default_state(std::get<Device>(s), op);
  }
}

}  // namespace detail

Device default_device() {
  if (detail::ThreadDefaults* t = detail::t_defaults; t && t->device_override) {
    return t->device;
  }
  return detail::process_default_atomic().load(std::memory_order_relaxed);
}

void set_default_device(const Device& d) {
  detail::check_device(d, "set_default_device");
  detail::process_default_atomic().store(d, std::memory_order_relaxed);
}

namespace detail {

Stream default_stream_slow(Device d) {
  Stream s = default_state(d, "default_stream")->stream;
  if (t_defaults) t_default_stream = DefaultStreamCache{s.index, s.device};  // not once exited
  return s;
}

}  // namespace detail

void set_default_stream(Stream s) {
  detail::StreamRef st = detail::lookup(s, "set_default_stream");
  detail::ThreadDefaults* t = detail::thread_defaults();
  if (!t) return;
  auto& e = t->entries[detail::slot_of(s.device)];
  detail::set_entry(e, std::move(st));
}

Stream to_stream(StreamOrDevice s) { return detail::resolve_stream(s, "to_stream")->stream; }

StreamContext::StreamContext(StreamOrDevice s)
    : had_device_override_(false),
      saved_device_(Device::cpu, 0),
      saved_stream_(-1, Device(Device::cpu, 0)) {
  if (std::holds_alternative<std::monostate>(s)) {
    throw std::invalid_argument("[StreamContext] expects a stream or a device, got neither.");
  }
  detail::StreamRef target = detail::resolve_stream(s, "StreamContext");
  detail::ThreadDefaults* t = detail::thread_defaults();
  if (!t) return;
  // The current default of the target device, made now if it is not yet.
  saved_stream_ = detail::default_state(target->stream.device, "StreamContext")->stream;
  had_device_override_ = t->device_override;
  saved_device_ = t->device;
  auto& e = t->entries[detail::slot_of(target->stream.device)];
  saved_state_ = e.state;
  detail::set_entry(e, target);
  t->device_override = true;
  t->device = target->stream.device;
}

StreamContext::~StreamContext() {
  detail::ThreadDefaults* t = detail::t_defaults;
  if (!t || !saved_state_) return;
  auto& e = t->entries[detail::slot_of(saved_stream_.device)];
  detail::set_entry(e, std::static_pointer_cast<detail::StreamState>(saved_state_));
  t->device_override = had_device_override_;
  t->device = saved_device_;
}

}  // namespace rill
