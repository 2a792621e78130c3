// The command line: which flags each command takes (one table per command), and how
// the flags that set spec fields become spec::Overrides, so their values are checked by
// the spec's own rules (spec/spec.h), once. Pure value types; thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cerebro/common/enum_names.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::cli {

enum class Command {
  kRun, kConfigs, kPrepare, kResume, kReplay, kReport, kCtl, kStatus, kExport, kPredict
};

struct CommandLine {
  Command command = Command::kRun;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // valued flags as given: "--out" -> "DIR"
  bool quiet = false;                         // --quiet
  std::set<std::string> switches;             // every switch given: "--quiet", "--wait"

  bool Has(const std::string& flag) const { return values.count(flag) > 0 || switches.count(flag) > 0; }
  // The flag's value, or `otherwise` when it was not given.
  std::string Value(const std::string& flag, const std::string& otherwise = "") const;
};

// Parses the arguments after the program name: the command, then its positional
// arguments and flags (`--flag value` or `--flag=value`; the last of a repeated flag
// wins). InvalidArgument, naming the command or flag, for an unknown command, an unknown
// flag, a flag the command does not take ("--workers: not a flag of prepare (it takes
// --out, --partitions, --seed)") or a missing value.
StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// The flags of `line` that set spec fields (--workers sets run.workers, ...), as
// overrides for spec::ParseSpecFile. An integer flag passes an integer when its text is
// one that fits 64 bits, otherwise the text, which the field's rule then refuses.
spec::Overrides SpecOverrides(const CommandLine& line);

}  // namespace cerebro::cli

namespace cerebro {
template <>
struct EnumNames<cli::Command> {
  static constexpr NamedValue<cli::Command> kTable[] = {
      {cli::Command::kRun, "run"},       {cli::Command::kConfigs, "configs"},
      {cli::Command::kPrepare, "prepare"}, {cli::Command::kResume, "resume"},
      {cli::Command::kReplay, "replay"}, {cli::Command::kReport, "report"},
      {cli::Command::kCtl, "ctl"},       {cli::Command::kStatus, "status"},
      {cli::Command::kExport, "export"}, {cli::Command::kPredict, "predict"}};
};
}  // namespace cerebro
