// PrepareCached: a content-addressed cache of prepared stores, linked into run directories.
//
// An entry is CACHE/KEY/: the store's files plus cache.json {"cache_version", "key" (the
// material the key hashes, compared in full so a 64-bit collision is never served),
// "identity" (StoreIdentity of the store's files as published)}. Reuse links the store's
// files into the run and verifies them against that identity: a cache entry damaged in
// place (a hard link shared with a run that someone edited) is detected, dropped and
// prepared again.
//
// Eviction renames an entry to .evicting-PID-...-KEY before removing it, under an
// exclusive flock of CACHE.lock; linking out of the cache (reuse, and a publisher linking
// what it just published) holds the same lock shared, so no run links an entry that is
// going. The lock file sits beside the cache directory, not in it: the directory holds
// entries and staging only.
#include "cerebro/data/store_cache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/common/file_system.h"
#include "cerebro/common/logging.h"
#include "cerebro/common/rng.h"
#include "cerebro/data/data_internal.h"
#include "cerebro/data/store_identity.h"

namespace cerebro::data {
namespace {

using Json = nlohmann::ordered_json;

// Bumped when what an entry holds, or how a key is computed, changes.
constexpr int kCacheVersion = 1;
constexpr char kEntryFile[] = "cache.json";
constexpr char kEvictingPrefix[] = ".evicting-";

// An flock on CACHE.lock (see the top of the file), released when the fd closes. Shared:
// waits; exclusive: tries once. An invalid fd when the lock is not held (busy, or the
// file cannot be opened: a read-only cache, which we never evict from either).
internal::ScopedFd LockCache(const std::string& cache_root, bool exclusive) {
  internal::ScopedFd fd(
      ::open((cache_root + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) return fd;
  int r;
  do {
    r = ::flock(fd.get(), exclusive ? LOCK_EX | LOCK_NB : LOCK_SH);
  } while (r != 0 && errno == EINTR);
  if (r != 0) return internal::ScopedFd();
  return fd;
}

std::string Hex16(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

// A content hash of a source file through a fixed buffer: Hash64 of each 4 MiB chunk,
// then of those. (HashFileContents maps the whole file, which would count a large source
// in the driver's RSS while it is hashed.)
StatusOr<uint64_t> HashSourceFile(const std::string& path) {
  ASSIGN_OR_RETURN(internal::ScopedFd fd, internal::OpenForRead(path));
  std::vector<char> buf(size_t{4} << 20);
  std::vector<uint64_t> chunks;
  while (true) {
    ASSIGN_OR_RETURN(size_t got, internal::ReadUpTo(fd.get(), buf.data(), buf.size(), path));
    if (got == 0) break;
    chunks.push_back(Hash64(buf.data(), got));
    if (got < buf.size()) break;
  }
  return Hash64(chunks.data(), chunks.size() * sizeof(uint64_t));
}

// What the key hashes (see StoreCacheKey), as JSON.
StatusOr<Json> KeyMaterial(const SourceSpec& source, const PrepareOptions& options) {
  Json files = Json::array();
  for (const std::string* path : {&source.train_path, &source.train_labels_path, &source.val_path,
                                  &source.val_labels_path}) {
    if (path->empty()) continue;
    struct stat st;
    if (::stat(path->c_str(), &st) != 0) return internal::ErrnoError(*path, "stat", errno);
    const uint64_t bytes = static_cast<uint64_t>(st.st_size);
    ASSIGN_OR_RETURN(const uint64_t hash, HashSourceFile(*path));
    files.push_back(Json{
        {"path", *path},
        {"bytes", bytes},
        {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec},
        {"hash", hash}});
  }
  return Json{{"cache_version", kCacheVersion},
              {"store_format", internal::kStoreFormatVersion},
              {"source", Json::parse(internal::SourceToJson(source).dump())},
              {"source_files", files},
              {"seed", options.seed},
              {"train_partitions", options.num_train_partitions},
              {"val_partitions", options.num_val_partitions}};
}

std::string KeyOf(const Json& material) {
  const std::string text = material.dump();
  return Hex16(Hash64(text.data(), text.size()));
}

std::string FormatGb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(bytes) / 1e9);
  return buf;
}

// A name no other process or thread stages under at the same time.
std::string UniqueSuffix() {
  return std::to_string(::getpid()) + "-" +
         Hex16(std::hash<std::thread::id>()(std::this_thread::get_id()));
}

Status CopyFile(const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(internal::ScopedFd in, internal::OpenForRead(from));
  internal::ScopedFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (out.get() < 0) return internal::ErrnoError(to, "create", errno);
  std::vector<char> buf(size_t{1} << 20);  // a buffer, never the file: copies stay small
  while (true) {
    ASSIGN_OR_RETURN(size_t got, internal::ReadUpTo(in.get(), buf.data(), buf.size(), from));
    if (got == 0) break;
    RETURN_IF_ERROR(internal::WriteAll(out.get(), buf.data(), got, to));
  }
  if (::fsync(out.get()) != 0) return internal::ErrnoError(to, "fsync", errno);
  return Status::Ok();
}

// The names of a store's files: meta.json and the partition files it lists.
StatusOr<std::vector<std::string>> StoreFileNames(const std::string& dir) {
  ASSIGN_OR_RETURN(StoreMeta meta, ReadStoreMeta(dir));
  std::vector<std::string> names = {"meta.json"};
  for (const auto* parts : {&meta.train, &meta.val}) {
    for (const PartitionInfo& p : *parts) {
      names.push_back(p.x_file);
      names.push_back(p.y_file);
    }
  }
  return names;
}

Status ExistsError(const std::string& dir) {
  return AlreadyExists(dir +
                       ": already exists; refusing to overwrite a prepared store (remove it or "
                       "pick another directory)");
}

// Links the cached entry into `dir` and checks it against the identity it was cached
// with. OK(false) when there is no usable entry (absent, another key's material, or
// damaged: then it is removed so that it is prepared again).
StatusOr<bool> TryReuse(const std::string& cache_root, const std::string& entry,
                        const Json& material, const std::string& dir) {
  FileSystem& fs = RealFileSystem();
  const internal::ScopedFd lock = LockCache(cache_root, /*exclusive=*/false);  // not evicted meanwhile
  auto text = fs.ReadFile(JoinPath(entry, kEntryFile));
  if (!text.ok()) return false;  // absent, or a crash before publishing: prepare
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("key") || j["key"] != material ||
      !j.contains("identity")) {
    return false;
  }
  auto identity = StoreIdentityFromJson(j["identity"]);
  if (!identity.ok()) return false;
  if (Status st = LinkStore(entry, dir); !st.ok()) {
    (void)fs.RemoveAll(dir);
    LogWarning("data: cached store " + entry + " unusable (" + st.message() +
               "); preparing it again");
    (void)fs.RemoveAll(entry);
    return false;
  }
  if (Status st = VerifyStoreIdentity(dir, *identity); !st.ok()) {
    (void)fs.RemoveAll(dir);
    LogWarning("data: cached store " + entry + " is damaged (" + st.message() +
               "); preparing it again");
    (void)fs.RemoveAll(entry);
    return false;
  }
  // Its last use, for eviction (cache.json is the cache's own file, never linked out).
  (void)::utimensat(AT_FDCWD, JoinPath(entry, kEntryFile).c_str(), nullptr, 0);
  return true;
}

// Removes directories "PREFIXPID-..." left by processes that died mid-way: staging of a
// key (".staging-KEY-PID-...") or an eviction (".evicting-PID-..."); a live PID's are its
// own business. Best effort.
void RemoveDeadProcessDirs(const std::string& cache_root, const std::string& prefix) {
  FileSystem& fs = RealFileSystem();
  auto names = fs.ListDir(cache_root);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      (void)fs.RemoveAll(JoinPath(cache_root, name));
    }
  }
}

}  // namespace

