#include "cerebro/store/journal.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace cerebro::store {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cerebro_journal_XXXXXX";
    root_ = mkdtemp(tmpl);
    path_ = JoinPath(root_, "journal.jsonl");
  }
  void TearDown() override { (void)RealFileSystem().RemoveAll(root_); }
  FileSystem& fs() { return RealFileSystem(); }
  void WriteText(const std::string& text) { ASSERT_TRUE(fs().WriteFileAtomic(path_, text).ok()); }
  std::string root_, path_;
};

std::vector<Record> OneOfEach() {
  UnitDone train{3, 1, UnitKind::kTrain, 2, 1, 12.5, 7, 20, 0.25, "checkpoints/model_0003.u00004.state",
                 1234, 0xfedcba9876543210ULL, 1764577800.25, 1764577803.5};
  UnitDone eval{3, 1, UnitKind::kEval, 0, 0, 1.0 / 3.0, 5, 9, 1e-9, "", 0, 0};
  UnitDone page_cache = train;  // run.checkpoint: epoch, inside an epoch
  page_cache.durable = false;
  ModelAdded added{7, spec::Json{{"lr", 0.001}, {"hidden", {8, 4}}}, ModelOrigin::kProcedure, 4, 2,
                   "checkpoints/model_0007.u00000.state"};
  ModelStopped stopped{5, StopReason::kUser, "asked by ctl"};
  ModelExtended extended{5, 9, ModelOrigin::kControl};
  ProcedureDecision decision{12, {added, stopped, extended}, spec::Json{{"rung", 2}, {"seen", {1, 2}}}};
  return {DataRecorded{spec::Json{{"seed", 7}, {"files", {{{"name", "meta.json"}, {"bytes", 10}}}}}},
          train,
          page_cache,
          eval,
          WorkerLost{1, 3, 0, 1, "worker 1 (pid 9) killed by signal 9", "worker_died"},
          UnitRetried{0, 2, 1, 0, "state checksum mismatch", "state_corrupt"},
          ModelFailed{4, "non-finite loss at batch 3", "non_finite"},
          added,
          stopped,
          extended,
          decision,
          StateRolledBack{3, 1, "checkpoints/model_0003.u00005.state",
                          "model 3: x.state: 10 bytes that do not match the journal"}};
}

TEST_F(JournalTest, EveryRecordTypeRoundTripsThroughItsOneCodec) {
  for (const Record& r : OneOfEach()) {
    std::string line = EncodeRecord(r);
    auto back = DecodeRecord(line, kJournalVersion);
    ASSERT_TRUE(back.ok()) << line << ": " << back.status().ToString();
    EXPECT_EQ(back->index(), r.index()) << line;
    EXPECT_EQ(EncodeRecord(*back), line);  // every field survived
    EXPECT_EQ(RecordTag(*back), RecordTag(r));
  }
}

TEST_F(JournalTest, AppendWritesTheHeaderOnceThenRecordsThatReadBack) {
  Journal j(&fs(), path_);
  auto records = OneOfEach();
  for (const Record& r : records) ASSERT_TRUE(j.Append(r).ok());
  std::string text = *fs().ReadFile(path_);
  EXPECT_EQ(text.substr(0, text.find('\n')), "{\"type\":\"journal\",\"version\":2}");
  Journal again(&fs(), path_);
  auto read = again.Read();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->version, 2);
  ASSERT_EQ(read->records.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(EncodeRecord(read->records[i]), EncodeRecord(records[i]));
    EXPECT_EQ(read->lines[i], static_cast<int>(i) + 2);  // line 1 is the header
  }
  ASSERT_TRUE(again.Append(ModelFailed{1, "x", ""}).ok());
  text = *fs().ReadFile(path_);
  EXPECT_EQ(text.find("\"journal\"", 10), std::string::npos);  // no second header
}

TEST_F(JournalTest, TornLastRecordIsDroppedAndCorruptMiddleIsRefusedWithItsLine) {
  Journal j(&fs(), path_);
  ASSERT_TRUE(j.Append(ModelFailed{1, "a", ""}).ok());
  ASSERT_TRUE(j.Append(ModelFailed{2, "b", ""}).ok());
  std::string whole = *fs().ReadFile(path_);
  ASSERT_TRUE(fs().AppendDurable(path_, "{\"type\":\"unit\",\"mod").ok());
  auto read = Journal(&fs(), path_).Read();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->records.size(), 2u);
  EXPECT_EQ(*fs().ReadFile(path_), whole);  // truncated to the whole records
  WriteText(whole.substr(0, whole.find('\n') + 1) + "garbage\n{\"type\":\"model_failed\",\"model\":1}\n");
  auto bad = Journal(&fs(), path_).Read();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("journal.jsonl:2: corrupt"), std::string::npos)
      << bad.status().message();
}

