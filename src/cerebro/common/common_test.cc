#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/common/rng.h"
#include "cerebro/common/status.h"

namespace cerebro {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("x: must be even, got " + std::to_string(x));
  return x / 2;
}

Status Quarter(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(StatusTest, PropagatesFirstErrorWithMessage) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status st = Quarter(6, &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "x: must be even, got 3");
  EXPECT_EQ(st.WithContext("spec.yaml").message(), "spec.yaml: x: must be even, got 3");
}

TEST(RngTest, DerivedSeedsAreStableAndDistinct) {
  EXPECT_EQ(DeriveSeed(1, "a", {2, 3}), DeriveSeed(1, "a", {2, 3}));
  EXPECT_NE(DeriveSeed(1, "a", {2, 3}), DeriveSeed(1, "a", {3, 2}));
  EXPECT_NE(DeriveSeed(1, "a"), DeriveSeed(1, "b"));
  EXPECT_NE(DeriveSeed(1, "a"), DeriveSeed(2, "a"));
}

// Golden values for the determinism primitives. Each was computed by running the copy
// that existed before rng.h held the only one (15e2161: data/partition_store.cc's
// UniformBelow and ShuffledIndices, sched/hopper.cc's BoundedDraw and FixedOrder,
// sched/simulator.cc's Unit01, train/trainer.cc's state Checksum; all copies agreed), so
// these pins show the move changed no output. Stores, fixed-order runs and on-disk state
// checksums depend on them: a change here is a format change.

