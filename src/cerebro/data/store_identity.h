// StoreIdentity: what a prepared store is, so a run can record the data it trains on and
// a resume can refuse a store that was re-prepared, swapped or damaged since.
// Value types; the functions read the store's files and are thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebro/common/status.h"

namespace cerebro::data {

// One file of a store, by its name relative to the store directory.
struct StoreFile {
  std::string name;    // "train_000.x.npy", "meta.json"
  uint64_t bytes = 0;
  uint64_t hash = 0;   // Hash64 (common/rng.h) of the whole file
  bool operator==(const StoreFile& o) const {
    return name == o.name && bytes == o.bytes && hash == o.hash;
  }
};

// The identity of a store: the fields of meta.json that say how it was made, plus every
// file under the store directory (meta.json included, so the fields cannot drift from the
// hashes). The fields are there for the message: a re-prepared store fails on "seed",
// not on an anonymous hash.
struct StoreIdentity {
  int format_version = 0;
  uint64_t seed = 0;
  int64_t train_partitions = 0;
  int64_t val_partitions = 0;
  nlohmann::ordered_json source;        // meta.json's "source" (the spec's data section)
  nlohmann::ordered_json source_files;  // meta.json's "source_files" (null before they were
                                        // recorded): path, bytes, mtime_ns of each
  std::vector<StoreFile> files;         // sorted by name
  bool operator==(const StoreIdentity& o) const;
};

// Reads meta.json (ReadStoreMeta's checks) and hashes every regular file under
// `store_dir` (subdirectories included, names joined with '/'). Reads each file once
// through a read-only mapping (no heap copy). NotFound / DataLoss naming the file.
StatusOr<StoreIdentity> ComputeStoreIdentity(const std::string& store_dir);

// OK when `store_dir`'s identity equals `expected`. Otherwise DataLoss naming the first
// difference, fields before files, e.g. "RUN/data/meta.json: seed 8 differs from the
// run's record (7); was the store re-prepared or swapped?" or "RUN/data/train_001.x.npy:
// 3968 bytes, hash 0x... differs from the run's record (3968 bytes, hash 0x...); ...".
// Sizes are compared before anything is hashed, so a truncated file fails fast.
Status VerifyStoreIdentity(const std::string& store_dir, const StoreIdentity& expected);

// The JSON form ({"format_version", "seed", "train_partitions", "val_partitions",
// "source", "source_files", "files": [{"name", "bytes", "hash"}]}) and back. FromJson
// refuses (DataLoss, naming the field) anything ToJson would not write.
nlohmann::ordered_json ToJson(const StoreIdentity& identity);
StatusOr<StoreIdentity> StoreIdentityFromJson(const nlohmann::ordered_json& j);

}  // namespace cerebro::data
