// ComputeStoreIdentity / VerifyStoreIdentity: meta.json's fields plus a Hash64 per file.
#include "cerebro/data/store_identity.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <type_traits>
#include <utility>

#include "cerebro/common/file_system.h"
#include "cerebro/common/rng.h"
#include "cerebro/data/data_internal.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::data {
namespace {

using Json = nlohmann::ordered_json;

// A store is flat today; the walk allows a little nesting and refuses a deep (or looping)
// tree rather than following it.
constexpr int kMaxDepth = 8;

constexpr char kHint[] = "; was the store re-prepared or swapped?";

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
  return buf;
}

// The fields of `dir`'s meta.json that an identity records (files left empty).
StatusOr<StoreIdentity> ReadFields(const std::string& dir) {
  ASSIGN_OR_RETURN(StoreMeta meta, ReadStoreMeta(dir));
  const std::string path = JoinPath(dir, "meta.json");
  ASSIGN_OR_RETURN(std::string text, RealFileSystem().ReadFile(path));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return DataLoss(path + ": not a valid JSON object");
  StoreIdentity id;
  id.format_version = meta.format_version;
  id.seed = meta.seed;
  id.train_partitions = static_cast<int64_t>(meta.train.size());
  id.val_partitions = static_cast<int64_t>(meta.val.size());
  if (j.contains("source")) id.source = j["source"];
  if (j.contains("source_files")) id.source_files = j["source_files"];
  return id;
}

// Every regular file under `dir` (following symlinks), its name relative to the store
// and its size; hashes left 0. Sorted by name.
Status ListFiles(const std::string& root, const std::string& rel, int depth,
                 std::vector<StoreFile>* out) {
  const std::string dir = rel.empty() ? root : JoinPath(root, rel);
  if (depth > kMaxDepth) return DataLoss(dir + ": nested deeper than a store is");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return internal::ErrnoError(dir, "open directory", errno);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : names) {
    const std::string sub = rel.empty() ? name : rel + "/" + name;
    const std::string path = JoinPath(root, sub);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return internal::ErrnoError(path, "stat", errno);
    if (S_ISDIR(st.st_mode)) {
      RETURN_IF_ERROR(ListFiles(root, sub, depth + 1, out));
    } else if (S_ISREG(st.st_mode)) {
      out->push_back(StoreFile{sub, static_cast<uint64_t>(st.st_size), 0});
    } else {
      return DataLoss(path + ": not a regular file; a store holds only files");
    }
  }
  if (rel.empty()) {
    std::sort(out->begin(), out->end(),
              [](const StoreFile& a, const StoreFile& b) { return a.name < b.name; });
  }
  return Status::Ok();
}

// The first field of `got` (read from `dir`) that differs from `want`, as a message.
std::string FirstFieldDifference(const std::string& dir, const StoreIdentity& got,
                                 const StoreIdentity& want) {
  const std::string meta = JoinPath(dir, "meta.json") + ": ";
  auto differs = [&](const std::string& what, const std::string& g, const std::string& w) {
    return meta + what + " " + g + " differs from the run's record (" + w + ")" + kHint;
  };
  if (got.format_version != want.format_version) {
    return differs("format_version", std::to_string(got.format_version),
                   std::to_string(want.format_version));
  }
  if (got.seed != want.seed) {
    return differs("seed", std::to_string(got.seed), std::to_string(want.seed));
  }
  if (got.train_partitions != want.train_partitions) {
    return differs("train partitions", std::to_string(got.train_partitions),
                   std::to_string(want.train_partitions));
  }
  if (got.val_partitions != want.val_partitions) {
    return differs("val partitions", std::to_string(got.val_partitions),
                   std::to_string(want.val_partitions));
  }
  auto first_key = [](const Json& a, const Json& b) -> std::string {
    if (!a.is_object() || !b.is_object()) return "";
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || b[it.key()] != it.value()) return it.key();
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) return it.key();
    }
    return "";
  };
  if (got.source != want.source) {
    const std::string key = first_key(got.source, want.source);
    if (key.empty()) return differs("source", got.source.dump(), want.source.dump());
    auto at = [&](const Json& j) { return j.contains(key) ? j[key].dump() : "absent"; };
    return differs("source." + key, at(got.source), at(want.source));
  }
  if (got.source_files != want.source_files) {
    return differs("source_files", got.source_files.dump(), want.source_files.dump());
  }
  return "";
}

// The first file of `got` that differs from `want` by name or size (hashes not looked at).
std::string FirstListingDifference(const std::string& dir, const std::vector<StoreFile>& got,
                                   const std::vector<StoreFile>& want) {
  size_t i = 0, k = 0;
  while (i < got.size() || k < want.size()) {
    if (k == want.size() || (i < got.size() && got[i].name < want[k].name)) {
      return JoinPath(dir, got[i].name) + ": not in the run's record" + kHint;
    }
    if (i == got.size() || want[k].name < got[i].name) {
      return JoinPath(dir, want[k].name) + ": missing (the run's record has " +
             std::to_string(want[k].bytes) + " bytes)" + kHint;
    }
    if (got[i].bytes != want[k].bytes) {
      return JoinPath(dir, got[i].name) + ": " + std::to_string(got[i].bytes) +
             " bytes differ from the run's record (" + std::to_string(want[k].bytes) + " bytes)" +
             kHint;
    }
    ++i;
    ++k;
  }
  return "";
}

