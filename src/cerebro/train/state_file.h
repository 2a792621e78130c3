// A model state as a file that a worker reads and writes itself (issue 13: the state
// moves once; the driver journals only its name, size and hash). Torch-free; free
// functions over POSIX calls; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cerebro/common/status.h"

namespace cerebro::train {

// Reads the state file `path` and checks it against what the journal says of it:
// `expected_size` bytes whose Hash64 (common/rng.h) is `expected_hash` (expected_size 0:
// not recorded, only non-emptiness is checked). DataLoss with one line naming the file on
// a missing, empty, short or altered file.
StatusOr<std::string> ReadStateFile(const std::string& path, uint64_t expected_size,
                                    uint64_t expected_hash);

// Whether `bytes` are what the journal says (the rule ReadStateFile applies), else the
// DataLoss line naming `path`.
Status VerifyStateBytes(const std::string& path, std::string_view bytes, uint64_t expected_size,
                        uint64_t expected_hash);

// Replaces `path` with `bytes` atomically: a temp file beside it (unique to this process),
// renamed over it. With `durable` the file is fsync'd before the rename and the directory
// after it (it survives a power loss); without, it is in the page cache (it survives a
// crash of any process, not of the machine). On failure `path` is unchanged.
Status WriteStateFile(const std::string& path, std::string_view bytes, bool durable);

}  // namespace cerebro::train
