#include "cerebro/store/experiment_store.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <cstdio>

namespace cerebro::store {

namespace {
std::string FormatDouble(double x) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}
}  // namespace

ExperimentStore::ExperimentStore(FileSystem* fs, std::string final_dir, std::string staging_dir,
                                 std::unique_ptr<RunLock> lock)
    : fs_(fs),
      final_dir_(std::move(final_dir)),
      dir_(std::move(staging_dir)),
      journal_(fs, JoinPath(dir_, "journal.jsonl")),
      lock_(std::move(lock)) {}

namespace {
std::string TrimSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// Staging directories of runs whose process is gone (killed or interrupted while
// preparing), of any run in `final_dir`'s parent: a runs/ directory of unique default
// names would otherwise collect them. Gone means its pid is not running and, when it has
// a lock file, nobody holds its RunLock (so a reused pid or a staging directory that is
// between its creation and its lock is never taken).
void RemoveStaleStaging(FileSystem* fs, const std::string& final_dir) {
  std::string parent = final_dir.substr(0, final_dir.find_last_of('/') + 1);
  auto names = fs->ListDir(parent.empty() ? "." : parent);
  if (!names.ok()) return;
  const std::string marker = ".partial-";
  for (const auto& n : *names) {
    const size_t at = n.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    const std::string digits = n.substr(at + marker.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string path = parent + n;
    const int pid = std::atoi(digits.c_str());
    bool stale = pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
    if (stale && fs->Exists(JoinPath(path, "lock"))) {
      stale = RunLock::Acquire(path, /*wait=*/false).ok();  // released at once
    }
    if (stale) (void)fs->RemoveAll(path);
  }
}
}  // namespace

StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::Create(FileSystem* fs,
                                                                   const std::string& dir) {
  std::string final_dir = TrimSlashes(dir);
  if (fs->Exists(final_dir)) {
    return AlreadyExists(final_dir + ": output directory already exists (choose another --out)");
  }
  RemoveStaleStaging(fs, final_dir);
  std::string staging = final_dir + ".partial-" + std::to_string(::getpid());
  RETURN_IF_ERROR(fs->RemoveAll(staging));
  RETURN_IF_ERROR(fs->MakeDirs(JoinPath(staging, "checkpoints")));
  // The lock is on the file's inode: it stays held when Publish() renames the directory.
  ASSIGN_OR_RETURN(std::unique_ptr<RunLock> lock, RunLock::Acquire(staging, /*wait=*/false));
  return std::unique_ptr<ExperimentStore>(
      new ExperimentStore(fs, final_dir, staging, std::move(lock)));
}

StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::Open(FileSystem* fs,
                                                                 const std::string& dir,
                                                                 Lock lock) {
  std::string d = TrimSlashes(dir);
  for (const char* needed : {"spec.json", "models.json", "data/meta.json"}) {
    if (!fs->Exists(JoinPath(d, needed))) {
      return NotFound(JoinPath(d, needed) + ": missing (is this a cerebro run directory?)");
    }
  }
  std::unique_ptr<RunLock> held;
  if (lock != Lock::kNone) {
    ASSIGN_OR_RETURN(held, RunLock::Acquire(d, lock == Lock::kWait));
  }
  auto store = std::unique_ptr<ExperimentStore>(new ExperimentStore(fs, d, d, std::move(held)));
  store->published_ = true;
  if (lock != Lock::kNone) RETURN_IF_ERROR(fs->MakeDirs(JoinPath(d, "checkpoints")));
  return store;
}

ExperimentStore::~ExperimentStore() {
  if (!published_) (void)fs_->RemoveAll(dir_);
}

Status ExperimentStore::Publish() {
  if (published_) return Status::Ok();
  if (fs_->Exists(final_dir_)) {
    return AlreadyExists(final_dir_ + ": output directory appeared while preparing");
  }
  RETURN_IF_ERROR(fs_->Rename(dir_, final_dir_));
  dir_ = final_dir_;
  journal_.Relocate(JoinPath(dir_, "journal.jsonl"));
  published_ = true;
  return Status::Ok();
}

std::string ExperimentStore::CheckpointName(int model_id, int unit_seq) {
  char name[64];
  std::snprintf(name, sizeof(name), "checkpoints/model_%04d.u%05d.state", model_id, unit_seq);
  return name;
}

Status ExperimentStore::WriteJsonFile(const std::string& name, const Json& value) {
  return fs_->WriteFileAtomic(JoinPath(dir_, name), value.dump(2) + "\n");
}

StatusOr<std::string> ExperimentStore::ReadFile(const std::string& relative) {
  return fs_->ReadFile(JoinPath(dir_, relative));
}

StatusOr<std::string> ExperimentStore::WriteCheckpoint(int model_id, int unit_seq,
                                                       std::string_view state) {
  std::string name = CheckpointName(model_id, unit_seq);
  RETURN_IF_ERROR(fs_->WriteFileAtomic(JoinPath(dir_, name), state));
  return name;
}

Status ExperimentStore::RemoveRelative(const std::string& relative) {
  return fs_->RemoveFile(JoinPath(dir_, relative));
}

std::string ExperimentStore::CsvHeader() {
  return "model_id,epoch,train_loss,train_accuracy,val_loss,val_accuracy,train_examples,"
         "val_examples\n";
}

std::string ExperimentStore::CsvLine(const EpochRow& r) {
  return std::to_string(r.model_id) + "," + std::to_string(r.epoch) + "," +
         FormatDouble(r.train_loss) + "," + FormatDouble(r.train_accuracy) + "," +
         FormatDouble(r.val_loss) + "," + FormatDouble(r.val_accuracy) + "," +
         std::to_string(r.train_examples) + "," + std::to_string(r.val_examples) + "\n";
}

std::string ExperimentStore::JsonLine(const EpochRow& r) {
  Json j = {{"model_id", r.model_id},        {"epoch", r.epoch},
            {"train_loss", r.train_loss},    {"train_accuracy", r.train_accuracy},
            {"val_loss", r.val_loss},        {"val_accuracy", r.val_accuracy},
            {"train_examples", r.train_examples}, {"val_examples", r.val_examples},
            {"train_order", r.train_order}};
  return j.dump() + "\n";
}

Status ExperimentStore::AppendEpochRow(const EpochRow& r) {
  std::string csv_path = JoinPath(dir_, "metrics.csv");
  std::string line = fs_->Exists(csv_path) ? "" : CsvHeader();
  RETURN_IF_ERROR(fs_->AppendDurable(csv_path, line + CsvLine(r)));
  return fs_->AppendDurable(JoinPath(dir_, "metrics.jsonl"), JsonLine(r));
}

Status ExperimentStore::RewriteEpochRows(const std::vector<EpochRow>& rows) {
  std::string csv = CsvHeader(), jsonl;
  for (const auto& r : rows) {
    csv += CsvLine(r);
    jsonl += JsonLine(r);
  }
  RETURN_IF_ERROR(fs_->WriteFileAtomic(JoinPath(dir_, "metrics.csv"), csv));
  return fs_->WriteFileAtomic(JoinPath(dir_, "metrics.jsonl"), jsonl);
}

StatusOr<uint64_t> ExperimentStore::CheckpointBytes() {
  std::string dir = JoinPath(dir_, "checkpoints");
  ASSIGN_OR_RETURN(auto names, fs_->ListDir(dir));
  uint64_t total = 0;
  for (const auto& n : names) {
    ASSIGN_OR_RETURN(uint64_t sz, fs_->FileSize(JoinPath(dir, n)));
    total += sz;
  }
  return total;
}

}  // namespace cerebro::store
