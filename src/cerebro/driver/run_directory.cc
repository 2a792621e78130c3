#include "cerebro/driver/run_directory.h"

#include <algorithm>
#include <variant>

#include "cerebro/driver/layout.h"
#include "cerebro/driver/run_state.h"
#include "cerebro/search/space.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::driver {
namespace {

// The replayed state of a finished run, or why it is not one.
StatusOr<std::unique_ptr<RunState>> FinishedState(OpenedRun& run) {
  const std::string dir = run.store->dir();
  ASSIGN_OR_RETURN(store::JournalContents journal, run.store->journal().Read());
  if (journal.version == 1) {
    return InvalidArgument(dir + ": written by the first release; cerebro resume " + dir +
                           " upgrades its journal, then extend it");
  }
  auto state = std::make_unique<RunState>(RunConfigFor(run.spec, LayoutFor(run.spec.run)));
  for (size_t i = 0; i < journal.records.size(); ++i) {
    Effects fx;
    Status st = state->Apply(journal.records[i], &fx);
    if (!st.ok()) {
      return DataLoss(run.store->journal().path() + ":" + std::to_string(journal.lines[i]) +
                      ": " + st.message());
    }
  }
  if (!state->Done()) {
    return InvalidArgument(dir + ": not finished (" +
                           std::to_string(state->hopper().units_remaining()) +
                           " units left); resume it instead: cerebro resume " + dir);
  }
  return state;
}

// A model the procedure trains on or copies must still have its final state.
Status HasState(const OpenedRun& run, const RunState& state, ModelId id) {
  if (state.has_model(id) && !state.model(id).outcome.checkpoint.empty()) return Status::Ok();
  return InvalidArgument("--extend: model " + std::to_string(id) + "'s final state was dropped " +
                         "by retention (run.keep_best " + std::to_string(run.spec.run.keep_best) +
                         "), and the procedure goes on from it");
}

// The records of an extension's decisions: ids allocated after the run's, params
// checked as every model's are, a warm start copied into the new model's own checkpoint
// (its parent's state goes on rotating) only once everything else was checked.
StatusOr<std::vector<store::Action>> ExtensionActions(OpenedRun& run, const RunState& state,
                                                      const std::vector<search::Decision>& ds) {
  std::vector<store::Action> out;
  std::vector<std::pair<size_t, ModelId>> copies;  // (index in out, parent)
  ModelId next = state.next_model_id();
  for (const search::Decision& d : ds) {
    if (const auto* stop = std::get_if<search::StopModel>(&d)) {
      out.push_back(store::ModelStopped{stop->model, store::StopReason::kProcedure, stop->detail});
      continue;
    }
    if (const auto* extend = std::get_if<search::ExtendModel>(&d)) {
      RETURN_IF_ERROR(HasState(run, state, extend->model));
      out.push_back(store::ModelExtended{extend->model, extend->epochs,
                                         store::ModelOrigin::kProcedure});
      continue;
    }
    const auto& add = std::get<search::AddModel>(d);
    const std::string json = add.params.dump();
    char err[512] = {0};
    if (cerebro_validate_model_config(json.c_str(), err, sizeof(err)) != CEREBRO_OK) {
      return InvalidArgument("--extend: model " + std::to_string(next) + ": " + err + " (" +
                             json + ")");
    }
    const bool searched = run.spec.search.method == spec::SearchMethod::kGrid ||
                          run.spec.search.method == spec::SearchMethod::kRandom;
    if (add.warm_start_from >= 0) {
      RETURN_IF_ERROR(HasState(run, state, add.warm_start_from));
      copies.emplace_back(out.size(), add.warm_start_from);
    }
    out.push_back(store::ModelAdded{
        next++, add.params, searched ? store::ModelOrigin::kSearch : store::ModelOrigin::kProcedure,
        add.epochs, add.warm_start_from, ""});
  }
  for (const auto& [i, parent] : copies) {
    auto& added = std::get<store::ModelAdded>(out[i]);
    ASSIGN_OR_RETURN(std::string bytes, run.store->ReadFile(state.model(parent).outcome.checkpoint));
    ASSIGN_OR_RETURN(added.warm_start, run.store->WriteCheckpoint(added.model, 0, bytes));
  }
  return out;
}

}  // namespace

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

