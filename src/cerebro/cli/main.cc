// cerebro: the command-line front end. Parses arguments, applies flag overrides to the
// spec, runs the driver and prints progress and the final ranked table. Every failure
// becomes one line on stderr and a non-zero exit status:
//   0 success; 1 the run failed after it started (or every model failed);
//   2 bad usage or bad input (spec, data, flags) - nothing was written.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cerebro/common/logging.h"
#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/driver/driver.h"
#include "cerebro/spec/spec.h"

namespace cerebro::cli {
namespace {

constexpr const char* kUsage = R"(usage:
  cerebro run SPEC [--out DIR] [--workers N] [--partitions P] [--strategy mop|sequential|task|dp]
                   [--epochs E] [--seed S] [--order random|fixed] [--threads T]
                   [--backend local|ray] [--ray-address HOST:PORT] [--quiet]
      Train every configuration of SPEC with Model Hopper Parallelism; write the run
      directory (default runs/<name>-<time>) and print the ranked models.
  cerebro configs SPEC [--seed S]
      Print the configurations SPEC generates (models.json's format) without training.
  cerebro prepare SPEC --out DIR [--partitions P] [--seed S]
      Only materialize the partitioned data store of SPEC's data section.
  cerebro resume RUN_DIR [--quiet]
      Continue a run that was interrupted (killed, crashed, out of power) from its journal.
  cerebro replay RUN_DIR [--out DIR] [--quiet]
      Re-execute a run following its journaled partition order and report any divergence.
  cerebro report RUN_DIR
      Print the ranked table of a finished run from its summary.json.
Flags override the spec's run section.
)";

struct Flags {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  bool quiet = false;
};

Status ParseFlags(int argc, char** argv, int start, Flags* f) {
  static const std::vector<std::string> kValued = {"--out", "--workers", "--strategy", "--epochs",
                                                   "--seed", "--order", "--threads", "--partitions",
                                                   "--backend", "--ray-address"};
  for (int i = start; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quiet") {
      f->quiet = true;
    } else if (a.rfind("--", 0) == 0) {
      std::string key = a, value;
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        key = a.substr(0, eq);
        value = a.substr(eq + 1);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return InvalidArgument(a + ": missing value");
      }
      if (std::find(kValued.begin(), kValued.end(), key) == kValued.end()) {
        return InvalidArgument(key + ": unknown flag");
      }
      f->values[key] = value;
    } else {
      f->positional.push_back(a);
    }
  }
  return Status::Ok();
}

Status IntFlag(const Flags& f, const std::string& key, int64_t min_value, int64_t* out) {
  auto it = f.values.find(key);
  if (it == f.values.end()) return Status::Ok();
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < min_value) {
    return InvalidArgument(key + ": expected an integer >= " + std::to_string(min_value) + ", got '" +
                           it->second + "'");
  }
  *out = v;
  return Status::Ok();
}

Status ApplyOverrides(const Flags& f, spec::ExperimentSpec* s) {
  int64_t v;
  v = s->run.workers;
  RETURN_IF_ERROR(IntFlag(f, "--workers", 1, &v));
  s->run.workers = static_cast<int>(v);
  v = s->run.epochs;
  RETURN_IF_ERROR(IntFlag(f, "--epochs", 1, &v));
  s->run.epochs = static_cast<int>(v);
  v = static_cast<int64_t>(s->run.seed);
  RETURN_IF_ERROR(IntFlag(f, "--seed", 0, &v));
  s->run.seed = static_cast<uint64_t>(v);
  v = s->run.partitions;
  RETURN_IF_ERROR(IntFlag(f, "--partitions", 1, &v));
  s->run.partitions = static_cast<int>(v);
  v = s->run.threads_per_worker;
  RETURN_IF_ERROR(IntFlag(f, "--threads", 1, &v));
  s->run.threads_per_worker = static_cast<int>(v);
  if (auto it = f.values.find("--strategy"); it != f.values.end()) {
    if (it->second != "mop" && it->second != "sequential" && it->second != "task" &&
        it->second != "dp") {
      return InvalidArgument("--strategy: expected mop, sequential, task or dp, got '" +
                             it->second + "'");
    }
    s->run.strategy = it->second;
  }
  if (auto it = f.values.find("--order"); it != f.values.end()) {
    if (it->second != "random" && it->second != "fixed") {
      return InvalidArgument("--order: expected random or fixed, got '" + it->second + "'");
    }
    s->run.order = it->second;
  }
  if (auto it = f.values.find("--backend"); it != f.values.end()) {
    if (it->second != "local" && it->second != "ray") {
      return InvalidArgument("--backend: expected local or ray, got '" + it->second + "'");
    }
    s->run.backend = it->second;
  }
  if (auto it = f.values.find("--ray-address"); it != f.values.end()) s->run.ray_address = it->second;
  if (s->run.strategy == "sequential") s->run.workers = 1;
  return spec::Validate(*s);
}