TEST(RngGoldenTest, Mix64AndHashStringMatchTheirReferences) {
  EXPECT_EQ(Mix64(0), 0xe220a8397b1dcdafULL);  // SplitMix64's first output for seed 0
  EXPECT_EQ(Mix64(1), 0x910a2dec89025cc1ULL);
  EXPECT_EQ(Mix64(~0ULL), 0xe4d971771b652c20ULL);
  EXPECT_EQ(Mix64(0x0123456789abcdefULL), 0x157a3807a48faa9dULL);
  EXPECT_EQ(HashString(""), 0xcbf29ce484222325ULL);  // FNV-1a offset basis
  EXPECT_EQ(HashString("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(HashString("abc"), 0xe71fa2190541574bULL);
  EXPECT_EQ(HashString("data.shuffle"), 0x812a0c319e7a061aULL);
  EXPECT_EQ(HashString("sched.order"), 0xc8f91e9d9e302c3aULL);
}

TEST(RngGoldenTest, DeriveSeed) {
  EXPECT_EQ(DeriveSeed(0, "data.shuffle"), 0x0641910a82e63b26ULL);
  EXPECT_EQ(DeriveSeed(1, "data.shuffle"), 0x065c54b5d13bed6cULL);
  EXPECT_EQ(DeriveSeed(1, "data.shuffle.val"), 0xa71bf6d012491395ULL);
  EXPECT_EQ(DeriveSeed(7, "sched.pick"), 0x9baa10f7acf58f09ULL);
  EXPECT_EQ(DeriveSeed(7, "sched.order", {3, 2}), 0x2a326283df68ba75ULL);
  EXPECT_EQ(DeriveSeed(7, "sched.order", {2, 3}), 0x819110566689efa0ULL);
  EXPECT_EQ(DeriveSeed(42, "search.param", {HashString("lr")}), 0x8d6074ed3d1e9986ULL);
}

// Four draws from mt19937_64(seed), then the generator's next raw word: the word shows
// how many draws were rejected, which every later draw from the stream depends on.
struct DrawCase {
  uint64_t seed;
  uint64_t n;
  std::vector<uint64_t> draws;
  uint64_t next_word;
};

TEST(RngGoldenTest, UniformBelow) {
  // The fifth word of mt19937_64(seed): four draws that rejected nothing took four words.
  constexpr uint64_t kFifthWord7 = 0x242a5f87d0a7deddULL;
  constexpr uint64_t kFifthWord20261201 = 0x513fc6a7edda7590ULL;
  const std::vector<DrawCase> cases = {
      {7, 1, {0, 0, 0, 0}, kFifthWord7},
      {7, 10, {5, 0, 8, 6}, kFifthWord7},
      {7, 1024, {423, 354, 974, 246}, kFifthWord7},  // a power of two: never rejects
      {7, 60000, {51015, 53250, 4878, 53046}, kFifthWord7},
      {7,
       1000000000000000007ULL,
       {915952638675310924ULL, 511516338625233131ULL, 165911192842364864ULL,
        452894106784332934ULL},
       kFifthWord7},
      // 2^63 + 1: just under half of all words are rejected, so the stream advances more.
      {7,
       (1ULL << 63) + 1,
       {4692580601820535206ULL, 8288144301770457441ULL, 7229522069929557237ULL,
        6133966320490684800ULL},
       0xe694f6378f1c4446ULL},
      {20261201, 1, {0, 0, 0, 0}, kFifthWord20261201},
      {20261201, 10, {4, 0, 5, 5}, kFifthWord20261201},
      {20261201, 1024, {632, 158, 799, 153}, kFifthWord20261201},
      {20261201, 60000, {14744, 34110, 40255, 56665}, kFifthWord20261201},
      {20261201,
       1000000000000000007ULL,
       {504700628987354744ULL, 851867517543934026ULL, 372713632388500192ULL,
        784615457570496609ULL},
       kFifthWord20261201},
      {20261201,
       (1ULL << 63) + 1,
       {3628495480689158301ULL, 149341595533724446ULL, 2946591185521383468ULL,
        2080815719183358911ULL},
       0x1568e32956b3123dULL},
  };
  for (const DrawCase& c : cases) {
    SCOPED_TRACE("seed " + std::to_string(c.seed) + " n " + std::to_string(c.n));
    std::mt19937_64 gen(c.seed);
    std::vector<uint64_t> draws;
    for (int k = 0; k < 4; ++k) draws.push_back(UniformBelow(gen, c.n));
    EXPECT_EQ(draws, c.draws);
    EXPECT_EQ(gen(), c.next_word);
  }
}

TEST(RngGoldenTest, Uniform01) {
  std::mt19937_64 gen(5);
  std::vector<double> draws;
  for (int k = 0; k < 4; ++k) draws.push_back(Uniform01(gen));
  EXPECT_EQ(draws, (std::vector<double>{0x1.589bf68d490b3p-1, 0x1.3b590ccfb827p-5,
                                        0x1.cd6416420861cp-3, 0x1.5a13c88d7ed04p-1}));
  std::mt19937_64 sim(DeriveSeed(3, "sim.cost"));
  draws.clear();
  for (int k = 0; k < 4; ++k) draws.push_back(Uniform01(sim));
  EXPECT_EQ(draws, (std::vector<double>{0x1.fc7ad5c7ddbep-5, 0x1.1ba1e851b1fcp-2,
                                        0x1.1df8fa3fa933cp-3, 0x1.e6039806de8d3p-1}));
}

TEST(RngGoldenTest, ShuffledRangeSmall) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(ShuffledRange<int64_t>(0, 0), V{});
  EXPECT_EQ(ShuffledRange<int64_t>(1, 0), V{0});
  EXPECT_EQ(ShuffledRange<int64_t>(2, 0), (V{1, 0}));
  EXPECT_EQ(ShuffledRange<int64_t>(7, 0), (V{4, 0, 1, 2, 6, 5, 3}));
  EXPECT_EQ(ShuffledRange<int64_t>(16, 0),
            (V{7, 8, 9, 15, 10, 12, 1, 6, 0, 13, 11, 4, 5, 3, 2, 14}));
  EXPECT_EQ(ShuffledRange<int64_t>(2, 1), (V{1, 0}));
  EXPECT_EQ(ShuffledRange<int64_t>(7, 1), (V{3, 1, 4, 6, 5, 0, 2}));
  EXPECT_EQ(ShuffledRange<int64_t>(16, 1),
            (V{13, 6, 5, 1, 10, 2, 7, 9, 11, 14, 3, 0, 15, 4, 12, 8}));
  EXPECT_EQ(ShuffledRange<int64_t>(7, 42), (V{1, 4, 3, 5, 0, 2, 6}));
  EXPECT_EQ(ShuffledRange<int64_t>(16, 42),
            (V{7, 10, 11, 0, 2, 1, 3, 8, 9, 13, 4, 5, 15, 12, 14, 6}));
  // The element type does not change the permutation (the scheduler shuffles ints).
  EXPECT_EQ(ShuffledRange<int>(16, 42),
            (std::vector<int>{7, 10, 11, 0, 2, 1, 3, 8, 9, 13, 4, 5, 15, 12, 14, 6}));
}

// Sum of (i + 1) * v[i]: one number that changes when any two elements swap.
uint64_t Weighted(const std::vector<int64_t>& v) {
  uint64_t s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += (i + 1) * static_cast<uint64_t>(v[i]);
  return s;
}

TEST(RngGoldenTest, ShuffledRangeLarge) {
  // The store's shuffles for seed 1: 60000 training (MNIST) and 10000 validation examples.
  std::vector<int64_t> train = ShuffledRange<int64_t>(60000, DeriveSeed(1, "data.shuffle"));
  EXPECT_EQ(std::vector<int64_t>(train.begin(), train.begin() + 6),
            (std::vector<int64_t>{16962, 27696, 20163, 21378, 38066, 20846}));
  EXPECT_EQ(Weighted(train), 53963342105941ULL);
  std::vector<int64_t> val = ShuffledRange<int64_t>(10000, DeriveSeed(1, "data.shuffle.val"));
  EXPECT_EQ(std::vector<int64_t>(val.begin(), val.begin() + 6),
            (std::vector<int64_t>{7612, 1725, 5802, 8293, 3343, 8649}));
  EXPECT_EQ(Weighted(val), 249711047987ULL);
  std::vector<int64_t> small = ShuffledRange<int64_t>(1000, 5);
  EXPECT_EQ(std::vector<int64_t>(small.begin(), small.begin() + 6),
            (std::vector<int64_t>{811, 494, 700, 262, 825, 61}));
  EXPECT_EQ(Weighted(small), 251654449ULL);
}

TEST(RngTest, ShuffleMovesAnyTypeLikeShuffledRange) {
  std::vector<std::string> words = {"a", "b", "c", "d", "e", "f", "g"};
  std::mt19937_64 gen(1);
  Shuffle(words, gen);
  std::vector<int64_t> perm = ShuffledRange<int64_t>(7, 1);
  for (size_t i = 0; i < words.size(); ++i) {
    EXPECT_EQ(words[i], std::string(1, static_cast<char>('a' + perm[i])));
  }
}

TEST(RngGoldenTest, Hash64IsTheStateChecksum) {
  EXPECT_EQ(Hash64("", 0), 0x7e1123990f126ebfULL);
  EXPECT_EQ(Hash64("abc", 3), 0xaa5969ebd4806e75ULL);
  std::vector<uint8_t> pattern(1000);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 37 + 11);
  // Below, at and above one 32-byte block, and with a tail after several blocks.
  EXPECT_EQ(Hash64(pattern.data(), 1), 0xbf8e3d70170c3e98ULL);
  EXPECT_EQ(Hash64(pattern.data(), 31), 0xb5c259e485693648ULL);
  EXPECT_EQ(Hash64(pattern.data(), 32), 0xfd8c34b8b5a7df4dULL);
  EXPECT_EQ(Hash64(pattern.data(), 33), 0x5817c30def5b2cecULL);
  EXPECT_EQ(Hash64(pattern.data(), 64), 0xbfd05a4c954d7fc9ULL);
  EXPECT_EQ(Hash64(pattern.data(), 100), 0x1a8603a5ccb81631ULL);
  EXPECT_EQ(Hash64(pattern.data(), 1000), 0x453db1b7c1cdc3c5ULL);
}

TEST(FileSystemTest, AtomicWriteReplacesAndLeavesNoTemp) {
  char tmpl[] = "/tmp/cerebro_fs_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  FileSystem& fs = RealFileSystem();
  std::string p = JoinPath(dir, "f.txt");
  ASSERT_TRUE(fs.WriteFileAtomic(p, "one").ok());
  ASSERT_TRUE(fs.WriteFileAtomic(p, "two").ok());
  EXPECT_EQ(*fs.ReadFile(p), "two");
  ASSERT_TRUE(fs.AppendDurable(p, "+3").ok());
  EXPECT_EQ(*fs.ReadFile(p), "two+3");
  EXPECT_EQ(fs.ListDir(dir)->size(), 1u);
  EXPECT_EQ(fs.ReadFile(JoinPath(dir, "missing")).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(fs.RemoveAll(dir).ok());
}

}  // namespace
}  // namespace cerebro
