#include "cerebro/store/journal.h"

#include "cerebro/store/json_fields.h"

#include <type_traits>

namespace cerebro::store {
namespace {

using Json = spec::Json;

// Tags, one per record type; stable on disk.
template <typename T>
struct Tag;
template <> struct Tag<JournalHeader> { static constexpr std::string_view kName = "journal"; };
template <> struct Tag<DataRecorded> { static constexpr std::string_view kName = "data"; };
template <> struct Tag<UnitDone> { static constexpr std::string_view kName = "unit"; };
template <> struct Tag<WorkerLost> { static constexpr std::string_view kName = "worker_lost"; };
template <> struct Tag<UnitRetried> { static constexpr std::string_view kName = "unit_retried"; };
template <> struct Tag<ModelFailed> { static constexpr std::string_view kName = "model_failed"; };
template <> struct Tag<ModelAdded> { static constexpr std::string_view kName = "model_added"; };
template <> struct Tag<ModelStopped> { static constexpr std::string_view kName = "model_stopped"; };
template <> struct Tag<ModelExtended> { static constexpr std::string_view kName = "model_extended"; };
template <> struct Tag<ProcedureDecision> { static constexpr std::string_view kName = "decision"; };
template <> struct Tag<StateRolledBack> { static constexpr std::string_view kName = "rolled_back"; };

// A non-negative id or index.
Status Index(const JsonFields& f, const char* key, int* out) {
  RETURN_IF_ERROR(f.Int(key, out));
  return *out < 0 ? f.Expected(key, "a non-negative integer") : Status::Ok();
}

// Encode/Decode per record type. Field names are part of the format.
void Put(Json& j, const JournalHeader& r) { j["version"] = r.version; }
Status Take(const JsonFields& f, JournalHeader* r) { return f.Int("version", &r->version); }

void Put(Json& j, const DataRecorded& r) { j["identity"] = r.identity; }
Status Take(const JsonFields& f, DataRecorded* r) {
  RETURN_IF_ERROR(f.Object("identity").status());
  return f.Value("identity", &r->identity);
}

void Put(Json& j, const UnitDone& r) {
  j["model"] = r.model;
  j["epoch"] = r.epoch;
  j["kind"] = EnumName(r.kind);
  j["partition"] = r.partition;
  j["worker"] = r.worker;
  j["loss_sum"] = r.loss_sum;
  j["correct"] = r.correct;
  j["examples"] = r.examples;
  j["compute_seconds"] = r.compute_seconds;
  if (!r.checkpoint.empty()) {
    j["checkpoint"] = r.checkpoint;
    if (r.state_size > 0) {
      j["state_size"] = r.state_size;
      j["state_hash"] = r.state_hash;
    }
    if (!r.durable) j["durable"] = false;
  }
  if (r.finished_at > 0) {
    j["submitted_at"] = r.submitted_at;
    j["finished_at"] = r.finished_at;
  }
}
Status Take(const JsonFields& f, UnitDone* r) {
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(Index(f, "epoch", &r->epoch));
  RETURN_IF_ERROR(f.Enum("kind", &r->kind));
  RETURN_IF_ERROR(Index(f, "partition", &r->partition));
  RETURN_IF_ERROR(f.Int("worker", &r->worker));
  RETURN_IF_ERROR(f.Double("loss_sum", &r->loss_sum));
  RETURN_IF_ERROR(f.Double("correct", &r->correct));
  RETURN_IF_ERROR(f.Int64("examples", &r->examples));
  RETURN_IF_ERROR(f.Double("compute_seconds", &r->compute_seconds));
  const bool train = r->kind == UnitKind::kTrain;
  RETURN_IF_ERROR(f.String("checkpoint", &r->checkpoint, /*optional=*/!train));
  RETURN_IF_ERROR(f.Uint64("state_size", &r->state_size, /*optional=*/true));
  RETURN_IF_ERROR(f.Uint64("state_hash", &r->state_hash, /*optional=*/true));
  RETURN_IF_ERROR(f.Bool("durable", &r->durable, /*optional=*/true));
  RETURN_IF_ERROR(f.Double("submitted_at", &r->submitted_at, /*optional=*/true));
  return f.Double("finished_at", &r->finished_at, /*optional=*/true);
}

template <typename R>  // WorkerLost and UnitRetried share their fields
void PutUnitFailure(Json& j, const R& r) {
  j["worker"] = r.worker;
  j["model"] = r.model;
  j["epoch"] = r.epoch;
  j["partition"] = r.partition;
  j["error"] = r.error;
  if (!r.cause.empty()) j["cause"] = r.cause;
}
template <typename R>
Status TakeUnitFailure(const JsonFields& f, R* r) {
  RETURN_IF_ERROR(f.Int("worker", &r->worker));
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(f.Int("epoch", &r->epoch));
  RETURN_IF_ERROR(f.Int("partition", &r->partition));
  RETURN_IF_ERROR(f.String("error", &r->error, /*optional=*/true));
  return f.String("cause", &r->cause, /*optional=*/true);
}
void Put(Json& j, const StateRolledBack& r) {
  j["model"] = r.model;
  j["epoch"] = r.epoch;
  j["checkpoint"] = r.checkpoint;
  j["reason"] = r.reason;
}
Status Take(const JsonFields& f, StateRolledBack* r) {
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(Index(f, "epoch", &r->epoch));
  RETURN_IF_ERROR(f.String("checkpoint", &r->checkpoint));
  return f.String("reason", &r->reason, /*optional=*/true);
}
void Put(Json& j, const WorkerLost& r) { PutUnitFailure(j, r); }
Status Take(const JsonFields& f, WorkerLost* r) { return TakeUnitFailure(f, r); }
void Put(Json& j, const UnitRetried& r) { PutUnitFailure(j, r); }
Status Take(const JsonFields& f, UnitRetried* r) { return TakeUnitFailure(f, r); }

void Put(Json& j, const ModelFailed& r) {
  j["model"] = r.model;
  j["reason"] = r.reason;
  if (!r.cause.empty()) j["cause"] = r.cause;
}
Status Take(const JsonFields& f, ModelFailed* r) {
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(f.String("reason", &r->reason, /*optional=*/true));
  return f.String("cause", &r->cause, /*optional=*/true);
}

void Put(Json& j, const ModelAdded& r) {
  j["model"] = r.model;
  j["params"] = r.params;
  j["origin"] = EnumName(r.origin);
  j["epochs"] = r.epochs;
  if (r.parent >= 0) j["parent"] = r.parent;
  if (!r.warm_start.empty()) j["warm_start"] = r.warm_start;
}
Status Take(const JsonFields& f, ModelAdded* r) {
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(f.Object("params").status());
  RETURN_IF_ERROR(f.Value("params", &r->params));
  RETURN_IF_ERROR(f.Enum("origin", &r->origin));
  RETURN_IF_ERROR(Index(f, "epochs", &r->epochs));
  RETURN_IF_ERROR(f.Int("parent", &r->parent, /*optional=*/true));
  return f.String("warm_start", &r->warm_start, /*optional=*/true);
}

void Put(Json& j, const ModelStopped& r) {
  j["model"] = r.model;
  j["reason"] = EnumName(r.reason);
  if (!r.detail.empty()) j["detail"] = r.detail;
}
Status Take(const JsonFields& f, ModelStopped* r) {
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(f.Enum("reason", &r->reason));
  return f.String("detail", &r->detail, /*optional=*/true);
}

void Put(Json& j, const ModelExtended& r) {
  j["model"] = r.model;
  j["epochs"] = r.epochs;
  j["origin"] = EnumName(r.origin);
}
Status Take(const JsonFields& f, ModelExtended* r) {
  RETURN_IF_ERROR(Index(f, "model", &r->model));
  RETURN_IF_ERROR(Index(f, "epochs", &r->epochs));
  return f.Enum("origin", &r->origin);
}

void Put(Json& j, const ProcedureDecision& r);  // below: it encodes its actions with EncodeTagged

template <typename T>
Json EncodeTagged(const T& r) {
  Json j = {{"type", Tag<T>::kName}};
  Put(j, r);
  return j;
}

void Put(Json& j, const ProcedureDecision& r) {
  j["epochs_seen"] = r.epochs_seen;
  Json actions = Json::array();
  for (const Action& a : r.actions) {
    actions.push_back(std::visit([](const auto& x) { return EncodeTagged(x); }, a));
  }
  j["actions"] = std::move(actions);
  j["state"] = r.state;
}

Status Take(const JsonFields& f, ProcedureDecision* r);  // below: it decodes its actions

// Decodes a record of type T into the variant Out that holds it.
template <typename T, typename Out>
StatusOr<Out> DecodeAs(const Json& j) {
  T r;
  const std::string source(Tag<T>::kName);  // messages read "unit: model: expected ..."
  RETURN_IF_ERROR(Take(JsonFields(j, "", source), &r));
  return Out(std::move(r));
}

StatusOr<Action> DecodeAction(const Json& j) {
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == Tag<ModelAdded>::kName) return DecodeAs<ModelAdded, Action>(j);
  if (type == Tag<ModelStopped>::kName) return DecodeAs<ModelStopped, Action>(j);
  if (type == Tag<ModelExtended>::kName) return DecodeAs<ModelExtended, Action>(j);
  return InvalidArgument("decision: actions: unknown action '" + type + "'");
}

Status Take(const JsonFields& f, ProcedureDecision* r) {
  RETURN_IF_ERROR(f.Int64("epochs_seen", &r->epochs_seen));
  RETURN_IF_ERROR(f.Value("state", &r->state));
  ASSIGN_OR_RETURN(const Json* actions, f.Array("actions"));
  for (const Json& a : *actions) {
    ASSIGN_OR_RETURN(Action action, DecodeAction(a));
    r->actions.push_back(std::move(action));
  }
  return Status::Ok();
}

}  // namespace