std::string Clock(double seconds) {
  if (seconds < 0) return "--:--";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof(buf), "%02ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string DefaultOutDir(const spec::ExperimentSpec& s) {
  std::string name = s.name;
  if (name.empty()) {
    name = s.source_file.substr(s.source_file.find_last_of('/') + 1);
    name = name.substr(0, name.find('.'));
  }
  std::time_t t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&t));
  return "runs/" + name + "-" + stamp;
}

int ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kDataLoss:
      return 2;
    default:
      return 1;
  }
}

int Fail(const Status& st) {
  std::fprintf(stderr, "cerebro: error: %s\n", st.message().c_str());
  return ExitCodeFor(st);
}

// Live progress on stderr: one redrawn line on a terminal, a line per tenth otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(::isatty(2)) {}
  ~ProgressPrinter() {
    if (!quiet_ && tty_ && drew_) std::fprintf(stderr, "\n");
  }
  void Attach(driver::RunOptions* opts, const std::string& what) {
    if (quiet_) return;
    opts->on_started = [what](const std::string& dir, const spec::ExperimentSpec& s) {
      std::fprintf(stderr, "cerebro: %s: strategy %s, %d worker(s), %d epoch(s), seed %llu -> %s\n",
                   what.c_str(), s.run.strategy.c_str(), s.run.workers, s.run.epochs,
                   static_cast<unsigned long long>(s.run.seed), dir.c_str());
    };
    opts->on_progress = [this](const driver::Progress& p) { Draw(p); };
  }

 private:
  void Draw(const driver::Progress& p) {
    std::string best = p.best_model < 0 ? "-"
                                        : std::to_string(p.best_value).substr(0, 6) + " (model " +
                                              std::to_string(p.best_model) + ")";
    char line[256];
    std::snprintf(line, sizeof(line), "epoch %d/%d  units %lld/%lld  elapsed %s  left %s  best %s %s",
                  p.epoch, p.epochs, static_cast<long long>(p.units_done),
                  static_cast<long long>(p.units_total), Clock(p.elapsed_seconds).c_str(),
                  Clock(p.eta_seconds).c_str(), p.metric.c_str(), best.c_str());
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", line);
      drew_ = true;
    } else {
      int decile = p.units_total > 0 ? static_cast<int>(10 * p.units_done / p.units_total) : 0;
      if (decile != last_decile_) std::fprintf(stderr, "%s\n", line);
      last_decile_ = decile;
    }
  }
  bool quiet_, tty_;
  bool drew_ = false;
  int last_decile_ = -1;
};

