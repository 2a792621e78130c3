// Helpers shared by the fuzz targets: a per-process scratch directory for the readers
// that only take paths, and invariant checks that turn a wrong-but-OK result into a
// crash libFuzzer records. Single-threaded, as libFuzzer runs each target.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/data/partition_store.h"

namespace cerebro::fuzz {

// Aborts with a message (libFuzzer saves the input as a crash).
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

// A directory under /dev/shm (or $TMPDIR, /tmp) that lives as long as the process.
class ScratchDir {
 public:
  static const std::string& Get() {
    static ScratchDir* dir = new ScratchDir();  // leaked on purpose: outlives atexit order
    return dir->path_;
  }
  // Writes `bytes` to NAME inside the scratch directory and returns the full path.
  static std::string Write(const std::string& name, const uint8_t* data, size_t size) {
    std::string path = Get() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      std::abort();
    }
    return path;
  }

 private:
  ScratchDir() {
    const char* env = std::getenv("TMPDIR");
    std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (env && *env) ? env : "/tmp";
    std::string tmpl = base + "/cerebro_fuzz.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = buf.data();
    std::atexit([] { (void)RealFileSystem().RemoveAll(Get()); });
  }
  std::string path_;
};

// What every successfully read Dataset must satisfy, whatever the input.
inline void CheckDataset(const data::Dataset& d) {
  int64_t size = 1;
  for (int64_t dim : d.feature_shape) {
    FUZZ_CHECK(dim > 0);
    FUZZ_CHECK(size <= INT64_MAX / dim);
    size *= dim;
  }
  const int64_t n = d.num_examples();
  FUZZ_CHECK(n > 0);
  FUZZ_CHECK(d.num_feature_values() == n * size);
  FUZZ_CHECK(d.encoding == data::FeatureEncoding::kUint8 ? d.features.empty()
                                                         : d.byte_features.empty());
  for (int64_t i = 0; i < n * size; ++i) FUZZ_CHECK(std::isfinite(d.FeatureAt(i)));
  if (d.task == data::Task::kClassification) {
    FUZZ_CHECK(d.float_labels.empty());
    for (int64_t y : d.int_labels) FUZZ_CHECK(y >= 0 && y < d.num_classes);
  } else {
    FUZZ_CHECK(d.int_labels.empty());
    FUZZ_CHECK(d.num_classes == 0);
    for (float y : d.float_labels) FUZZ_CHECK(std::isfinite(y));
  }
}

// A feature scale picked by one input byte: the usual ones plus extremes that can turn
// finite values non-finite.
inline double PickScale(uint8_t b) {
  static const double kScales[] = {1.0, 1.0 / 255, 0.5, -2.0, 1e-30, 3e38, 1e300, 1e-320};
  return kScales[b % (sizeof(kScales) / sizeof(kScales[0]))];
}

}  // namespace cerebro::fuzz
