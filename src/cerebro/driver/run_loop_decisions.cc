// RunLoop, part 2: decisions and commands become records (procedure.h's decisions,
// command_source.h's commands). See run_loop.h for the flow.
#include <variant>

#include "cerebro/common/logging.h"
#include "cerebro/driver/run_loop.h"
#include "cerebro/train/worker_api.h"

namespace cerebro::driver {
namespace {

// Every configuration must be trainable before it joins the run.
Status ValidateParams(const spec::Json& params, const std::string& where, const std::string& what) {
  const std::string json = params.dump();
  char err[512] = {0};
  if (cerebro_validate_model_config(json.c_str(), err, sizeof(err)) != CEREBRO_OK) {
    return InvalidArgument(where + ": " + err + (what.empty() ? "" : " (" + what + ": " + json + ")"));
  }
  return Status::Ok();
}

}  // namespace

// ---- decisions and commands ------------------------------------------------------------

StatusOr<std::vector<store::Action>> RunLoop::ToActions(
    const std::vector<search::Decision>& decisions, store::ModelOrigin origin, bool strict) {
  std::vector<store::Action> actions;
  ModelId next_id = state_->next_model_id();
  // Messages name the model when there is more than one to tell apart.
  const bool name_model = decisions.size() > 1 || origin != store::ModelOrigin::kSearch;
  for (const search::Decision& d : decisions) {
    auto action = ToAction(d, origin, name_model, &next_id);
    if (action.ok()) {
      actions.push_back(std::move(action).value());
    } else if (strict) {
      return action.status();
    } else {  // one bad decision mid-run drops that decision, not the run
      LogWarning(std::string(EnumName(origin)) + " decision ignored: " + action.status().message());
    }
  }
  return actions;
}

StatusOr<store::Action> RunLoop::ToAction(const search::Decision& d, store::ModelOrigin origin,
                                          bool name_model, ModelId* next_id) {
  const store::StopReason stop_reason =
      origin == store::ModelOrigin::kControl ? store::StopReason::kUser : store::StopReason::kProcedure;
  auto known = [&](ModelId id) -> Status {
    if (!state_->has_model(id)) return InvalidArgument("model " + std::to_string(id) + ": no such model");
    return Status::Ok();
  };
  if (const auto* add = std::get_if<search::AddModel>(&d)) {
    const ModelId id = *next_id;
    RETURN_IF_ERROR(ValidateParams(add->params, spec_.source_file.empty() ? "spec" : spec_.source_file,
                                   name_model ? "model " + std::to_string(id) : ""));
    store::ModelAdded a{id, add->params, origin, add->epochs, add->warm_start_from, ""};
    if (add->warm_start_from >= 0) {
      RETURN_IF_ERROR(known(add->warm_start_from));
      const ModelRun& parent = state_->model(add->warm_start_from);
      ASSIGN_OR_RETURN(std::shared_ptr<const std::string> bytes, StateFor(parent));
      if (bytes == nullptr) return InvalidArgument("model " + std::to_string(parent.outcome.id) + " has no state yet");
      // A copy of its own: the parent's state rotates away as the parent trains on.
      ASSIGN_OR_RETURN(a.warm_start, store_->WriteCheckpoint(id, 0, *bytes));
    }
    ++*next_id;
    return store::Action(std::move(a));
  }
  if (const auto* stop = std::get_if<search::StopModel>(&d)) {
    RETURN_IF_ERROR(known(stop->model));
    return store::Action(store::ModelStopped{stop->model, stop_reason, stop->detail});
  }
  const auto& extend = std::get<search::ExtendModel>(d);
  RETURN_IF_ERROR(known(extend.model));
  return store::Action(store::ModelExtended{extend.model, extend.epochs, origin});
}

Status RunLoop::Consult(RunState::Consultation c) {
  if (c.epoch_finished) RETURN_IF_ERROR(ConsultProcedure(*c.epoch_finished, /*ended=*/false));
  for (ModelId id : c.ended) RETURN_IF_ERROR(ConsultProcedure(id, /*ended=*/true));
  return Status::Ok();
}

// After a model's epoch (or its end): what does the procedure make of it? Journaled only
// when it decided something or its state moved, so static searches add no records.
Status RunLoop::ConsultProcedure(ModelId model, bool ended) {
  const search::Observation run = state_->Observe(layout_.concurrency);
  ASSIGN_OR_RETURN(std::vector<search::Decision> decisions,
                   ended ? procedure_->OnModelEnded(run, model) : procedure_->OnEpochDone(run, model));
  store::ProcedureDecision d;
  d.epochs_seen = state_->epochs_seen();
  d.state = procedure_->SaveState();
  ASSIGN_OR_RETURN(d.actions, ToActions(decisions, store::ModelOrigin::kProcedure, false));
  if (d.actions.empty() && d.state == state_->procedure_state()) return Status::Ok();
  return Commit(d);
}

// Each command is one record of its own, durable before it is acknowledged. A command
// that does not fit the run (an unknown model, a finished one, bad params) is refused
// with one line and changes nothing; only a store that cannot write ends the run.
Status RunLoop::TakeCommands() {
  for (IncomingCommand& in : commands_->Take()) {
    std::string message;
    StatusOr<store::Record> record = CommandRecord(in.command, &message);
    Status st = record.status();
    if (st.ok()) {
      Status committed = Commit(*record);
      if (!committed.ok()) {
        if (in.reply) in.reply(committed, "");
        return committed;
      }
    } else {
      LogWarning("command refused: " + st.message());
    }
    if (in.reply) in.reply(st, message);
  }
  return Status::Ok();
}

StatusOr<store::Record> RunLoop::CommandRecord(const Command& command, std::string* message) {
  auto known = [&](ModelId id) -> StatusOr<const ModelRun*> {
    if (!state_->has_model(id)) return InvalidArgument("model " + std::to_string(id) + ": no such model");
    return &state_->model(id);
  };
  if (const auto* stop = std::get_if<search::StopModel>(&command)) {
    ASSIGN_OR_RETURN(const ModelRun* m, known(stop->model));
    if (!IsLive(m->outcome.status)) {
      return FailedPrecondition("model " + std::to_string(stop->model) + " is " +
                                std::string(EnumName(m->outcome.status)) + ": nothing to stop");
    }
    *message = "model " + std::to_string(stop->model) +
               (m->open_epochs.empty() ? " stopped" : " stops when its current epoch ends");
    return store::Record(store::ModelStopped{stop->model, store::StopReason::kUser,
                                             stop->detail.empty() ? "stopped by the user" : stop->detail});
  }
  if (const auto* extend = std::get_if<search::ExtendModel>(&command)) {
    ASSIGN_OR_RETURN(const ModelRun* m, known(extend->model));
    if (m->outcome.status == ModelStatus::kFailed || m->outcome.status == ModelStatus::kStopped) {
      return FailedPrecondition("model " + std::to_string(extend->model) + " is " +
                                std::string(EnumName(m->outcome.status)) + ": it cannot be extended");
    }
    if (extend->epochs <= m->epochs) {
      return InvalidArgument("epochs: model " + std::to_string(extend->model) + " already has " +
                             std::to_string(m->epochs) + " epochs; give more");
    }
    if (m->outcome.train_units > 0 && m->outcome.checkpoint.empty()) {
      return FailedPrecondition("model " + std::to_string(extend->model) +
                                "'s final state was dropped by retention (run.keep_best)");
    }
    *message = "model " + std::to_string(extend->model) + " now trains to epoch " +
               std::to_string(extend->epochs);
    return store::Record(store::ModelExtended{extend->model, extend->epochs, store::ModelOrigin::kControl});
  }
  search::AddModel add;
  if (const auto* clone = std::get_if<CloneModel>(&command)) {
    ASSIGN_OR_RETURN(const ModelRun* source, known(clone->model));
    if (!clone->set.is_object()) return InvalidArgument("set: expected an object of params");
    add.params = source->outcome.params;
    for (auto it = clone->set.begin(); it != clone->set.end(); ++it) add.params[it.key()] = it.value();
    add.epochs = clone->epochs > 0 ? clone->epochs : source->epochs;
    add.warm_start_from = clone->model;
  } else {
    add = std::get<search::AddModel>(command);
    if (add.epochs <= 0) add.epochs = spec_.run.epochs;
  }
  ModelId next = state_->next_model_id();
  ASSIGN_OR_RETURN(store::Action action, ToAction(add, store::ModelOrigin::kControl, true, &next));
  const auto& added = std::get<store::ModelAdded>(action);
  *message = "added model " + std::to_string(added.model) +
             (added.parent >= 0 ? ", warm-started from model " + std::to_string(added.parent) : "") +
             " (" + std::to_string(added.epochs) + " epochs)";
  return store::Record(added);
}

}  // namespace cerebro::driver