StatusOr<Extension> PlanExtension(OpenedRun& run, const spec::Overrides& overrides) {
  const std::string dir = run.store->dir();
  if (overrides.empty()) {
    return InvalidArgument(
        "--extend: give --epochs N (more epochs) or --num-models M (more models)");
  }
  bool more_epochs = false, more_models = false;
  for (const spec::Override& o : overrides) {
    more_epochs = more_epochs || o.path == "run.epochs";
    more_models = more_models || o.path == "search.num_models";
    if (o.path != "run.epochs" && o.path != "search.num_models") {
      return InvalidArgument(o.name + ": an extension keeps the run's settings (it takes --epochs "
                             "and --num-models)");
    }
  }
  using Method = spec::SearchMethod;
  const Method method = run.spec.search.method;
  const std::string name(EnumName(method));
  if (method == Method::kAsha || method == Method::kHyperband) {
    return InvalidArgument("--extend: " + name + "'s rungs are fixed by its max_t and models " +
                           "(grid, random, tpe and pbt runs can be extended)");
  }
  if (method == Method::kPbt && more_models) {
    return InvalidArgument("--num-models: pbt's population keeps its size (copies replace "
                           "members); give --epochs");
  }
  if (run.spec.run.strategy == spec::Strategy::kDataParallel) {
    return InvalidArgument(dir + ": strategy dp (a benchmark baseline) cannot be extended");
  }
  ASSIGN_OR_RETURN(std::string text, run.store->ReadFile("spec.json"));
  Extension x;
  ASSIGN_OR_RETURN(x.spec, spec::ParseSpecString(text, run.store->Path("spec.json"), overrides));
  ASSIGN_OR_RETURN(std::unique_ptr<RunState> state, FinishedState(run));
  // What the run holds now, from its journal (spec.json may already carry an extension
  // whose record a crash kept from the journal): the models the search made and the
  // budget its first ones have at least (`cerebro ctl extend` may have given single
  // models more).
  int epochs = 0, searched = 0;
  for (const auto& [id, m] : state->models()) {
    if (m.outcome.origin == store::ModelOrigin::kControl) continue;
    if (m.outcome.origin == store::ModelOrigin::kSearch) {
      epochs = epochs == 0 ? m.epochs : std::min(epochs, m.epochs);
    }
    ++searched;
  }
  if (more_epochs && x.spec.run.epochs <= epochs) {
    return InvalidArgument("--epochs: the run trains its models " + std::to_string(epochs) +
                           " epochs already; give more");
  }
  if (more_models && x.spec.search.num_models <= searched) {
    return InvalidArgument("--num-models: the run has " + std::to_string(searched) +
                           " models of its search already; give more");
  }
  const int budget = more_epochs ? x.spec.run.epochs : epochs;
  x.decision.epochs_seen = state->epochs_seen();
  x.decision.state = state->procedure_state();
  std::vector<search::Decision> decisions;
  if (method == Method::kGrid || method == Method::kRandom) {
    if (more_models) {
      // Random search draws each model from its own position in every param's stream:
      // the first `searched` configurations are the run's, the rest the new ones.
      ASSIGN_OR_RETURN(std::vector<search::ModelConfig> configs, search::GenerateConfigs(x.spec));
      for (size_t i = static_cast<size_t>(searched); i < configs.size(); ++i) {
        decisions.push_back(search::AddModel{configs[i].params, budget, -1});
      }
    }
  } else {
    // The procedure, restored under the extended spec, is shown the finished run as after
    // its last epoch: TPE proposes its next models, PBT ranks its population at (or trains
    // it on to) the next boundary.
    ASSIGN_OR_RETURN(std::unique_ptr<search::Procedure> procedure, search::MakeProcedure(x.spec));
    Status restored = procedure->RestoreState(state->procedure_state());
    if (!restored.ok()) return InvalidArgument("--extend: " + restored.message());
    const ModelId last = state->rows().empty() ? 0 : state->rows().back().model_id;
    ASSIGN_OR_RETURN(decisions,
                     procedure->OnEpochDone(state->Observe(LayoutFor(x.spec.run).concurrency), last));
    x.decision.state = procedure->SaveState();
  }
  // PBT's members train to its boundaries, not to run.epochs: the procedure extends them.
  if (method != Method::kPbt) {
    for (const auto& [id, m] : state->models()) {
      if (m.outcome.status != ModelStatus::kCompleted || m.epochs >= budget) continue;
      if (m.outcome.train_units > 0 && m.outcome.checkpoint.empty()) {
        x.warnings.push_back("model " + std::to_string(id) + " is not extended: its final " +
                             "state was dropped by retention (run.keep_best " +
                             std::to_string(run.spec.run.keep_best) + ")");
        continue;
      }
      x.decision.actions.push_back(store::ModelExtended{id, budget, store::ModelOrigin::kControl});
    }
  }
  ASSIGN_OR_RETURN(std::vector<store::Action> actions, ExtensionActions(run, *state, decisions));
  x.decision.actions.insert(x.decision.actions.end(), actions.begin(), actions.end());
  if (x.decision.actions.empty()) {
    return InvalidArgument(dir + ": nothing to extend (no completed model can train on)" +
                           (x.warnings.empty() ? "" : ": " + x.warnings.front()));
  }
  return x;
}

}  // namespace cerebro::driver
