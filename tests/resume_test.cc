// Nothing lost: the driver killed at random points and resumed, injected disk faults,
// replay of a run's journaled order, and checkpoint retention.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "cerebro/driver/driver.h"
#include "fault_fs.h"
#include "run_helpers.h"
#include "test_data.h"

namespace cerebro {
namespace {

using testing::CompleteLines;
using testing::ExpectEveryUnitExactlyOnce;
using testing::Options;
using testing::ParseOrDie;
using testing::ReadJsonLines;
using testing::TempDir;
using Json = spec::Json;

// metrics.jsonl rows (which hold no timing or placement), sorted.
std::vector<std::string> Metrics(const std::string& run_dir) {
  std::vector<std::string> rows;
  for (auto j : ReadJsonLines(run_dir + "/metrics.jsonl")) {
    rows.push_back(j.dump());
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    csv_ = testing::WriteBlobsCsv(tmp_.path(), 600);
    spec_text_ = testing::SmallSpec(csv_, 3, 2, "  order: fixed\n");
    std::ofstream(tmp_.Join("spec.yaml")) << spec_text_;
    auto ref = driver::RunExperiment(ParseOrDie(spec_text_), Options(tmp_.Join("reference")));
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    reference_ = Metrics(ref->run_dir);
    ASSERT_EQ(reference_.size(), 12u);  // 4 models x 3 epochs
  }
  TempDir tmp_;
  std::string csv_, spec_text_;
  std::vector<std::string> reference_;
};

pid_t Spawn(const std::vector<std::string>& args) { return testing::SpawnCerebro(args); }

// Kills are made at random times (anywhere: start-up, a state half written, shutdown) and
// at random journal lengths (so they cover the whole run on any machine), and the journal
// length at each kill is recorded: they must spread from before the run is published
// (length 0) to near its end. An attempt is let finish after three kills in a row that
// added nothing to the journal, so the test cannot livelock on a slow machine, and its
// time is bounded.
TEST_F(ResumeTest, DriverKilledAtTwentyRandomPointsResumesToIdenticalMetrics) {
  const auto t0 = std::chrono::steady_clock::now();
  pid_t timing = Spawn({"run", tmp_.Join("spec.yaml"), "--out", tmp_.Join("timing"), "--quiet"});
  int timing_status = 0;
  ::waitpid(timing, &timing_status, 0);
  ASSERT_TRUE(WIFEXITED(timing_status) && WEXITSTATUS(timing_status) == 0);
  const int run_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count());
  const int full_journal = CompleteLines(tmp_.Join("timing/journal.jsonl"));
  ASSERT_GT(full_journal, 40);
  // Twenty kills and their resumes cost about ten uninterrupted runs; allow four times that.
  const auto bound = std::chrono::milliseconds(std::max(60000, 40 * run_ms));
  std::mt19937 rng(20261127);
  std::uniform_int_distribution<int> delay_ms(20, std::max(100, run_ms * 9 / 10));
  std::bernoulli_distribution by_journal(0.7);  // most kills by journal length: they spread
  std::vector<int> killed_at;  // journal length at each kill
  // Episodes: a fresh run, killed again and again (each time resumed) until one attempt
  // finishes; then its metrics must equal the uninterrupted run's.
  int attempts = 0, episodes = 0;
  while (killed_at.size() < 20) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, bound) << killed_at.size() << " kills";
    const std::string out = tmp_.Join("run" + std::to_string(episodes++));
    const std::string journal = out + "/journal.jsonl";
    bool finished = false;
    int idle_kills = 0;  // kills in a row that added nothing to the journal
    while (!finished) {
      ASSERT_LT(std::chrono::steady_clock::now() - t0, bound) << killed_at.size() << " kills";
      ++attempts;
      const bool published = std::filesystem::exists(out + "/spec.json");
      const int before = CompleteLines(journal);
      pid_t pid = published ? Spawn({"resume", out, "--quiet"})
                            : Spawn({"run", tmp_.Join("spec.yaml"), "--out", out, "--quiet"});
      ASSERT_GT(pid, 0);
      // The very first kill lands in start-up, before anything is published.
      const bool let_finish = idle_kills >= 3;
      const bool journal_kill = attempts > 1 && by_journal(rng);
      const int target = std::uniform_int_distribution<int>(
          before + 1, std::max(before + 1, full_journal - 1))(rng);
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(attempts == 1 ? 20 : delay_ms(rng));
      int status = 0;
      bool exited = false;
      while (!let_finish && !(exited = ::waitpid(pid, &status, WNOHANG) == pid)) {
        if (journal_kill ? CompleteLines(journal) >= target
                         : std::chrono::steady_clock::now() >= deadline) {
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(journal_kill ? 1 : 5));
      }
      if (!let_finish && !exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        const int after = CompleteLines(journal);
        killed_at.push_back(after);
        idle_kills = after > before ? 0 : idle_kills + 1;
        continue;
      }
      if (let_finish) ::waitpid(pid, &status, 0);
      ASSERT_TRUE(WIFEXITED(status)) << "attempt " << attempts;
      ASSERT_EQ(WEXITSTATUS(status), 0) << "attempt " << attempts;
      finished = std::filesystem::exists(out + "/summary.json");
      idle_kills = 0;
    }
    EXPECT_EQ(Metrics(out), reference_) << out;
    ExpectEveryUnitExactlyOnce(out, 4, 3, 2);
    auto summary = Json::parse(testing::ReadFileOrEmpty(out + "/summary.json"));
    for (const auto& m : summary["models"]) EXPECT_EQ(m["status"], "completed");
    // No stray checkpoint is left behind.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out + "/checkpoints"),
                            std::filesystem::directory_iterator()),
              4);
  }
  // Where the kills landed: before publication, near the end, and spread in between.
  std::string where;
  for (int k : killed_at) where += " " + std::to_string(k);
  const std::set<int> distinct(killed_at.begin(), killed_at.end());
  std::printf("%zu kills in %d attempts (%d episodes, one run %d ms) at journal lengths of %d:%s\n",
              killed_at.size(), attempts, episodes, run_ms, full_journal, where.c_str());
  EXPECT_GE(distinct.size(), 5u) << where;
  EXPECT_EQ(*distinct.begin(), 0) << where;
  EXPECT_GE(*distinct.rbegin(), full_journal * 9 / 10) << where << " of " << full_journal;
  // No staging directory is left behind.
  for (const auto& e : std::filesystem::directory_iterator(tmp_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos);
  }
}

