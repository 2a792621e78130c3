#include "cerebro/store/tensorboard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cerebro::store::tensorboard {
namespace {

std::string Hex(const std::string& s) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

TEST(TensorBoardTest, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // RFC 3720's check value
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(TensorBoardTest, MaskedCrcRotatesAndAddsTheTfRecordConstant) {
  const uint32_t crc = Crc32c("123456789");
  EXPECT_EQ(MaskedCrc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xA282EAD8u);
}

TEST(TensorBoardTest, RecordIsLengthCrcDataCrc) {
  const std::string r = FrameRecord("abc");
  ASSERT_EQ(r.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(Hex(r.substr(0, 8)), "0300000000000000");
  EXPECT_EQ(r.substr(12, 3), "abc");
  uint32_t data_crc = 0;
  for (int i = 0; i < 4; ++i)
    data_crc |= uint32_t{static_cast<unsigned char>(r[15 + i])} << (8 * i);
  EXPECT_EQ(data_crc, MaskedCrc32c("abc"));
}

TEST(TensorBoardTest, VarintsUseSevenBitGroups) {
  ProtoWriter w;
  w.Varint(1, 300);
  EXPECT_EQ(Hex(w.data()), "08ac02");
}

// The expected bytes are what the tensorboard package's own protos serialize to
// (event_pb2.Event(wall_time=1.5, ...).SerializeToString()).
TEST(TensorBoardTest, EventsEncodeAsTensorBoardsProtosDo) {
  EXPECT_EQ(Hex(FileVersionEvent(1.5)), "09000000000000f83f1a0d627261696e2e4576656e743a32");
  EXPECT_EQ(Hex(ScalarEvent(1.5, 3, "val/loss", 0.25f)),
            "09000000000000f83f10032a110a0f0a0876616c2f6c6f7373150000803e");
}

TEST(TensorBoardTest, HParamsSummariesCarryThePluginNameAndTag) {
  const std::string start =
      SessionStartEvent(1, {{"lr", 0.01}, {"model", std::string("mlp")}}, "model_0001", 1);
  EXPECT_NE(start.find("_hparams_/session_start_info"), std::string::npos);
  EXPECT_NE(start.find("hparams"), std::string::npos);
  EXPECT_NE(start.find("model_0001"), std::string::npos);
  EXPECT_NE(SessionEndEvent(1, SessionStatus::kSuccess, 2).find("_hparams_/session_end_info"),
            std::string::npos);
}

TEST(TensorBoardTest, WriterStartsTheFileWithItsVersionAndAppendsRecords) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("cerebro_tb_test_" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(dir);
  auto w = EventFileWriter::Create(dir + "/run", 1700000000.0);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_NE((*w)->path().find("/events.out.tfevents.1700000000."), std::string::npos);
  const std::string scalar = ScalarEvent(1, 1, "t", 1.0f);
  ASSERT_TRUE((*w)->Write({scalar}).ok());
  std::ifstream in((*w)->path(), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), FrameRecord(FileVersionEvent(1700000000.0)) + FrameRecord(scalar));
  // A second writer in the same second gets its own file or a clear error, never the
  // first one's file.
  auto again = EventFileWriter::Create(dir + "/run", 1700000000.0);
  EXPECT_FALSE(again.ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cerebro::store::tensorboard
