#include "run_helpers.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "test_data.h"

namespace cerebro::testing {

spec::ExperimentSpec ParseOrDie(const std::string& text) {
  auto s = spec::ParseSpecString(text, "test.yaml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : spec::ExperimentSpec{};
}

driver::RunOptions Options(const std::string& out_dir) {
  driver::RunOptions o;
  o.out_dir = out_dir;
  o.worker_binary = BinaryDir() + "/cerebro-worker";
  return o;
}

std::vector<spec::Json> ReadJsonLines(const std::string& path) {
  std::vector<spec::Json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(spec::Json::parse(line));
  return out;
}

int CompleteLines(const std::string& path) {
  const std::string text = ReadFileOrEmpty(path);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

std::map<std::tuple<int, int, std::string, int>, int> UnitCounts(const std::string& run_dir) {
  std::map<std::tuple<int, int, std::string, int>, int> counts;
  for (const auto& j : ReadJsonLines(run_dir + "/journal.jsonl")) {
    if (j["type"] != "unit") continue;
    counts[{j["model"].get<int>(), j["epoch"].get<int>(), j["kind"].get<std::string>(),
            j["partition"].get<int>()}]++;
  }
  return counts;
}

void ExpectEveryUnitExactlyOnce(const std::string& run_dir, int models, int epochs, int partitions) {
  auto counts = UnitCounts(run_dir);
  EXPECT_EQ(counts.size(), static_cast<size_t>(models * epochs * partitions * 2));
  for (int m = 0; m < models; ++m)
    for (int e = 0; e < epochs; ++e)
      for (int p = 0; p < partitions; ++p)
        for (const char* kind : {"train", "eval"}) {
          EXPECT_EQ((counts[{m, e, kind, p}]), 1)
              << "model " << m << " epoch " << e << " " << kind << " partition " << p;
        }
}

pid_t SpawnCerebro(const std::vector<std::string>& args) {
  std::string bin = BinaryDir() + "/cerebro";
  std::vector<std::string> copy = args;
  std::vector<char*> argv = {bin.data()};
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

namespace {

// (start time, state letter) of `pid`, or nullopt when it is gone.
std::optional<std::pair<std::string, char>> StartAndState(pid_t pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string x; in >> x;) f.push_back(x);
  if (f.size() < 20) return std::nullopt;
  return std::make_pair(f[19], f[0][0]);  // fields 22 (starttime) and 3 (state)
}

}  // namespace

std::map<ProcessId, std::string> DescendantsOf(pid_t root) {
  std::map<ProcessId, std::string> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    const pid_t pid = todo.back();
    todo.pop_back();
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      std::istringstream in(ReadFileOrEmpty(task.path().string() + "/children"));
      for (pid_t c; in >> c;) {
        auto id = StartAndState(c);
        if (!id) continue;
        std::string comm = ReadFileOrEmpty("/proc/" + std::to_string(c) + "/comm");
        if (!comm.empty() && comm.back() == '\n') comm.pop_back();
        if (out.emplace(ProcessId{c, id->first}, comm).second) todo.push_back(c);
      }
    }
  }
  return out;
}

std::vector<ProcessId> StillRunning(const std::map<ProcessId, std::string>& processes) {
  std::vector<ProcessId> alive;
  for (const auto& [p, comm] : processes) {
    auto id = StartAndState(p.pid);
    if (id && id->first == p.start && id->second != 'Z' && id->second != 'X') alive.push_back(p);
  }
  return alive;
}

}  // namespace cerebro::testing
