#include "cerebro/cli/run_name.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace cerebro::cli {
namespace {

// 2026-12-01 08:30:12 UTC plus `ms`, read back in UTC.
std::chrono::system_clock::time_point At(int ms) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 11;
  tm.tm_mday = 1;
  tm.tm_hour = 8;
  tm.tm_min = 30;
  tm.tm_sec = 12;
  return std::chrono::system_clock::from_time_t(::timegm(&tm)) + std::chrono::milliseconds(ms);
}

spec::ExperimentSpec Named(const std::string& name, const std::string& file) {
  spec::ExperimentSpec s;
  s.name = name;
  s.source_file = file;
  return s;
}

TEST(RunNameTest, TimeToTheMillisecondAndThePid) {
  EXPECT_EQ(DefaultRunDir(Named("small", "x.yaml"), At(482), 0x4f1c),
            "runs/small-20261201-083012.482-4f1c");
  EXPECT_EQ(DefaultRunDir(Named("small", "x.yaml"), At(7), 31),
            "runs/small-20261201-083012.007-1f");
}

TEST(RunNameTest, WithoutANameTheSpecFilesBaseName) {
  EXPECT_EQ(DefaultRunDir(Named("", "/a/b.d/grid.v2.yaml"), At(0), 1),
            "runs/grid-20261201-083012.000-1");
}

// Runs started in the same millisecond (different processes) or by one pid at
// different times never share a directory.
TEST(RunNameTest, ProcessesStartedAtOnceGetDifferentDirectories) {
  const spec::ExperimentSpec s = Named("small", "x.yaml");
  EXPECT_NE(DefaultRunDir(s, At(482), 100), DefaultRunDir(s, At(482), 101));
  EXPECT_NE(DefaultRunDir(s, At(482), 100), DefaultRunDir(s, At(483), 100));
}

}  // namespace
}  // namespace cerebro::cli
