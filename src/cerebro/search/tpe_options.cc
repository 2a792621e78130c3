// search.* knobs of method tpe: parsed and validated with one-line errors naming the key.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cerebro/search/tpe.h"

namespace cerebro::search {

using spec::Json;

StatusOr<TpeOptions> ParseTpeOptions(const spec::Json& options) {
  TpeOptions o;
  if (!options.is_object()) return InvalidArgument("search: expected a mapping");
  for (auto it = options.begin(); it != options.end(); ++it) {
    const std::string key = "search." + it.key();
    const Json& v = it.value();
    auto integer = [&](int* out, int min, const char* what) -> Status {
      if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > 1000000) {
        return InvalidArgument(key + ": expected " + what + ", got " + v.dump());
      }
      *out = static_cast<int>(v.get<int64_t>());
      return Status::Ok();
    };
    auto boolean = [&](bool* out) -> Status {
      if (!v.is_boolean())
        return InvalidArgument(key + ": expected true or false, got " + v.dump());
      *out = v.get<bool>();
      return Status::Ok();
    };
    if (it.key() == "in_flight") {
      RETURN_IF_ERROR(integer(&o.in_flight, 1, "a positive integer"));
    } else if (it.key() == "n_startup_trials") {
      RETURN_IF_ERROR(integer(&o.n_startup_trials, 0, "a non-negative integer"));
    } else if (it.key() == "n_ei_candidates") {
      RETURN_IF_ERROR(integer(&o.n_ei_candidates, 1, "a positive integer"));
    } else if (it.key() == "prior_weight") {
      if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>())) {
        return InvalidArgument(key + ": expected a positive number, got " + v.dump());
      }
      o.prior_weight = v.get<double>();
    } else if (it.key() == "multivariate") {
      RETURN_IF_ERROR(boolean(&o.multivariate));
    } else if (it.key() == "constant_liar") {
      RETURN_IF_ERROR(boolean(&o.constant_liar));
    } else if (it.key() == "consider_magic_clip") {
      RETURN_IF_ERROR(boolean(&o.consider_magic_clip));
    } else if (it.key() == "consider_endpoints") {
      RETURN_IF_ERROR(boolean(&o.consider_endpoints));
    } else {
      std::string known;
      for (const std::string& k : TpeOptionKeys()) known += (known.empty() ? "" : ", ") + k;
      return InvalidArgument(key + ": unknown key for method tpe (known: " + known + ")");
    }
  }
  return o;
}

const std::vector<std::string>& TpeOptionKeys() {
  static const std::vector<std::string> keys = {
      "in_flight",    "n_startup_trials", "n_ei_candidates",     "prior_weight",
      "multivariate", "constant_liar",    "consider_magic_clip", "consider_endpoints"};
  return keys;
}

}  // namespace cerebro::search
