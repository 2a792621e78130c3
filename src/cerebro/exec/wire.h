// The local backend's wire format between the driver and a worker process: frames of
// [u64 little-endian payload length][payload] over a Unix stream socket. Payloads are
// built with WireWriter and read with WireReader (little-endian fixed-width fields,
// length-prefixed byte strings). Both ends are built from this one header, so the
// format needs no versioning beyond the frame type byte. Stateless; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cerebro/common/status.h"

namespace cerebro::exec {

enum class FrameType : uint8_t { kReady = 1, kRunUnit = 2, kResult = 3, kQuit = 4 };

class WireWriter {
 public:
  explicit WireWriter(FrameType type) { PutU8(static_cast<uint8_t>(type)); }
  void PutU8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void PutU64(uint64_t v);
  void PutI64(int64_t v) { PutU64(static_cast<uint64_t>(v)); }
  void PutF64(double v);
  void PutBytes(std::string_view s);
  const std::string& payload() const { return buf_; }

 private:
  std::string buf_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view payload) : p_(payload) {}
  Status GetU8(uint8_t* v);
  Status GetU64(uint64_t* v);
  Status GetI64(int64_t* v);
  Status GetF64(double* v);
  Status GetBytes(std::string* s);
  // A view into the payload (valid while the payload lives): avoids copying model state.
  Status GetBytesView(std::string_view* s);

 private:
  std::string_view p_;
  size_t pos_ = 0;
};

// Sends one frame: the header, the writer's payload and an optional trailing byte
// string (appended as a length-prefixed field without copying it into the payload).
// Returns IoError (never raises SIGPIPE) when the peer is gone.
Status SendFrame(int fd, const WireWriter& w, std::string_view trailing_bytes = {},
                 bool has_trailing = false);
// Receives one whole frame's payload. NotFound("eof") at a clean end of stream.
Status ReceiveFrame(int fd, std::string* payload);

}  // namespace cerebro::exec