std::string_view RecordTag(const Record& record) {
  return std::visit([](const auto& r) { return Tag<std::decay_t<decltype(r)>>::kName; }, record);
}

std::string EncodeRecord(const Record& record) {
  return std::visit([](const auto& r) { return EncodeTagged(r).dump(); }, record);
}

StatusOr<Record> DecodeRecord(std::string_view line, int version) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("not a JSON object");
  auto type_it = j.find("type");
  if (type_it == j.end() || !type_it->is_string()) return InvalidArgument("type: missing");
  const std::string type = type_it->get<std::string>();
  // Version 1 knew three records; everything else is version 2.
  const bool v1_tag = type == Tag<UnitDone>::kName || type == Tag<WorkerLost>::kName ||
                      type == Tag<ModelFailed>::kName;
  if (version < 2 && !v1_tag) {
    return InvalidArgument("record type '" + type + "' in a version-1 journal");
  }
  if (type == Tag<JournalHeader>::kName) return DecodeAs<JournalHeader, Record>(j);
  if (type == Tag<DataRecorded>::kName) return DecodeAs<DataRecorded, Record>(j);
  if (type == Tag<UnitDone>::kName) return DecodeAs<UnitDone, Record>(j);
  if (type == Tag<WorkerLost>::kName) return DecodeAs<WorkerLost, Record>(j);
  if (type == Tag<UnitRetried>::kName) return DecodeAs<UnitRetried, Record>(j);
  if (type == Tag<ModelFailed>::kName) return DecodeAs<ModelFailed, Record>(j);
  if (type == Tag<ModelAdded>::kName) return DecodeAs<ModelAdded, Record>(j);
  if (type == Tag<ModelStopped>::kName) return DecodeAs<ModelStopped, Record>(j);
  if (type == Tag<ModelExtended>::kName) return DecodeAs<ModelExtended, Record>(j);
  if (type == Tag<ProcedureDecision>::kName) return DecodeAs<ProcedureDecision, Record>(j);
  if (type == Tag<StateRolledBack>::kName) return DecodeAs<StateRolledBack, Record>(j);
  return InvalidArgument("unknown record type '" + type + "'");
}