TEST_F(JournalTest, UnknownTagsVersionsAndFieldsAreRefusedNamingTheLine) {
  const std::string header = "{\"type\":\"journal\",\"version\":2}\n";
  struct Case {
    std::string text, expected;
  } cases[] = {
      {header + "{\"type\":\"model_failed\",\"model\":1}\n{\"type\":\"teleport\",\"model\":1}\n",
       "journal.jsonl:3: unknown record type 'teleport'"},
      {"{\"type\":\"journal\",\"version\":3}\n", "journal.jsonl:1: journal format version 3"},
      {header + "{\"type\":\"unit\",\"model\":\"zero\"}\n", "journal.jsonl:2: unit: model: expected a 32-bit integer"},
      {header + "{\"type\":\"model_added\",\"model\":1,\"params\":{},\"origin\":\"martian\",\"epochs\":1}\n",
       "journal.jsonl:2: model_added: origin: expected one of search, procedure or control"},
      {header + "{\"type\":\"unit\",\"model\":0,\"epoch\":0,\"kind\":\"train\",\"partition\":0,"
                "\"worker\":0,\"loss_sum\":1,\"correct\":1,\"examples\":1,\"compute_seconds\":0}\n",
       "journal.jsonl:2: unit: checkpoint: expected a string"},
      {"{\"type\":\"model_failed\",\"model\":1}\n{\"type\":\"model_added\",\"model\":1}\n",
       "journal.jsonl:2: record type 'model_added' in a version-1 journal"},
      {header + header, "journal.jsonl:2: a second header"},
  };
  for (const Case& c : cases) {
    WriteText(c.text);
    auto read = Journal(&fs(), path_).Read();
    ASSERT_FALSE(read.ok()) << c.text;
    EXPECT_EQ(read.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(read.status().message().find(c.expected), std::string::npos)
        << read.status().message() << "\nexpected: " << c.expected;
  }
}

// The three record types of the first release, as its driver wrote them (a journal
// produced by commit 15e2161 is checked in under tests/data/legacy_v1_run/).
TEST_F(JournalTest, ReadsTheFirstReleasesHeaderlessJournal) {
  WriteText(
      "{\"type\":\"unit\",\"model\":0,\"epoch\":0,\"kind\":\"train\",\"partition\":1,\"worker\":1,"
      "\"loss_sum\":143.6,\"correct\":41.0,\"examples\":120,\"compute_seconds\":0.005,"
      "\"checkpoint\":\"checkpoints/model_0000.u00001.state\"}\n"
      "{\"type\":\"unit\",\"model\":0,\"epoch\":0,\"kind\":\"eval\",\"partition\":0,\"worker\":0,"
      "\"loss_sum\":3.5,\"correct\":20.0,\"examples\":30,\"compute_seconds\":0.001}\n"
      "{\"type\":\"worker_lost\",\"worker\":1,\"model\":2,\"epoch\":0,\"partition\":1,"
      "\"error\":\"worker 1 (pid 77) killed by signal 9\"}\n"
      "{\"type\":\"model_failed\",\"model\":2,\"reason\":\"its units killed 3 workers\"}\n");
  auto read = Journal(&fs(), path_).Read();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->version, 1);
  ASSERT_EQ(read->records.size(), 4u);
  const auto& u = std::get<UnitDone>(read->records[0]);
  EXPECT_EQ(u.checkpoint, "checkpoints/model_0000.u00001.state");
  EXPECT_EQ(u.state_size, 0u);  // not recorded by the first release
  EXPECT_EQ(std::get<UnitDone>(read->records[1]).kind, UnitKind::kEval);
  EXPECT_EQ(std::get<WorkerLost>(read->records[2]).model, 2);
  EXPECT_EQ(std::get<ModelFailed>(read->records[3]).reason, "its units killed 3 workers");
  EXPECT_EQ(read->lines[3], 4);

  Journal fixture(&fs(), std::string(CEREBRO_SOURCE_DIR) + "/tests/data/legacy_v1_run/journal.jsonl");
  auto contents = fixture.Read();
  ASSERT_TRUE(contents.ok()) << contents.status().ToString();
  EXPECT_EQ(contents->version, 1);
  EXPECT_EQ(contents->records.size(), 44u);
}

TEST_F(JournalTest, RewriteUpgradesAVersionOneJournalAtomically) {
  WriteText("{\"type\":\"model_failed\",\"model\":2,\"reason\":\"r\"}\n");
  Journal j(&fs(), path_);
  auto v1 = j.Read();
  ASSERT_TRUE(v1.ok());
  std::vector<Record> records = {ModelAdded{2, spec::Json{{"lr", 1}}, ModelOrigin::kSearch, 3, -1, ""}};
  records.insert(records.end(), v1->records.begin(), v1->records.end());
  ASSERT_TRUE(j.Rewrite(records).ok());
  ASSERT_TRUE(j.Append(ModelFailed{3, "later", ""}).ok());
  auto v2 = Journal(&fs(), path_).Read();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->records.size(), 3u);
}

}  // namespace
}  // namespace cerebro::store
