#include "cerebro/exec/wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace cerebro::exec {
namespace {

TEST(WireTest, FrameRoundTripsFieldsAndTrailingBytes) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::string big(3 << 20, 'x');  // larger than a socket buffer: needs a concurrent reader
  big[12345] = 'y';
  WireWriter w(FrameType::kRunUnit);
  w.PutBytes("{\"model\":\"mlp\"}");
  w.PutU8(1);
  w.PutU64(0xfeedfacecafebeefULL);
  w.PutF64(-2.5);
  std::thread sender([&] { EXPECT_TRUE(SendFrame(fds[0], w, big, true).ok()); });
  std::string payload;
  ASSERT_TRUE(ReceiveFrame(fds[1], &payload).ok());
  sender.join();
  WireReader r(payload);
  uint8_t type, flag;
  std::string config;
  uint64_t seed;
  double x;
  std::string_view state;
  ASSERT_TRUE(r.GetU8(&type).ok());
  ASSERT_TRUE(r.GetBytes(&config).ok());
  ASSERT_TRUE(r.GetU8(&flag).ok());
  ASSERT_TRUE(r.GetU64(&seed).ok());
  ASSERT_TRUE(r.GetF64(&x).ok());
  ASSERT_TRUE(r.GetBytesView(&state).ok());
  EXPECT_EQ(type, static_cast<uint8_t>(FrameType::kRunUnit));
  EXPECT_EQ(config, "{\"model\":\"mlp\"}");
  EXPECT_EQ(flag, 1);
  EXPECT_EQ(seed, 0xfeedfacecafebeefULL);
  EXPECT_EQ(x, -2.5);
  EXPECT_EQ(state, big);
  uint8_t extra;
  EXPECT_EQ(r.GetU8(&extra).code(), StatusCode::kDataLoss);  // nothing beyond the frame
  ::close(fds[0]);
  EXPECT_EQ(ReceiveFrame(fds[1], &payload).message(), "eof");
  ::close(fds[1]);
}

TEST(WireTest, SendToAClosedPeerIsAnErrorNotASignal) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);
  WireWriter w(FrameType::kQuit);
  EXPECT_EQ(SendFrame(fds[0], w).code(), StatusCode::kIoError);
  ::close(fds[0]);
}

}  // namespace
}  // namespace cerebro::exec