StatusOr<JournalContents> Journal::Read() {
  bool whole_lines = false;
  ASSIGN_OR_RETURN(JournalContents out, Parse(/*repair=*/true, &whole_lines));
  has_header_ = out.version >= 2 && whole_lines;
  return out;
}

StatusOr<JournalContents> Journal::ReadOnly() const {
  bool whole_lines = false;
  return Parse(/*repair=*/false, &whole_lines);
}

StatusOr<JournalContents> Journal::Parse(bool repair, bool* whole_lines) const {
  JournalContents out;
  if (!fs_->Exists(path_)) return out;
  ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(path_));
  size_t pos = 0;
  for (int line_no = 1; pos < text.size(); ++line_no) {
    const size_t end = text.find('\n', pos);
    const bool last = end == std::string::npos || end + 1 == text.size();
    std::string_view line = std::string_view(text).substr(
        pos, end == std::string::npos ? std::string_view::npos : end - pos);
    auto where = [&](const std::string& why) {
      return DataLoss(path_ + ":" + std::to_string(line_no) + ": " + why);
    };
    Json probe = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (end == std::string::npos || probe.is_discarded() || !probe.is_object()) {
      if (!last) return where("corrupt journal record");
      // The final record was torn by a crash mid-append (or is being appended now): it
      // never happened.
      if (repair) {
        RETURN_IF_ERROR(fs_->WriteFileAtomic(path_, std::string_view(text).substr(0, pos)));
      }
      break;
    }
    if (line_no == 1 && probe.value("type", "") == Tag<JournalHeader>::kName) {
      auto header = DecodeRecord(line, kJournalVersion);
      if (!header.ok()) return where(header.status().message());
      out.version = std::get<JournalHeader>(*header).version;
      if (out.version < 2 || out.version > kJournalVersion) {
        return where("journal format version " + std::to_string(out.version) +
                     " is not one this cerebro reads (1.." + std::to_string(kJournalVersion) +
                     ")");
      }
    } else {
      if (line_no == 1) out.version = 1;  // the first release wrote no header
      auto record = DecodeRecord(line, out.version);
      if (!record.ok()) return where(record.status().message());
      if (std::holds_alternative<JournalHeader>(*record)) return where("a second header");
      out.records.push_back(std::move(record).value());
      out.lines.push_back(line_no);
    }
    pos = end + 1;
  }
  *whole_lines = pos > 0;
  return out;
}

Status Journal::Append(const Record& record) {
  std::string text;
  if (!has_header_) {
    auto size = fs_->Exists(path_) ? fs_->FileSize(path_) : StatusOr<uint64_t>(uint64_t{0});
    if (!size.ok()) return size.status();
    if (*size == 0) text = EncodeRecord(JournalHeader{}) + "\n";
    has_header_ = true;
  }
  text += EncodeRecord(record) + "\n";
  return fs_->AppendDurable(path_, text);
}

Status Journal::Rewrite(const std::vector<Record>& records) {
  std::string text = EncodeRecord(JournalHeader{}) + "\n";
  for (const Record& r : records) text += EncodeRecord(r) + "\n";
  RETURN_IF_ERROR(fs_->WriteFileAtomic(path_, text));
  has_header_ = true;
  return Status::Ok();
}

}  // namespace cerebro::store
