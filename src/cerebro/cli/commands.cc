#include "cerebro/cli/commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <system_error>

#include "cerebro/cli/ctl.h"
#include "cerebro/cli/export.h"
#include "cerebro/cli/outcome.h"
#include "cerebro/cli/predict.h"
#include "cerebro/cli/progress.h"
#include "cerebro/cli/ranked_table.h"
#include "cerebro/cli/report/report_html.h"
#include "cerebro/cli/report/report_md.h"
#include "cerebro/cli/run_name.h"
#include "cerebro/cli/signals.h"
#include "cerebro/cli/status.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/driver/driver.h"
#include "cerebro/driver/run_status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"

namespace cerebro::cli {
namespace {

// The one positional argument `what` names (SPEC, RUN_DIR), or why there is not one.
StatusOr<std::string> OnePositional(const CommandLine& line, const char* what) {
  if (line.positional.size() != 1) {
    return InvalidArgument(std::string(EnumName(line.command)) + ": expected one " + what);
  }
  return line.positional[0];
}

// The spec file, with the command's flags applied as overrides before validation.
StatusOr<spec::ExperimentSpec> SpecOf(const CommandLine& line) {
  ASSIGN_OR_RETURN(std::string path, OnePositional(line, "SPEC file"));
  return spec::ParseSpecFile(path, SpecOverrides(line));
}

int PrintResult(const driver::RunResult& r) {
  std::printf("%s", FormatRankedTable(r).c_str());  // a RunResult is its summary
  const auto& t = r.timing;
  std::printf("\nrun directory: %s\n", r.run_dir.c_str());
  if (r.best_model >= 0) {
    std::printf("best: model %d, val %s %.4f\n", r.best_model, r.metric.c_str(), r.best_value);
  }
  std::printf("time: %.1f s training (%.0f samples/s), %.1f s preparing; state moves %.2f s, "
              "checkpoints %.2f s (%.1f MB kept)\n",
              t.wall_seconds, t.wall_seconds > 0 ? t.train_examples / t.wall_seconds : 0.0,
              t.prepare_seconds, t.transfer_seconds + t.state_codec_seconds, t.checkpoint_seconds,
              t.checkpoint_bytes / 1e6);
  return r.best_model >= 0 ? 0 : 1;
}

// Arms the resume hint on SIGINT/SIGTERM (signals.h) once the run has started: its
// directory is published by then, and data::Prepare, which handles those signals itself
// while it stages data (only where nobody else does), is done.
class ResumeHintOnStart final : public driver::RunObserver {
 public:
  Status OnStarted(const driver::RunView& run) override {
    if (!hint_) hint_.emplace(run.run_dir);
    return Status::Ok();
  }
  bool started() const { return hint_.has_value(); }

