// The command-line contract: exit codes, one-line errors that name the field or file,
// and no output directory left behind on bad input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "test_data.h"

namespace cerebro {
namespace {

using testing::TempDir;

using testing::CmdResult;
using testing::RunCerebro;

std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

void ExpectCleanFailure(const CmdResult& r, const std::string& needle, const std::string& out_dir) {
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
  // One line, starting with the program name.
  EXPECT_EQ(r.out.rfind("cerebro: error: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out_dir)) << out_dir;
  // ...and no staging directory either.
  auto parent = std::filesystem::path(out_dir).parent_path();
  for (const auto& e : std::filesystem::directory_iterator(parent)) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
  }
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { csv_ = testing::WriteBlobsCsv(tmp_.path(), 300); }
  std::string Spec(const std::string& text) { return WriteFile(tmp_.Join("spec.yaml"), text); }
  std::string Good() { return testing::SmallSpec(csv_, 1, 2); }
  std::string Out() { return tmp_.Join("out"); }
  std::string Replace(std::string s, const std::string& from, const std::string& to) {
    auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
  }
  TempDir tmp_;
  std::string csv_;
};

TEST_F(CliTest, RunSucceedsAndWritesSummaryWithContractFields) {
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --epochs 2 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rank"), std::string::npos);
  auto j = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/summary.json"));
  for (const char* k : {"model_id", "metric", "direction", "value"}) EXPECT_TRUE(j["best"].contains(k)) << k;
  ASSERT_EQ(j["models"].size(), 4u);
  for (const auto& m : j["models"]) {
    for (const char* k : {"id", "params", "status", "history"}) EXPECT_TRUE(m.contains(k)) << k;
    EXPECT_EQ(m["history"].size(), 2u);  // --epochs overrides the spec
  }
  auto report = RunCerebro("report " + Out());
  EXPECT_EQ(report.exit_code, 0);
  EXPECT_NE(report.out.find("completed"), std::string::npos);
}

TEST_F(CliTest, ConfigsPrintsWhatARunWritesToModelsJsonWithoutTraining) {
  const std::string spec = Spec(Good());
  auto r = RunCerebro("configs " + spec + " --seed 11");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(std::filesystem::exists(Out()));
  auto printed = nlohmann::json::parse(r.out);
  ASSERT_EQ(printed.size(), 4u);
  r = RunCerebro("run " + spec + " --seed 11 --out " + Out() + " --epochs 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(printed, nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/models.json")));

  ExpectCleanFailure(RunCerebro("configs " + spec + " --workers 2"),
                     "--workers: not a flag of configs (it takes --seed)", tmp_.Join("none"));
}

TEST_F(CliTest, UnknownKeyInSpec) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "  epochs:", "  epoch:")) + " --out " + Out()),
                     "run.epoch: unknown key", Out());
}

TEST_F(CliTest, WrongTypeInSpec) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "batch_size: 32", "batch_size: many")) +
                                " --out " + Out()),
                     "batch_size", Out());
}

TEST_F(CliTest, EmptyChoice) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "[0.01, 0.003]", "[]")) + " --out " + Out()),
                     "params.lr.choice: empty choice", Out());
}

TEST_F(CliTest, MinNotBelowMax) {
  std::string text = Replace(Good(), "{choice: [0.01, 0.003]}", "{uniform: [0.1, 0.01]}");
  ExpectCleanFailure(RunCerebro("run " + Spec(text) + " --out " + Out()), "params.lr.uniform: low must be < high",
                     Out());
}

TEST_F(CliTest, MissingDataFile) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), csv_, tmp_.Join("nope.csv"))) + " --out " + Out()),
                     tmp_.Join("nope.csv"), Out());
}

TEST_F(CliTest, TruncatedDataFile) {
  // A gzip'd IDX image file cut short: the reader must name the file.
  std::string images = tmp_.Join("images.gz"), labels = tmp_.Join("labels.gz");
  {
    gzFile g = gzopen(images.c_str(), "wb");
    unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
    gzwrite(g, header, sizeof(header));
    std::string some(28 * 28 * 10, '\x01');  // 10 of the 100 images promised
    gzwrite(g, some.data(), some.size());
    gzclose(g);
    gzFile l = gzopen(labels.c_str(), "wb");
    unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 100};
    gzwrite(l, lh, sizeof(lh));
    std::string ls(100, '\x01');
    gzwrite(l, ls.data(), ls.size());
    gzclose(l);
  }
  std::string text = Replace(Good(), "  format: csv\n", "  format: idx\n");
  text = Replace(text, "{path: " + csv_ + ", header: true, label_column: label}",
                 "{images: " + images + ", labels: " + labels + "}");
  ExpectCleanFailure(RunCerebro("run " + Spec(text) + " --out " + Out()), images, Out());
}

TEST_F(CliTest, MorePartitionsThanExamples) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --workers 500"), "partitions",
                     Out());
}

