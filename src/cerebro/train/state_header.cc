#include "cerebro/train/state_header.h"

#include <cstring>

#include "cerebro/common/rng.h"

namespace cerebro::train {
namespace {

void StoreLittleEndian64(uint64_t v, uint8_t* out) {
  for (int b = 0; b < 8; ++b) out[b] = static_cast<uint8_t>(v >> (8 * b));
}

uint64_t LoadLittleEndian64(const uint8_t* in) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(in[b]) << (8 * b);
  return v;
}

}  // namespace

void BeginStateHeader(MallocBuffer* out) {
  out->Append(kStateMagic, sizeof(kStateMagic));
  const uint8_t no_checksum_yet[8] = {};
  out->Append(no_checksum_yet, sizeof(no_checksum_yet));
}

void SealStateHeader(MallocBuffer* out) {
  const uint64_t checksum = Hash64(out->data() + kStateHeaderSize, out->size() - kStateHeaderSize);
  StoreLittleEndian64(checksum, out->mutable_data() + sizeof(kStateMagic));
}

Status CheckStateHeader(const uint8_t* state, size_t size, bool checksum) {
  if (size < kStateHeaderSize || std::memcmp(state, kStateMagic, sizeof(kStateMagic)) != 0) {
    return DataLoss("model state: not a Cerebro model state (bad header)");
  }
  if (checksum && Hash64(state + kStateHeaderSize, size - kStateHeaderSize) !=
      LoadLittleEndian64(state + sizeof(kStateMagic))) {
    return DataLoss("model state: checksum mismatch (corrupt or truncated)");
  }
  return Status::Ok();
}

}  // namespace cerebro::train
