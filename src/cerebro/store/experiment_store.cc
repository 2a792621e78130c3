#include "cerebro/store/experiment_store.h"

#include <unistd.h>

#include <cstdio>

namespace cerebro::store {

namespace {
std::string FormatDouble(double x) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}
}  // namespace

ExperimentStore::ExperimentStore(FileSystem* fs, std::string final_dir, std::string staging_dir)
    : fs_(fs), final_dir_(std::move(final_dir)), dir_(std::move(staging_dir)) {}

StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::Create(FileSystem* fs,
                                                                   const std::string& dir) {
  std::string final_dir = dir;
  while (final_dir.size() > 1 && final_dir.back() == '/') final_dir.pop_back();
  if (fs->Exists(final_dir)) {
    return AlreadyExists(final_dir + ": output directory already exists (choose another --out)");
  }
  std::string staging = final_dir + ".partial-" + std::to_string(::getpid());
  RETURN_IF_ERROR(fs->RemoveAll(staging));  // a stale one from a crashed run of this pid
  RETURN_IF_ERROR(fs->MakeDirs(JoinPath(staging, "checkpoints")));
  return std::unique_ptr<ExperimentStore>(new ExperimentStore(fs, final_dir, staging));
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
  published_ = true;
  return Status::Ok();
}

std::string ExperimentStore::CheckpointPath(int model_id) const {
  char name[40];
  std::snprintf(name, sizeof(name), "checkpoints/model_%04d.state", model_id);
  return JoinPath(dir_, name);
}

Status ExperimentStore::WriteJsonFile(const std::string& name, const Json& value) {
  return fs_->WriteFileAtomic(JoinPath(dir_, name), value.dump(2) + "\n");
}

Status ExperimentStore::AppendJournal(const Json& record) {
  return fs_->AppendDurable(JoinPath(dir_, "journal.jsonl"), record.dump() + "\n");
}

Status ExperimentStore::WriteCheckpoint(int model_id, std::string_view state) {
  return fs_->WriteFileAtomic(CheckpointPath(model_id), state);
}

Status ExperimentStore::RemoveCheckpoint(int model_id) {
  return fs_->RemoveFile(CheckpointPath(model_id));
}

Status ExperimentStore::AppendEpochRow(const EpochRow& r) {
  std::string csv_path = JoinPath(dir_, "metrics.csv");
  std::string line;
  if (!fs_->Exists(csv_path)) {
    line = "model_id,epoch,train_loss,train_accuracy,val_loss,val_accuracy,train_examples,"
           "val_examples,seconds\n";
  }
  line += std::to_string(r.model_id) + "," + std::to_string(r.epoch) + "," +
          FormatDouble(r.train_loss) + "," + FormatDouble(r.train_accuracy) + "," +
          FormatDouble(r.val_loss) + "," + FormatDouble(r.val_accuracy) + "," +
          std::to_string(r.train_examples) + "," + std::to_string(r.val_examples) + "," +
          FormatDouble(r.seconds) + "\n";
  RETURN_IF_ERROR(fs_->AppendDurable(csv_path, line));
  Json j = {{"model_id", r.model_id},        {"epoch", r.epoch},
            {"train_loss", r.train_loss},    {"train_accuracy", r.train_accuracy},
            {"val_loss", r.val_loss},        {"val_accuracy", r.val_accuracy},
            {"train_examples", r.train_examples}, {"val_examples", r.val_examples},
            {"seconds", r.seconds},          {"train_order", r.train_order},
            {"workers", r.workers}};
  return fs_->AppendDurable(JoinPath(dir_, "metrics.jsonl"), j.dump() + "\n");
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
