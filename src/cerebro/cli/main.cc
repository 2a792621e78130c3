// cerebro: the command-line front end. main() parses the command line (cli/flags.h) and
// hands it to the command (cli/commands.h), which prints one line on stderr for any
// failure and returns the exit status (0 success, 1 the run failed, 2 bad input).
#include <cstdio>
#include <string>
#include <vector>

#include "cerebro/cli/commands.h"
#include "cerebro/cli/flags.h"
#include "cerebro/cli/outcome.h"
#include "cerebro/cli/signals.h"
#include "cerebro/exec/worker_serve.h"

namespace {

constexpr const char* kUsage = R"(usage:
  cerebro run SPEC [--out DIR] [--workers N] [--partitions P] [--strategy mop|sequential|task|dp]
                   [--epochs E] [--seed S] [--order random|fixed] [--threads T]
                   [--backend local|ray] [--ray-address HOST:PORT] [--num-models M] [--quiet]
      Train every configuration of SPEC with Model Hopper Parallelism; write the run
      directory (default runs/<name>-<time>-<pid>) and print the ranked models.
      --num-models M sets search.num_models (random, asha, tpe, pbt).
  cerebro run --extend RUN_DIR [--epochs E] [--num-models M] [--quiet]
      Continue a finished run in place (grid, random, tpe; pbt with --epochs): every
      completed model trains on to E epochs from its last state (epochs numbered on;
      pbt goes on from its last round), and random or tpe adds its next models up to M.
      A crash during it: cerebro resume RUN_DIR.
  cerebro configs SPEC [--seed S]
      Print the configurations SPEC generates (models.json's format) without training.
  cerebro prepare SPEC --out DIR [--partitions P] [--seed S] [--quiet]
      Only materialize the partitioned data store of SPEC's data section, with the
      partitions a mop run of SPEC uses (run.partitions, else one per worker).
  cerebro resume RUN_DIR [--wait] [--quiet]
      Continue a run that was interrupted (killed, crashed, out of power) from its journal.
      A run directory has one writer: with --wait, wait for the process that owns it to
      end (instead of refusing).
  cerebro replay RUN_DIR [--out DIR] [--quiet]
      Re-execute a run following its journaled partition order and report any divergence.
  cerebro report RUN_DIR [--format table|html|md] [--out FILE]
      Report a run from its summary.json and journal (a run without a summary yet: its
      journal so far), writing nothing but --out: the ranked table (default, on stdout),
      a self-contained HTML page with learning curves, hyperparameters, a per-worker
      timeline and decisions (default RUN_DIR/report.html), or Markdown (stdout).
  cerebro status RUN_DIR [--json]
      Where a run stands, while it is live (from another terminal) or after: progress,
      best so far, each worker's last unit, failures, ETA. Reads only; never locks.
  cerebro export RUN_DIR --out FILE [--model ID]
      Write a finished model (default: the best) as TorchScript for torch.jit.load; it
      takes raw inputs as the data files hold them (docs/export.md).
  cerebro predict RUN_DIR --data FILE [--labels FILE] [--model ID] [--out FILE] [--quiet]
      Run a finished model (default: the best) on FILE, in the run's data format (IDX:
      --labels names the labels file); write CSV predictions to --out (default stdout)
      and print the accuracy.
  cerebro ctl RUN_DIR stop MODEL | extend MODEL EPOCHS | add 'PARAMS' [--epochs E]
                      | clone MODEL [key=value ...] [--set key=value] [--epochs E]
      Steer a running experiment (only its owner can): the command is journaled at once
      and applied at the touched model's next epoch boundary.
Each command takes only the flags shown for it. The flags other than --out and --quiet
set fields of the spec's run section (--threads sets threads_per_worker) before the spec
is checked, so they obey the spec's rules.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace cerebro::cli;
  IgnoreSigpipe();  // a closed stdout or stderr ends the printing, not the run
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto line = ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!line.ok()) return Fail(line.status());
  const Command c = line->command;
  if (c == Command::kRun || c == Command::kResume || c == Command::kReplay) {
    // Now, while this process has one thread: local workers are then forked from it and
    // share its LibTorch pages (exec/fork_server.h). Without a server (an error here),
    // they are exec'd as before, so the reason is not printed.
    (void)cerebro::exec::StartWorkerForkServer();
  }
  return RunCommand(*line);
}
