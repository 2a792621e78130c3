// The 16 bytes in front of every model state (state_codec.h): a magic whose last
// character is the state format version, then a checksum of every byte after the header.
// Torch's zip reader does not notice flipped bytes inside tensor data, and a state travels
// through other processes, object stores and disks, so bytes that are not an intact
// Cerebro state are refused here, before torch parses them. Pure functions; thread-safe.
// Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cerebro/common/status.h"
#include "cerebro/train/malloc_buffer.h"

namespace cerebro::train {

// "CRBSTAT1", then the checksum: cerebro::Hash64 of the bytes after the header, as a
// little-endian uint64. Both are part of the on-disk format: states written by earlier
// releases must keep loading.
inline constexpr char kStateMagic[8] = {'C', 'R', 'B', 'S', 'T', 'A', 'T', '1'};
inline constexpr size_t kStateHeaderSize = 16;

// Appends a header with a zero checksum to the empty `out`; the body follows it, and
// SealStateHeader fills the checksum in. Throws std::bad_alloc.
void BeginStateHeader(MallocBuffer* out);
// Writes the checksum of the bytes after the header into the header `out` begins with.
void SealStateHeader(MallocBuffer* out);

// OK when `state` begins with the magic and its checksum matches the body. Otherwise
// DataLoss: "model state: not a Cerebro model state (bad header)" or "model state:
// checksum mismatch (corrupt or truncated)". With `checksum` false only the magic is
// checked: for bytes already verified whole (a state file read against the journal's
// size and hash, which were taken of the encoder's own sealed bytes), where a second pass
// over 15 MB would check nothing new.
Status CheckStateHeader(const uint8_t* state, size_t size, bool checksum = true);

}  // namespace cerebro::train