template <typename T>
Status Field(const Json& j, const char* key, T* out) {
  const std::string where = std::string("store identity: ") + key;
  if (!j.contains(key)) return DataLoss(where + ": missing");
  const Json& v = j[key];
  if constexpr (std::is_same_v<T, uint64_t>) {
    if (!v.is_number_unsigned()) return DataLoss(where + ": expected a non-negative integer");
    *out = v.get<uint64_t>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return DataLoss(where + ": expected a string");
    *out = v.get<std::string>();
  } else {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX) ||
        v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
      return DataLoss(where + ": expected a non-negative integer");
    }
    *out = static_cast<T>(v.get<int64_t>());
  }
  return Status::Ok();
}

}  // namespace

bool StoreIdentity::operator==(const StoreIdentity& o) const {
  return format_version == o.format_version && seed == o.seed &&
         train_partitions == o.train_partitions && val_partitions == o.val_partitions &&
         source == o.source && source_files == o.source_files && files == o.files;
}

StatusOr<StoreIdentity> ComputeStoreIdentity(const std::string& store_dir) {
  ASSIGN_OR_RETURN(StoreIdentity id, ReadFields(store_dir));
  RETURN_IF_ERROR(ListFiles(store_dir, "", 0, &id.files));
  for (StoreFile& f : id.files) {
    ASSIGN_OR_RETURN(f.hash, internal::HashFileContents(JoinPath(store_dir, f.name), f.bytes));
  }
  return id;
}

Status VerifyStoreIdentity(const std::string& store_dir, const StoreIdentity& expected) {
  ASSIGN_OR_RETURN(StoreIdentity got, ReadFields(store_dir));
  std::string diff = FirstFieldDifference(store_dir, got, expected);
  if (!diff.empty()) return DataLoss(diff);
  RETURN_IF_ERROR(ListFiles(store_dir, "", 0, &got.files));
  diff = FirstListingDifference(store_dir, got.files, expected.files);
  if (!diff.empty()) return DataLoss(diff);
  for (size_t i = 0; i < got.files.size(); ++i) {
    const StoreFile& want = expected.files[i];  // same names and sizes, same order
    const std::string path = JoinPath(store_dir, want.name);
    ASSIGN_OR_RETURN(const uint64_t hash, internal::HashFileContents(path, want.bytes));
    if (hash != want.hash) {
      return DataLoss(path + ": " + std::to_string(want.bytes) + " bytes, hash " + Hex(hash) +
                      " differs from the run's record (" + std::to_string(want.bytes) +
                      " bytes, hash " + Hex(want.hash) + ")" + kHint);
    }
  }
  return Status::Ok();
}

Json ToJson(const StoreIdentity& id) {
  Json files = Json::array();
  for (const StoreFile& f : id.files) {
    files.push_back(Json{{"name", f.name}, {"bytes", f.bytes}, {"hash", f.hash}});
  }
  return Json{{"format_version", id.format_version},
              {"seed", id.seed},
              {"train_partitions", id.train_partitions},
              {"val_partitions", id.val_partitions},
              {"source", id.source},
              {"source_files", id.source_files},
              {"files", files}};
}

StatusOr<StoreIdentity> StoreIdentityFromJson(const Json& j) {
  if (!j.is_object()) return DataLoss("store identity: expected an object");
  StoreIdentity id;
  RETURN_IF_ERROR(Field(j, "format_version", &id.format_version));
  RETURN_IF_ERROR(Field(j, "seed", &id.seed));
  RETURN_IF_ERROR(Field(j, "train_partitions", &id.train_partitions));
  RETURN_IF_ERROR(Field(j, "val_partitions", &id.val_partitions));
  id.source = j.value("source", Json());
  id.source_files = j.value("source_files", Json());
  if (!j.contains("files") || !j["files"].is_array()) {
    return DataLoss("store identity: files: expected an array");
  }
  for (const Json& f : j["files"]) {
    if (!f.is_object()) return DataLoss("store identity: files: expected objects");
    StoreFile file;
    RETURN_IF_ERROR(Field(f, "name", &file.name));
    RETURN_IF_ERROR(Field(f, "bytes", &file.bytes));
    RETURN_IF_ERROR(Field(f, "hash", &file.hash));
    if (!id.files.empty() && !(id.files.back().name < file.name)) {
      return DataLoss("store identity: files: not sorted by name at '" + file.name + "'");
    }
    id.files.push_back(std::move(file));
  }
  return id;
}

}  // namespace cerebro::data
