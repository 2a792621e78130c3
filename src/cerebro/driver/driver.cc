#include "cerebro/driver/driver.h"

#include "cerebro/common/logging.h"
#include "cerebro/driver/run_loop.h"
#include "cerebro/driver/run_directory.h"
#include "cerebro/search/procedure.h"

namespace cerebro::driver {

StatusOr<spec::Json> ConfigurationsJson(const spec::ExperimentSpec& spec) {
  ASSIGN_OR_RETURN(std::unique_ptr<search::Procedure> procedure, search::MakeProcedure(spec));
  ASSIGN_OR_RETURN(std::vector<search::Decision> decisions, procedure->Start(search::Observation{}));
  spec::Json models = spec::Json::array();
  for (const search::Decision& d : decisions) {
    if (const auto* add = std::get_if<search::AddModel>(&d)) {
      models.push_back({{"id", static_cast<int>(models.size())}, {"params", add->params}});
    }
  }
  return models;
}

data::SourceSpec ToSourceSpec(const spec::ExperimentSpec& s) {
  data::SourceSpec src;
  src.format = s.data.format;
  src.train_path = s.data.train_path;
  src.train_labels_path = s.data.train_labels_path;
  src.val_path = s.data.val_path;
  src.val_labels_path = s.data.val_labels_path;
  src.val_fraction = s.data.val_fraction;
  src.csv_header = s.data.csv_header;
  src.csv_label_column = s.data.csv_label_column;
  src.csv_delimiter = s.data.csv_delimiter;
  src.libsvm_num_features = s.data.libsvm_num_features;
  src.feature_scale = s.data.feature_scale;
  src.task = s.task == spec::Task::kRegression ? data::Task::kRegression : data::Task::kClassification;
  return src;
}

StatusOr<RunResult> RunExperiment(const spec::ExperimentSpec& spec, const RunOptions& options) {
  if (options.out_dir.empty()) return InvalidArgument("--out: missing output directory");
  RunLoop loop(spec, options);
  return loop.RunNew();
}

StatusOr<RunResult> ResumeExperiment(const std::string& run_dir, const RunOptions& options) {
  FileSystem* fs = options.fs != nullptr ? options.fs : &RealFileSystem();
  ASSIGN_OR_RETURN(OpenedRun run,
                   OpenRun(run_dir, fs,
                           options.wait_for_lock ? store::ExperimentStore::Lock::kWait
                                                 : store::ExperimentStore::Lock::kTry));
  if (run.spec.run.strategy == spec::Strategy::kDataParallel) {
    return FailedPrecondition(run_dir + ": strategy dp (a benchmark baseline) cannot be resumed");
  }
  RunLoop loop(run.spec, options);
  return loop.Resume(std::move(run.store), run.models);
}

StatusOr<RunResult> ExtendExperiment(const std::string& run_dir, const spec::Overrides& overrides,
                                     const RunOptions& options) {
  FileSystem* fs = options.fs != nullptr ? options.fs : &RealFileSystem();
  auto opened = OpenRun(run_dir, fs, store::ExperimentStore::Lock::kTry);
  if (opened.status().code() == StatusCode::kFailedPrecondition) {  // the lock is held
    std::string holder = opened.status().message();
    if (holder.rfind(run_dir + ": ", 0) == 0) holder = holder.substr(run_dir.size() + 2);
    return InvalidArgument(run_dir + ": still running (" + holder +
                           "); extend it once it has finished");
  }
  RETURN_IF_ERROR(opened.status());
  OpenedRun run = std::move(opened).value();
  ASSIGN_OR_RETURN(Extension x, PlanExtension(run, overrides));
  for (const std::string& w : x.warnings) LogWarning(w);
  // spec.json first: if the driver dies before the record, the journal still says the run
  // is finished and the same extension can be asked for again (PlanExtension reads what
  // the run holds from the journal); after the record, resume trains it.
  RETURN_IF_ERROR(run.store->WriteJsonFile("spec.json", spec::ToJson(x.spec)));
  RETURN_IF_ERROR(run.store->journal().Append(x.decision));
  RunLoop loop(x.spec, options);
  return loop.Resume(std::move(run.store), run.models);
}

}  // namespace cerebro::driver
