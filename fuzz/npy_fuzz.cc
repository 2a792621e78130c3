// Fuzz target: ReadNpy on an arbitrary file (the reader works on a file descriptor, so
// each input is written to a scratch file first).
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/data/readers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro;
  const std::string path = fuzz::ScratchDir::Write("input.npy", data, size);
  auto a = data::ReadNpy(path);
  if (!a.ok()) {
    FUZZ_CHECK(!a.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(a->dtype == "<f4" || a->dtype == "<i8");
  uint64_t count = 1;
  for (int64_t d : a->shape) {
    FUZZ_CHECK(d >= 0);
    count *= static_cast<uint64_t>(d);
  }
  FUZZ_CHECK(a->bytes.size() == count * (a->dtype == "<f4" ? 4 : 8));
  FUZZ_CHECK(a->bytes.size() <= size);
  return 0;
}
