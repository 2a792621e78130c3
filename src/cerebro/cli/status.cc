#include "cerebro/cli/status.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "cerebro/cli/outcome.h"
#include "cerebro/cli/report/report_data.h"
#include "cerebro/common/clock.h"
#include "cerebro/common/enum_names.h"
#include "cerebro/driver/ranking.h"

namespace cerebro::cli {
namespace {

std::string Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Printf(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

// 42s, 3m05s, 2h07m.
std::string Duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  if (seconds < 10) return Printf("%.1fs", std::max(0.0, seconds));
  if (s < 60) return Printf("%lds", s);
  if (s < 3600) return Printf("%ldm%02lds", s / 60, s % 60);
  return Printf("%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

double Percent(int64_t part, int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// live | finished | interrupted ..., with what to do about it.
std::string State(const driver::RunStatus& s) {
  if (s.live) return "live (" + (s.owner.empty() ? std::string("owner unknown") : s.owner) + ")";
  if (s.finished) return "finished";
  return "not live, not finished: continue it with: cerebro resume " + s.run_dir;
}

std::string LastUnit(const store::UnitDone& u) {
  return Printf("model %d epoch %d %s p%d", u.model, u.epoch + 1,
                std::string(EnumName(u.kind)).c_str(), u.partition);
}

}  // namespace

std::string FormatRunStatus(const driver::RunStatus& s, double now) {
  std::string out =
      "run " + s.run_dir + " (" + s.name + ", " + s.strategy + "): " + State(s) + "\n";
  out += Printf("progress: %lld/%lld units (%.0f%%), %lld/%lld model-epochs",
                static_cast<long long>(s.units_done), static_cast<long long>(s.units_total),
                Percent(s.units_done, s.units_total), static_cast<long long>(s.epochs_done),
                static_cast<long long>(s.epochs_total));
  if (s.eta_seconds > 0 && s.live) out += ", ETA " + Duration(s.eta_seconds);
  if (s.eta_seconds > 0 && !s.live) out += ", " + Duration(s.eta_seconds) + " of work left";
  out += "\n";
  std::string counts;
  for (const auto& [status, n] : s.models_by_status) {
    counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " ";
    counts += EnumName(status);
  }
  out += Printf("models: %zu", s.models.size());
  out += (counts.empty() ? "" : " (" + counts + ")") + std::string("\n");
  if (s.best_model >= 0) {
    out += Printf("best so far: model %d, val %s %.4f after %d epoch%s\n", s.best_model,
                  s.metric.c_str(), s.best_value, s.best_epochs, s.best_epochs == 1 ? "" : "s");
  } else {
    out += "best so far: none (no model has finished an epoch)\n";
  }
  if (s.objectives.size() > 1) {  // the same line as the report's
    store::Summary front;
    front.objectives = s.objectives;
    front.pareto_front = s.pareto_front;
    out += DescribeFront(front) + "\n";
  }
  out += "workers:\n";
  out += Printf("  %-6s %-9s %6s %8s  %-28s %s\n", "worker", "partition", "units", "busy",
                "last unit", "finished");
  for (const driver::WorkerActivity& w : s.workers) {
    const bool any = w.last.model >= 0;
    const std::string when = !any || w.last.finished_at <= 0
                                 ? "-"
                                 : Duration(now - w.last.finished_at) + " ago";
    out += Printf("  %-6d %-9d %6lld %8s  %-28s %s\n", w.worker, w.partition,
                  static_cast<long long>(w.units), Duration(w.busy_seconds).c_str(),
                  any ? LastUnit(w.last).c_str() : "-", when.c_str());
  }
  if (!s.failures.empty()) out += Printf("failures: %zu\n", s.failures.size());
  for (const driver::RunFailure& f : s.failures) {
    std::string who = "model " + std::to_string(f.model);
    if (f.worker >= 0) who += Printf(" epoch %d on worker %d", f.epoch + 1, f.worker);
    out += "  " + f.type + ": " + who + (f.cause.empty() ? "" : " (" + f.cause + ")") + ": " +
           f.detail + "\n";
  }
  return out;
}

spec::Json RunStatusToJson(const driver::RunStatus& s) {
  spec::Json by_status = spec::Json::object();
  for (const auto& [status, n] : s.models_by_status) by_status[std::string(EnumName(status))] = n;
  spec::Json workers = spec::Json::array();
  for (const driver::WorkerActivity& w : s.workers) {
    spec::Json last = nullptr;
    if (w.last.model >= 0) {
      last = {{"model", w.last.model},          {"epoch", w.last.epoch},
              {"kind", EnumName(w.last.kind)},  {"partition", w.last.partition},
              {"submitted_at", w.last.submitted_at}, {"finished_at", w.last.finished_at}};
    }
    workers.push_back({{"worker", w.worker},
                       {"partition", w.partition},
                       {"units", w.units},
                       {"busy_seconds", w.busy_seconds},
                       {"last", last}});
  }
  spec::Json failures = spec::Json::array();
  for (const driver::RunFailure& f : s.failures) {
    failures.push_back({{"type", f.type},   {"model", f.model},   {"worker", f.worker},
                        {"epoch", f.epoch}, {"cause", f.cause},   {"detail", f.detail},
                        {"line", f.line}});
  }
  spec::Json models = spec::Json::array();
  for (const store::ModelOutcome& m : s.models) {
    spec::Json metric = nullptr;  // its last epoch's, as ranked
    if (!m.history.empty()) metric = driver::MetricOf(m, s.metric);
    models.push_back({{"id", m.id},
                      {"rank", m.rank},
                      {"status", EnumName(m.status)},
                      {"epochs", m.history.size()},
                      {"metric", metric},
                      {"failure", m.failure}});
  }
  spec::Json objectives = spec::Json::array();
  for (const spec::MetricSpec& o : s.objectives) {
    objectives.push_back({{"name", o.name}, {"direction", EnumName(o.direction)}});
  }
  return {{"run_dir", s.run_dir},
          {"name", s.name},
          {"strategy", s.strategy},
          {"live", s.live},
          {"owner", s.owner},
          {"finished", s.finished},
          {"done", s.done},
          {"units_done", s.units_done},
          {"units_total", s.units_total},
          {"epochs_done", s.epochs_done},
          {"epochs_total", s.epochs_total},
          {"models_by_status", by_status},
          {"models", models},
          {"metric", s.metric},
          {"best_model", s.best_model >= 0 ? spec::Json(s.best_model) : spec::Json(nullptr)},
          {"best_value", s.best_model >= 0 ? spec::Json(s.best_value) : spec::Json(nullptr)},
          {"best_epochs", s.best_epochs},
          {"objectives", objectives},
          {"pareto_front", s.pareto_front},
          {"workers", workers},
          {"failures", failures},
          {"concurrency", s.concurrency},
          {"first_submitted_at", s.first_submitted_at},
          {"last_finished_at", s.last_finished_at},
          {"eta_seconds", s.eta_seconds >= 0 ? spec::Json(s.eta_seconds) : spec::Json(nullptr)}};
}

int CmdStatus(const CommandLine& line) {
  if (line.positional.size() != 1) {
    return Fail(InvalidArgument("status: expected one RUN_DIR"));
  }
  auto s = driver::ReadRunStatus(line.positional[0], &RealFileSystem());
  if (!s.ok()) return Fail(s.status());
  if (line.Has("--json")) {
    std::printf("%s\n", RunStatusToJson(*s).dump(2).c_str());
  } else {
    std::fputs(FormatRunStatus(*s, WallSeconds()).c_str(), stdout);
  }
  return 0;
}

}  // namespace cerebro::cli
