#include "run_helpers.h"

#include <gtest/gtest.h>

#include <fstream>

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

}  // namespace cerebro::testing