TEST_F(CliTest, BadModelFieldNamesTheField) {
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), "optimizer: adam", "optimizer: adamax")) +
                                " --out " + Out()),
                     "optimizer", Out());
}

TEST_F(CliTest, BadFlag) {
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --workers zero");
  ExpectCleanFailure(r, "--workers: expected a positive integer, got 'zero'", Out());
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --wrkers 2"), "--wrkers", Out());
  // The last argument: an unknown flag, not a missing value.
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out() + " --bogus"),
                     "--bogus: unknown flag", Out());
}

// Flag values are checked by the spec's range rules, never wrapped to 32 bits.
TEST_F(CliTest, OverflowingFlagsAreRefusedNotWrapped) {
  const std::string run = "run " + Spec(Good()) + " --out " + Out();
  ExpectCleanFailure(RunCerebro(run + " --epochs 4294967297"), "--epochs: too large: 4294967297",
                     Out());
  ExpectCleanFailure(RunCerebro(run + " --workers 4294967298"), "--workers: too large: 4294967298",
                     Out());
  ExpectCleanFailure(RunCerebro(run + " --seed 18446744073709551616"),
                     "--seed: expected an integer in [0, 2^64 - 1]", Out());
}

TEST_F(CliTest, EachCommandTakesOnlyItsOwnFlags) {
  ExpectCleanFailure(RunCerebro("prepare " + Spec(Good()) + " --out " + Out() + " --workers 3"),
                     "--workers: not a flag of prepare (it takes --out, --partitions, --seed, --quiet)",
                     Out());
  ExpectCleanFailure(RunCerebro("resume " + Out() + " --epochs 3"),
                     "--epochs: not a flag of resume (it takes --wait, --quiet)", Out());
}

// `cerebro report` reads summary.json strictly: one line and exit 2, never an abort.
TEST_F(CliTest, ReportOnAMalformedSummaryIsOneLine) {
  const std::string dir = tmp_.Join("run");
  std::filesystem::create_directories(dir);
  ExpectCleanFailure(RunCerebro("report " + dir), "summary.json: no summary (is the run finished?)",
                     tmp_.Join("none"));
  const std::string good = R"({"metric": "accuracy", "direction": "max", "best": null,
      "strategy": "mop", "backend": "local", "workers": 2, "partitions": 2, "epochs": 1,
      "seed": 5, "order": "random",
      "timing": {"wall_seconds": 1.0, "prepare_seconds": 0.5, "compute_seconds": 1.0,
                 "transfer_seconds": 0.0, "state_codec_seconds": 0.0,
                 "checkpoint_seconds": 0.0, "train_examples": 10,
                 "train_samples_per_second": 10.0, "state_bytes_moved": 0},
      "checkpoint_bytes": 0,
      "models": [{"id": 0, "rank": 1, "params": {"model": "mlp"}, "status": "completed",
                  "train_units": 2, "eval_units": 2,
                  "history": [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5,
                               "val_loss": 0.9, "val_accuracy": 0.625, "seconds": 0.1}],
                  "checkpoint": null}]})";
  WriteFile(dir + "/summary.json", good);
  auto r = RunCerebro("report " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("completed  0.6250"), std::string::npos) << r.out;
  WriteFile(dir + "/summary.json", good.substr(0, good.size() / 2));
  ExpectCleanFailure(RunCerebro("report " + dir), "summary.json: not valid JSON",
                     tmp_.Join("none"));
  WriteFile(dir + "/summary.json", "rank model status\n");
  ExpectCleanFailure(RunCerebro("report " + dir), "summary.json: not valid JSON",
                     tmp_.Join("none"));
  WriteFile(dir + "/summary.json",
            Replace(good, R"("history": [)", R"("history": "none", "x": [)"));
  ExpectCleanFailure(RunCerebro("report " + dir),
                     "summary.json: models[0].history: expected an array", tmp_.Join("none"));
}

TEST_F(CliTest, ExistingOutputDirectoryIsNotTouched) {
  std::filesystem::create_directories(Out());
  WriteFile(Out() + "/keep.txt", "x");
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("already exists"), std::string::npos) << r.out;
  EXPECT_EQ(testing::ReadFileOrEmpty(Out() + "/keep.txt"), "x");
}

// ---- issue 10: CLI integers, default run directories, pipes, interrupts, replay --------

// Every integer flag the issue found wrapping, clamping or aborting: one line, exit 2,
// no run directory and no staging directory.
struct OverflowCase {
  const char* command;  // run | prepare | configs
  const char* flags;
  const char* message;
};

class CliOverflowTest : public CliTest, public ::testing::WithParamInterface<OverflowCase> {};

TEST_P(CliOverflowTest, IsOneLineAndLeavesNothing) {
  const OverflowCase& c = GetParam();
  const std::string command = c.command;
  const std::string out = command == "configs" ? "" : " --out " + Out();
  ExpectCleanFailure(RunCerebro(command + " " + Spec(Good()) + out + " " + c.flags), c.message,
                     Out());
}

