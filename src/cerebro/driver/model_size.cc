#include "cerebro/driver/model_size.h"

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "cerebro/data/partition_store.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::driver {

bool RanksByModelSize(const spec::ExperimentSpec& spec) {
  for (const spec::MetricSpec& o : spec::Objectives(spec)) {
    if (o.name == "num_parameters") return true;
  }
  return false;
}

std::function<int64_t(const spec::Json&)> ParameterCounter(std::function<std::string()> data_dir) {
  struct Cache {
    std::function<std::string()> dir;
    std::optional<data::StoreMeta> meta;
    std::map<std::string, int64_t> counts;  // by params' JSON text
  };
  auto cache = std::make_shared<Cache>();
  cache->dir = std::move(data_dir);
  return [cache](const spec::Json& params) -> int64_t {
    const std::string json = params.dump();
    if (auto it = cache->counts.find(json); it != cache->counts.end()) return it->second;
    if (!cache->meta) {
      auto meta = data::ReadStoreMeta(cache->dir());
      if (!meta.ok()) return 0;
      cache->meta = std::move(meta).value();
    }
    const data::StoreMeta& m = *cache->meta;
    const int64_t outputs = m.task == data::Task::kClassification ? m.num_classes : 1;
    int64_t n = 0;
    char err[256] = {0};
    if (cerebro_model_num_parameters(json.c_str(), m.feature_shape.data(),
                                     static_cast<int>(m.feature_shape.size()), outputs, &n, err,
                                     sizeof(err)) != CEREBRO_OK) {
      n = 0;
    }
    cache->counts[json] = n;
    return n;
  };
}

}  // namespace cerebro::driver
