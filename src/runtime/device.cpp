// Devices: counts, availability, facts, and the validation every use of a
// device goes through.
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include "backend/gpu.h"
#include "runtime/stream_state.h"

namespace rill {

std::ostream& operator<<(std::ostream& os, Device::DeviceType t) {
  return os << (t == Device::cpu ? "cpu" : "gpu");
}

std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << "Device(" << d.type << ", " << d.index << ")";
}

std::string to_string(const Device& d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

int device_count(Device::DeviceType type) {
  if (type == Device::cpu) return 1;
  if (type == Device::gpu) return detail::gpu_device_count();
  return 0;
}

bool is_available(const Device& d) {
  return d.index >= 0 && d.index < device_count(d.type);
}

namespace detail {

void check_device(const Device& d, const char* op) {
  if (is_available(d)) return;
  std::ostringstream msg;
  msg << "[" << op << "] " << d << " is not available: ";
  if (d.type != Device::cpu && d.type != Device::gpu) {
    msg << "unknown device type " << static_cast<int>(d.type) << ".";
  } else if (int n = device_count(d.type); n == 0) {
    msg << "there is no " << d.type << " device (" << gpu_unavailable_reason() << ").";
  } else {
    msg << "valid " << d.type << " indices are 0 to " << n - 1 << ".";
  }
  throw std::invalid_argument(msg.str());
}

}  // namespace detail

const std::unordered_map<std::string, std::variant<std::string, size_t>>& device_info(
    const Device& d) {
  detail::check_device(d, "device_info");
  using Info = std::unordered_map<std::string, std::variant<std::string, size_t>>;
  if (d.type == Device::gpu) return detail::gpu_device_info(d.index);
  static const Info cpu = [] {
    Info info;
    info["device_name"] = std::string("cpu");
#if defined(__x86_64__)
    info["architecture"] = std::string("x86_64");
#elif defined(__aarch64__)
    info["architecture"] = std::string("arm64");
#else
    info["architecture"] = std::string("unknown");
#endif
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGE_SIZE);
    info["total_memory"] = static_cast<size_t>(pages > 0 && page > 0 ? pages * page : 0);
    info["cores"] = static_cast<size_t>(std::thread::hardware_concurrency());
    return info;
  }();
  return cpu;
}

}  // namespace rill
