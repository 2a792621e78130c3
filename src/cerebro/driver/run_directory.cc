#include "cerebro/driver/run_directory.h"

namespace cerebro::driver {

StatusOr<OpenedRun> OpenRun(const std::string& run_dir, FileSystem* fs,
                            store::ExperimentStore::Lock lock) {
  OpenedRun o;
  ASSIGN_OR_RETURN(o.store, store::ExperimentStore::Open(fs, run_dir, lock));
  ASSIGN_OR_RETURN(std::string spec_text, o.store->ReadFile("spec.json"));
  ASSIGN_OR_RETURN(o.spec, spec::ParseSpecString(spec_text, o.store->Path("spec.json")));
  ASSIGN_OR_RETURN(std::string models_text, o.store->ReadFile("models.json"));
  o.models = spec::Json::parse(models_text, nullptr, /*allow_exceptions=*/false);
  if (o.models.is_discarded()) return DataLoss(o.store->Path("models.json") + ": not valid JSON");
  return o;
}

StatusOr<store::ProcedureDecision> FirstReleaseStart(const spec::Json& models, int epochs,
                                                     const std::string& where) {
  store::ProcedureDecision start;
  if (!models.is_array()) return DataLoss(where + ": expected a list");
  for (const spec::Json& m : models) {
    if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer() ||
        !m.contains("params") || !m["params"].is_object()) {
      return DataLoss(where + ": malformed entry " + m.dump());
    }
    start.actions.push_back(store::ModelAdded{m["id"].get<int>(), m["params"],
                                              store::ModelOrigin::kSearch, epochs, -1, ""});
  }
  return start;
}

}  // namespace cerebro::driver