// design.md: the workers die with their driver. A `cerebro run` is SIGKILLed mid-run (it
// can clean nothing up); its worker processes and fork server, recorded from its own
// process tree before the kill, must all be gone within ten seconds (zombies count as
// gone: they run nothing).
TEST(DriverDeathTest, WorkersOfASigkilledDriverDieWithIt) {
  TempDir tmp;
  const std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  std::ofstream(tmp.Join("spec.yaml")) << testing::SmallSpec(csv, 50, 2);
  const std::string out = tmp.Join("run");
  pid_t driver = Spawn({"run", tmp.Join("spec.yaml"), "--out", out, "--quiet"});
  ASSERT_GT(driver, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (CompleteLines(out + "/journal.jsonl") < 10 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Its worker processes and its fork server, from its own process tree.
  std::map<testing::ProcessId, std::string> workers, all;
  for (const auto& [p, comm] : testing::DescendantsOf(driver)) {
    if (comm == "cerebro-worker") workers[p] = comm;
    all[p] = comm;
  }
  // The workers were forked from the driver's fork server (exec/fork_server.h), not
  // exec'd: they run the driver's executable.
  auto exe = [](pid_t pid) {
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
  };
  for (const auto& [p, comm] : workers) EXPECT_EQ(exe(p.pid), exe(driver)) << "worker " << p.pid;
  EXPECT_EQ(all.size(), 3u) << "two workers and the fork server";
  int status = 0;
  const bool mid_run = ::waitpid(driver, &status, WNOHANG) == 0;
  ::kill(driver, SIGKILL);
  ::waitpid(driver, &status, 0);
  ASSERT_TRUE(mid_run) << "the run ended before it was killed";
  ASSERT_EQ(workers.size(), 2u) << "one worker process per partition";
  workers = all;  // the fork server must go too
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!testing::StillRunning(workers).empty() && std::chrono::steady_clock::now() < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::vector<testing::ProcessId> left = testing::StillRunning(workers);
  for (const auto& p : left) ::kill(p.pid, SIGKILL);  // do not leave them to the next test
  EXPECT_TRUE(left.empty()) << left.size() << " worker(s) outlived the driver, e.g. pid "
                            << left[0].pid;
}

// A run directory has one writer. While a run is frozen mid-training (SIGSTOP: it holds
// the lock and cannot finish), a plain resume is refused naming it, and a resume --wait
// blocks; when the owner is SIGKILLed the kernel releases its lock, the waiting resume
// takes over, and the result equals the uninterrupted run's (every unit exactly once).
// The first release let both train every remaining unit.
TEST_F(ResumeTest, ASecondResumeWaitingOnTheLockTakesOverWhenTheOwnerIsKilled) {
  const std::string out = tmp_.Join("locked");
  pid_t owner = Spawn({"run", tmp_.Join("spec.yaml"), "--out", out, "--quiet"});
  ASSERT_GT(owner, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ReadJsonLines(out + "/journal.jsonl").size() < 10 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(owner, SIGSTOP);
  int status = 0;
  ASSERT_EQ(::waitpid(owner, &status, WNOHANG), 0) << "the run ended before it was stopped";
  // Refused at once, naming the owner; nothing written.
  const std::string journal = testing::ReadFileOrEmpty(out + "/journal.jsonl");
  const testing::CmdResult refused = testing::RunCerebro("resume " + out + " --quiet");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.out.find("in use by process " + std::to_string(owner)), std::string::npos)
      << refused.out;
  EXPECT_EQ(testing::ReadFileOrEmpty(out + "/journal.jsonl"), journal);
  pid_t waiter = Spawn({"resume", out, "--wait", "--quiet"});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(::waitpid(waiter, &status, WNOHANG), 0) << "resume --wait did not wait";
  ::kill(owner, SIGKILL);
  ::waitpid(owner, &status, 0);
  ASSERT_EQ(::waitpid(waiter, &status, 0), waiter);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(Metrics(out), reference_);
  ExpectEveryUnitExactlyOnce(out, 4, 3, 2);
}

// The first release took a 0-byte checkpoint for a fresh model (rc 0, a half-trained
// ranking) and trained a re-prepared data store without noticing. Both stop the resume
// now, with one line and exit 2, before anything is written.
TEST_F(ResumeTest, AnEmptyStateOrAReplacedDataStoreStopsTheResumeWithOneLine) {
  const std::string killed = tmp_.Join("killed");
  pid_t pid = Spawn({"run", tmp_.Join("spec.yaml"), "--out", killed, "--quiet"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ReadJsonLines(killed + "/journal.jsonl").size() < 12 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // The latest state of model 0 the journal names, and a copy of the whole run.
  std::string state;
  for (const auto& j : ReadJsonLines(killed + "/journal.jsonl")) {
    if (j.value("type", "") == "unit" && j.value("model", -1) == 0 && j.contains("checkpoint")) {
      state = j["checkpoint"].get<std::string>();
    }
  }
  ASSERT_FALSE(state.empty());
  const std::string copy = tmp_.Join("copy");
  std::filesystem::copy(killed, copy, std::filesystem::copy_options::recursive);

  std::ofstream(killed + "/" + state, std::ios::trunc).close();  // 0 bytes
  std::string journal = testing::ReadFileOrEmpty(killed + "/journal.jsonl");
  testing::CmdResult r = testing::RunCerebro("resume " + killed + " --quiet");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(state + ": empty state file"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(testing::ReadFileOrEmpty(killed + "/journal.jsonl"), journal);

  testing::CmdResult prep = testing::RunCerebro("prepare " + tmp_.Join("spec.yaml") + " --out " +
                                                tmp_.Join("other_data") + " --seed 99");
  ASSERT_EQ(prep.exit_code, 0) << prep.out;
  std::filesystem::remove_all(copy + "/data");
  std::filesystem::rename(tmp_.Join("other_data"), copy + "/data");
  r = testing::RunCerebro("resume " + copy + " --quiet");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("seed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("re-prepared or swapped"), std::string::npos) << r.out;
}

// run.checkpoint: epoch writes a state inside an epoch without fsync. One that a power
// loss took (here: truncated) is rolled back on resume: that model redoes its epoch's
// training from its last durable state, nothing else is redone, and the run ends with the
// metrics of the uninterrupted run (which, with checkpoint: unit, is the reference).
TEST_F(ResumeTest, AnEpochPolicyStateLostInsideAnEpochIsRedoneFromItsLastDurableState) {
  std::ofstream(tmp_.Join("epoch.yaml"))
      << testing::SmallSpec(csv_, 3, 2, "  order: fixed\n  checkpoint: epoch\n");
  // The latest train record of each model in a journal.
  auto latest = [](const std::string& run) {
    std::map<int, Json> last;
    for (const auto& j : ReadJsonLines(run + "/journal.jsonl")) {
      if (j.value("type", "") == "unit" && j.value("kind", "") == "train") last[j["model"]] = j;
    }
    return last;
  };
  std::string run, lost;
  int model = -1;
  for (int attempt = 0; attempt < 4 && lost.empty(); ++attempt) {
    run = tmp_.Join("epoch_run" + std::to_string(attempt));
    pid_t pid = Spawn({"run", tmp_.Join("epoch.yaml"), "--out", run, "--quiet"});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    // Killed once some model's latest state is one inside an epoch (not durable).
    auto inside = [&] {
      for (const auto& [id, j] : latest(run)) {
        if (!j.value("durable", true)) return true;
      }
      return false;
    };
    while (!(ReadJsonLines(run + "/journal.jsonl").size() >= 8u + 4u * attempt && inside()) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (const auto& [id, j] : latest(run)) {
      if (!j.value("durable", true)) {
        model = id;
        lost = j["checkpoint"].get<std::string>();
        break;
      }
    }
  }
  ASSERT_FALSE(lost.empty()) << "no kill landed inside an epoch";
  ASSERT_TRUE(std::filesystem::exists(run + "/" + lost));  // in the page cache: survives a kill
  std::filesystem::resize_file(run + "/" + lost, 100);     // what a power loss may leave
  testing::CmdResult r = testing::RunCerebro("resume " + run);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(lost + ": 100 bytes that do not match the journal"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("redoes epoch"), std::string::npos) << r.out;
  EXPECT_EQ(Metrics(run), reference_);
  // The journal says so, and only that model's units of that epoch ran twice.
  int rolled_back = 0;
  std::map<std::tuple<int, int, std::string, int>, int> runs;
  for (const auto& j : ReadJsonLines(run + "/journal.jsonl")) {
    if (j.value("type", "") == "rolled_back") {
      ++rolled_back;
      EXPECT_EQ(j["model"], model);
      EXPECT_EQ(j["checkpoint"], lost);
    }
    if (j.value("type", "") == "unit") {
      ++runs[{j["model"].get<int>(), j["epoch"].get<int>(), j["kind"].get<std::string>(),
              j["partition"].get<int>()}];
    }
  }
  EXPECT_EQ(rolled_back, 1);
  EXPECT_EQ(runs.size(), 4u * 3u * 2u * 2u);  // every unit ran
  int redone = 0;
  for (const auto& [unit, n] : runs) {
    if (n > 1) {
      ++redone;
      EXPECT_EQ(std::get<0>(unit), model);
      EXPECT_EQ(std::get<2>(unit), "train");
    }
  }
  EXPECT_EQ(redone, 1);  // 2 partitions: only the epoch's first training unit was inside it
  EXPECT_FALSE(std::filesystem::exists(run + "/" + lost + ".tmp"));
}

// ...and reports it unchanged: the first release rewrote summary.json with this
// process's (empty) timing, so `report` then showed "0.0 s training".
TEST_F(ResumeTest, FinishedRunResumesWithoutTrainingAndKeepsItsSummary) {
  const std::string summary = testing::ReadFileOrEmpty(tmp_.Join("reference/summary.json"));
  auto again = driver::ResumeExperiment(tmp_.Join("reference"), Options(""));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_GT(again->timing.train_examples, 0);
  EXPECT_GT(again->timing.wall_seconds, 0);
  EXPECT_EQ(testing::ReadFileOrEmpty(tmp_.Join("reference/summary.json")), summary);
  EXPECT_EQ(Metrics(tmp_.Join("reference")), reference_);
  EXPECT_EQ(again->models.size(), 4u);
}

// A run directory the first release wrote (no journal header, models in models.json,
// killed after 44 journal lines; see tests/data/README.md) resumes to exactly the
// metrics that release produced when it ran the same spec without interruption.
TEST(LegacyResumeTest, AJournalOfTheFirstReleaseResumesToItsUninterruptedMetrics) {
  const char* src = CEREBRO_SOURCE_DIR;
  TempDir tmp;
  const std::string run = tmp.Join("legacy");
  std::filesystem::copy(std::string(src) + "/tests/data/legacy_v1_run", run,
                        std::filesystem::copy_options::recursive);
  auto r = driver::ResumeExperiment(run, Options(""));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFileOrEmpty(run + "/metrics.csv"),
            testing::ReadFileOrEmpty(std::string(src) + "/tests/data/legacy_v1_uninterrupted_metrics.csv"));
  for (const auto& m : r->models) EXPECT_EQ(m.status, ModelStatus::kCompleted) << m.failure;
  // Upgraded in place: the journal now says what it is, and its models were added by
  // the search at the start.
  auto lines = ReadJsonLines(run + "/journal.jsonl");
  ASSERT_GT(lines.size(), 2u);
  EXPECT_EQ(lines[0], (Json{{"type", "journal"}, {"version", 2}}));
  EXPECT_EQ(lines[1]["type"], "decision");
  EXPECT_EQ(lines[1]["actions"].size(), 2u);
  ExpectEveryUnitExactlyOnce(run, 2, 30, 2);
}

TEST_F(ResumeTest, ResumeRefusesWhatIsNotARunDirectory) {
  auto r = driver::ResumeExperiment(tmp_.path(), Options(""));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("spec.json: missing"), std::string::npos) << r.status().message();
}

// Each write site of the store fails once (ENOSPC or EIO; a short append; a crash
// between writing a temp file and renaming it). The run reports the fault; resume then
// either finishes with exactly the reference metrics or refuses with a clear message.
TEST_F(ResumeTest, InjectedDiskFaultsNeverLeaveASilentlyCorruptStore) {
  using Mode = testing::FaultInjectingFileSystem::Mode;
  struct Site {
    std::string path;
    int nth;
    int err;
    Mode mode;
  };
  const std::vector<Site> sites = {
      {"spec.json", 1, ENOSPC, Mode::kFailBefore},
      {"models.json", 1, EIO, Mode::kCrashBeforeRename},
      {"checkpoints/", 1, ENOSPC, Mode::kFailBefore},  // the staging mkdir
      {".state", 3, EIO, Mode::kCrashBeforeRename},
      {".state", 9, ENOSPC, Mode::kFailBefore},
      {"journal.jsonl", 1, ENOSPC, Mode::kShortWrite},
      {"journal.jsonl", 17, EIO, Mode::kShortWrite},
      {"metrics.csv", 2, EIO, Mode::kFailBefore},
      {"metrics.jsonl", 3, ENOSPC, Mode::kShortWrite},
      {"summary.json", 1, EIO, Mode::kFailBefore},
  };
  int resumed = 0, refused = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    const Site& site = sites[i];
    SCOPED_TRACE(site.path + " #" + std::to_string(site.nth) + " errno " + std::to_string(site.err));
    std::string out = tmp_.Join("fault" + std::to_string(i));
    testing::FaultInjectingFileSystem fs(site.path, site.nth, site.err, site.mode);
    driver::RunOptions o = Options(out);
    o.fs = &fs;
    auto r = driver::RunExperiment(ParseOrDie(spec_text_), o);
    ASSERT_TRUE(fs.fired());
    ASSERT_FALSE(r.ok()) << "a failed write must not go unreported";
    EXPECT_NE(r.status().message().find("injected fault"), std::string::npos) << r.status().message();
    auto again = driver::ResumeExperiment(out, Options(""));
    if (again.ok()) {
      ++resumed;
      EXPECT_EQ(Metrics(out), reference_);
      ExpectEveryUnitExactlyOnce(out, 4, 3, 2);
    } else {
      ++refused;
      // Refusals only happen when the run never got published: nothing to resume.
      EXPECT_EQ(again.status().code(), StatusCode::kNotFound) << again.status().message();
      EXPECT_FALSE(std::filesystem::exists(out));
    }
  }
  EXPECT_GE(resumed, 7);
  EXPECT_LE(refused, 3);
}

TEST(ReplayTest, ReplayOfARandomOrderRunIsBitwiseIdentical) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 600);
  auto run = driver::RunExperiment(ParseOrDie(testing::SmallSpec(csv, 2, 2)), Options(tmp.Join("run")));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  auto report = driver::ReplayExperiment(run->run_dir, Options(tmp.Join("replay")));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->epochs_compared, 8);
  EXPECT_EQ(report->epochs_identical, 8);
  EXPECT_TRUE(report->divergences.empty());
  EXPECT_EQ(report->max_abs_difference, 0.0);
}

TEST(RetentionTest, KeepsOnlyTheBestFinishedAndDropsFailedModelsStates) {
  TempDir tmp;
  std::string csv = testing::WriteBlobsCsv(tmp.path(), 300);
  std::string text = testing::SmallSpec(csv, 1, 2, "  keep_best: 1\n");
  text.replace(text.find("optimizer: adam"), 15, "optimizer: sgd");
  text.replace(text.find("[0.01, 0.003]"), 13, "[0.05, 1.0e30]");  // two models blow up
  auto r = driver::RunExperiment(ParseOrDie(text), Options(tmp.Join("run")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int with_checkpoint = 0;
  for (const auto& m : r->models) {
    if (!m.checkpoint.empty()) {
      ++with_checkpoint;
      EXPECT_EQ(m.rank, 1);
      EXPECT_TRUE(std::filesystem::exists(r->run_dir + "/" + m.checkpoint));
    }
  }
  EXPECT_EQ(with_checkpoint, 1);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(r->run_dir + "/checkpoints"),
                          std::filesystem::directory_iterator()),
            1);
  EXPECT_GT(r->timing.checkpoint_bytes, 0u);
  auto summary = Json::parse(testing::ReadFileOrEmpty(r->run_dir + "/summary.json"));
  EXPECT_EQ(summary["checkpoint_bytes"].get<uint64_t>(), r->timing.checkpoint_bytes);
}

}  // namespace
}  // namespace cerebro
