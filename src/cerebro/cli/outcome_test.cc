#include "cerebro/cli/outcome.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace cerebro::cli {
namespace {

TEST(OutcomeTest, BadInputIsTwoEverythingElseOne) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  for (const Status& st : {InvalidArgument("x"), NotFound("x"), AlreadyExists("x"), DataLoss("x")}) {
    EXPECT_EQ(ExitCodeFor(st), 2) << st.ToString();
  }
  for (const Status& st : {FailedPrecondition("x"), IoError("x"), Internal("x"), Aborted("x"),
                           Cancelled("x")}) {
    EXPECT_EQ(ExitCodeFor(st), 1) << st.ToString();
  }
}

// The hint is for runs the machinery cut short; resume would refuse the others again.
TEST(OutcomeTest, ResumeContinuesWhatTheMachineryCutShort) {
  EXPECT_TRUE(ResumeContinues(Internal("no live worker can run the remaining 12 units")));
  EXPECT_TRUE(ResumeContinues(IoError("checkpoints/m0-3.pt: write: No space left on device")));
  EXPECT_TRUE(ResumeContinues(Cancelled("interrupted")));
  EXPECT_FALSE(ResumeContinues(DataLoss("journal.jsonl:8: unit does not fit the schedule")));
  EXPECT_FALSE(ResumeContinues(InvalidArgument("run.epochs: too large: 4294967297")));
  EXPECT_FALSE(ResumeContinues(FailedPrecondition("RUN: in use by process 42")));
  EXPECT_FALSE(ResumeContinues(Status::Ok()));
}

TEST(OutcomeTest, FailRunHintsOnlyAtADirectoryThatExists) {
  const std::string dir = ::testing::TempDir() + "/outcome_test_run";
  std::filesystem::remove_all(dir);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(FailRun(Internal("no live worker"), dir), 1);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "cerebro: error: no live worker\n");
  std::filesystem::create_directories(dir);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(FailRun(Internal("no live worker"), dir), 1);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "cerebro: error: no live worker\ncerebro: continue it with: cerebro resume " + dir +
                "\n");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(FailRun(DataLoss("journal.jsonl:8: unit does not fit the schedule"), dir), 2);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "cerebro: error: journal.jsonl:8: unit does not fit the schedule\n");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(FailRun(Internal("x"), ""), 1);  // not this command's directory
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "cerebro: error: x\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cerebro::cli