uint64_t StoreCacheMaxBytes() {
  double gb = kDefaultStoreCacheMaxGb;
  if (const char* env = std::getenv("CEREBRO_CACHE_MAX_GB"); env != nullptr && *env) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && *end == '\0' && std::isfinite(v) && v >= 0) {
      gb = v;
    } else {
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) {
        LogWarning(std::string("CEREBRO_CACHE_MAX_GB=") + env +
                   ": not a number of gigabytes >= 0; the store cache keeps its default cap (" +
                   std::to_string(static_cast<int>(kDefaultStoreCacheMaxGb)) + " GB)");
      }
    }
  }
  return static_cast<uint64_t>(gb * 1e9);
}

StatusOr<std::vector<StoreCacheEntry>> ListStoreCache(const std::string& cache_root) {
  FileSystem& fs = RealFileSystem();
  std::vector<StoreCacheEntry> entries;
  if (!fs.Exists(cache_root)) return entries;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDir(cache_root));
  for (const std::string& name : names) {
    if (name.empty() || name[0] == '.') continue;  // staging, or an eviction under way
    const std::string entry = JoinPath(cache_root, name);
    struct stat st;
    if (::stat(JoinPath(entry, kEntryFile).c_str(), &st) != 0) continue;  // not published
    StoreCacheEntry e;
    e.key = name;
    e.last_used = static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9;
    auto files = fs.ListDir(entry);
    if (!files.ok()) continue;
    for (const std::string& f : *files) {
      struct stat fst;
      if (::lstat(JoinPath(entry, f).c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) continue;
      const auto size = static_cast<uint64_t>(fst.st_size);
      e.bytes += size;
      if (fst.st_nlink == 1) {
        e.held_bytes += size;
      } else if (f != kEntryFile) {
        e.linked = true;  // a run directory's data/ holds the same file
      }
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const StoreCacheEntry& a, const StoreCacheEntry& b) {
    return a.last_used != b.last_used ? a.last_used < b.last_used : a.key < b.key;
  });
  return entries;
}

