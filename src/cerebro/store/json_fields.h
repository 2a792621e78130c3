// JsonFields: a read-only walk over one JSON object that never throws, for the files
// the store reads back (journal records, summary.json): each accessor checks the
// field's presence and type and fails with DataLoss "<source>: <path>: expected <type>",
// so a damaged file is one line naming the field. Borrows the object and the source
// name (both must outlive it); thread-compatible.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "cerebro/common/enum_names.h"
#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::store {

using Json = spec::Json;

// JSON has no NaN or infinity: nlohmann writes them as null, so a null number reads
// back as NaN (e.g. a model whose validation loss went non-finite).
inline double OrNaN(const Json& v) {
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}

class JsonFields {
 public:
  JsonFields(const Json& obj, std::string path, const std::string& source)
      : obj_(obj), path_(std::move(path)), source_(source) {}

  std::string Path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  Status Expected(const std::string& key, const std::string& type) const {
    return DataLoss(source_ + ": " + Path(key) + ": expected " + type);
  }
  // Null when the key is absent.
  const Json* Find(const std::string& key) const {
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }

  bool Has(const std::string& key) const { return Find(key) != nullptr; }

  // Absent optional fields leave *out as it is, in every accessor that takes `optional`.
  Status Int(const std::string& key, int* out, bool optional = false) const {
    const Json* v = Find(key);
    if (v == nullptr && optional) return Status::Ok();
    if (v == nullptr || !v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<uint64_t>() > INT32_MAX) ||
        (!v->is_number_unsigned() &&
         (v->get<int64_t>() < INT32_MIN || v->get<int64_t>() > INT32_MAX))) {
      return Expected(key, "a 32-bit integer");
    }
    *out = static_cast<int>(v->get<int64_t>());
    return Status::Ok();
  }
  Status Int64(const std::string& key, int64_t* out) const {
    const Json* v = Find(key);
    if (v == nullptr || !v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)) {
      return Expected(key, "an integer");
    }
    *out = v->get<int64_t>();
    return Status::Ok();
  }
  Status Uint64(const std::string& key, uint64_t* out, bool optional = false) const {
    const Json* v = Find(key);
    if (v == nullptr && optional) return Status::Ok();
    if (v == nullptr || !v->is_number_integer() ||
        (!v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      return Expected(key, "a non-negative integer");
    }
    *out = v->get<uint64_t>();
    return Status::Ok();
  }
  Status Double(const std::string& key, double* out, bool optional = false) const {
    const Json* v = Find(key);
    if (v == nullptr && optional) return Status::Ok();
    if (v == nullptr || !v->is_number()) return Expected(key, "a number");
    *out = v->get<double>();
    return Status::Ok();
  }
  Status DoubleOrNull(const std::string& key, double* out) const {
    const Json* v = Find(key);
    if (v == nullptr || !(v->is_number() || v->is_null())) return Expected(key, "a number or null");
    *out = OrNaN(*v);
    return Status::Ok();
  }
  Status String(const std::string& key, std::string* out, bool optional = false) const {
    const Json* v = Find(key);
    if (v == nullptr && optional) return Status::Ok();
    if (v == nullptr || !v->is_string()) return Expected(key, "a string");
    *out = v->get<std::string>();
    return Status::Ok();
  }
  Status StringOrNull(const std::string& key, std::string* out) const {
    const Json* v = Find(key);
    if (v == nullptr || !(v->is_string() || v->is_null())) return Expected(key, "a string or null");
    *out = v->is_null() ? std::string() : v->get<std::string>();
    return Status::Ok();
  }
  // One of E's names.
  template <typename E>
  Status Enum(const std::string& key, E* out, bool optional = false) const {
    const Json* v = Find(key);
    if (v == nullptr && optional) return Status::Ok();
    std::optional<E> e;
    if (v != nullptr && v->is_string()) e = ParseEnum<E>(v->get<std::string>());
    if (!e) return Expected(key, "one of " + EnumChoices<E>());
    *out = *e;
    return Status::Ok();
  }
  // The name of one of E's values, kept as text.
  template <typename E>
  Status EnumText(const std::string& key, std::string* out) const {
    E ignored;
    RETURN_IF_ERROR(Enum(key, &ignored));
    *out = Find(key)->get<std::string>();
    return Status::Ok();
  }
  Status Bool(const std::string& key, bool* out, bool optional = false) const {
    const Json* v = Find(key);
    if (v == nullptr && optional) return Status::Ok();
    if (v == nullptr || !v->is_boolean()) return Expected(key, "true or false");
    *out = v->get<bool>();
    return Status::Ok();
  }
  // Any JSON value (e.g. an opaque state).
  Status Value(const std::string& key, Json* out) const {
    const Json* v = Find(key);
    if (v == nullptr) return Expected(key, "a value");
    *out = *v;
    return Status::Ok();
  }
  StatusOr<JsonFields> Object(const std::string& key) const {
    const Json* v = Find(key);
    if (v == nullptr || !v->is_object()) return Expected(key, "an object");
    return JsonFields(*v, Path(key), source_);
  }
  StatusOr<const Json*> Array(const std::string& key) const {
    const Json* v = Find(key);
    if (v == nullptr || !v->is_array()) return Expected(key, "an array");
    return v;
  }
  // Element i of an array field, which must be an object.
  StatusOr<JsonFields> Element(const std::string& key, const Json& array, size_t i) const {
    const std::string at = key + "[" + std::to_string(i) + "]";
    if (!array[i].is_object()) return Expected(at, "an object");
    return JsonFields(array[i], Path(at), source_);
  }

 private:
  const Json& obj_;
  std::string path_;
  const std::string& source_;
};

}  // namespace cerebro::store