INSTANTIATE_TEST_SUITE_P(
    Issue10, CliOverflowTest,
    ::testing::Values(
        OverflowCase{"run", "--epochs 4294967297", "--epochs: too large: 4294967297"},
        OverflowCase{"run", "--epochs 2147483648", "--epochs: too large: 2147483648"},
        OverflowCase{"run", "--workers 4294967298", "--workers: too large: 4294967298"},
        OverflowCase{"run", "--partitions 4294967298", "--partitions: too large: 4294967298"},
        OverflowCase{"run", "--threads 4294967297", "--threads: too large: 4294967297"},
        OverflowCase{"run", "--threads 2147483648", "--threads: too large: 2147483648"},
        OverflowCase{"run", "--seed 18446744073709551616",
                     "--seed: expected an integer in [0, 2^64 - 1], got '18446744073709551616'"},
        OverflowCase{"run", "--seed -1", "--seed: expected an integer in [0, 2^64 - 1], got -1"},
        OverflowCase{"prepare", "--partitions 4294967298", "--partitions: too large: 4294967298"},
        OverflowCase{"prepare", "--seed 18446744073709551616",
                     "--seed: expected an integer in [0, 2^64 - 1]"},
        OverflowCase{"configs", "--seed 18446744073709551616",
                     "--seed: expected an integer in [0, 2^64 - 1]"}));

// Seeds from 2^63 up are used whole, not clamped to 2^63 - 1: each draws its own models,
// and the run records the seed it was given.
TEST_F(CliTest, SeedsFrom2To63UpAreUsedWhole) {
  const std::string spec =
      Spec(Replace(Good(), "lr: {choice: [0.01, 0.003]}", "lr: {loguniform: [-4, -2]}") +
           "search:\n  method: random\n  num_models: 3\n");
  std::set<std::string> configs;
  for (const char* seed : {"9223372036854775807", "9223372036854775808", "9223372036854775809",
                           "18446744073709551615"}) {
    auto r = RunCerebro("configs " + spec + " --seed " + seed);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    configs.insert(r.out);
  }
  EXPECT_EQ(configs.size(), 4u);
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out() +
                      " --epochs 1 --quiet --seed 18446744073709551615");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/summary.json"));
  EXPECT_EQ(j["seed"].get<uint64_t>(), 18446744073709551615u);
}