 private:
  std::optional<ResumeHintOnSignal> hint_;
};

// `run --extend RUN_DIR`: a finished run goes on with more epochs or more models; the
// only spec fields it takes are those (the run keeps its other settings).
int CmdExtend(const CommandLine& line) {
  const std::string dir = line.Value("--extend");
  if (!line.positional.empty()) {
    return Fail(InvalidArgument("run --extend: takes no SPEC (the run's own spec.json is "
                                "extended)"));
  }
  for (const auto& [flag, value] : line.values) {
    if (flag != "--extend" && flag != "--epochs" && flag != "--num-models") {
      return Fail(InvalidArgument(flag + ": not with --extend (it takes --epochs, --num-models, "
                                  "--quiet)"));
    }
  }
  driver::RunOptions opts;
  opts.serve_control = true;  // `cerebro ctl` can steer it
  StatusOr<driver::RunResult> result = Internal("not run");
  bool started = false;
  {
    ResumeHintOnStart hint;  // once the extension is journaled, resume finishes it
    opts.observers.push_back(&hint);
    ProgressPrinter progress(line.quiet);
    progress.Attach(&opts, "extend " + dir);
    result = driver::ExtendExperiment(dir, SpecOverrides(line), opts);
    started = hint.started();
  }
  if (!result.ok()) return FailRun(result.status(), started ? dir : "");
  return PrintResult(*result);
}

int CmdRun(const CommandLine& line) {
  if (line.Has("--extend")) return CmdExtend(line);
  auto parsed = SpecOf(line);
  if (!parsed.ok()) return Fail(parsed.status());
  const spec::ExperimentSpec& s = *parsed;
  driver::RunOptions opts;
  opts.out_dir = line.Has("--out")
                     ? line.Value("--out")
                     : DefaultRunDir(s, std::chrono::system_clock::now(), ::getpid());
  opts.serve_control = true;  // `cerebro ctl` can steer it
  StatusOr<driver::RunResult> result = Internal("not run");
  bool started = false;
  {
    ResumeHintOnStart hint;
    opts.observers.push_back(&hint);
    CountBar preparing("preparing data", line.quiet);
    opts.prepare_progress = std::ref(preparing);
    ProgressPrinter progress(line.quiet);
    progress.Attach(&opts, line.positional[0]);
    result = driver::RunExperiment(s, opts);
    started = hint.started();
  }
  // Before the start the driver removes what it made: nothing to continue.
  if (!result.ok()) return FailRun(result.status(), started ? opts.out_dir : "");
  return PrintResult(*result);
}

int CmdResume(const CommandLine& line) {
  auto dir = OnePositional(line, "RUN_DIR");
  if (!dir.ok()) return Fail(dir.status());
  driver::RunOptions opts;
  opts.wait_for_lock = line.Has("--wait");  // another process owns the run: wait for it
  opts.serve_control = true;                // `cerebro ctl` can steer it
  StatusOr<driver::RunResult> result = Internal("not run");
  {
    ResumeHintOnSignal hint(*dir);  // resume stages no data: armed from the start
    ProgressPrinter progress(line.quiet);
    progress.Attach(&opts, "resume " + *dir);
    result = driver::ResumeExperiment(*dir, opts);
  }
  if (!result.ok()) return FailRun(result.status(), *dir);
  return PrintResult(*result);
}

// Replay compares a run's per-epoch metrics with a re-execution; a run that has not
// finished is refused here, before anything is written. Finished: summary.json exists
// (written when the run loop ends) and lists no model as failed "incomplete" (the run
// ended before it finished; driver/observers.h). A directory without a journal is left to
// the driver's own "not a run directory".
Status CheckFinished(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/journal.jsonl", ec)) return Status::Ok();
  auto summary = store::ReadSummary(&RealFileSystem(), dir);
  if (summary.status().code() == StatusCode::kNotFound) {
    return InvalidArgument(dir + ": not finished (no summary.json); resume it first");
  }
  RETURN_IF_ERROR(summary.status());
  if (!summary->finished) return InvalidArgument(dir + ": not finished (its run loop stopped); resume it first");
  for (const store::ModelOutcome& m : summary->models) {
    if (m.status == ModelStatus::kFailed && m.failure == "incomplete") {
      return InvalidArgument(dir + ": not finished (model " + std::to_string(m.id) +
                             " is incomplete); resume it first");
    }
  }
  return Status::Ok();
}

int CmdReplay(const CommandLine& line) {
  auto positional = OnePositional(line, "RUN_DIR");
  if (!positional.ok()) return Fail(positional.status());
  std::string dir = *positional;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (Status st = CheckFinished(dir); !st.ok()) return Fail(st);
  driver::RunOptions opts;
  opts.out_dir = line.Value("--out", dir + "-replay");
  StatusOr<driver::ReplayReport> report = Internal("not run");
  {
    ProgressPrinter progress(line.quiet);
    progress.Attach(&opts, "replay " + dir);
    report = driver::ReplayExperiment(dir, opts);
  }
  if (!report.ok()) return Fail(report.status());
  const auto& r = *report;
  std::printf("replayed %s into %s: %lld of %lld epochs bitwise identical; max |difference| %.3g\n",
              dir.c_str(), r.replay.run_dir.c_str(), static_cast<long long>(r.epochs_identical),
              static_cast<long long>(r.epochs_compared), r.max_abs_difference);
  for (const auto& d : r.divergences) std::printf("  diverged: %s\n", d.c_str());
  return r.divergences.empty() ? 0 : 1;
}

int CmdPrepare(const CommandLine& line) {
  auto path = OnePositional(line, "SPEC file");
  if (!path.ok()) return Fail(path.status());
  if (!line.Has("--out")) return Fail(InvalidArgument("--out: prepare needs an output directory"));
  auto parsed = spec::ParseSpecFile(*path, SpecOverrides(line));
  if (!parsed.ok()) return Fail(parsed.status());
  const spec::ExperimentSpec& s = *parsed;
  if (!s.data.store.empty()) {
    return Fail(InvalidArgument("data.store: the spec runs from the prepared store " +
                                s.data.store + "; there is nothing to prepare"));
  }
  // The store a mop run of this spec would make: run.partitions, or one per worker.
  const int partitions = s.run.partitions > 0 ? s.run.partitions : s.run.workers;
  data::PrepareOptions po;
  po.num_train_partitions = partitions;
  po.num_val_partitions = partitions;
  po.seed = s.run.seed;
  Status st = Internal("not run");
  {
    CountBar bar("prepare", line.quiet);
    po.progress = std::ref(bar);
    st = data::Prepare(driver::ToSourceSpec(s), po, line.Value("--out"));
  }
  if (!st.ok()) return Fail(st);
  std::printf("prepared %d train and validation partitions in %s\n", partitions,
              line.Value("--out").c_str());
  return 0;
}

int CmdConfigs(const CommandLine& line) {
  auto parsed = SpecOf(line);
  if (!parsed.ok()) return Fail(parsed.status());
  auto configs = driver::ConfigurationsJson(*parsed);
  if (!configs.ok()) return Fail(configs.status());
  std::printf("%s\n", configs->dump(2).c_str());
  return 0;
}

// What the report shows: summary.json, or for a run that has written none yet (live, or
// killed before its end) its models as the journal has them so far. A directory that is
// no run keeps summary.json's "no summary" message.
StatusOr<ReportData> ReportDataOf(const std::string& dir) {
  FileSystem* fs = &RealFileSystem();
  ASSIGN_OR_RETURN(store::Summary summary, driver::ReadSummaryOrJournal(dir, fs));
  return LoadReportData(fs, dir, std::move(summary));
}

// The report reads the run directory only; it writes just --out (html's default is
// RUN_DIR/report.html; table and md go to stdout unless --out names a file).
int CmdReport(const CommandLine& line) {
  auto dir = OnePositional(line, "RUN_DIR");
  if (!dir.ok()) return Fail(dir.status());
  const std::string format = line.Value("--format", "table");
  if (format != "table" && format != "html" && format != "md") {
    return Fail(InvalidArgument("--format: expected table, html or md, not '" + format + "'"));
  }
  std::string text;
  if (format == "table") {
    auto summary = store::ReadSummary(&RealFileSystem(), *dir);
    if (!summary.ok()) return Fail(summary.status());
    text = FormatRankedTable(*summary);
  } else {
    auto data = ReportDataOf(*dir);
    if (!data.ok()) return Fail(data.status());
    text = format == "html" ? RenderHtmlReport(*data) : RenderMarkdownReport(*data);
  }
  const std::string out = line.Value("--out", format == "html" ? *dir + "/report.html" : "");
  if (out.empty()) {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  if (Status st = RealFileSystem().WriteFileAtomic(out, text); !st.ok()) return Fail(st);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace

int RunCommand(const CommandLine& line) {
  switch (line.command) {
    case Command::kRun: return CmdRun(line);
    case Command::kConfigs: return CmdConfigs(line);
    case Command::kPrepare: return CmdPrepare(line);
    case Command::kResume: return CmdResume(line);
    case Command::kReplay: return CmdReplay(line);
    case Command::kReport: return CmdReport(line);
    case Command::kCtl: return CmdCtl(line);
    case Command::kStatus: return CmdStatus(line);
    case Command::kExport: return CmdExport(line);
    case Command::kPredict: return CmdPredict(line);
  }
  return Fail(Internal("unhandled command"));
}

}  // namespace cerebro::cli
