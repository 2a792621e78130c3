// Helpers for end-to-end tests: temporary directories, a small synthetic dataset, and
// spec text around it. Deterministic (fixed seeds).
#pragma once

#include <string>

namespace cerebro::testing {

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes a CSV of `rows` examples: 3 well-separated Gaussian classes in 8 features,
// header "f0..f7,label". Returns the path.
std::string WriteBlobsCsv(const std::string& dir, int rows, unsigned seed = 1);

// A spec (YAML) training a small MLP grid (2 lr x 2 hidden = 4 models) on `csv_path`.
std::string SmallSpec(const std::string& csv_path, int epochs, int workers,
                      const std::string& extra_run = "");

std::string ReadFileOrEmpty(const std::string& path);

// $CEREBRO_BINARY_DIR (set by ctest) or the current directory.
std::string BinaryDir();

struct CmdResult {
  int exit_code = -1;
  std::string out;  // stdout + stderr
};

// Runs `BinaryDir()/cerebro ARGS` through the shell and waits for it.
CmdResult RunCerebro(const std::string& args);

}  // namespace cerebro::testing
