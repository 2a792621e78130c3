#include "cerebro/store/experiment_store.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

namespace cerebro::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cerebro_store_XXXXXX";
    root_ = mkdtemp(tmpl);
  }
  void TearDown() override { (void)RealFileSystem().RemoveAll(root_); }
  std::string root_;
};

TEST_F(StoreTest, NothingAppearsUntilPublished) {
  FileSystem& fs = RealFileSystem();
  std::string dir = JoinPath(root_, "run");
  {
    auto st = ExperimentStore::Create(&fs, dir);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    ASSERT_TRUE((*st)->WriteJsonFile("spec.json", Json{{"a", 1}}).ok());
    EXPECT_FALSE(fs.Exists(dir));
    // Dropped without Publish(): the staging directory goes away too.
  }
  EXPECT_EQ(fs.ListDir(root_)->size(), 0u);
}

TEST_F(StoreTest, PublishedStoreHoldsJournalCheckpointsAndMetrics) {
  FileSystem& fs = RealFileSystem();
  std::string dir = JoinPath(root_, "run");
  auto st = ExperimentStore::Create(&fs, dir);
  ASSERT_TRUE(st.ok());
  ExperimentStore& s = **st;
  ASSERT_TRUE(s.journal().Append(ModelFailed{0, "before publishing", ""}).ok());
  ASSERT_TRUE(s.Publish().ok());
  EXPECT_EQ(s.dir(), dir);
  ASSERT_TRUE(s.journal().Append(ModelFailed{1, "after publishing", ""}).ok());
  ASSERT_TRUE(s.WriteCheckpoint(3, 1, "abc").ok());
  auto name = s.WriteCheckpoint(3, 2, "abcdef");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "checkpoints/model_0003.u00002.state");
  ASSERT_TRUE(s.RemoveRelative(ExperimentStore::CheckpointName(3, 1)).ok());
  EpochRow row;
  row.model_id = 3;
  row.epoch = 1;
  row.val_accuracy = 0.5;
  row.train_order = {1, 0};
  ASSERT_TRUE(s.AppendEpochRow(row).ok());
  ASSERT_TRUE(s.AppendEpochRow(row).ok());
  EXPECT_EQ(*s.ReadFile(*name), "abcdef");
  EXPECT_EQ(*s.CheckpointBytes(), 6u);
  std::string journal = *fs.ReadFile(JoinPath(dir, "journal.jsonl"));
  EXPECT_EQ(journal,
            "{\"type\":\"journal\",\"version\":2}\n"
            "{\"type\":\"model_failed\",\"model\":0,\"reason\":\"before publishing\"}\n"
            "{\"type\":\"model_failed\",\"model\":1,\"reason\":\"after publishing\"}\n");
  std::string csv = *fs.ReadFile(JoinPath(dir, "metrics.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "model_id,epoch,train_loss,train_accuracy,val_loss,val_accuracy,train_examples,"
            "val_examples");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  ASSERT_TRUE(s.RemoveRelative(*name).ok());
  EXPECT_EQ(*s.CheckpointBytes(), 0u);
}

TEST_F(StoreTest, StaleStagingOfADeadProcessIsRemoved) {
  FileSystem& fs = RealFileSystem();
  std::string dir = JoinPath(root_, "run");
  // pid 2^22+1 is above the default pid_max, so no live process has it.
  ASSERT_TRUE(fs.MakeDirs(dir + ".partial-4194305/data").ok());
  auto st = ExperimentStore::Create(&fs, dir);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(fs.Exists(dir + ".partial-4194305"));
}

// A runs/ directory of unique default names: a killed run's staging is collected by the
// next run in the same directory, whatever its name; a live one is left alone.
TEST_F(StoreTest, StaleStagingOfAnyRunInTheDirectoryIsRemovedAndALiveOneKept) {
  FileSystem& fs = RealFileSystem();
  ASSERT_TRUE(fs.MakeDirs(JoinPath(root_, "other-20261201.partial-4194305/data")).ok());
  const std::string live = JoinPath(root_, "live.partial-" + std::to_string(::getpid()));
  ASSERT_TRUE(fs.MakeDirs(live).ok());
  auto held = RunLock::Acquire(live, false);
  ASSERT_TRUE(held.ok());
  auto st = ExperimentStore::Create(&fs, JoinPath(root_, "new"));
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_FALSE(fs.Exists(JoinPath(root_, "other-20261201.partial-4194305")));
  EXPECT_TRUE(fs.Exists(live));
}

TEST_F(StoreTest, RefusesAnExistingDirectory) {
  FileSystem& fs = RealFileSystem();
  auto st = ExperimentStore::Create(&fs, root_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(st.status().message().find(root_), std::string::npos);
}

}  // namespace
}  // namespace cerebro::store

namespace cerebro::store {
namespace {

TEST_F(StoreTest, ARunDirectoryHasOneWriterAndReadersNeedNoLock) {
  FileSystem& fs = RealFileSystem();
  std::string dir = JoinPath(root_, "run");
  auto created = ExperimentStore::Create(&fs, dir);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_TRUE((*created)->Publish().ok());
  ASSERT_TRUE(fs.MakeDirs(JoinPath(dir, "data")).ok());
  for (const char* f : {"spec.json", "models.json", "data/meta.json"}) {
    ASSERT_TRUE(fs.WriteFileAtomic(JoinPath(dir, f), "{}").ok());
  }
  // The creator still holds the lock after the rename that published the directory.
  auto second = ExperimentStore::Open(&fs, dir, ExperimentStore::Lock::kTry);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by process " + std::to_string(::getpid())),
            std::string::npos)
      << second.status().message();
  EXPECT_TRUE(ExperimentStore::Open(&fs, dir, ExperimentStore::Lock::kNone).ok());
  created->reset();  // the writer goes away (as a killed process would: the kernel drops it)
  auto third = ExperimentStore::Open(&fs, dir, ExperimentStore::Lock::kTry);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(StoreTest, AWaitingWriterTakesOverWhenTheHolderEnds) {
  std::string dir = JoinPath(root_, "run");
  ASSERT_TRUE(RealFileSystem().MakeDirs(dir).ok());
  auto holder = RunLock::Acquire(dir, false);
  ASSERT_TRUE(holder.ok());
  std::atomic<bool> acquired{false};
  std::thread waiter([&] {
    auto lock = RunLock::Acquire(dir, /*wait=*/true);
    acquired = lock.ok();
  });
  EXPECT_FALSE(acquired.load());  // cannot have it while the holder lives
  holder->reset();
  waiter.join();
  EXPECT_TRUE(acquired.load());
}

}  // namespace
}  // namespace cerebro::store
