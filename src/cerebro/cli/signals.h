// The cerebro command's signal settings. SIGPIPE is ignored, so a reader that goes away
// (`cerebro run ... | head -2`) ends the printing, never the run. While a run directory is
// being written, SIGINT and SIGTERM first print how to continue it (outcome.h's hint) and
// then end the process as the signal would have: the journal is durable record by record,
// so a run ended at any point resumes. Signal dispositions are process-wide: use from the
// main thread, one ResumeHintOnSignal at a time.
#pragma once

#include <signal.h>

#include <string>

namespace cerebro::cli {

// For the whole process and the workers it starts (an ignored signal stays ignored
// across exec): a write to a closed pipe fails with EPIPE instead of killing the writer.
void IgnoreSigpipe();

// While alive, SIGINT and SIGTERM print ResumeHint(run_dir) on stderr if `run_dir`
// exists by then (a run that is still preparing has nothing to resume), then take the
// signal's default action; a signal that was ignored stays ignored. The destructor
// restores the previous handlers.
class ResumeHintOnSignal {
 public:
  explicit ResumeHintOnSignal(const std::string& run_dir);
  ~ResumeHintOnSignal();
  ResumeHintOnSignal(const ResumeHintOnSignal&) = delete;
  ResumeHintOnSignal& operator=(const ResumeHintOnSignal&) = delete;

 private:
  bool installed_ = false;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace cerebro::cli
