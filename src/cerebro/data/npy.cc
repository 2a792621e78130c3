// NumPy .npy v1.0/v2.0 codec for float32 ("<f4"), int64 ("<i8") and uint8 ("|u1")
// C-order arrays.
// Format: "\x93NUMPY", major, minor, header length (2 bytes LE in v1, 4 in v2/v3),
// then a Python dict literal padded with spaces and ended by '\n', then the payload.
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cerebro/common/file_system.h"
#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy codec copies payloads as little-endian; add byte swapping for this host"
#endif

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

size_t ItemSize(const std::string& dtype) {
  if (dtype == "<f4") return 4;
  if (dtype == "<i8") return 8;
  if (dtype == "|u1") return 1;
  return 0;
}

// A value in the header dict: a string, a bool or a tuple of non-negative ints.
struct PyValue {
  enum Kind { kString, kBool, kTuple } kind = kString;
  std::string str;
  bool boolean = false;
  std::vector<int64_t> tuple;
};

// A tiny parser for the one Python literal numpy writes:
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view s) : s_(s) {}

  bool ParseDict(std::map<std::string, PyValue>* out) {
    SkipSpace();
    if (!Eat('{')) return false;
    while (true) {
      SkipSpace();
      if (Eat('}')) break;
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Eat(':')) return false;
      SkipSpace();
      PyValue v;
      if (!ParseValue(&v)) return false;
      (*out)[key] = std::move(v);
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat('}')) break;
      return false;
    }
    SkipSpace();
    return pos_ == s_.size();
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view w) {
    if (s_.substr(pos_, w.size()) == w) {
      pos_ += w.size();
      return true;
    }
    return false;
  }
  bool ParseString(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return false;
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) return false;
    *out = std::string(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }
  bool ParseInt(int64_t* out) {
    size_t start = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (v > (int64_t{1} << 56)) return false;
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (pos_ == start) return false;
    Eat('L');  // Python 2 era numpy wrote longs as "3L"
    *out = v;
    return true;
  }
  bool ParseValue(PyValue* v) {
    if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
      v->kind = PyValue::kString;
      return ParseString(&v->str);
    }
    if (EatWord("True")) {
      v->kind = PyValue::kBool;
      v->boolean = true;
      return true;
    }
    if (EatWord("False")) {
      v->kind = PyValue::kBool;
      v->boolean = false;
      return true;
    }
    if (Eat('(')) {
      v->kind = PyValue::kTuple;
      while (true) {
        SkipSpace();
        if (Eat(')')) return true;
        int64_t d = 0;
        if (!ParseInt(&d)) return false;
        v->tuple.push_back(d);
        SkipSpace();
        if (Eat(',')) continue;
        if (Eat(')')) return true;
        return false;
      }
    }
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

Status Corrupt(const std::string& path, const std::string& why) {
  return DataLoss(path + ": not a valid .npy file: " + why);
}

Status WriteNpy(FileSystem& fs, const std::string& path, const std::string& dtype,
                const std::vector<int64_t>& shape, const void* data) {
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument(path + ": negative dimension in .npy shape");
    count *= static_cast<uint64_t>(d);
  }
  const size_t bytes = count * ItemSize(dtype);
  std::string contents = internal::EncodeNpyHeader(dtype, shape);
  const size_t header = contents.size();
  contents.resize(header + bytes);
  if (bytes > 0) std::memcpy(contents.data() + header, data, bytes);
  return fs.WriteFileAtomic(path, contents);
}

}  // namespace

