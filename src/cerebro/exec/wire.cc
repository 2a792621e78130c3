#include "cerebro/exec/wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cerebro::exec {

namespace {
constexpr uint64_t kMaxFrame = 1ull << 36;  // 64 GiB: anything larger is corruption

void AppendU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 8);
}

uint64_t LoadU64(const char* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return x;
}

const char* FrameName(FrameType type) {
  switch (type) {
    case FrameType::kReady: return "ready";
    case FrameType::kRunUnit: return "run-unit";
    case FrameType::kResult: return "result";
    case FrameType::kQuit: return "quit";
    case FrameType::kLoad: return "load";
  }
  return "unknown";
}

// Appends fields in order; the Io of the frames' Fields() when encoding.
class Writer {
 public:
  explicit Writer(FrameType type) { buf_.push_back(static_cast<char>(type)); }
  template <typename... T>
  Status operator()(const T&... fields) {
    (Put(fields), ...);
    return Status::Ok();
  }
  std::string Take() { return std::move(buf_); }

 private:
  void Put(bool v) { buf_.push_back(v ? 1 : 0); }
  void Put(uint64_t v) { AppendU64(&buf_, v); }
  void Put(int64_t v) { AppendU64(&buf_, static_cast<uint64_t>(v)); }
  void Put(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    AppendU64(&buf_, bits);
  }
  void Put(const std::string& s) {
    AppendU64(&buf_, s.size());
    buf_.append(s);
  }
  std::string buf_;
};

// Reads fields in order, stopping at the first error; the Io of Fields() when decoding.
class Reader {
 public:
  Reader(std::string_view payload, const char* frame) : p_(payload), frame_(frame) {}
  template <typename... T>
  Status operator()(T&... fields) {
    Status st = Status::Ok();
    ((st = st.ok() ? Get(fields) : st), ...);
    return st;
  }
  // A view into the payload: how model state is read without a copy.
  Status GetView(std::string_view* s) {
    uint64_t n = 0;
    RETURN_IF_ERROR(Get(n));
    if (n > p_.size() - pos_) return Malformed("a byte string overruns the frame");
    *s = p_.substr(pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  Status ExpectEnd() const {
    if (pos_ == p_.size()) return Status::Ok();
    return Malformed(std::to_string(p_.size() - pos_) + " bytes after the last field");
  }
  Status Malformed(const std::string& what) const {
    return DataLoss(std::string("wire: malformed ") + frame_ + " frame: " + what);
  }
  void Skip(size_t n) { pos_ += n; }

 private:
  Status Get(uint64_t& v) {
    if (p_.size() - pos_ < 8) return Malformed("truncated");
    v = LoadU64(p_.data() + pos_);
    pos_ += 8;
    return Status::Ok();
  }
  Status Get(int64_t& v) {
    uint64_t x = 0;
    RETURN_IF_ERROR(Get(x));
    v = static_cast<int64_t>(x);
    return Status::Ok();
  }
  Status Get(double& v) {
    uint64_t x = 0;
    RETURN_IF_ERROR(Get(x));
    std::memcpy(&v, &x, 8);
    return Status::Ok();
  }
  Status Get(bool& v) {
    if (pos_ >= p_.size()) return Malformed("truncated");
    const auto b = static_cast<uint8_t>(p_[pos_++]);
    if (b > 1) return Malformed("a flag is " + std::to_string(b) + ", not 0 or 1");
    v = b == 1;
    return Status::Ok();
  }
  Status Get(std::string& s) {
    std::string_view v;
    RETURN_IF_ERROR(GetView(&v));
    s.assign(v.data(), v.size());
    return Status::Ok();
  }

  std::string_view p_;
  size_t pos_ = 0;
  const char* frame_;
};

template <typename Frame>
OutgoingFrame EncodeFrame(const Frame& f) {
  Writer w(Frame::kType);
  (void)Frame::Fields(f, w);  // writing cannot fail
  OutgoingFrame out;
  out.head = w.Take();
  if constexpr (Frame::kHasState) {
    out.has_state = true;
    out.state = f.state;
  }
  return out;
}

template <typename Frame>
StatusOr<Frame> DecodeFrame(std::string_view payload) {
  Reader r(payload, FrameName(Frame::kType));
  if (payload.empty()) return r.Malformed("empty");
  if (static_cast<uint8_t>(payload[0]) != static_cast<uint8_t>(Frame::kType)) {
    return r.Malformed("its type byte is " + std::to_string(static_cast<uint8_t>(payload[0])));
  }
  r.Skip(1);
  Frame f;
  RETURN_IF_ERROR(Frame::Fields(f, r));
  if constexpr (Frame::kHasState) RETURN_IF_ERROR(r.GetView(&f.state));
  RETURN_IF_ERROR(r.ExpectEnd());
  return f;
}

Status SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("send: ") + std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ReadAll(int fd, char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("read: ") + std::strerror(errno));
    }
    if (n == 0) return NotFound(done == 0 ? "eof" : "eof in the middle of a frame");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}
}  // namespace

