#include "cerebro/cli/flags.h"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cerebro::cli {
namespace {

enum class FlagType { kSwitch, kInteger, kText };

struct FlagInfo {
  std::string_view name;
  FlagType type;
  std::string_view spec_path;  // the spec field it sets; "" if none
};

constexpr FlagInfo kFlags[] = {
    {"--out", FlagType::kText, ""},
    {"--workers", FlagType::kInteger, "run.workers"},
    {"--partitions", FlagType::kInteger, "run.partitions"},
    {"--strategy", FlagType::kText, "run.strategy"},
    {"--epochs", FlagType::kInteger, "run.epochs"},
    {"--seed", FlagType::kInteger, "run.seed"},
    {"--order", FlagType::kText, "run.order"},
    {"--threads", FlagType::kInteger, "run.threads_per_worker"},
    {"--backend", FlagType::kText, "run.backend"},
    {"--ray-address", FlagType::kText, "run.ray_address"},
    {"--quiet", FlagType::kSwitch, ""},
    {"--wait", FlagType::kSwitch, ""},
    {"--json", FlagType::kSwitch, ""},
    {"--set", FlagType::kText, ""},
    {"--format", FlagType::kText, ""},
    {"--model", FlagType::kText, ""},
    {"--data", FlagType::kText, ""},
    {"--labels", FlagType::kText, ""},
    {"--extend", FlagType::kText, ""},
    {"--num-models", FlagType::kInteger, "search.num_models"},
};

const FlagInfo* FindFlag(std::string_view name) {
  for (const FlagInfo& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// Each command's own flags, in the order the usage text lists them.
const std::vector<std::string_view>& FlagsOf(Command c) {
  static const std::vector<std::string_view> kRun = {
      "--out",   "--workers", "--partitions", "--strategy", "--epochs",     "--seed",
      "--order", "--threads", "--backend",    "--ray-address", "--quiet", "--num-models",
      "--extend"};
  static const std::vector<std::string_view> kConfigs = {"--seed"};
  static const std::vector<std::string_view> kPrepare = {"--out", "--partitions", "--seed", "--quiet"};
  static const std::vector<std::string_view> kResume = {"--wait", "--quiet"};
  static const std::vector<std::string_view> kReplay = {"--out", "--quiet"};
  static const std::vector<std::string_view> kCtl = {"--set", "--epochs"};
  static const std::vector<std::string_view> kStatus = {"--json"};
  static const std::vector<std::string_view> kReport = {"--format", "--out"};
  static const std::vector<std::string_view> kExport = {"--model", "--out"};
  static const std::vector<std::string_view> kPredict = {"--data", "--labels", "--model", "--out",
                                                         "--quiet"};
  static const std::vector<std::string_view> kNone = {};
  switch (c) {
    case Command::kRun: return kRun;
    case Command::kConfigs: return kConfigs;
    case Command::kPrepare: return kPrepare;
    case Command::kResume: return kResume;
    case Command::kReplay: return kReplay;
    case Command::kReport: return kReport;
    case Command::kCtl: return kCtl;
    case Command::kStatus: return kStatus;
    case Command::kExport: return kExport;
    case Command::kPredict: return kPredict;
  }
  return kNone;
}

bool Takes(Command c, std::string_view flag) {
  for (std::string_view f : FlagsOf(c)) {
    if (f == flag) return true;
  }
  return false;
}

Status NotAFlagOf(Command c, const std::string& flag) {
  std::string takes;
  for (std::string_view f : FlagsOf(c)) takes += (takes.empty() ? "" : ", ") + std::string(f);
  return InvalidArgument(flag + ": not a flag of " + std::string(EnumName(c)) + " (it takes " +
                         (takes.empty() ? "none" : takes) + ")");
}

bool IsFlag(const std::string& arg) { return arg.rfind("--", 0) == 0; }

// Lexing only (the spec's rules judge the value): the text as an integer when it is
// one that fits int64 or uint64, else the text itself.
spec::Json IntegerOrText(const std::string& text) {
  const char* end = text.data() + text.size();
  int64_t i = 0;
  auto r = std::from_chars(text.data(), end, i);
  if (!text.empty() && r.ec == std::errc() && r.ptr == end) return spec::Json(i);
  uint64_t u = 0;
  r = std::from_chars(text.data(), end, u);
  if (!text.empty() && r.ec == std::errc() && r.ptr == end) return spec::Json(u);
  return spec::Json(text);
}

}  // namespace

std::string CommandLine::Value(const std::string& flag, const std::string& otherwise) const {
  auto it = values.find(flag);
  return it == values.end() ? otherwise : it->second;
}

StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  if (args.empty()) return InvalidArgument("missing command (see cerebro --help)");
  std::optional<Command> command = ParseEnum<Command>(args[0]);
  if (!command) return InvalidArgument("unknown command '" + args[0] + "' (see cerebro --help)");
  CommandLine line;
  line.command = *command;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!IsFlag(arg)) {
      line.positional.push_back(arg);
      continue;
    }
    // The name is judged before any value is looked for, so a stray last flag is
    // "unknown", not "missing value".
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const FlagInfo* flag = FindFlag(name);
    if (flag == nullptr) return InvalidArgument(name + ": unknown flag (see cerebro --help)");
    if (!Takes(line.command, name)) return NotAFlagOf(line.command, name);
    if (flag->type == FlagType::kSwitch) {
      if (eq != std::string::npos) return InvalidArgument(name + ": takes no value");
      line.switches.insert(name);
      line.quiet = line.quiet || name == "--quiet";
      continue;
    }
    if (eq != std::string::npos) {
      line.values[name] = arg.substr(eq + 1);
    } else if (i + 1 < args.size() && !IsFlag(args[i + 1])) {
      line.values[name] = args[++i];
    } else {
      return InvalidArgument(name + ": missing value");
    }
  }
  return line;
}

spec::Overrides SpecOverrides(const CommandLine& line) {
  spec::Overrides out;
  for (const auto& [name, text] : line.values) {
    const FlagInfo* flag = FindFlag(name);
    if (flag == nullptr || flag->spec_path.empty()) continue;
    out.push_back({std::string(flag->spec_path),
                   flag->type == FlagType::kInteger ? IntegerOrText(text) : spec::Json(text),
                   name});
  }
  return out;
}

}  // namespace cerebro::cli
