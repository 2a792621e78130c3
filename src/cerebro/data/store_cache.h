// The prepared-store cache: stores kept under a key of everything that decides their bytes,
// so a run (or a second run) of a spec whose data is already prepared links that store
// instead of preparing it again. Functions are safe to call from several processes (and
// threads) at once on one cache: entries are staged and published by one rename.
#pragma once

#include <string>

#include "cerebro/common/status.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::data {

// Where cached stores live: $CEREBRO_CACHE/stores when CEREBRO_CACHE is set, else
// $HOME/.cache/cerebro/stores. "" (the cache is off) when CEREBRO_CACHE is "" or "off",
// or when neither it nor HOME is set.
std::string StoreCacheRoot();

// The cache key of the store Prepare(source, options, ...) would write: 16 hex digits of
// Hash64 over the store format version, the data section as meta.json records it, each
// source file's path, size, mtime_ns and content hash (Hash64 of its 4 MiB chunks, so an edit
// that keeps size and mtime is still a new key), the seed and both partition counts.
// options.partitions_field only words errors and is not part of it. NotFound / IoError
// naming a source file that cannot be read.
StatusOr<std::string> StoreCacheKey(const SourceSpec& source, const PrepareOptions& options);

struct PreparedStore {
  bool reused = false;  // linked from the cache, nothing was prepared
  std::string key;      // the cache key; "" when the cache was not used
  double seconds = 0;   // wall time of the whole call
  // The one line a run prints: "data: reused prepared store KEY (0.0 s)" or
  // "data: prepared store KEY (2.3 s)".
  std::string Describe() const;
};

// Makes `dir` (which must not exist) hold the store Prepare(source, options, dir) would
// write. With an empty `cache_root` that is all it does. Otherwise an intact cached entry
// `cache_root/KEY` is hard-linked into `dir` (copied where `dir` is on another file
// system); a missing or damaged entry (its files no longer hash to what they did when it
// was cached) is prepared into a staging directory of the cache and renamed into place
// (a process that loses the race to publish the same key reuses the winner's), then
// linked. The linked files are the run's own names for the same bytes: `dir` keeps working
// if the cache is deleted, and the project only ever replaces files by rename, so a
// store in a run directory is never edited in place. A source that changes while it is
// prepared yields a store for this call only, never a cache entry. A cache directory that
// cannot be written is warned about and bypassed. Staging directories of the key left by
// a process that died are removed first. Nothing evicts entries. Errors as Prepare's.
StatusOr<PreparedStore> PrepareCached(const SourceSpec& source, const PrepareOptions& options,
                                      const std::string& dir, const std::string& cache_root);

// Makes `to` (which must not exist; AlreadyExists) hold the store at `from`: meta.json and
// the partition files meta.json names (nothing else), hard-linked, or copied where links
// are refused (another file system). Staged in TO.tmp-<pid> and renamed. Errors name the
// file; ReadStoreMeta's if `from` is no store.
Status LinkStore(const std::string& from, const std::string& to);

}  // namespace cerebro::data
