#include "cerebro/cli/signals.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

namespace cerebro::cli {
namespace {

// Each case runs in a child (a death test): the handlers are process-wide.
class SignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    dir_ = ::testing::TempDir() + "/signals_test_run";
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SignalsTest, InterruptPrintsTheHintThenDiesOfTheSignal) {
  for (int sig : {SIGINT, SIGTERM}) {
    EXPECT_EXIT(
        {
          ResumeHintOnSignal hint(dir_);
          ::raise(sig);
        },
        ::testing::KilledBySignal(sig), "cerebro: continue it with: cerebro resume " + dir_);
  }
}

// A run still preparing (its directory not there yet) has nothing to resume.
TEST_F(SignalsTest, NoHintBeforeTheRunDirectoryExists) {
  const std::string missing = dir_ + "/not-yet";
  EXPECT_EXIT(
      {
        ResumeHintOnSignal hint(missing);
        std::fprintf(stderr, "[");
        ::raise(SIGINT);
      },
      ::testing::KilledBySignal(SIGINT), "^\\[$");
}

TEST_F(SignalsTest, IgnoredSignalsStayIgnoredAndHandlersAreRestored) {
  EXPECT_EXIT(
      {
        ::signal(SIGINT, SIG_IGN);
        { ResumeHintOnSignal hint(dir_); ::raise(SIGINT); }  // ignored: goes on
        ::signal(SIGINT, SIG_DFL);
        { ResumeHintOnSignal hint(dir_); }
        ::raise(SIGINT);  // the default action again, and no hint
      },
      ::testing::KilledBySignal(SIGINT), "^$");
}

TEST_F(SignalsTest, AClosedPipeIsAnErrorNotADeath) {
  EXPECT_EXIT(
      {
        IgnoreSigpipe();
        int fds[2];
        if (::pipe(fds) != 0) std::_Exit(3);
        ::close(fds[0]);
        std::_Exit(::write(fds[1], "x", 1) < 0 && errno == EPIPE ? 0 : 4);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace cerebro::cli
