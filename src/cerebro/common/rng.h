// Seed derivation: every random stream in Cerebro (shuffles, hyperparameter draws,
// scheduler choices, weight init) gets its own seed derived from the user's seed and a
// stable tag, so streams are independent and results do not depend on call order.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace cerebro {

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a; stable across platforms and runs (unlike std::hash).
inline uint64_t HashString(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// DeriveSeed(seed, "shuffle", {epoch, partition}) -> an independent 64-bit seed.
inline uint64_t DeriveSeed(uint64_t seed, std::string_view tag,
                           std::initializer_list<uint64_t> parts = {}) {
  uint64_t h = Mix64(seed ^ Mix64(HashString(tag)));
  for (uint64_t p : parts) h = Mix64(h ^ Mix64(p + 0x632be59bd9b4e019ULL));
  return h;
}

}  // namespace cerebro
