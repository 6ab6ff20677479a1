// Devices: plain values naming a backend and an index.
#pragma once

#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <variant>

namespace rill {

struct Device {
  enum class DeviceType : int { cpu = 0, gpu = 1 };
  static constexpr DeviceType cpu = DeviceType::cpu;
  static constexpr DeviceType gpu = DeviceType::gpu;

  constexpr Device(DeviceType type, int index = 0) : type(type), index(index) {}

  DeviceType type;
  int index;
};

constexpr bool operator==(const Device& a, const Device& b) {
  return a.type == b.type && a.index == b.index;
}
constexpr bool operator!=(const Device& a, const Device& b) { return !(a == b); }
// Strict weak ordering: by type, then index.
constexpr bool operator<(const Device& a, const Device& b) {
  return a.type != b.type ? static_cast<int>(a.type) < static_cast<int>(b.type)
                          : a.index < b.index;
}
constexpr bool operator>(const Device& a, const Device& b) { return b < a; }
constexpr bool operator<=(const Device& a, const Device& b) { return !(b < a); }
constexpr bool operator>=(const Device& a, const Device& b) { return !(a < b); }

std::ostream& operator<<(std::ostream& os, Device::DeviceType t);
std::ostream& operator<<(std::ostream& os, const Device& d);
std::string to_string(const Device& d);

// Number of devices of a type that this build can use (0 for gpu without a GPU
// backend or without a card). Thread-safe.
int device_count(Device::DeviceType type);

// True iff the backend is built, present, and 0 <= index < device_count(type).
bool is_available(const Device& d);

// Facts about a device ("device_name", "architecture", "total_memory", ...).
// Throws std::invalid_argument for a device that is not available.
const std::unordered_map<std::string, std::variant<std::string, size_t>>& device_info(
    const Device& d);

// The process default device (gpu when available, else cpu), unless a
// StreamContext on the calling thread overrides it. Thread-safe.
Device default_device();

// Changes the process default device. Thread-safe; throws std::invalid_argument
// for an unavailable device.
void set_default_device(const Device& d);

}  // namespace rill

template <>
struct std::hash<rill::Device> {
  size_t operator()(const rill::Device& d) const noexcept {
    return std::hash<long long>()((static_cast<long long>(d.type) << 32) ^
                                  static_cast<unsigned>(d.index));
  }
};