Status EvictStoreCache(const std::string& cache_root, uint64_t max_bytes,
                       const std::string& keep_key, std::vector<std::string>* evicted) {
  const internal::ScopedFd lock = LockCache(cache_root, /*exclusive=*/true);
  if (lock.get() < 0) return Status::Ok();  // another process links or evicts: later
  RemoveDeadProcessDirs(cache_root, kEvictingPrefix);
  ASSIGN_OR_RETURN(std::vector<StoreCacheEntry> entries, ListStoreCache(cache_root));
  uint64_t held = 0;
  for (const StoreCacheEntry& e : entries) held += e.held_bytes;
  FileSystem& fs = RealFileSystem();
  for (const StoreCacheEntry& e : entries) {
    if (held <= max_bytes) break;
    if (e.key == keep_key || e.linked || e.held_bytes == 0) continue;
    const std::string from = JoinPath(cache_root, e.key);
    const std::string gone = JoinPath(cache_root, kEvictingPrefix + UniqueSuffix() + "-" + e.key);
    if (::rename(from.c_str(), gone.c_str()) != 0) continue;  // gone already
    (void)fs.RemoveAll(gone);
    held -= e.held_bytes;
    if (evicted != nullptr) evicted->push_back(e.key);
  }
  return Status::Ok();
}