// A cerebro process with stdout and stderr on one pipe, started with the signal
// dispositions a terminal gives it (whatever the test runner's are).
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& cwd = "") {
    const std::string binary = testing::BinaryDir() + "/cerebro";
    std::vector<std::string> all = {binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
      for (int sig : {SIGINT, SIGTERM, SIGPIPE}) ::signal(sig, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    CloseOutput();
    if (pid_ > 0 && status_ < 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
  }

  // Reads until a line (after those already matched) starts with `prefix`; false at the
  // end of the output.
  bool ReadUntilLine(const std::string& prefix) {
    for (;;) {
      const size_t end = seen_.find('\n', scanned_);
      if (end == std::string::npos) {
        if (!ReadSome()) return false;
        continue;
      }
      const bool match = seen_.compare(scanned_, prefix.size(), prefix) == 0;
      scanned_ = end + 1;
      if (match) return true;
    }
  }
  // Reads until `lines` newlines have been seen in all; false at end of output.
  bool ReadLines(int lines) {
    while (std::count(seen_.begin(), seen_.end(), '\n') < lines) {
      if (!ReadSome()) return false;
    }
    return true;
  }
  const std::string& ReadAll() {
    while (ReadSome()) {
    }
    return seen_;
  }
  // The reader goes away: the child's next write meets a closed pipe.
  void CloseOutput() {
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  // The wait status (see waitpid).
  int Wait() {
    if (status_ < 0) {
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      status_ = st;
    }
    return status_;
  }
  const std::string& seen() const { return seen_; }

 private:
  bool ReadSome() {
    if (out_ < 0) return false;
    char buf[4096];
    const ssize_t n = ::read(out_, buf, sizeof(buf));
    if (n <= 0) return false;
    seen_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = -1;
  std::string seen_;
  size_t scanned_ = 0;
};

// Every model of Good()'s grid trained every epoch: the run directory is complete.
void ExpectCompleteRun(const std::string& dir, int epochs) {
  auto j = nlohmann::json::parse(testing::ReadFileOrEmpty(dir + "/summary.json"), nullptr, false);
  ASSERT_TRUE(j.is_object()) << dir << "/summary.json";
  ASSERT_EQ(j["models"].size(), 4u);
  for (const auto& m : j["models"]) {
    EXPECT_EQ(m["status"], "completed") << m.dump();
    EXPECT_EQ(m["history"].size(), static_cast<size_t>(epochs)) << m.dump();
  }
}

// Three runs of one spec started at once, without --out: three run directories.
TEST_F(CliTest, DefaultRunDirectoriesOfRunsStartedAtOnceDiffer) {
  const std::string spec = Spec(Good());
  std::vector<std::unique_ptr<Child>> runs;
  for (const char* seed : {"1", "2", "3"}) {
    runs.push_back(std::make_unique<Child>(
        std::vector<std::string>{"run", spec, "--seed", seed, "--quiet"}, tmp_.path()));
  }
  for (auto& c : runs) {
    c->ReadAll();
    const int st = c->Wait();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << ": " << c->seen();
  }
  std::vector<std::string> dirs;
  for (const auto& e : std::filesystem::directory_iterator(tmp_.Join("runs"))) {
    dirs.push_back(e.path().string());
  }
  ASSERT_EQ(dirs.size(), 3u);
  for (const std::string& d : dirs) {
    EXPECT_EQ(std::filesystem::path(d).filename().string().rfind("small-", 0), 0u) << d;
    ExpectCompleteRun(d, 1);
  }
}

// `cerebro run ... 2>&1 | head -2`: the reader leaves after two lines; the run trains on,
// prints nothing more, and exits 0 with a complete run directory.
TEST_F(CliTest, AClosedPipeEndsThePrintingNotTheRun) {
  Child run({"run", Spec(Good()), "--out", Out(), "--epochs", "12", "--order", "fixed"});
  ASSERT_TRUE(run.ReadLines(2)) << run.seen();
  run.CloseOutput();
  const int st = run.Wait();
  ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  EXPECT_EQ(WEXITSTATUS(st), 0);
  ExpectCompleteRun(Out(), 12);
}

// SIGINT (Ctrl-C) or SIGTERM once the run directory exists: the process ends as the
// signal says, after a line saying how to continue; resume then finishes the run.
TEST_F(CliTest, AnInterruptedRunSaysHowToContinueIt) {
  const std::string hint = "cerebro: continue it with: cerebro resume " + Out();
  {
    Child run({"run", Spec(Good()), "--out", Out(), "--epochs", "30", "--order", "fixed"});
    ASSERT_TRUE(run.ReadUntilLine("epoch ")) << run.seen();  // a unit is done
    run.Signal(SIGINT);
    EXPECT_NE(run.ReadAll().find(hint), std::string::npos) << run.seen();
    const int st = run.Wait();
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT) << st;
  }
  {
    Child resume({"resume", Out()});
    ASSERT_TRUE(resume.ReadUntilLine("epoch ")) << resume.seen();
    resume.Signal(SIGTERM);
    EXPECT_NE(resume.ReadAll().find(hint), std::string::npos) << resume.seen();
    const int st = resume.Wait();
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) << st;
  }
  auto r = RunCerebro("resume " + Out() + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("continue it with"), std::string::npos) << r.out;
  ExpectCompleteRun(Out(), 30);
}

// A run that fails after it started (here its checkpoint directory turns into a file,
// as a full or broken disk would refuse writes) ends with its error and the hint; replay
// refuses it as unfinished.
TEST_F(CliTest, ARunThatFailsAfterItStartedSaysHowToContinueIt) {
  Child run({"run", Spec(Good()), "--out", Out(), "--epochs", "30", "--order", "fixed"});
  ASSERT_TRUE(run.ReadUntilLine("epoch ")) << run.seen();
  std::filesystem::rename(Out() + "/checkpoints", Out() + "/checkpoints.moved");
  WriteFile(Out() + "/checkpoints", "not a directory");
  const std::string& out = run.ReadAll();
  const int st = run.Wait();
  ASSERT_TRUE(WIFEXITED(st)) << st << ": " << out;
  EXPECT_EQ(WEXITSTATUS(st), 1) << out;
  EXPECT_NE(out.find("cerebro: error: "), std::string::npos) << out;
  EXPECT_NE(out.find("cerebro: continue it with: cerebro resume " + Out() + "\n"),
            std::string::npos)
      << out;
  auto replay = RunCerebro("replay " + Out());
  ExpectCleanFailure(replay, Out() + ": not finished (", Out() + "-replay");
  EXPECT_NE(replay.out.find("not finished (its run loop stopped); resume it first"), std::string::npos) << replay.out;
}

// Replay of a run that was killed (no summary.json yet): one line, nothing written.
TEST_F(CliTest, ReplayOfAnUnfinishedRunIsOneLine) {
  {
    Child run({"run", Spec(Good()), "--out", Out(), "--epochs", "30", "--order", "fixed"});
    ASSERT_TRUE(run.ReadUntilLine("epoch ")) << run.seen();
    run.Signal(SIGKILL);
    run.Wait();
  }
  ExpectCleanFailure(RunCerebro("replay " + Out() + "/"),
                     Out() + ": not finished (no summary.json); resume it first",
                     Out() + "-replay");
}

// ---- issue 15: exit status 1 and replay's divergence report ----

// README: exit status 1 when the run failed after it started, here because every model
// failed (plain SGD at lr 1e30 makes every loss non-finite); the summary says so.
TEST_F(CliTest, ARunWhoseEveryModelFailedExitsWithOne) {
  std::string text = Replace(Good(), "optimizer: adam", "optimizer: sgd");
  text = Replace(text, "[0.01, 0.003]", "[1.0e30, 2.0e30]");
  auto r = RunCerebro("run " + Spec(text) + " --out " + Out() + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto j = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/summary.json"));
  EXPECT_TRUE(j["best"].is_null());
  ASSERT_EQ(j["models"].size(), 4u);
  for (const auto& m : j["models"]) EXPECT_EQ(m["status"], "failed") << m.dump();
}

// Replay follows the journaled order; a journal whose order was changed (model 1's two
// partitions of epoch 0 swapped) no longer reproduces the metrics: replay names the model
// and the epoch (printed 1-based), and exits 1. The other models' epochs stay identical.
TEST_F(CliTest, ReplayOfAChangedJournalReportsTheModelAndEpochThatDiverged) {
  auto r = RunCerebro("run " + Spec(Good()) + " --out " + Out() +
                      " --epochs 2 --order fixed --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string journal = Out() + "/journal.jsonl";
  std::vector<nlohmann::json> lines;
  {
    std::ifstream in(journal);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  }
  std::vector<size_t> trains;  // model 1's train units of epoch 0
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& j = lines[i];
    if (j["type"] == "unit" && j["model"] == 1 && j["epoch"] == 0 && j["kind"] == "train") {
      trains.push_back(i);
    }
  }
  ASSERT_EQ(trains.size(), 2u);
  ASSERT_NE(lines[trains[0]]["partition"], lines[trains[1]]["partition"]);
  std::swap(lines[trains[0]]["partition"], lines[trains[1]]["partition"]);
  {
    std::ofstream out(journal, std::ios::trunc);
    for (const auto& j : lines) out << j.dump() << "\n";
  }
  auto replay = RunCerebro("replay " + Out() + " --quiet");
  EXPECT_EQ(replay.exit_code, 1) << replay.out;
  EXPECT_NE(replay.out.find("diverged: model 1 epoch 1: "), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("6 of 8 epochs bitwise identical"), std::string::npos) << replay.out;
  for (size_t pos = replay.out.find("diverged: "); pos != std::string::npos;
       pos = replay.out.find("diverged: ", pos + 1)) {
    EXPECT_EQ(replay.out.compare(pos, 18, "diverged: model 1 "), 0) << replay.out;
  }
}

// ---- Issue 10: data and spec edges ----

TEST_F(CliTest, MetricThatDoesNotFitTheTaskIsRefused) {
  const std::string text =
      Replace(Good(), "name: small\n", "name: small\ntask: regression\nmetric: accuracy\n");
  ExpectCleanFailure(RunCerebro("run " + Spec(text) + " --out " + Out()),
                     "metric.name: accuracy does not fit task regression (use loss, train_loss, "
                     "num_parameters, seconds_per_example)",
                     Out());
}

TEST_F(CliTest, HugeClassLabelIsRefusedNamingFileLineAndValue) {
  std::string csv = testing::ReadFileOrEmpty(csv_);
  // The label of the 3rd example (line 4) becomes 1000000.
  size_t line4 = 0;
  for (int i = 0; i < 3; ++i) line4 = csv.find('\n', line4) + 1;
  const size_t end = csv.find('\n', line4);
  const size_t comma = csv.rfind(',', end);
  csv.replace(comma + 1, end - comma - 1, "1000000");
  WriteFile(csv_, csv);
  ExpectCleanFailure(RunCerebro("run " + Spec(Good()) + " --out " + Out()),
                     csv_ + ":4: class label 1000000 would make a 1000001-way output layer", Out());
}

TEST_F(CliTest, SpecThatIsADirectoryOrASymlinkLoopIsOneLine) {
  ExpectCleanFailure(RunCerebro("run " + tmp_.path() + " --out " + Out()),
                     tmp_.path() + ": is a directory, expected a spec file", Out());
  const std::string a = tmp_.Join("loop_a"), b = tmp_.Join("loop_b");
  ASSERT_EQ(::symlink(b.c_str(), a.c_str()), 0);
  ASSERT_EQ(::symlink(a.c_str(), b.c_str()), 0);
  ExpectCleanFailure(RunCerebro("run " + Spec(Replace(Good(), csv_, a)) + " --out " + Out()),
                     "data.train.path: " + a + ": a symlink loop", Out());
  ExpectCleanFailure(RunCerebro("prepare " + Spec(Replace(Good(), csv_, a)) + " --out " + Out()),
                     "data.train.path: " + a + ": a symlink loop", Out());
}

TEST_F(CliTest, RelativeDataPathsAreResolvedAgainstTheSpecsDirectory) {
  const std::string exp = tmp_.Join("exp");
  std::filesystem::create_directories(exp + "/data");
  std::filesystem::copy_file(csv_, exp + "/data/blobs.csv");
  const std::string spec = WriteFile(exp + "/spec.yaml", Replace(Good(), csv_, "data/blobs.csv"));
  // The test runs elsewhere: a path relative to the working directory would not be found.
  ASSERT_FALSE(std::filesystem::exists("data/blobs.csv"));
  auto r = RunCerebro("prepare " + spec + " --out " + Out());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto meta = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/meta.json"));
  EXPECT_EQ(meta["source"]["train_path"], exp + "/data/blobs.csv");
  // A missing relative file says where it was looked for.
  const std::string missing =
      WriteFile(exp + "/missing.yaml", Replace(Good(), csv_, "data/nope.csv"));
  const std::string why =
      "missing.yaml: data.train.path: data/nope.csv: not found (relative "
      "paths are resolved against the spec's directory ";
  ExpectCleanFailure(RunCerebro("run " + missing + " --out " + tmp_.Join("out2")), why + exp + ")",
                     tmp_.Join("out2"));
}

TEST_F(CliTest, ValidationLabelsAbsentFromTrainingAreOneWarningLine) {
  const std::string train = WriteFile(tmp_.Join("train.csv"), "a,label\n1,0\n2,1\n3,0\n4,1\n");
  const std::string val = WriteFile(tmp_.Join("val.csv"), "a,label\n1,0\n2,2\n");
  const std::string text =
      Replace(testing::SmallSpec(train, 1, 1), "{fraction: 0.25}", "{path: " + val + "}");
  auto r = RunCerebro("prepare " + Spec(text) + " --out " + Out());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("cerebro: warning: data: 1 of 3 classes occur in validation but never in "
                       "training (2)"),
            std::string::npos)
      << r.out;
}

// Ctrl-C or SIGTERM while `cerebro prepare` writes the 60K Fashion-MNIST store: the
// staging directory goes, and the process ends by that signal. To hit the write phase
// without sleeping, the test waits (inotify) for the staging directory to appear, stops
// the process, checks it is still staging, then signals and continues it.
TEST_F(CliTest, InterruptedPrepareLeavesNoStagingDirectory) {
  const std::string base = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(base + "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << base;
  }
  auto files = [&](const std::string& set) {
    return "{images: " + base + set + "-images-idx3-ubyte.gz, labels: " + base + set +
           "-labels-idx1-ubyte.gz}";
  };
  const std::string spec =
      Spec("data:\n  format: idx\n  train: " + files("train") + "\n  validation: " + files("t10k") +
           "\n  feature_scale: 0.00392156862745098\n" +
           "params: {model: mlp, hidden: [16], optimizer: adam, lr: 0.001, batch_size: 128}\n" +
           "run: {workers: 2}\n");
  const std::string cerebro = testing::BinaryDir() + "/cerebro";
  for (int sig : {SIGINT, SIGTERM}) {
    bool caught_staging = false;
    for (int attempt = 0; attempt < 5 && !caught_staging; ++attempt) {
      const std::string out =
          tmp_.Join("store-" + std::to_string(sig) + "-" + std::to_string(attempt));
      const int watch = ::inotify_init1(IN_CLOEXEC);
      ASSERT_GE(watch, 0);
      ASSERT_GE(::inotify_add_watch(watch, tmp_.path().c_str(), IN_CREATE | IN_MOVED_TO), 0);
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        std::freopen("/dev/null", "w", stdout);
        std::freopen("/dev/null", "w", stderr);
        ::execl(cerebro.c_str(), cerebro.c_str(), "prepare", spec.c_str(), "--out", out.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
      }
      const std::string staging_name =
          std::filesystem::path(out).filename().string() + ".tmp-" + std::to_string(pid);
      const int exited = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      bool seen = false;
      while (!seen) {
        pollfd fds[2] = {{watch, POLLIN, 0}, {exited, POLLIN, 0}};
        // A generous bound so a broken build fails instead of hanging; never reached.
        if (::poll(fds, exited >= 0 ? 2 : 1, 120000) <= 0 || (fds[1].revents & POLLIN)) break;
        alignas(inotify_event) char buf[4096];
        const ssize_t n = ::read(watch, buf, sizeof(buf));
        for (ssize_t at = 0; at < n;) {
          const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
          if (e->len > 0 && staging_name == e->name) seen = true;
          at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
        }
      }
      int status = 0;
      ::kill(pid, SIGSTOP);
      ::waitpid(pid, &status, WUNTRACED);
      const std::string staging = tmp_.Join(staging_name);
      caught_staging = seen && WIFSTOPPED(status) && std::filesystem::exists(staging) &&
                       !std::filesystem::exists(out);
      ::kill(pid, sig);
      ::kill(pid, SIGCONT);
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ::close(watch);
      if (exited >= 0) ::close(exited);
      if (!caught_staging) {  // it finished first: try again
        std::filesystem::remove_all(out);
        continue;
      }
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
      EXPECT_FALSE(std::filesystem::exists(staging)) << staging;
      EXPECT_FALSE(std::filesystem::exists(out)) << out;
    }
    EXPECT_TRUE(caught_staging) << "never caught cerebro prepare while it was staging";
  }
}

}  // namespace
}  // namespace cerebro

