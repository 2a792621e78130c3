#include "cerebro/exec/wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace cerebro::exec {
namespace {

// A connected socket pair, closed at the end of the test.
class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  ~SocketPair() {
    CloseWriter();
    ::close(fds_[1]);
  }
  int writer() const { return fds_[0]; }
  int reader() const { return fds_[1]; }
  void CloseWriter() {
    if (fds_[0] >= 0) ::close(fds_[0]);
    fds_[0] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// The payload the far end receives for `frame`: SendFrame and ReceiveFrame, with a
// concurrent sender so frames larger than a socket buffer go through.
std::string Transmit(const OutgoingFrame& frame) {
  SocketPair s;
  std::thread sender([&] { EXPECT_TRUE(SendFrame(s.writer(), frame).ok()); });
  std::string payload;
  EXPECT_TRUE(ReceiveFrame(s.reader(), &payload).ok());
  sender.join();
  return payload;
}

ReadyFrame SomeReady() {
  ReadyFrame f;
  f.ok = true;
  f.warning = "OpenBLAS runs generic kernels";
  f.error = "";
  return f;
}

RunUnitFrame SomeRunUnit(std::string_view state) {
  RunUnitFrame f;
  f.model_config_json = R"({"model":"mlp"})";
  f.train = true;
  f.init_seed = 0xfeedfacecafebeefULL;
  f.unit_seed = 7;
  f.state = state;
  return f;
}

ResultFrame SomeResult(std::string_view state) {
  ResultFrame f;
  f.code = -3;
  f.error = "loss is nan";
  f.loss_sum = -2.5;
  f.correct = 17;
  f.num_examples = int64_t{1} << 40;
  f.compute_seconds = 0.125;
  f.state_seconds = 1e-9;
  f.state = state;
  return f;
}

TEST(WireTest, ReadyFrameRoundTrips) {
  std::string payload = Transmit(SomeReady().Encode());
  StatusOr<ReadyFrame> got = ReadyFrame::Decode(payload);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_TRUE(got->ok);
  EXPECT_EQ(got->warning, "OpenBLAS runs generic kernels");
  EXPECT_EQ(got->error, "");
  ReadyFrame failed;
  failed.error = "train_000.x.npy: truncated";
  got = ReadyFrame::Decode(Transmit(failed.Encode()));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->ok);
  EXPECT_EQ(got->error, "train_000.x.npy: truncated");
}

TEST(WireTest, FramesNameStatesByFile) {
  RunUnitFrame sent = SomeRunUnit("");
  sent.state_path = "/runs/r/checkpoints/model_0001.u00002.state";
  sent.state_size = 15'500'000;
  sent.state_hash = 0x0123456789abcdefULL;
  sent.out_path = "/runs/r/checkpoints/model_0001.u00003.state";
  sent.durable = false;
  std::string payload = Transmit(sent.Encode());
  StatusOr<RunUnitFrame> got = RunUnitFrame::Decode(payload);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->state_path, sent.state_path);
  EXPECT_EQ(got->state_size, sent.state_size);
  EXPECT_EQ(got->state_hash, sent.state_hash);
  EXPECT_EQ(got->out_path, sent.out_path);
  EXPECT_FALSE(got->durable);
  EXPECT_TRUE(got->state.empty());
  ResultFrame result = SomeResult("");
  result.file_seconds = 0.25;
  result.written_size = 15'500'000;
  result.written_hash = 0xfedcba9876543210ULL;
  payload = Transmit(result.Encode());
  StatusOr<ResultFrame> back = ResultFrame::Decode(payload);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->file_seconds, 0.25);
  EXPECT_EQ(back->written_size, 15'500'000u);
  EXPECT_EQ(back->written_hash, 0xfedcba9876543210ULL);
}

TEST(WireTest, RunUnitFrameCarriesALargeStateAsTrailingBytes) {
  std::string big(3 << 20, 'x');  // larger than a socket buffer
  big[12345] = 'y';
  RunUnitFrame sent = SomeRunUnit(big);
  OutgoingFrame out = sent.Encode();
  EXPECT_LT(out.head.size(), 100u);  // the state is not copied into the fields
  EXPECT_EQ(out.state.data(), big.data());
  std::string payload = Transmit(out);
  StatusOr<RunUnitFrame> got = RunUnitFrame::Decode(payload);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->model_config_json, R"({"model":"mlp"})");
  EXPECT_TRUE(got->train);
  EXPECT_EQ(got->init_seed, 0xfeedfacecafebeefULL);
  EXPECT_EQ(got->unit_seed, 7u);
  EXPECT_EQ(got->state, big);
  // Decoding reads the state in place: a view into the payload, not a copy.
  EXPECT_GE(got->state.data(), payload.data());
  EXPECT_LE(got->state.data() + got->state.size(), payload.data() + payload.size());
}

TEST(WireTest, RunUnitFrameWithoutStateIsAFreshModel) {
  RunUnitFrame sent = SomeRunUnit({});
  sent.train = false;
  StatusOr<RunUnitFrame> got = RunUnitFrame::Decode(Transmit(sent.Encode()));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->train);
  EXPECT_TRUE(got->state.empty());
}

