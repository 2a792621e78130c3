#include "cerebro/cli/run_name.h"

#include <cstdio>
#include <ctime>

namespace cerebro::cli {

std::string DefaultRunDir(const spec::ExperimentSpec& s,
                          std::chrono::system_clock::time_point now, long pid) {
  std::string name = s.name;
  if (name.empty()) {
    name = s.source_file.substr(s.source_file.find_last_of('/') + 1);
    name = name.substr(0, name.find('.'));
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const auto since_epoch = duration_cast<milliseconds>(now.time_since_epoch()).count();
  const std::time_t t = static_cast<std::time_t>(since_epoch / 1000);
  std::tm local{};
  ::localtime_r(&t, &local);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &local);
  char suffix[48];
  std::snprintf(suffix, sizeof(suffix), ".%03d-%lx", static_cast<int>(since_epoch % 1000),
                static_cast<unsigned long>(pid));
  return "runs/" + name + "-" + stamp + suffix;
}

}  // namespace cerebro::cli