OutgoingFrame ReadyFrame::Encode() const { return EncodeFrame(*this); }
StatusOr<ReadyFrame> ReadyFrame::Decode(std::string_view p) { return DecodeFrame<ReadyFrame>(p); }
OutgoingFrame RunUnitFrame::Encode() const { return EncodeFrame(*this); }
StatusOr<RunUnitFrame> RunUnitFrame::Decode(std::string_view p) {
  return DecodeFrame<RunUnitFrame>(p);
}
OutgoingFrame ResultFrame::Encode() const { return EncodeFrame(*this); }
StatusOr<ResultFrame> ResultFrame::Decode(std::string_view p) {
  return DecodeFrame<ResultFrame>(p);
}
OutgoingFrame QuitFrame::Encode() const { return EncodeFrame(*this); }
StatusOr<QuitFrame> QuitFrame::Decode(std::string_view p) { return DecodeFrame<QuitFrame>(p); }
OutgoingFrame LoadFrame::Encode() const { return EncodeFrame(*this); }
StatusOr<LoadFrame> LoadFrame::Decode(std::string_view p) { return DecodeFrame<LoadFrame>(p); }

StatusOr<FrameType> PeekFrameType(std::string_view payload) {
  if (payload.empty()) return DataLoss("wire: empty frame");
  const auto t = static_cast<uint8_t>(payload[0]);
  if (t < static_cast<uint8_t>(FrameType::kReady) || t > static_cast<uint8_t>(FrameType::kLoad)) {
    return DataLoss("wire: unknown frame type " + std::to_string(t));
  }
  return static_cast<FrameType>(t);
}

Status SendFrame(int fd, const OutgoingFrame& frame) {
  // One send for the length, the fields and the state's length; the state itself is
  // sent from the caller's memory.
  std::string header;
  const uint64_t total = frame.head.size() + (frame.has_state ? 8 + frame.state.size() : 0);
  header.reserve(8 + frame.head.size() + 8);
  AppendU64(&header, total);
  header += frame.head;
  if (frame.has_state) AppendU64(&header, frame.state.size());
  RETURN_IF_ERROR(SendAll(fd, header.data(), header.size()));
  if (frame.has_state) RETURN_IF_ERROR(SendAll(fd, frame.state.data(), frame.state.size()));
  return Status::Ok();
}

Status ReceiveFrame(int fd, std::string* payload) {
  char len_buf[8];
  RETURN_IF_ERROR(ReadAll(fd, len_buf, 8));
  const uint64_t n = LoadU64(len_buf);
  if (n == 0 || n > kMaxFrame) return DataLoss("wire: bad frame length " + std::to_string(n));
  payload->resize(n);
  return ReadAll(fd, payload->data(), n);
}

}  // namespace cerebro::exec
