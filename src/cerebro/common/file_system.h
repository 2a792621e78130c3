// FileSystem: the one door through which the store and the data preparer touch files,
// so tests can substitute a fault-injecting implementation (short writes, ENOSPC, EIO,
// crash between write and rename). RealFileSystem() is the POSIX implementation; it is
// stateless and thread-safe. Paths are plain strings; errors name the path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cerebro/common/status.h"

namespace cerebro {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Durably replaces `path` with `contents`: write to a temp file beside it, fsync,
  // rename over `path`, fsync the directory. On failure `path` is unchanged and no temp
  // file is left behind. Every failure of a write is IoError (never NotFound).
  virtual Status WriteFileAtomic(const std::string& path, std::string_view contents) = 0;
  // Appends `data` to `path` (created if missing) and fsyncs before returning; failures
  // are IoError.
  virtual Status AppendDurable(const std::string& path, std::string_view data) = 0;
  // Creates the directory and its parents; OK if it already exists.
  virtual Status MakeDirs(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Status RemoveAll(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual StatusOr<uint64_t> FileSize(const std::string& path) = 0;
};

// The process-wide POSIX file system (stateless).
FileSystem& RealFileSystem();

// "a/b" + "c" -> "a/b/c".
std::string JoinPath(const std::string& a, const std::string& b);

}  // namespace cerebro