int PrintResult(const driver::RunResult& r) {
  std::printf("%s", driver::FormatRankedTable(r).c_str());
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

int CmdRun(const Flags& f) {
  if (f.positional.size() != 1) return Fail(InvalidArgument("run: expected one SPEC file"));
  auto parsed = spec::ParseSpecFile(f.positional[0]);
  if (!parsed.ok()) return Fail(parsed.status());
  spec::ExperimentSpec s = std::move(parsed).value();
  Status st = ApplyOverrides(f, &s);
  if (!st.ok()) return Fail(st);
  driver::RunOptions opts;
  opts.out_dir = f.values.count("--out") ? f.values.at("--out") : DefaultOutDir(s);
  StatusOr<driver::RunResult> result = Status(StatusCode::kInternal, "not run");
  {
    ProgressPrinter progress(f.quiet);
    progress.Attach(&opts, f.positional[0]);
    result = driver::RunExperiment(s, opts);
  }
  if (!result.ok()) return Fail(result.status());
  return PrintResult(*result);
}

int CmdResume(const Flags& f) {
  if (f.positional.size() != 1) return Fail(InvalidArgument("resume: expected one RUN_DIR"));
  if (!f.values.empty()) return Fail(InvalidArgument("resume: takes no flags but --quiet (the run keeps its spec)"));
  driver::RunOptions opts;
  StatusOr<driver::RunResult> result = Status(StatusCode::kInternal, "not run");
  {
    ProgressPrinter progress(f.quiet);
    progress.Attach(&opts, "resume " + f.positional[0]);
    result = driver::ResumeExperiment(f.positional[0], opts);
  }
  if (!result.ok()) return Fail(result.status());
  return PrintResult(*result);
}

int CmdReplay(const Flags& f) {
  if (f.positional.size() != 1) return Fail(InvalidArgument("replay: expected one RUN_DIR"));
  std::string dir = f.positional[0];
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  driver::RunOptions opts;
  opts.out_dir = f.values.count("--out") ? f.values.at("--out") : dir + "-replay";
  auto report = driver::ReplayExperiment(dir, opts);
  if (!report.ok()) return Fail(report.status());
  const auto& r = *report;
  std::printf("replayed %s into %s: %lld of %lld epochs bitwise identical; max |difference| %.3g\n",
              dir.c_str(), r.replay.run_dir.c_str(), static_cast<long long>(r.epochs_identical),
              static_cast<long long>(r.epochs_compared), r.max_abs_difference);
  for (const auto& d : r.divergences) std::printf("  diverged: %s\n", d.c_str());
  return r.divergences.empty() ? 0 : 1;
}

int CmdPrepare(const Flags& f) {
  if (f.positional.size() != 1) return Fail(InvalidArgument("prepare: expected one SPEC file"));
  if (!f.values.count("--out")) return Fail(InvalidArgument("--out: prepare needs an output directory"));
  auto parsed = spec::ParseSpecFile(f.positional[0]);
  if (!parsed.ok()) return Fail(parsed.status());
  const spec::ExperimentSpec& s = *parsed;
  int64_t partitions = s.run.workers, seed = static_cast<int64_t>(s.run.seed);
  Status st = IntFlag(f, "--partitions", 1, &partitions);
  if (st.ok()) st = IntFlag(f, "--seed", 0, &seed);
  if (!st.ok()) return Fail(st);
  data::SourceSpec src = driver::ToSourceSpec(s);
  data::PrepareOptions po;
  po.num_train_partitions = static_cast<int>(partitions);
  po.num_val_partitions = static_cast<int>(partitions);
  po.seed = static_cast<uint64_t>(seed);
  st = data::Prepare(src, po, f.values.at("--out"));
  if (!st.ok()) return Fail(st);
  std::printf("prepared %lld train and validation partitions in %s\n",
              static_cast<long long>(partitions), f.values.at("--out").c_str());
  return 0;
}

int CmdConfigs(const Flags& f) {
  if (f.positional.size() != 1) return Fail(InvalidArgument("configs: expected one SPEC file"));
  for (const auto& [key, value] : f.values) {
    if (key != "--seed") return Fail(InvalidArgument(key + ": configs takes only --seed"));
  }
  auto parsed = spec::ParseSpecFile(f.positional[0]);
  if (!parsed.ok()) return Fail(parsed.status());
  spec::ExperimentSpec s = std::move(parsed).value();
  Status st = ApplyOverrides(f, &s);
  if (!st.ok()) return Fail(st);
  auto configs = driver::ConfigurationsJson(s);
  if (!configs.ok()) return Fail(configs.status());
  std::printf("%s\n", configs->dump(2).c_str());
  return 0;
}

int CmdReport(const Flags& f) {
  if (f.positional.size() != 1) return Fail(InvalidArgument("report: expected one RUN_DIR"));
  std::string path = f.positional[0] + "/summary.json";
  std::ifstream in(path);
  if (!in) return Fail(NotFound(path + ": no summary (is the run finished?)"));
  spec::Json j;
  try {
    j = spec::Json::parse(in);
  } catch (const std::exception& e) {
    return Fail(DataLoss(path + ": " + e.what()));
  }
  driver::RunResult r;
  r.run_dir = f.positional[0];
  r.metric = j.value("metric", "accuracy");
  for (const auto& m : j["models"]) {
    driver::ModelOutcome o;
    o.id = m["id"];
    o.rank = m["rank"];
    o.params = m["params"];
    o.status = m["status"];
    o.failure = m.value("failure", "");
    for (const auto& h : m["history"]) {
      store::EpochRow row;
      row.epoch = h["epoch"];
      row.train_loss = h["train_loss"];
      row.train_accuracy = h["train_accuracy"];
      row.val_loss = h["val_loss"];
      row.val_accuracy = h["val_accuracy"];
      o.history.push_back(row);
    }
    if (o.status == "completed" && o.history.empty()) o.status = "failed";
    r.models.push_back(o);
  }
  std::printf("%s", driver::FormatRankedTable(r).c_str());
  return 0;
}

}  // namespace
}  // namespace cerebro::cli

int main(int argc, char** argv) {
  using namespace cerebro::cli;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  Flags flags;
  cerebro::Status st = ParseFlags(argc, argv, 2, &flags);
  if (!st.ok()) return Fail(st);
  if (cmd == "run") return CmdRun(flags);
  if (cmd == "configs") return CmdConfigs(flags);
  if (cmd == "prepare") return CmdPrepare(flags);
  if (cmd == "resume") return CmdResume(flags);
  if (cmd == "replay") return CmdReplay(flags);
  if (cmd == "report") return CmdReport(flags);
  return Fail(cerebro::InvalidArgument("unknown command '" + cmd + "' (see cerebro --help)"));
}
