#include "cerebro/spec/yaml_document.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

namespace cerebro::spec {
namespace {

// YAML 1.2's core schema spellings of infinity and NaN.
bool IsYamlNonFinite(const std::string& s) {
  static const std::set<std::string> kForms = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                                               "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN"};
  return kForms.count(s) > 0;
}

// "path: " for an error message ("" at the top level).
std::string At(const std::string& path) { return path.empty() ? std::string() : path + ": "; }

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), the rule
// nlohmann::json enforces when it dumps a string; returns the offset of the first bad
// byte, or npos.
size_t FindInvalidUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // > U+10FFFF
    } else {
      return i;
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return i;
    }
    i += len;
  }
  return std::string::npos;
}

Status CheckUtf8(const std::string& s, const std::string& path, const char* what) {
  size_t bad = FindInvalidUtf8(s);
  if (bad == std::string::npos) return Status::Ok();
  return InvalidArgument(At(path) + what + " is not valid UTF-8 (bad byte at offset " +
                         std::to_string(bad) + "); save the spec as UTF-8");
}

// Limits on the YAML -> JSON conversion. Real specs nest a few levels and hold a few
// hundred values. The conversion recurses and expands aliases (*a), so without limits a
// deeply nested document overflows the stack, a cyclic alias (&a [*a]) recurses forever,
// and 9 levels of anchors holding 10 aliases each expand to 10^9 values ("billion
// laughs"). ordered_json looks keys up linearly, hence the cap on keys per mapping.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxValues = 100000;
constexpr size_t kMaxKeysPerMapping = 10000;

// yaml-cpp hands back untyped scalars; plain (unquoted) scalars are typed the way YAML
// 1.2's core schema does, quoted ones stay strings.
StatusOr<Json> YamlToJson(const YAML::Node& node, const std::string& path, int depth,
                          size_t* values_left) {
  if (depth > kMaxDepth) {
    return InvalidArgument(At(path) + "nested more than " + std::to_string(kMaxDepth) +
                           " levels deep (or an alias refers to its own anchor)");
  }
  if (*values_left == 0) {
    return InvalidArgument(At(path) + "the spec holds more than " + std::to_string(kMaxValues) +
                           " values once aliases are expanded");
  }
  --*values_left;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      // Every string ends up in the resolved JSON spec, which cannot hold invalid UTF-8.
      RETURN_IF_ERROR(CheckUtf8(s, path, "value"));
      if (node.Tag() == "!") return Json(s);  // quoted
      if (s == "true" || s == "True" || s == "TRUE") return Json(true);
      if (s == "false" || s == "False" || s == "FALSE") return Json(false);
      if (s == "null" || s == "~" || s.empty()) return Json(nullptr);
      char* end = nullptr;
      errno = 0;
      long long i = std::strtoll(s.c_str(), &end, 10);
      if (end != s.c_str() && *end == '\0' && errno == 0) return Json(static_cast<int64_t>(i));
      // Integers past int64's range but within uint64's (seeds): keep them exact.
      if (errno == ERANGE && s[0] != '-') {
        errno = 0;
        unsigned long long u = std::strtoull(s.c_str(), &end, 10);
        if (end != s.c_str() && *end == '\0' && errno == 0) return Json(static_cast<uint64_t>(u));
      }
      double d = std::strtod(s.c_str(), &end);
      // NaN and infinities ("nan", "inf", "1e999", YAML's ".inf") cannot be stored in the
      // resolved JSON spec (they would come back as null) and are never a sensible
      // setting, so they are rejected here rather than passed on.
      bool number = end != s.c_str() && *end == '\0';
      if ((number && !std::isfinite(d)) || IsYamlNonFinite(s)) {
        return InvalidArgument(path + ": '" + s +
                               "' is not a finite number (NaN and infinity are not allowed; "
                               "quote it if you mean a string)");
      }
      if (number) return Json(d);
      return Json(s);
    }
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      size_t i = 0;
      for (const YAML::Node& item : node) {
        ASSIGN_OR_RETURN(Json v, YamlToJson(item, path + "[" + std::to_string(i++) + "]", depth + 1,
                                            values_left));
        arr.push_back(std::move(v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      if (node.size() > kMaxKeysPerMapping) {
        return InvalidArgument(At(path) + "a mapping with more than " +
                               std::to_string(kMaxKeysPerMapping) + " keys");
      }
      Json obj = Json::object();
      std::set<std::string> seen;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return InvalidArgument(At(path) + "map keys must be strings");
        std::string key = kv.first.Scalar();
        RETURN_IF_ERROR(CheckUtf8(key, path, "a key"));
        std::string sub = path.empty() ? key : path + "." + key;
        if (!seen.insert(key).second) return InvalidArgument(sub + ": duplicate key");
        ASSIGN_OR_RETURN(Json v, YamlToJson(kv.second, sub, depth + 1, values_left));
        obj.push_back({key, std::move(v)});
      }
      return obj;
    }
  }
  return Json(nullptr);
}

// A value as an error message quotes it: strings in single quotes, as typed.
}  // namespace

StatusOr<Json> YamlDocumentToJson(const std::string& text) {
  try {
    YAML::Node node = YAML::Load(text);
    size_t values_left = kMaxValues;
    return YamlToJson(node, "", 0, &values_left);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace cerebro::spec
