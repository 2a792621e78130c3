// state_file.h: what a worker writes is what it reads back, and a file that is not what
// the journal says is refused with one line naming it.
#include "cerebro/train/state_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cerebro/common/rng.h"

namespace cerebro::train {
namespace {

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/state_file_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateFileTest, WrittenStateReadsBackAndVerifies) {
  const std::string bytes = "model state bytes";
  const uint64_t hash = Hash64(bytes.data(), bytes.size());
  for (bool durable : {true, false}) {
    const std::string path = dir_ + (durable ? "/d.state" : "/p.state");
    ASSERT_TRUE(WriteStateFile(path, bytes, durable).ok());
    auto read = ReadStateFile(path, bytes.size(), hash);
    ASSERT_TRUE(read.ok()) << read.status().message();
    EXPECT_EQ(*read, bytes);
    EXPECT_TRUE(ReadStateFile(path, 0, 0).ok());  // size 0: not recorded, not checked
  }
  // No temp file is left beside the states.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                          std::filesystem::directory_iterator()),
            2);
}

TEST_F(StateFileTest, ReplacesAnExistingFile) {
  const std::string path = dir_ + "/s.state";
  ASSERT_TRUE(WriteStateFile(path, "old", true).ok());
  ASSERT_TRUE(WriteStateFile(path, "newer", false).ok());
  EXPECT_EQ(*ReadStateFile(path, 5, Hash64("newer", 5)), "newer");
}

TEST_F(StateFileTest, RefusesWhatTheJournalDoesNotName) {
  const std::string path = dir_ + "/s.state";
  const std::string bytes = "0123456789";
  const uint64_t hash = Hash64(bytes.data(), bytes.size());
  ASSERT_TRUE(WriteStateFile(path, bytes, true).ok());
  {
    auto r = ReadStateFile(path, bytes.size(), hash + 1);  // altered
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    EXPECT_EQ(r.status().message(),
              path + ": 10 bytes that do not match the journal (10 bytes, hash " +
                  std::to_string(hash + 1) + ")");
  }
  ASSERT_EQ(::truncate(path.c_str(), 4), 0);  // torn
  {
    auto r = ReadStateFile(path, bytes.size(), hash);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("4 bytes that do not match the journal"),
              std::string::npos);
  }
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);  // clobbered
  EXPECT_EQ(ReadStateFile(path, 0, 0).status().message(), path + ": empty state file");
  auto missing = ReadStateFile(dir_ + "/none.state", 1, 1);
  EXPECT_EQ(missing.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(missing.status().message().rfind(dir_ + "/none.state: ", 0), 0u);
  EXPECT_EQ(missing.status().message().find('\n'), std::string::npos);
}

TEST_F(StateFileTest, AFailedWriteLeavesThePathUnchanged) {
  const std::string path = dir_ + "/s.state";
  ASSERT_TRUE(WriteStateFile(path, "kept", true).ok());
  ASSERT_EQ(::chmod(dir_.c_str(), 0500), 0);
  const bool root = ::geteuid() == 0;  // root writes anyway: nothing to check then
  Status st = WriteStateFile(path, "lost", true);
  ::chmod(dir_.c_str(), 0700);
  if (!root) {
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(*ReadStateFile(path, 0, 0), "kept");
  }
}

}  // namespace
}  // namespace cerebro::train
