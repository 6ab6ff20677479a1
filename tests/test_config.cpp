// The environment variables of runtime/config.h: one parser, one error, each
// read once, every one of them in the README.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "runtime/config.h"

namespace rill::detail {
namespace {

std::string error_of(Setting s, const char* text) {
  try {
    parse_setting_for_testing(s, text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Config, IntegersInRangeAreRead) {
  EXPECT_EQ(parse_setting_for_testing(Setting::cpu_workers, "12"), 12);
  EXPECT_EQ(parse_setting_for_testing(Setting::gpu_streams, "256"), 256);
  EXPECT_EQ(parse_setting_for_testing(Setting::profile, "0"), 0);
  // Unset or empty: the default.
  EXPECT_EQ(parse_setting_for_testing(Setting::gpu_streams, nullptr), 16);
  EXPECT_EQ(parse_setting_for_testing(Setting::gpu_streams, ""), 16);
  EXPECT_EQ(parse_setting_for_testing(Setting::cpu_workers, nullptr), 0);
}

TEST(Config, MalformedIntegersNameTheVariableAndTheRange) {
  for (const char* bad : {"abc", "12x", "-1", "1025", " ", "99999999999999999999999"}) {
    SCOPED_TRACE(bad);
    const std::string e = error_of(Setting::cpu_workers, bad);
    EXPECT_NE(e.find("[RILL_CPU_WORKERS] must be an integer in [0, 1024]"), std::string::npos)
        << e;
    EXPECT_NE(e.find(std::string("got \"") + bad + "\""), std::string::npos) << e;
  }
  EXPECT_NE(error_of(Setting::profile, "yes").find("[RILL_PROFILE]"), std::string::npos);
  EXPECT_NE(error_of(Setting::gpu_streams, "0").find("[1, 256]"), std::string::npos);
}

TEST(Config, WordsAreCheckedAgainstTheirList) {
  EXPECT_EQ(error_of(Setting::device, "cpu"), "");
  EXPECT_EQ(error_of(Setting::cpu_amx, "model"), "");
  const std::string e = error_of(Setting::device, "tpu");
  EXPECT_NE(e.find("[RILL_DEVICE] must be one of cpu, gpu, got \"tpu\""), std::string::npos)
      << e;
  EXPECT_NE(error_of(Setting::cpu_amx, "yes").find("0, 1, model"), std::string::npos);
}

TEST(Config, ExperimentSwitchesNeedTheirBuild) {
  if (experiment_switches_read()) {
    EXPECT_EQ(parse_setting_for_testing(Setting::sdpa_sm90, "1"), 1);
    EXPECT_NE(error_of(Setting::sdpa_sm90, "4").find("[RILL_SDPA_SM90]"), std::string::npos);
  } else {
    const std::string e = error_of(Setting::sdpa_sm90, "1");
    EXPECT_NE(e.find("[RILL_SDPA_SM90] is an experiment switch"), std::string::npos) << e;
    EXPECT_NE(e.find("-DRILL_EXPERIMENTS=ON"), std::string::npos) << e;
  }
  // Unset, an experiment switch takes its default in every build.
  EXPECT_EQ(parse_setting_for_testing(Setting::sdpa_sm90, nullptr), 2);
}

// The process's own variables: read from the environment once, and a
// malformed one raises at every read. (Nothing else in this test program
// reads these two.)
TEST(Config, TheEnvironmentIsReadOnceAndItsErrorsStay) {
  ASSERT_EQ(setenv("RILL_GPU_STREAMS", "many", 1), 0);
  for (int i = 0; i < 2; ++i) {
    try {
      setting_int(Setting::gpu_streams);
      ADD_FAILURE() << "a malformed RILL_GPU_STREAMS was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("[RILL_GPU_STREAMS]"), std::string::npos);
    }
  }
  ASSERT_EQ(setenv("RILL_CPU_AMX", "model", 1), 0);
  EXPECT_EQ(setting_word(Setting::cpu_amx), "model");
  ASSERT_EQ(setenv("RILL_CPU_AMX", "0", 1), 0);
  EXPECT_EQ(setting_word(Setting::cpu_amx), "model");  // read once
}

TEST(Config, TheReadmeListsEveryVariable) {
  std::ifstream in(RILL_SOURCE_DIR "/README.md");
  ASSERT_TRUE(in) << "cannot read " RILL_SOURCE_DIR "/README.md";
  std::stringstream text;
  text << in.rdbuf();
  for (int i = 0; i < kSettings; ++i) {
    const std::string name = setting_variable(static_cast<Setting>(i));
    EXPECT_NE(text.str().find("`" + name + "`"), std::string::npos)
        << name << " is not in README.md";
  }
}

}  // namespace
}  // namespace rill::detail
