// The prepared-store cache: stores kept under a key of everything that decides their bytes,
// so a run (or a second run) of a spec whose data is already prepared links that store
// instead of preparing it again. Functions are safe to call from several processes (and
// threads) at once on one cache: entries are staged and published by one rename, and
// linking an entry (shared) excludes evicting one (exclusive) through an flock on
// CACHE.lock beside the cache directory.
//
// Eviction: the cache holds at most $CEREBRO_CACHE_MAX_GB gigabytes (10^9 bytes; default
// 20) of its own; after publishing an entry, least recently used entries go until it is
// back under. A store's last use is its cache.json's mtime, set when it is published and
// whenever a run links it. Only bytes the cache alone holds count, and only entries that
// alone hold their files are evicted: an entry a run directory links (a running run, or
// one kept) frees nothing when removed, and the run keeps its hard links either way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// The cap from $CEREBRO_CACHE_MAX_GB (a non-negative number of 10^9 bytes; 0 keeps only
// the entry just used), else kDefaultStoreCacheMaxGb. A value that is no such number is
// warned about once and the default used.
constexpr double kDefaultStoreCacheMaxGb = 20;
uint64_t StoreCacheMaxBytes();

struct StoreCacheEntry {
  std::string key;
  uint64_t bytes = 0;       // all its files
  uint64_t held_bytes = 0;  // of files no run directory links (what removing it frees)
  bool linked = false;      // some run directory hard-links its store files
  double last_used = 0;     // seconds since the epoch (cache.json's mtime)
};

// The published entries of `cache_root`, least recently used first (ties by key).
StatusOr<std::vector<StoreCacheEntry>> ListStoreCache(const std::string& cache_root);

// Evicts least recently used entries until the bytes the cache alone holds are at most
// `max_bytes`; never `keep_key`, nor an entry a run directory links. An entry goes by one
// rename out of its key's name (so a half-removed entry is never served) and is then
// removed. Skipped (OK, nothing evicted) while another process links or evicts. Writes
// the evicted keys to `evicted` (may be null). Also removes what an evicting process that
// died left.
Status EvictStoreCache(const std::string& cache_root, uint64_t max_bytes,
                       const std::string& keep_key, std::vector<std::string>* evicted);

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
// a process that died are removed first. A newly published entry is followed by
// EvictStoreCache(cache_root, max_cache_bytes, its key). Errors as Prepare's.
StatusOr<PreparedStore> PrepareCached(const SourceSpec& source, const PrepareOptions& options,
                                      const std::string& dir, const std::string& cache_root,
                                      uint64_t max_cache_bytes = StoreCacheMaxBytes());

// Makes `to` (which must not exist; AlreadyExists) hold the store at `from`: meta.json and
// the partition files meta.json names (nothing else), hard-linked, or copied where links
// are refused (another file system). Staged in TO.tmp-<pid> and renamed. Errors name the
// file; ReadStoreMeta's if `from` is no store.
Status LinkStore(const std::string& from, const std::string& to);

}  // namespace cerebro::data
