#include "cerebro/exec/wire.h"

#include <sys/socket.h>
#include <sys/uio.h>
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

Status ReadAll(int fd, char* data, size_t size, bool* eof_at_start) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("read: ") + std::strerror(errno));
    }
    if (n == 0) {
      if (done == 0 && eof_at_start != nullptr) *eof_at_start = true;
      return NotFound(done == 0 ? "eof" : "eof in the middle of a frame");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}
}  // namespace

void WireWriter::PutU64(uint64_t v) { AppendU64(&buf_, v); }

void WireWriter::PutF64(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutU64(bits);
}

void WireWriter::PutBytes(std::string_view s) {
  PutU64(s.size());
  buf_.append(s.data(), s.size());
}

Status WireReader::GetU8(uint8_t* v) {
  if (pos_ + 1 > p_.size()) return DataLoss("wire: frame too short");
  *v = static_cast<uint8_t>(p_[pos_++]);
  return Status::Ok();
}

Status WireReader::GetU64(uint64_t* v) {
  if (pos_ + 8 > p_.size()) return DataLoss("wire: frame too short");
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i) x |= static_cast<uint64_t>(static_cast<uint8_t>(p_[pos_ + i])) << (8 * i);
  pos_ += 8;
  *v = x;
  return Status::Ok();
}

Status WireReader::GetI64(int64_t* v) {
  uint64_t x;
  RETURN_IF_ERROR(GetU64(&x));
  *v = static_cast<int64_t>(x);
  return Status::Ok();
}

Status WireReader::GetF64(double* v) {
  uint64_t x;
  RETURN_IF_ERROR(GetU64(&x));
  std::memcpy(v, &x, 8);
  return Status::Ok();
}

Status WireReader::GetBytesView(std::string_view* s) {
  uint64_t n;
  RETURN_IF_ERROR(GetU64(&n));
  if (n > p_.size() - pos_) return DataLoss("wire: byte string overruns the frame");
  *s = p_.substr(pos_, n);
  pos_ += n;
  return Status::Ok();
}

Status WireReader::GetBytes(std::string* s) {
  std::string_view v;
  RETURN_IF_ERROR(GetBytesView(&v));
  s->assign(v.data(), v.size());
  return Status::Ok();
}

Status SendFrame(int fd, const WireWriter& w, std::string_view trailing, bool has_trailing) {
  std::string header;
  uint64_t total = w.payload().size() + (has_trailing ? 8 + trailing.size() : 0);
  AppendU64(&header, total);
  header += w.payload();
  if (has_trailing) AppendU64(&header, trailing.size());
  RETURN_IF_ERROR(SendAll(fd, header.data(), header.size()));
  if (has_trailing) RETURN_IF_ERROR(SendAll(fd, trailing.data(), trailing.size()));
  return Status::Ok();
}

Status ReceiveFrame(int fd, std::string* payload) {
  char len_buf[8];
  bool eof = false;
  RETURN_IF_ERROR(ReadAll(fd, len_buf, 8, &eof));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(len_buf[i])) << (8 * i);
  if (n == 0 || n > kMaxFrame) return DataLoss("wire: bad frame length " + std::to_string(n));
  payload->resize(n);
  return ReadAll(fd, payload->data(), n, nullptr);
}

}  // namespace cerebro::exec
