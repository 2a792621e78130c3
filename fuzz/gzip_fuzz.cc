// Fuzz target: ReadMaybeGzip on an arbitrary ".gz" file (gzip streams, concatenated
// members, truncated and corrupt data, and non-gzip bytes, which zlib passes through).
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/data/readers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro;
  const std::string path = fuzz::ScratchDir::Write("input.gz", data, size);
  auto text = data::ReadMaybeGzip(path);
  if (!text.ok()) {
    FUZZ_CHECK(!text.status().message().empty());
    return 0;
  }
  // Deflate expands at most ~1032:1; more would mean the reader invented bytes.
  FUZZ_CHECK(text->size() <= 1100 * size + 64);
  return 0;
}
