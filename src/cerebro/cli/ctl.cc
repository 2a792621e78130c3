#include "cerebro/cli/ctl.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cerebro/cli/outcome.h"
#include "cerebro/driver/control_server.h"

namespace cerebro::cli {
namespace {

using Json = spec::Json;

StatusOr<int64_t> IdArg(const std::string& text, const char* what) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 1000000000) {
    return InvalidArgument(std::string(what) + ": expected a non-negative integer, got '" + text + "'");
  }
  return v;
}

// "lr=1e-4" -> {"lr": 0.0001}; a value that is not JSON is a string.
Status AddSetting(const std::string& kv, Json* set) {
  const size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return InvalidArgument(kv + ": expected key=value");
  Json value = Json::parse(kv.substr(eq + 1), nullptr, /*allow_exceptions=*/false);
  (*set)[kv.substr(0, eq)] = value.is_discarded() ? Json(kv.substr(eq + 1)) : value;
  return Status::Ok();
}

StatusOr<Json> CommandJson(const CommandLine& line) {
  const auto& p = line.positional;
  if (p.size() < 2) {
    return InvalidArgument("ctl: expected RUN_DIR and a command (stop, extend, add or clone)");
  }
  const std::string& verb = p[1];
  Json j = {{"command", verb}};
  auto want = [&](size_t n, const char* form) -> Status {
    if (p.size() != n) return InvalidArgument(std::string("ctl: usage: cerebro ctl RUN_DIR ") + form);
    return Status::Ok();
  };
  if (verb == "stop" || verb == "extend" || verb == "clone") {
    if (p.size() < 3) return InvalidArgument("ctl " + verb + ": expected a MODEL id");
    ASSIGN_OR_RETURN(int64_t model, IdArg(p[2], "MODEL"));
    j["model"] = model;
  }
  if (verb == "stop") {
    RETURN_IF_ERROR(want(3, "stop MODEL"));
  } else if (verb == "extend") {
    RETURN_IF_ERROR(want(4, "extend MODEL EPOCHS"));
    ASSIGN_OR_RETURN(int64_t epochs, IdArg(p[3], "EPOCHS"));
    j["epochs"] = epochs;
  } else if (verb == "add") {
    RETURN_IF_ERROR(want(3, "add 'PARAMS_JSON' [--epochs E]"));
    Json params = Json::parse(p[2], nullptr, false);
    if (params.is_discarded() || !params.is_object()) {
      return InvalidArgument("ctl add: PARAMS: expected a JSON object, got '" + p[2] + "'");
    }
    j["params"] = params;
  } else if (verb == "clone") {
    Json set = Json::object();
    for (size_t i = 3; i < p.size(); ++i) RETURN_IF_ERROR(AddSetting(p[i], &set));
    if (line.Has("--set")) RETURN_IF_ERROR(AddSetting(line.Value("--set"), &set));
    j["set"] = set;
  } else {
    return InvalidArgument("ctl: unknown command '" + verb + "' (stop, extend, add or clone)");
  }
  if (line.Has("--epochs")) {
    if (verb != "add" && verb != "clone") return InvalidArgument("--epochs: only for ctl add and clone");
    ASSIGN_OR_RETURN(int64_t epochs, IdArg(line.Value("--epochs"), "--epochs"));
    j["epochs"] = epochs;
  }
  return j;
}

}  // namespace

int CmdCtl(const CommandLine& line) {
  StatusOr<Json> command = CommandJson(line);
  if (!command.ok()) return Fail(command.status());
  StatusOr<std::string> reply = driver::SendControlCommand(line.positional[0], command->dump());
  if (!reply.ok()) return Fail(reply.status());
  if (reply->rfind("ok: ", 0) == 0) {
    std::printf("cerebro: %s\n", reply->substr(4).c_str());
    return 0;
  }
  const std::string why = reply->rfind("error: ", 0) == 0 ? reply->substr(7) : *reply;
  return Fail(InvalidArgument(line.positional[0] + ": " + why));
}

}  // namespace cerebro::cli
