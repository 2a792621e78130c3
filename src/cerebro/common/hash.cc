// Hash64 (declared in rng.h): the model-state checksum, one copy for every module.
#include <cstring>

#include "cerebro/common/rng.h"

namespace cerebro {

uint64_t Hash64(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto round = [&](uint64_t acc, uint64_t word) { return rotl(acc + word * kP2, 31) * kP1; };
  uint64_t lane[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t word;
      std::memcpy(&word, p + i + 8 * l, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      word = __builtin_bswap64(word);  // words are little-endian, so the hash is portable
#endif
      lane[l] = round(lane[l], word);
    }
  }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  h ^= static_cast<uint64_t>(n) * kP1;
  for (; i < n; ++i) h = rotl(h ^ (p[i] * kP2), 11) * kP1;
  return Mix64(h);
}

}  // namespace cerebro