std::string StoreCacheRoot() {
  if (const char* env = std::getenv("CEREBRO_CACHE")) {
    const std::string v = env;
    if (v.empty() || v == "off") return "";
    return JoinPath(v, "stores");
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return JoinPath(home, ".cache/cerebro/stores");
}

StatusOr<std::string> StoreCacheKey(const SourceSpec& source, const PrepareOptions& options) {
  ASSIGN_OR_RETURN(Json material, KeyMaterial(source, options));
  return KeyOf(material);
}

std::string PreparedStore::Describe() const {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.1f s", seconds);
  if (reused) return "data: reused prepared store " + key + " (" + secs + ")";
  return "data: prepared store" + (key.empty() ? std::string() : " " + key) + " (" + secs + ")";
}

Status LinkStore(const std::string& from, const std::string& to) {
  FileSystem& fs = RealFileSystem();
  if (fs.Exists(to)) return ExistsError(to);
  ASSIGN_OR_RETURN(std::vector<std::string> names, StoreFileNames(from));
  const std::string tmp = to + ".tmp-" + UniqueSuffix();
  if (fs.Exists(tmp)) RETURN_IF_ERROR(fs.RemoveAll(tmp));
  RETURN_IF_ERROR(fs.MakeDirs(tmp));
  Status st = Status::Ok();
  for (const std::string& name : names) {
    const std::string src = JoinPath(from, name);
    const std::string dst = JoinPath(tmp, name);
    if (::link(src.c_str(), dst.c_str()) == 0) continue;
    const int err = errno;
    // EXDEV: another file system; EPERM/EMLINK: links refused or too many. A copy serves.
    if (err == EXDEV || err == EPERM || err == EMLINK || err == ENOTSUP) {
      st = CopyFile(src, dst);
    } else {
      st = internal::ErrnoError(src, "link into " + tmp, err);
    }
    if (!st.ok()) break;
  }
  if (st.ok() && fs.Exists(to)) st = ExistsError(to);
  if (st.ok()) st = fs.Rename(tmp, to);
  if (!st.ok()) (void)fs.RemoveAll(tmp);
  return st;
}

StatusOr<PreparedStore> PrepareCached(const SourceSpec& source, const PrepareOptions& options,
                                      const std::string& dir, const std::string& cache_root,
                                      uint64_t max_cache_bytes) {
  const double t0 = MonotonicSeconds();
  PreparedStore out;
  auto done = [&]() -> StatusOr<PreparedStore> {
    out.seconds = MonotonicSeconds() - t0;
    return out;
  };
  FileSystem& fs = RealFileSystem();
  auto plain = [&]() -> StatusOr<PreparedStore> {
    out.key.clear();
    RETURN_IF_ERROR(Prepare(source, options, dir));
    return done();
  };
  if (cache_root.empty()) return plain();
  if (fs.Exists(dir)) return ExistsError(dir);
  auto material = KeyMaterial(source, options);
  // A source that cannot be read is Prepare's to report, with its own wording.
  if (!material.ok()) return plain();
  out.key = KeyOf(*material);
  const std::string entry = JoinPath(cache_root, out.key);
  ASSIGN_OR_RETURN(out.reused, TryReuse(cache_root, entry, *material, dir));
  if (out.reused) return done();

  if (Status st = fs.MakeDirs(cache_root); !st.ok()) {
    LogWarning("data: store cache " + cache_root + " cannot be written (" + st.message() +
               "); preparing without it");
    return plain();
  }
  RemoveDeadProcessDirs(cache_root, ".staging-" + out.key + "-");
  const std::string staging = JoinPath(cache_root, ".staging-" + out.key + "-" + UniqueSuffix());
  if (fs.Exists(staging)) RETURN_IF_ERROR(fs.RemoveAll(staging));
  RETURN_IF_ERROR(Prepare(source, options, staging));
  auto cleanup = [&](Status st) {
    (void)fs.RemoveAll(staging);
    return st;
  };
  // Read again: a source edited while it was being prepared must not be cached under the
  // key of what it was before.
  auto after = KeyMaterial(source, options);
  if (!after.ok() || *after != *material) {
    LogWarning("data: a source file changed while it was prepared; the store is not cached");
    RETURN_IF_ERROR(cleanup(LinkStore(staging, dir)));
    out.key.clear();
    return done();
  }
  auto identity = ComputeStoreIdentity(staging);
  if (!identity.ok()) return cleanup(identity.status());
  Json entry_json{{"cache_version", kCacheVersion}, {"key", *material},
                  {"identity", ToJson(*identity)}};
  if (Status st = fs.WriteFileAtomic(JoinPath(staging, kEntryFile), entry_json.dump(2) + "\n");
      !st.ok()) {
    return cleanup(st);
  }
  bool published = false;
  {
    // Published and linked under the shared lock: no eviction takes it in between.
    const internal::ScopedFd lock = LockCache(cache_root, /*exclusive=*/false);
    published = ::rename(staging.c_str(), entry.c_str()) == 0;
    if (published) RETURN_IF_ERROR(LinkStore(entry, dir));
  }
  if (!published) {
    // Another run published this key first (or left an unpublishable entry): theirs is
    // the same bytes when intact; a broken one is replaced.
    RETURN_IF_ERROR(cleanup(Status::Ok()));
    ASSIGN_OR_RETURN(bool reused, TryReuse(cache_root, entry, *material, dir));
    if (reused) return done();
    return PrepareCached(source, options, dir, "");  // give up on the cache for this call
  }
  // The cache grew: back under its cap, least recently used first (never a failure).
  std::vector<std::string> evicted;
  if (Status st = EvictStoreCache(cache_root, max_cache_bytes, out.key, &evicted); !st.ok()) {
    LogWarning("data: store cache " + cache_root + ": eviction skipped (" + st.message() + ")");
  } else if (!evicted.empty()) {
    LogInfo("data: store cache over its " + FormatGb(max_cache_bytes) + " GB cap: evicted " +
            std::to_string(evicted.size()) + " least recently used store(s)");
  }
  return done();
}

}  // namespace cerebro::data