TEST(WireTest, ResultFrameRoundTrips) {
  const std::string state("new\0state", 9);  // binary, with a NUL
  std::string payload = Transmit(SomeResult(state).Encode());
  StatusOr<ResultFrame> got = ResultFrame::Decode(payload);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->code, -3);
  EXPECT_EQ(got->error, "loss is nan");
  EXPECT_EQ(got->loss_sum, -2.5);
  EXPECT_EQ(got->correct, 17);
  EXPECT_EQ(got->num_examples, int64_t{1} << 40);
  EXPECT_EQ(got->compute_seconds, 0.125);
  EXPECT_EQ(got->state_seconds, 1e-9);
  EXPECT_EQ(got->state, state);
}

TEST(WireTest, QuitFrameRoundTrips) {
  std::string payload = Transmit(QuitFrame().Encode());
  EXPECT_EQ(payload.size(), 1u);
  EXPECT_TRUE(QuitFrame::Decode(payload).ok());
}

TEST(WireTest, PeekFrameTypeNamesEachFrame) {
  EXPECT_EQ(*PeekFrameType(SomeReady().Encode().head), FrameType::kReady);
  EXPECT_EQ(*PeekFrameType(Transmit(SomeRunUnit("s").Encode())), FrameType::kRunUnit);
  EXPECT_EQ(*PeekFrameType(Transmit(SomeResult("s").Encode())), FrameType::kResult);
  EXPECT_EQ(*PeekFrameType(QuitFrame().Encode().head), FrameType::kQuit);
  EXPECT_EQ(PeekFrameType("").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(PeekFrameType("\x09").status().code(), StatusCode::kDataLoss);
}

// Every proper prefix of a frame, and the frame with one byte more, is refused.
template <typename Frame>
void ExpectOnlyTheWholeFrameDecodes(const std::string& payload) {
  ASSERT_TRUE(Frame::Decode(payload).ok());
  for (size_t n = 0; n < payload.size(); ++n) {
    StatusOr<Frame> got = Frame::Decode(std::string_view(payload).substr(0, n));
    EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << "prefix of " << n << " bytes";
  }
  StatusOr<Frame> longer = Frame::Decode(payload + "!");
  EXPECT_EQ(longer.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(longer.status().message().find("after the last field"), std::string::npos)
      << longer.status().message();
}

TEST(WireTest, TruncatedOrOverlongFramesAreRefused) {
  ExpectOnlyTheWholeFrameDecodes<ReadyFrame>(Transmit(SomeReady().Encode()));
  ExpectOnlyTheWholeFrameDecodes<RunUnitFrame>(Transmit(SomeRunUnit("state").Encode()));
  ExpectOnlyTheWholeFrameDecodes<ResultFrame>(Transmit(SomeResult("state").Encode()));
  ExpectOnlyTheWholeFrameDecodes<QuitFrame>(Transmit(QuitFrame().Encode()));
}

TEST(WireTest, AFrameOfAnotherTypeIsRefused) {
  std::string ready = Transmit(SomeReady().Encode());
  std::string run = Transmit(SomeRunUnit("s").Encode());
  std::string result = Transmit(SomeResult("s").Encode());
  std::string quit = Transmit(QuitFrame().Encode());
  EXPECT_EQ(ReadyFrame::Decode(result).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(RunUnitFrame::Decode(quit).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ResultFrame::Decode(run).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(QuitFrame::Decode(ready).status().code(), StatusCode::kDataLoss);
  Status st = ResultFrame::Decode(run).status();
  EXPECT_NE(st.message().find("malformed result frame"), std::string::npos) << st.message();
}

TEST(WireTest, AFlagOtherThanZeroOrOneIsRefused) {
  std::string payload = Transmit(SomeReady().Encode());
  payload[1] = 2;  // `ok`, right after the type byte
  Status st = ReadyFrame::Decode(payload).status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("not 0 or 1"), std::string::npos) << st.message();
}

TEST(WireTest, AStringLongerThanTheFrameIsRefused) {
  std::string payload = Transmit(SomeReady().Encode());
  payload[2 + 7] = '\x7f';  // the top byte of `warning`'s length
  EXPECT_EQ(ReadyFrame::Decode(payload).status().code(), StatusCode::kDataLoss);
}

TEST(WireTest, ReceiveReportsEndOfStreamAndBadLengths) {
  SocketPair s;
  const char zero_length[8] = {0};
  ASSERT_EQ(::write(s.writer(), zero_length, 8), 8);
  std::string payload;
  EXPECT_EQ(ReceiveFrame(s.reader(), &payload).code(), StatusCode::kDataLoss);
  const char five[8] = {5, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(::write(s.writer(), five, 8), 8);
  ASSERT_EQ(::write(s.writer(), "ab", 2), 2);
  s.CloseWriter();
  Status st = ReceiveFrame(s.reader(), &payload);
  EXPECT_EQ(st.message(), "eof in the middle of a frame");
  EXPECT_EQ(ReceiveFrame(s.reader(), &payload).message(), "eof");
}

TEST(WireTest, SendToAClosedPeerIsAnErrorNotASignal) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);
  EXPECT_EQ(SendFrame(fds[0], QuitFrame().Encode()).code(), StatusCode::kIoError);
  ::close(fds[0]);
}

}  // namespace
}  // namespace cerebro::exec