namespace cerebro {
namespace {

// `cerebro ctl` steers a live run: a stop lands at the model's next epoch boundary, an
// extension adds epochs, each acknowledged with one line; bad input is refused with one
// line and exit 2; another user is refused; a run that is not running says so.
TEST_F(CliTest, CtlSteersARunningExperiment) {
  // 400 epochs: far longer than the test needs, however loaded the machine; the test ends
  // the run itself by stopping every model.
  const std::string spec = Spec(testing::SmallSpec(csv_, 400, 2));
  const std::string cmd = testing::BinaryDir() + "/cerebro run " + spec + " --out " + Out() +
                          " --quiet > " + tmp_.Join("run.log") + " 2>&1";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(Out() + "/control") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(std::filesystem::exists(Out() + "/control"));
  CmdResult stop = RunCerebro("ctl " + Out() + " stop 1");
  EXPECT_EQ(stop.exit_code, 0) << stop.out;
  EXPECT_NE(stop.out.find("cerebro: model 1 stop"), std::string::npos) << stop.out;
  CmdResult extend = RunCerebro("ctl " + Out() + " extend 0 402");
  EXPECT_EQ(extend.exit_code, 0) << extend.out;
  EXPECT_NE(extend.out.find("model 0 now trains to epoch 402"), std::string::npos) << extend.out;
  for (const char* bad : {" stop 99", " frobnicate 1", " add '{not json'", " extend 0 3",
                          " clone 1 --epochs x"}) {
    CmdResult r = RunCerebro("ctl " + Out() + bad);
    EXPECT_NE(r.exit_code, 0) << bad << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << bad << ": " << r.out;
  }
  // Another user (nobody) cannot steer the run: the socket lives in a directory only its
  // owner can enter.
  pid_t other = ::fork();
  if (other == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    std::string ctl = testing::BinaryDir() + "/cerebro";
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execl(ctl.c_str(), ctl.c_str(), "ctl", Out().c_str(), "stop", "0", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(other, &st, 0);
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 3)) {  // 3: this machine cannot switch users
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << "another user steered the run";
  }
  for (const char* id : {"0", "2", "3"}) {  // the run ends when every model stopped
    CmdResult r = RunCerebro("ctl " + Out() + " stop " + id);
    EXPECT_EQ(r.exit_code, 0) << id << ": " << r.out;
  }
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << testing::ReadFileOrEmpty(tmp_.Join("run.log"));
  auto summary = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/summary.json"));
  for (const auto& m : summary["models"]) {
    EXPECT_EQ(m["status"], "stopped") << m.dump();
    EXPECT_LT(m["history"].size(), 400u);
  }
  int extended = 0;
  std::ifstream journal(Out() + "/journal.jsonl");
  for (std::string line; std::getline(journal, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "model_extended") {
      ++extended;
      EXPECT_EQ(j["model"], 0);
      EXPECT_EQ(j["epochs"], 402);
      EXPECT_EQ(j["origin"], "control");
    }
  }
  EXPECT_EQ(extended, 1);
  CmdResult late = RunCerebro("ctl " + Out() + " stop 0");
  EXPECT_EQ(late.exit_code, 1) << late.out;
  EXPECT_NE(late.out.find("not running"), std::string::npos) << late.out;
  EXPECT_FALSE(std::filesystem::exists(Out() + "/control"));
}

}  // namespace
}  // namespace cerebro

