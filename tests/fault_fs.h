// A FileSystem that forwards to the real one but fails chosen operations, as a disk
// that fills up or breaks would: the n-th mutating call whose path contains a given
// substring fails with ENOSPC or EIO, optionally after writing part of the data (a short
// write) or after leaving a temp file behind (a crash between write and rename).
// Test-only; not thread-safe (the driver's loop is single-threaded).
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "cerebro/common/file_system.h"

namespace cerebro::testing {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  enum class Mode { kFailBefore, kShortWrite, kCrashBeforeRename };

  FaultInjectingFileSystem(std::string path_substring, int nth, int err, Mode mode)
      : needle_(std::move(path_substring)), nth_(nth), err_(err), mode_(mode) {}

  bool fired() const { return fired_; }

  StatusOr<std::string> ReadFile(const std::string& path) override { return real().ReadFile(path); }

  Status WriteFileAtomic(const std::string& path, std::string_view contents) override {
    if (Hit(path)) {
      if (mode_ == Mode::kCrashBeforeRename) {
        (void)real().AppendDurable(path + ".tmp.crashed", contents);  // the temp file stays
      }
      return Error(path);
    }
    return real().WriteFileAtomic(path, contents);
  }

  Status AppendDurable(const std::string& path, std::string_view data) override {
    if (Hit(path)) {
      if (mode_ == Mode::kShortWrite) (void)real().AppendDurable(path, data.substr(0, data.size() / 2));
      return Error(path);
    }
    return real().AppendDurable(path, data);
  }

  Status MakeDirs(const std::string& path) override {
    if (Hit(path)) return Error(path);
    return real().MakeDirs(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (Hit(to)) return Error(to);
    return real().Rename(from, to);
  }
  Status RemoveFile(const std::string& path) override {
    if (Hit(path)) return Error(path);
    return real().RemoveFile(path);
  }
  Status RemoveAll(const std::string& path) override { return real().RemoveAll(path); }
  bool Exists(const std::string& path) override { return real().Exists(path); }
  StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    return real().ListDir(path);
  }
  StatusOr<uint64_t> FileSize(const std::string& path) override { return real().FileSize(path); }

 private:
  static FileSystem& real() { return RealFileSystem(); }
  bool Hit(const std::string& path) {
    if (fired_ || path.find(needle_) == std::string::npos) return false;
    if (++seen_ < nth_) return false;
    fired_ = true;
    return true;
  }
  Status Error(const std::string& path) const {
    return IoError(path + ": injected fault: " + std::strerror(err_));
  }

  std::string needle_;
  int nth_;
  int err_;
  Mode mode_;
  int seen_ = 0;
  bool fired_ = false;
};

}  // namespace cerebro::testing
