// Fuzz target: the IDX reader (images + labels) through its in-memory entry point.
// Byte 0 picks the mode and the feature scale:
//   even: the rest is the images file; the labels file is derived from the images header
//         (rank 1, dims[0] labels) so that inputs reach the pixel conversion;
//   odd:  byte 1..2 (little endian) is the length of the labels file, which follows;
//         the rest is the images file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/data/data_internal.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro;
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const double scale = fuzz::PickScale(mode >> 1);
  ++data;
  --size;
  std::string images, labels;
  if ((mode & 1) == 0) {
    images.assign(reinterpret_cast<const char*>(data), size);
    uint32_t n = 0;
    if (size >= 8)
      n = (uint32_t{data[4]} << 24) | (uint32_t{data[5]} << 16) | (uint32_t{data[6]} << 8) |
          data[7];
    if (n > (1u << 16)) n = 1u << 16;  // keep the derived file small
    labels = std::string("\0\0\x08\x01", 4);
    for (int s = 24; s >= 0; s -= 8) labels += static_cast<char>((n >> s) & 0xff);
    for (uint32_t i = 0; i < n; ++i) labels += static_cast<char>(i % 10);
  } else {
    if (size < 2) return 0;
    size_t len = data[0] | (size_t{data[1]} << 8);
    data += 2;
    size -= 2;
    if (len > size) len = size;
    labels.assign(reinterpret_cast<const char*>(data), len);
    images.assign(reinterpret_cast<const char*>(data + len), size - len);
  }
  auto d = data::internal::ParseIdxBytes("images.idx", images, "labels.idx", labels, scale);
  if (!d.ok()) {
    FUZZ_CHECK(!d.status().message().empty());
    return 0;
  }
  fuzz::CheckDataset(*d);
  return 0;
}
