// The determinism primitives, one copy each. Seed derivation: every random stream in
// Cerebro (shuffles, hyperparameter draws, scheduler choices, weight init) gets its own
// seed derived from the user's seed and a stable tag, so streams are independent and
// results do not depend on call order. The bounded draw, the unit-interval draw and the
// shuffle are specified here (not by the standard library, whose distributions and
// std::shuffle are implementation-defined), so a seed gives the same data order on every
// platform. Golden values in common_test.cc pin every output. No shared state: thread-safe
// as long as each thread draws from its own generator.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

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

// An unbiased draw in [0, n), n >= 1, by rejection: values below 2^64 mod n are
// redrawn, so every residue is equally likely. mt19937_64 is fully specified, so the
// draws are portable.
inline uint64_t UniformBelow(std::mt19937_64& gen, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  while (true) {
    const uint64_t r = gen();
    if (r >= threshold) return r % n;
  }
}

// Uniform in [0, 1): the top 53 bits of one draw times 2^-53, so every value is a
// multiple of 2^-53 (std::uniform_real_distribution is implementation-defined).
inline double Uniform01(std::mt19937_64& gen) {
  return static_cast<double>(gen() >> 11) * 0x1.0p-53;
}

// Fisher-Yates from the back: for i = n-1 .. 1, swap v[i] with v[UniformBelow(i + 1)].
template <typename T>
void Shuffle(std::vector<T>& v, std::mt19937_64& gen) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[UniformBelow(gen, static_cast<uint64_t>(i))]);
  }
}

// 0, 1, ..., n-1 shuffled by Shuffle with mt19937_64(seed).
template <typename Int>
std::vector<Int> ShuffledRange(Int n, uint64_t seed) {
  std::vector<Int> v(static_cast<size_t>(n));
  for (Int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  std::mt19937_64 gen(seed);
  Shuffle(v, gen);
  return v;
}

// A 64-bit hash of bytes at memory speed (~1 ms for a 15 MB model state): four
// independent xxHash64-style multiply-rotate lanes, folded and finalised with Mix64.
// Words are read little-endian, so the value is the same on every platform and release:
// model-state checksums on disk depend on it.
uint64_t Hash64(const void* data, size_t size);

}  // namespace cerebro
