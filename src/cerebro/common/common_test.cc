#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

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
