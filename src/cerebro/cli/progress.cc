#include "cerebro/cli/progress.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <utility>

#include "cerebro/common/clock.h"

namespace cerebro::cli {
namespace {

// "mm:ss" or "h:mm:ss"; "--:--" while unknown (negative).
std::string Clock(double seconds) {
  if (seconds < 0) return "--:--";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%02ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

CountBar::CountBar(std::string what, bool quiet)
    : what_(std::move(what)), on_(!quiet && ::isatty(2)), start_(MonotonicSeconds()) {}

CountBar::~CountBar() {
  if (drew_) std::fprintf(stderr, "\n");
}

void CountBar::operator()(int64_t done, int64_t total) {
  if (!on_ || total <= 0) return;
  const double now = MonotonicSeconds();
  if (done < total && last_draw_ >= 0 && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  const double elapsed = now - start_;
  const double left = done > 0 ? elapsed * static_cast<double>(total - done) / done : -1;
  std::fprintf(stderr, "\rcerebro: %s: %lld/%lld examples (%d%%)  %s left ", what_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total),
               static_cast<int>(100 * done / total), Clock(left).c_str());
  drew_ = true;
  if (done >= total) {  // finished: what follows (a run's own progress) gets its own line
    std::fprintf(stderr, "\n");
    drew_ = false;
  }
}

ProgressPrinter::ProgressPrinter(bool quiet) : quiet_(quiet), tty_(::isatty(2)) {}

ProgressPrinter::~ProgressPrinter() {
  if (!quiet_ && tty_ && drew_) Print("\n");
}

void ProgressPrinter::Print(const char* format, ...) {
  if (gone_) return;
  va_list args;
  va_start(args, format);
  gone_ = std::vfprintf(stderr, format, args) < 0;
  va_end(args);
}

void ProgressPrinter::Attach(driver::RunOptions* opts, const std::string& what) {
  if (quiet_) return;
  what_ = what;
  opts->observers.push_back(this);
}

Status ProgressPrinter::OnStarted(const driver::RunView& run) {
  start_ = MonotonicSeconds();
  units_at_start_ = run.state.hopper().units_completed();
  const spec::RunSpec& r = run.spec.run;
  const std::string strategy(EnumName(r.strategy));
  Print("cerebro: %s: strategy %s, %d worker(s), %d epoch(s), seed %llu -> %s\n",
        what_.c_str(), strategy.c_str(), r.workers, r.epochs,
        static_cast<unsigned long long>(r.seed), run.run_dir.c_str());
  return Status::Ok();
}

Status ProgressPrinter::OnUnitDone(const driver::RunView& run, const store::UnitDone&) {
  Draw(driver::ProgressOf(run, MonotonicSeconds() - start_, units_at_start_));
  return Status::Ok();
}

// A model that fails or stops shrinks the work left.
Status ProgressPrinter::OnModelStatus(const driver::RunView& run, ModelId) {
  Draw(driver::ProgressOf(run, MonotonicSeconds() - start_, units_at_start_));
  return Status::Ok();
}

void ProgressPrinter::Draw(const driver::Progress& p) {
  std::string best = p.best_model < 0 ? "-"
                                      : std::to_string(p.best_value).substr(0, 6) + " (model " +
                                            std::to_string(p.best_model) + ")";
  char line[256];
  std::snprintf(line, sizeof(line), "epoch %d/%d  units %lld/%lld  elapsed %s  left %s  best %s %s",
                p.epoch, p.epochs, static_cast<long long>(p.units_done),
                static_cast<long long>(p.units_total), Clock(p.elapsed_seconds).c_str(),
                Clock(p.eta_seconds).c_str(), p.metric.c_str(), best.c_str());
  if (tty_) {
    Print("\r\033[K%s", line);
    drew_ = true;
  } else {
    int decile = p.units_total > 0 ? static_cast<int>(10 * p.units_done / p.units_total) : 0;
    if (decile != last_decile_) Print("%s\n", line);
    last_decile_ = decile;
  }
}

}  // namespace cerebro::cli
