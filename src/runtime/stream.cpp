// Streams: the registry of live streams, new_stream, synchronize and the work
// accounting synchronize relies on.
#include <array>
#include <atomic>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "runtime/stream_registry.h"
#include "backend/gpu.h"
#include "runtime/stream_state.h"

namespace rill {
namespace detail {
namespace {

// Sharded so that lookups of different streams do not contend; no lookup on a
// thread's own default stream reaches it at all.
class Registry {
 public:
  StreamRef create(Device d) {
    int index = next_index_.fetch_add(1, std::memory_order_relaxed);
    auto s = std::make_shared<StreamState>(Stream(index, d));
    Shard& sh = shard(index);
    std::lock_guard lock(sh.mu);
    sh.map.emplace(index, s);
    return s;
  }
  StreamRef find(int index) {
    Shard& sh = shard(index);
    std::lock_guard lock(sh.mu);
    auto it = sh.map.find(index);
    return it == sh.map.end() ? nullptr : it->second;
  }
  void remove(int index) {
    Shard& sh = shard(index);
    std::lock_guard lock(sh.mu);
    sh.map.erase(index);
  }
  bool existed(int index) const {
    return index >= 0 && index < next_index_.load(std::memory_order_relaxed);
  }
  std::vector<Stream> all() {
    std::vector<Stream> out;
    for (Shard& sh : shards_) {
      std::lock_guard lock(sh.mu);
      for (auto& [i, s] : sh.map) out.push_back(s->stream);
    }
    return out;
  }

 private:
  struct alignas(64) Shard {
    std::mutex mu;  // guards map
    std::unordered_map<int, StreamRef> map;
  };
  Shard& shard(int index) { return shards_[static_cast<unsigned>(index) % kShards]; }
  static constexpr unsigned kShards = 64;
  std::array<Shard, kShards> shards_;
  std::atomic<int> next_index_{0};  // relaxed: only uniqueness matters
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: used at thread exit
  return *r;
}

}  // namespace

StreamRef create_stream(Device d) { return registry().create(d); }
StreamRef find_stream(int index) { return registry().find(index); }
bool stream_existed(int index) { return registry().existed(index); }
std::vector<Stream> live_streams() { return registry().all(); }

void orphan_stream(const StreamRef& s) {
  bool idle;
  {
    std::lock_guard lock(s->mu);
    s->orphaned = true;
    idle = s->inflight.empty();
  }
  if (idle) registry().remove(s->stream.index);
}

uint64_t begin_work(StreamState& s) {
  std::lock_guard lock(s.mu);
  uint64_t t = s.next_ticket++;
  s.inflight.insert(s.inflight.end(), t);
  return t;
}

void finish_work(StreamState& s, uint64_t ticket) {
  bool reclaim;
  {
    std::lock_guard lock(s.mu);
    s.inflight.erase(ticket);
    reclaim = s.orphaned && s.inflight.empty();
    s.idle_cv.notify_all();
  }
  if (reclaim) registry().remove(s.stream.index);
}

void record_error(StreamState& s, FailureRef err) {
  std::lock_guard lock(s.mu);
  if (!s.first_error) s.first_error = std::move(err);
}

}  // namespace detail

std::ostream& operator<<(std::ostream& os, const Stream& s) {
  return os << "Stream(" << s.device.type << ", " << s.index << ")";
}

Stream new_stream(Device d) {
  detail::check_device(d, "new_stream");
  return detail::create_stream(d)->stream;
}

std::vector<Stream> get_streams() { return detail::live_streams(); }

void synchronize(Stream s) {
  detail::check_device(s.device, "synchronize");
  detail::StreamRef st = detail::find_stream(s.index);
  if (!st) {
    // A reclaimed stream had no work left when it went.
    if (detail::stream_existed(s.index)) return;
    std::ostringstream msg;
    msg << "[synchronize] " << s << " does not exist.";
    throw std::invalid_argument(msg.str());
  }
  if (st->stream.device != s.device) {
    std::ostringstream msg;
    msg << "[synchronize] " << s << " does not exist (stream " << s.index << " is on "
        << st->stream.device << ").";
    throw std::invalid_argument(msg.str());
  }
  detail::FailureRef err;
  {
    std::unique_lock lock(st->mu);
    uint64_t seen = st->next_ticket;
    st->idle_cv.wait(lock, [&] {
      return st->inflight.empty() || *st->inflight.begin() >= seen;
    });
    err = std::exchange(st->first_error, nullptr);
  }
  if (err) detail::raise(*err);
  // Everything is queued on the device; wait for the device to run it.
  if (s.device.type == Device::gpu) detail::gpu_synchronize(*st);
}

void synchronize() { synchronize(default_stream(default_device())); }

}  // namespace rill
