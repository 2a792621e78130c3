// The YAML front end of spec parsing: a spec file's text into a JSON document, refusing
// what nlohmann::json or the rest of the parser could not hold — invalid UTF-8, documents
// nested or sized past fixed limits, YAML's non-finite spellings where a number is
// meant — with one line naming the path or the YAML line. Stateless; thread-safe.
#pragma once

#include <string>

#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::spec {

// Plain (unquoted) scalars are typed as YAML 1.2's core schema does, quoted ones stay
// strings. InvalidArgument "line N: ..." for a YAML syntax error.
StatusOr<Json> YamlDocumentToJson(const std::string& text);

}  // namespace cerebro::spec