namespace internal {

std::string EncodeNpyHeader(const std::string& dtype, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    // A 1-tuple needs its trailing comma: (n,)
    if (i + 1 < shape.size() || shape.size() == 1) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // numpy pads so that the payload starts 64-byte aligned (good for mmap/SIMD).
  size_t prefix = kMagicLen + 2 + 2;
  size_t total = prefix + dict.size() + 1;
  bool v2 = false;
  size_t padded = (total + 63) / 64 * 64;
  if (padded - prefix > 0xffff) {
    v2 = true;
    prefix += 2;
    total += 2;
    padded = (total + 63) / 64 * 64;
  }
  const size_t header_len = padded - prefix;
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(v2 ? 2 : 1);
  out += static_cast<char>(0);
  for (int i = 0; i < (v2 ? 4 : 2); ++i) out += static_cast<char>((header_len >> (8 * i)) & 0xff);
  out += dict;
  out.append(padded - out.size() - 1, ' ');
  out += '\n';
  return out;
}

StatusOr<NpyFile> NpyFile::Open(const std::string& path) {
  NpyFile f;
  f.path_ = path;
  ASSIGN_OR_RETURN(f.fd_, OpenForRead(path));
  ASSIGN_OR_RETURN(uint64_t file_size, FileSizeOf(f.fd_.get(), path));
  unsigned char pre[10];
  ASSIGN_OR_RETURN(size_t got, ReadUpTo(f.fd_.get(), pre, sizeof(pre), path));
  if (got >= kMagicLen && std::memcmp(pre, kMagic, kMagicLen) != 0) {
    return Corrupt(path, "bad magic");
  }
  if (got < sizeof(pre)) {
    return DataLoss(path + ": truncated .npy file: expected at least 10 bytes, got " +
                    std::to_string(file_size));
  }
  const int major = pre[6];
  uint64_t header_len = 0;
  uint64_t prefix = 10;
  if (major == 1) {
    header_len = pre[8] | (uint64_t{pre[9]} << 8);
  } else if (major == 2 || major == 3) {
    unsigned char more[2];
    ASSIGN_OR_RETURN(size_t got2, ReadUpTo(f.fd_.get(), more, sizeof(more), path));
    if (got2 < 2) {
      return DataLoss(path + ": truncated .npy file: expected at least 12 bytes, got " +
                      std::to_string(file_size));
    }
    header_len =
        pre[8] | (uint64_t{pre[9]} << 8) | (uint64_t{more[0]} << 16) | (uint64_t{more[1]} << 24);
    prefix = 12;
  } else {
    return Corrupt(path, "unsupported format version " + std::to_string(major));
  }
  if (header_len > (1u << 24)) return Corrupt(path, "header length " + std::to_string(header_len));
  if (file_size < prefix + header_len) {
    return DataLoss(path + ": truncated .npy file: expected at least " +
                    std::to_string(prefix + header_len) + " bytes, got " +
                    std::to_string(file_size));
  }
  std::string header(header_len, '\0');
  ASSIGN_OR_RETURN(size_t got3, ReadUpTo(f.fd_.get(), header.data(), header.size(), path));
  if (got3 != header.size())
    return DataLoss(path + ": truncated .npy header (file changed while reading)");

  std::map<std::string, PyValue> dict;
  if (!HeaderParser(header).ParseDict(&dict)) return Corrupt(path, "malformed header dict");
  auto descr = dict.find("descr");
  auto fortran = dict.find("fortran_order");
  auto shape = dict.find("shape");
  if (descr == dict.end() || descr->second.kind != PyValue::kString) {
    return Corrupt(path, "header has no 'descr' string");
  }
  if (fortran == dict.end() || fortran->second.kind != PyValue::kBool) {
    return Corrupt(path, "header has no 'fortran_order' bool");
  }
  if (shape == dict.end() || shape->second.kind != PyValue::kTuple) {
    return Corrupt(path, "header has no 'shape' tuple");
  }
  if (fortran->second.boolean) {
    return InvalidArgument(path +
                           ": fortran_order True arrays are not supported; save with C order");
  }
  f.dtype_ = descr->second.str;
  const size_t item = ItemSize(f.dtype_);
  if (item == 0) {
    return InvalidArgument(path + ": unsupported dtype '" + f.dtype_ +
                           "'; expected '<f4', '<i8' or '|u1'");
  }
  f.shape_ = shape->second.tuple;
  uint64_t count = 1;
  for (int64_t d : f.shape_) {
    if (d != 0 && count > (uint64_t{1} << 56) / static_cast<uint64_t>(d)) {
      return Corrupt(path, "shape overflows");
    }
    count *= static_cast<uint64_t>(d);
  }
  f.payload_bytes_ = count * item;
  f.payload_offset_ = prefix + header_len;
  const uint64_t expected = prefix + header_len + f.payload_bytes_;
  if (file_size != expected) {
    return DataLoss(path + ": " + (file_size < expected ? "truncated" : "oversized") +
                    " .npy file: expected " + std::to_string(expected) + " bytes, got " +
                    std::to_string(file_size));
  }
  return f;
}

Status NpyFile::ReadPayload(void* dst) {
  ASSIGN_OR_RETURN(size_t got, ReadUpTo(fd_.get(), dst, payload_bytes_, path_));
  if (got != payload_bytes_) {
    return DataLoss(path_ + ": truncated .npy payload: expected " + std::to_string(payload_bytes_) +
                    " bytes, got " + std::to_string(got));
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<const void>> NpyFile::MapReadOnly() const {
  const size_t length = static_cast<size_t>(payload_offset_ + payload_bytes_);
  void* p = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd_.get(), 0);
  if (p == MAP_FAILED) return ErrnoError(path_, "mmap", errno);
  return std::shared_ptr<const void>(p, [length](const void* q) {
    ::munmap(const_cast<void*>(q), length);
  });
}

}  // namespace internal

Status WriteNpyFloat(const std::string& path, const std::vector<int64_t>& shape,
                     const float* data) {
  return WriteNpy(RealFileSystem(), path, "<f4", shape, data);
}
Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& shape,
                     const int64_t* data) {
  return WriteNpy(RealFileSystem(), path, "<i8", shape, data);
}
Status WriteNpyFloat(FileSystem& fs, const std::string& path, const std::vector<int64_t>& shape,
                     const float* data) {
  return WriteNpy(fs, path, "<f4", shape, data);
}
Status WriteNpyInt64(FileSystem& fs, const std::string& path, const std::vector<int64_t>& shape,
                     const int64_t* data) {
  return WriteNpy(fs, path, "<i8", shape, data);
}

StatusOr<NpyArray> ReadNpy(const std::string& path) {
  ASSIGN_OR_RETURN(internal::NpyFile f, internal::NpyFile::Open(path));
  NpyArray a;
  a.dtype = f.dtype();
  a.shape = f.shape();
  a.bytes.resize(f.payload_bytes());
  RETURN_IF_ERROR(f.ReadPayload(a.bytes.data()));
  return a;
}

}  // namespace cerebro::data
