// SPEC section 1: devices.
#include <cstdlib>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "rill/rill.h"

using namespace rill;

namespace {

template <typename F>
void expect_invalid_device(F&& f, const std::string& device, const std::string& op) {
  try {
    f();
    ADD_FAILURE() << op << " accepted " << device;
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(device), std::string::npos) << msg;
    EXPECT_NE(msg.find("[" + op + "]"), std::string::npos) << msg;
    // The message names the valid range (or says there is none).
    EXPECT_TRUE(msg.find("valid") != std::string::npos ||
                msg.find("no gpu") != std::string::npos ||
                msg.find("no GPU") != std::string::npos)
        << msg;
  }
}

std::vector<Device> invalid_devices() {
  std::vector<Device> out = {Device(Device::cpu, 1), Device(Device::cpu, -1),
                             Device(Device::cpu, 1 << 30), Device(Device::gpu, -5),
                             Device(Device::gpu, device_count(Device::gpu)),
                             Device(Device::gpu, 1 << 30)};
  return out;
}

}  // namespace

TEST(Devices, PlainValuesAnyIndex) {
  Device d(Device::gpu, 12345);  // constructing is always fine
  EXPECT_EQ(d.type, Device::gpu);
  EXPECT_EQ(d.index, 12345);
  Device c = Device::cpu;
  EXPECT_EQ(c.index, 0);
  EXPECT_EQ(c, Device(Device::cpu, 0));
  EXPECT_NE(c, d);
  EXPECT_EQ(to_string(Device(Device::gpu, 3)), "Device(gpu, 3)");
}

TEST(Devices, InvalidIndexRejectedEverywhere) {
  for (Device d : invalid_devices()) {
    std::string name = to_string(d);
    expect_invalid_device([&] { default_stream(d); }, name, "default_stream");
    expect_invalid_device([&] { new_stream(d); }, name, "new_stream");
    expect_invalid_device([&] { device_info(d); }, name, "device_info");
    expect_invalid_device([&] { set_default_device(d); }, name, "set_default_device");
    expect_invalid_device([&] { synchronize(Stream(0, d)); }, name, "synchronize");
    expect_invalid_device([&] { set_default_stream(Stream(0, d)); }, name,
                          "set_default_stream");
    expect_invalid_device([&] { StreamContext ctx(d); }, name, "StreamContext");
    expect_invalid_device([&] { zeros({2}, float32, d); }, name, "zeros");
    expect_invalid_device([&] { add(array(1.0f), array(2.0f), d); }, name, "add");
    expect_invalid_device([&] { arange(4, StreamOrDevice(d)); }, name, "arange");
    expect_invalid_device([&] { sum(array({1.0f, 2.0f}), false, d); }, name, "sum");
    EXPECT_FALSE(is_available(d));
  }
  // The process default is untouched by the failed calls.
  EXPECT_TRUE(is_available(default_device()));
}

TEST(Devices, CountAndAvailability) {
  EXPECT_EQ(device_count(Device::cpu), 1);
  EXPECT_TRUE(is_available(Device(Device::cpu, 0)));
  int gpus = device_count(Device::gpu);
  EXPECT_GE(gpus, 0);
  for (int i = 0; i < gpus; ++i) EXPECT_TRUE(is_available(Device(Device::gpu, i)));
  EXPECT_FALSE(is_available(Device(Device::gpu, gpus)));
  if (gpus == 0) {
    GTEST_LOG_(INFO) << "no GPU in this build or machine: gpu devices are unavailable";
  }
}

TEST(Devices, Info) {
  const auto& info = device_info(Device::cpu);
  ASSERT_TRUE(info.count("device_name"));
  ASSERT_TRUE(info.count("total_memory"));
  EXPECT_GT(std::get<size_t>(info.at("total_memory")), 0u);
}

TEST(Devices, DefaultIsGpuWhenAvailableElseCpu) {
  Device expected = device_count(Device::gpu) > 0 ? Device(Device::gpu, 0) : Device::cpu;
  // RILL_DEVICE=cpu|gpu (a suite run on one device) decides instead.
  if (const char* env = std::getenv("RILL_DEVICE")) {
    expected = std::string(env) == "cpu" ? Device(Device::cpu) : Device(Device::gpu, 0);
  }
  EXPECT_EQ(default_device(), expected);
}

TEST(Devices, SetDefaultDeviceIsRaceFree) {
  Device before = default_device();
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      for (int k = 0; k < 2000; ++k) {
        if (i % 2 == 0) {
          set_default_device(Device::cpu);
        } else {
          Device d = default_device();
          EXPECT_TRUE(is_available(d));
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  set_default_device(before);
  EXPECT_EQ(default_device(), before);
}

TEST(Devices, StreamContextIsPerThread) {
  Stream mine = new_stream(Device::cpu);
  Stream other_default = default_stream(Device::cpu);
  std::atomic<int> phase{0};
  Stream seen_by_other(-1, Device::cpu);
  std::thread other([&] {
    Stream own = default_stream(Device::cpu);
    while (phase.load() != 1) std::this_thread::yield();
    seen_by_other = default_stream(Device::cpu);
    EXPECT_EQ(seen_by_other, own);  // the context on the main thread is invisible here
    phase.store(2);
  });
  {
    StreamContext ctx(mine);
    EXPECT_EQ(default_stream(Device::cpu), mine);
    EXPECT_EQ(default_device(), Device(Device::cpu));
    array x = add(array(1.0f), array(2.0f));  // no stream given: the context's
    EXPECT_EQ(x.stream(), mine);
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
  }
  other.join();
  EXPECT_NE(seen_by_other, mine);
  EXPECT_EQ(default_stream(Device::cpu), other_default);  // restored
  EXPECT_THROW(StreamContext ctx{StreamOrDevice{}}, std::invalid_argument);
}

TEST(Devices, StrictWeakOrderingProperty) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> idx(-3, 3), ty(0, 1);
  std::vector<Device> ds;
  for (int i = 0; i < 60; ++i) {
    ds.emplace_back(ty(rng) ? Device::gpu : Device::cpu, idx(rng));
  }
  auto equiv = [](const Device& a, const Device& b) { return !(a < b) && !(b < a); };
  for (auto& a : ds) {
    EXPECT_FALSE(a < a);
    for (auto& b : ds) {
      if (a < b) {
        EXPECT_FALSE(b < a);
      }
      EXPECT_EQ(equiv(a, b), a == b);  // equivalence is equality
      if (a == b) {
        EXPECT_EQ(std::hash<Device>()(a), std::hash<Device>()(b));
      }
      for (auto& c : ds) {
        if (a < b && b < c) {
          EXPECT_TRUE(a < c);
        }
        if (equiv(a, b) && equiv(b, c)) {
          EXPECT_TRUE(equiv(a, c));
        }
      }
    }
  }
  std::set<Device> unique(ds.begin(), ds.end());
  std::vector<Device> sorted(ds.begin(), ds.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(unique.size(), sorted.size());
}
