// Helpers for tests that run the loop on the fake backend (driver_test.cc and the
// adaptive procedures' end-to-end test): a temporary directory, a tiny CSV data set, run
// options with a FakeBackend, the journal, files and outcomes of a run, and a file system whose
// journal appends fail where a test says (a crash at a chosen record). Test-only; each
// object is used by one thread.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/driver/driver.h"
#include "cerebro/exec/fake_backend.h"
#include "cerebro/store/journal.h"

namespace cerebro::driver {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cerebro_driver_XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)RealFileSystem().RemoveAll(path_); }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// 60 rows of 4 features, 3 classes: only the data store's shape matters here (the fake
// backend makes the metrics up from the units).
inline std::string WriteCsv(const TempDir& dir) {
  std::string path = dir.Join("data.csv");
  std::ofstream out(path);
  out << "a,b,c,d,label\n";
  for (int r = 0; r < 60; ++r)
    out << r % 7 << "," << r % 5 << "," << r % 3 << "," << r << "," << r % 3 << "\n";
  return path;
}

// Hands the run a FakeBackend the test owns, so the test can script it before and
// inspect it after the run (the run destroys its backend when it ends).
class BorrowedBackend final : public exec::Backend {
 public:
  explicit BorrowedBackend(exec::FakeBackend* fake) : fake_(fake) {}
  Status Launch(int n) override { return fake_->Launch(n); }
  Status Start(const std::vector<exec::WorkerSetup>& w) override { return fake_->Start(w); }
  int num_workers() const override { return fake_->num_workers(); }
  Status Submit(const exec::UnitRequest& r) override { return fake_->Submit(r); }
  StatusOr<std::optional<exec::Completion>> WaitFor(const Wakeup* wake, double timeout) override {
    return fake_->WaitFor(wake, timeout);
  }
  Status RestartWorker(int w) override { return fake_->RestartWorker(w); }
  void Shutdown() override { fake_->Shutdown(); }
  std::vector<std::string> warnings() const override { return fake_->warnings(); }
  exec::BackendStats stats() const override { return fake_->stats(); }

 private:
  exec::FakeBackend* fake_;
};

// Options whose backend is `fake` (a fresh FakeBackend per run when null).
inline RunOptions FakeOptions(const std::string& out, exec::FakeBackend* fake) {
  RunOptions o;
  o.out_dir = out;
  o.backend_factory =
      [fake](const exec::BackendConfig&) -> StatusOr<std::unique_ptr<exec::Backend>> {
    if (fake == nullptr)
      return std::unique_ptr<exec::Backend>(std::make_unique<exec::FakeBackend>());
    return std::unique_ptr<exec::Backend>(std::make_unique<BorrowedBackend>(fake));
  };
  return o;
}

inline std::vector<store::Record> JournalOf(const std::string& run_dir) {
  store::Journal j(&RealFileSystem(), run_dir + "/journal.jsonl");
  auto c = j.Read();
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? c->records : std::vector<store::Record>{};
}

inline std::string Slurp(const std::string& path) {
  auto s = RealFileSystem().ReadFile(path);
  return s.ok() ? *s : "";
}

inline const store::ModelOutcome& ById(const RunResult& r, ModelId id) {
  for (const auto& m : r.models) {
    if (m.id == id) return m;
  }
  ADD_FAILURE() << "no model " << id;
  return r.models.front();
}

// The same models, in the same order, with the same statuses and reasons.
inline void ExpectSameOutcomes(const RunResult& got, const RunResult& want) {
  ASSERT_EQ(got.models.size(), want.models.size());
  for (size_t i = 0; i < got.models.size(); ++i) {
    EXPECT_EQ(got.models[i].id, want.models[i].id);
    EXPECT_EQ(got.models[i].status, want.models[i].status);
    EXPECT_EQ(got.models[i].failure, want.models[i].failure);
  }
}

// A FileSystem whose appends fail where `fail(path, data, journal_appends_so_far)` says,
// as a full disk would or as if the driver died there: the journal then holds exactly
// the records before the failed one. Counts journal appends.
class FailingAppends final : public FileSystem {
 public:
  using Rule = std::function<bool(const std::string& path, std::string_view data, int n)>;
  explicit FailingAppends(Rule fail) : fail_(std::move(fail)) {}
  StatusOr<std::string> ReadFile(const std::string& p) override { return real().ReadFile(p); }
  Status WriteFileAtomic(const std::string& p, std::string_view c) override {
    return real().WriteFileAtomic(p, c);
  }
  Status AppendDurable(const std::string& p, std::string_view d) override {
    const bool journal = p.find("journal.jsonl") != std::string::npos;
    if (journal) ++appends_;
    if (journal && fail_(p, d, appends_)) return IoError(p + ": disk full");
    return real().AppendDurable(p, d);
  }
  Status MakeDirs(const std::string& p) override { return real().MakeDirs(p); }
  Status Rename(const std::string& a, const std::string& b) override { return real().Rename(a, b); }
  Status RemoveFile(const std::string& p) override { return real().RemoveFile(p); }
  Status RemoveAll(const std::string& p) override { return real().RemoveAll(p); }
  bool Exists(const std::string& p) override { return real().Exists(p); }
  StatusOr<std::vector<std::string>> ListDir(const std::string& p) override {
    return real().ListDir(p);
  }
  StatusOr<uint64_t> FileSize(const std::string& p) override { return real().FileSize(p); }
  int appends() const { return appends_; }

 private:
  static FileSystem& real() { return RealFileSystem(); }
  Rule fail_;
  int appends_ = 0;
};

inline FailingAppends CrashAtAppend(int n) {
  return FailingAppends([n](const std::string&, std::string_view, int k) { return k == n; });
}

}  // namespace cerebro::driver
