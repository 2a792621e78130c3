// The local backend's wire format between the driver and a cerebro-worker process:
// frames of [u64 little-endian payload length][payload] over a Unix stream socket. A
// payload is a type byte and the frame's fields (little-endian fixed-width numbers,
// u64-length-prefixed strings); a frame that carries model state ends with it as one
// more length-prefixed string, sent from and read into place without an extra copy.
// Each frame is a struct with one Encode and one Decode that both ends use, its fields
// listed once (Fields). Both ends are built from this header, so the format needs no
// versioning beyond the type byte. Value types and free functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cerebro/common/status.h"

namespace cerebro::exec {

enum class FrameType : uint8_t { kReady = 1, kRunUnit = 2, kResult = 3, kQuit = 4, kLoad = 5 };

// An encoded frame: the type byte and fields in `head`; for frames with model state,
// the state follows as a length-prefixed string that SendFrame writes straight from
// `state` (borrowed: it must outlive SendFrame).
struct OutgoingFrame {
  std::string head;
  bool has_state = false;
  std::string_view state;
};

// Decoding refuses (DataLoss, saying which frame) a payload of another type, one that
// ends inside a field, a bool other than 0 or 1, and bytes left over after the last
// field. A decoded frame's `state` points into the payload: keep the payload alive.

// worker -> driver, once after loading its partitions. A worker started without a
// store (launched before the data exists) sends one when it is up (LibTorch loaded,
// BLAS detected: `warning` set, `error` empty) and another after its LoadFrame.
struct ReadyFrame {
  static constexpr FrameType kType = FrameType::kReady;
  static constexpr bool kHasState = false;
  bool ok = false;      // the partitions loaded; else `error` says why
  std::string warning;  // e.g. a slow BLAS; may be empty
  std::string error;

  template <typename Self, typename Io>
  static Status Fields(Self& f, Io& io) {
    return io(f.ok, f.warning, f.error);
  }
  OutgoingFrame Encode() const;
  static StatusOr<ReadyFrame> Decode(std::string_view payload);
};

// driver -> worker: run one unit.
struct RunUnitFrame {
  static constexpr FrameType kType = FrameType::kRunUnit;
  static constexpr bool kHasState = true;
  std::string model_config_json;
  bool train = false;  // false: an evaluation unit
  uint64_t init_seed = 0;
  uint64_t unit_seed = 0;
  // States by file (Backend::WritesCheckpoints): the input state is the file state_path
  // (empty: `state`, or a fresh model), of state_size bytes hashing to state_hash; a
  // training unit writes its new state to out_path (empty: returns the bytes), fsync'd
  // when durable.
  std::string state_path;
  uint64_t state_size = 0;
  uint64_t state_hash = 0;
  std::string out_path;
  bool durable = true;
  std::string_view state;  // empty: a fresh model (or the state is state_path)

  template <typename Self, typename Io>
  static Status Fields(Self& f, Io& io) {
    return io(f.model_config_json, f.train, f.init_seed, f.unit_seed, f.state_path, f.state_size,
              f.state_hash, f.out_path, f.durable);
  }
  OutgoingFrame Encode() const;
  static StatusOr<RunUnitFrame> Decode(std::string_view payload);
};

// worker -> driver: how a unit ended.
struct ResultFrame {
  static constexpr FrameType kType = FrameType::kResult;
  static constexpr bool kHasState = true;
  int64_t code = 0;   // the trainer's return code: CEREBRO_OK or a CEREBRO_ERR_*
  std::string error;  // empty when code is CEREBRO_OK
  double loss_sum = 0;
  double correct = 0;
  int64_t num_examples = 0;
  double compute_seconds = 0;
  double state_seconds = 0;
  double file_seconds = 0;   // reading and writing state files (out_path / state_path)
  uint64_t written_size = 0; // with out_path: the written state's size and hash
  uint64_t written_hash = 0;
  std::string_view state;  // a training unit's new state without out_path; empty otherwise

  template <typename Self, typename Io>
  static Status Fields(Self& f, Io& io) {
    return io(f.code, f.error, f.loss_sum, f.correct, f.num_examples, f.compute_seconds,
              f.state_seconds, f.file_seconds, f.written_size, f.written_hash);
  }
  OutgoingFrame Encode() const;
  static StatusOr<ResultFrame> Decode(std::string_view payload);
};

// driver -> a worker started without a store, once: load these partitions (-1: none).
struct LoadFrame {
  static constexpr FrameType kType = FrameType::kLoad;
  static constexpr bool kHasState = false;
  std::string store_dir;
  int64_t train_partition = -1;
  int64_t val_partition = -1;

  template <typename Self, typename Io>
  static Status Fields(Self& f, Io& io) {
    return io(f.store_dir, f.train_partition, f.val_partition);
  }
  OutgoingFrame Encode() const;
  static StatusOr<LoadFrame> Decode(std::string_view payload);
};

// driver -> worker: exit.
struct QuitFrame {
  static constexpr FrameType kType = FrameType::kQuit;
  static constexpr bool kHasState = false;

  template <typename Self, typename Io>
  static Status Fields(Self&, Io& io) {
    return io();
  }
  OutgoingFrame Encode() const;
  static StatusOr<QuitFrame> Decode(std::string_view payload);
};

// The type of a received payload (its first byte); DataLoss when empty or unknown.
StatusOr<FrameType> PeekFrameType(std::string_view payload);

// Sends one frame. Returns IoError (never raises SIGPIPE) when the peer is gone.
Status SendFrame(int fd, const OutgoingFrame& frame);
// Receives one whole frame's payload. NotFound("eof") at a clean end of stream.
Status ReceiveFrame(int fd, std::string* payload);

}  // namespace cerebro::exec