namespace cerebro {
namespace {

// `cerebro status` reads a run without locking or writing it: live while its owner holds
// the lock (here stopped mid-run), not live and unfinished after the owner is killed, and
// finished with summary.json's numbers after resume; a corrupt journal is one line, exit 2.
TEST_F(CliTest, StatusShowsALiveAnInterruptedAndAFinishedRun) {
  auto status = [&] {
    CmdResult r = RunCerebro("status " + Out() + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << r.out;
    return j.is_object() ? j : nlohmann::json::object();
  };
  {
    Child run({"run", Spec(Good()), "--out", Out(), "--epochs", "30", "--order", "fixed"});
    ASSERT_TRUE(run.ReadUntilLine("epoch ")) << run.seen();  // a unit is done
    run.Signal(SIGSTOP);  // it holds the lock, and its journal stands still
    const std::string journal = testing::ReadFileOrEmpty(Out() + "/journal.jsonl");
    auto live = status();
    EXPECT_TRUE(live.value("live", false)) << live.dump();
    EXPECT_GT(live.value("units_done", 0), 0) << live.dump();
    EXPECT_LT(live.value("units_done", 0), live.value("units_total", 0)) << live.dump();
    EXPECT_FALSE(live.value("finished", true)) << live.dump();
    CmdResult table = RunCerebro("status " + Out());
    EXPECT_EQ(table.exit_code, 0) << table.out;
    EXPECT_NE(table.out.find(": live (process "), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("\nprogress: "), std::string::npos) << table.out;
    EXPECT_EQ(testing::ReadFileOrEmpty(Out() + "/journal.jsonl"), journal);
    run.Signal(SIGKILL);
    run.Wait();
  }
  auto interrupted = status();
  EXPECT_FALSE(interrupted.value("live", true)) << interrupted.dump();
  EXPECT_FALSE(interrupted.value("finished", true)) << interrupted.dump();
  EXPECT_LT(interrupted.value("units_done", 0), interrupted.value("units_total", 0));
  CmdResult hint = RunCerebro("status " + Out());
  EXPECT_NE(hint.out.find("continue it with: cerebro resume " + Out()), std::string::npos)
      << hint.out;

  ASSERT_EQ(RunCerebro("resume " + Out() + " --quiet").exit_code, 0);
  auto done = status();
  auto summary = nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/summary.json"));
  EXPECT_TRUE(done.value("finished", false)) << done.dump();
  EXPECT_EQ(done["units_done"], done["units_total"]);
  EXPECT_EQ(done["best_model"], summary["best"]["model_id"]);
  EXPECT_EQ(done["best_value"], summary["best"]["value"]);
  EXPECT_EQ(done["models"].size(), summary["models"].size());
  size_t epochs = 0;
  for (size_t i = 0; i < summary["models"].size(); ++i) {
    EXPECT_EQ(done["models"][i]["id"], summary["models"][i]["id"]) << i;
    EXPECT_EQ(done["models"][i]["epochs"], summary["models"][i]["history"].size()) << i;
    epochs += summary["models"][i]["history"].size();
  }
  EXPECT_EQ(done["epochs_done"], epochs);
  EXPECT_EQ(done["epochs_total"], epochs);

  std::string journal = testing::ReadFileOrEmpty(Out() + "/journal.jsonl");
  journal.insert(journal.find('\n') + 1, "{\"type\":\"unit\"\n");
  WriteFile(Out() + "/journal.jsonl", journal);
  CmdResult bad = RunCerebro("status " + Out());
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_EQ(bad.out.rfind("cerebro: error: ", 0), 0u) << bad.out;
  EXPECT_NE(bad.out.find("journal.jsonl:2:"), std::string::npos) << bad.out;
  EXPECT_EQ(std::count(bad.out.begin(), bad.out.end(), '\n'), 1) << bad.out;
}

// Issue 13, item 1: a second run of a spec links the cached store (and says so); a spec
// with data: {store: DIR} runs from a store made by `cerebro prepare`.
TEST_F(CliTest, ASecondRunReusesThePreparedStoreAndAStoreSpecRunsFromPrepare) {
  const char* old = std::getenv("CEREBRO_CACHE");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("CEREBRO_CACHE", tmp_.Join("cache").c_str(), 1);  // this test's own cache
  const std::string spec = Spec(Good());
  CmdResult first = RunCerebro("run " + spec + " --out " + Out() + " --epochs 1 --quiet");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("cerebro: info: data: prepared store "), std::string::npos) << first.out;
  CmdResult second =
      RunCerebro("run " + spec + " --out " + tmp_.Join("out2") + " --epochs 1 --quiet");
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_NE(second.out.find("cerebro: info: data: reused prepared store "), std::string::npos)
      << second.out;
  // Both runs' files are the cache entry's (hard links), and the runs' results agree.
  EXPECT_GE(std::filesystem::hard_link_count(tmp_.Join("out2/data/train_000.x.npy")), 3u);
  EXPECT_EQ(nlohmann::json::parse(testing::ReadFileOrEmpty(Out() + "/models.json")),
            nlohmann::json::parse(testing::ReadFileOrEmpty(tmp_.Join("out2/models.json"))));

  CmdResult prepared = RunCerebro("prepare " + spec + " --out " + tmp_.Join("store"));
  ASSERT_EQ(prepared.exit_code, 0) << prepared.out;
  std::string text = Good();
  text.replace(text.find("data:"), text.find("params:") - text.find("data:"),
               "data: {store: " + tmp_.Join("store") + "}\n");
  CmdResult from_store = RunCerebro("run " + WriteFile(tmp_.Join("store.yaml"), text) +
                                    " --out " + tmp_.Join("out3") + " --epochs 1 --quiet");
  EXPECT_EQ(from_store.exit_code, 0) << from_store.out;
  EXPECT_NE(from_store.out.find("data: linked prepared store " + tmp_.Join("store")),
            std::string::npos)
      << from_store.out;
  CmdResult again = RunCerebro("prepare " + tmp_.Join("store.yaml") + " --out " + tmp_.Join("x"));
  EXPECT_EQ(again.exit_code, 2) << again.out;
  EXPECT_NE(again.out.find("nothing to prepare"), std::string::npos) << again.out;
  if (old != nullptr) {
    ::setenv("CEREBRO_CACHE", saved.c_str(), 1);
  } else {
    ::unsetenv("CEREBRO_CACHE");
  }
}

}  // namespace
}  // namespace cerebro
