// TensorBoard event files, written natively: TFRecord framing (masked CRC-32C), the
// Event/Summary protos and the hparams plugin's HParamsPluginData, encoded by hand.
// Value types and free functions are thread-safe; an EventFileWriter is used by one thread.
//
// Why a small hand-written encoder and not libprotobuf: we write five message types,
// only a handful of fields each (varint, double, float, bytes, nested), never read them
// back, and the wire format is frozen. libprotobuf would add protoc to the build, a
// generated-code dependency on a specific runtime version (Debian's libprotobuf must match
// the protoc that generated the code), and the .proto files of TensorFlow and the hparams
// plugin copied into the tree — all to emit a few dozen bytes per epoch. The encoder is
// ~100 lines, and the tests read every file back with the `tensorboard` package itself.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cerebro/common/status.h"

namespace cerebro::store::tensorboard {

// CRC-32C (Castagnoli), and TFRecord's masked form of it.
uint32_t Crc32c(std::string_view data);
uint32_t MaskedCrc32c(std::string_view data);

// One TFRecord: u64 length (little endian), masked CRC of those 8 bytes, data, masked
// CRC of the data.
std::string FrameRecord(std::string_view data);

// Protobuf wire-format writer: fields are appended in the order they are called.
class ProtoWriter {
 public:
  void Varint(int field, uint64_t v);  // int32/int64/enum/bool (negative ints not needed)
  void Double(int field, double v);
  void Float(int field, float v);
  void Bytes(int field, std::string_view v);  // string, bytes, or a nested message
  const std::string& data() const { return out_; }

 private:
  void Tag(int field, int wire_type);
  void RawVarint(uint64_t v);
  std::string out_;
};

// A hyperparameter's value, as google.protobuf.Value holds it.
using HParamValue = std::variant<double, std::string, bool>;

enum class HParamType { kString = 1, kBool = 2, kFloat64 = 3 };  // api.proto DataType
enum class DatasetType { kUnknown = 0, kTraining = 1, kValidation = 2 };
enum class SessionStatus { kUnknown = 0, kSuccess = 1, kFailure = 2, kRunning = 3 };

struct HParamInfo {
  std::string name;
  HParamType type = HParamType::kString;
  std::vector<HParamValue> domain_discrete;  // the values seen (strings, bools)
  bool has_interval = false;                 // numbers: [min, max] of the values seen
  double min_value = 0, max_value = 0;
};

struct MetricInfo {
  std::string tag;  // the scalar tag in each session's own run (group "")
  std::string display_name;
  DatasetType dataset_type = DatasetType::kUnknown;
};

// Serialized Event messages (tensorflow/core/util/event.proto).
std::string FileVersionEvent(double wall_time);  // file_version "brain.Event:2"
std::string ScalarEvent(double wall_time, int64_t step, std::string_view tag, float value);
// The hparams plugin's three summaries (tags _hparams_/experiment, _hparams_/
// session_start_info, _hparams_/session_end_info), at step 0.
std::string ExperimentEvent(double wall_time, const std::vector<HParamInfo>& hparams,
                            const std::vector<MetricInfo>& metrics);
std::string SessionStartEvent(double wall_time, const std::map<std::string, HParamValue>& hparams,
                              std::string_view group_name, double start_time_secs);
std::string SessionEndEvent(double wall_time, SessionStatus status, double end_time_secs);

// "events.out.tfevents.<secs>.<host>": the name TensorBoard's loader looks for.
std::string EventFileName(double wall_time);

// One event file, created with its file_version event. Appends are flushed to the OS
// after every Write (a live TensorBoard sees them) but not fsync'd: everything in it is
// rebuilt from the journal, so durability would only cost time.
class EventFileWriter {
 public:
  // Creates `dir` (and parents) and a new event file in it. IoError naming the path.
  static StatusOr<std::unique_ptr<EventFileWriter>> Create(const std::string& dir,
                                                           double wall_time);

  // Frames and appends serialized Events, then flushes. IoError naming the file.
  Status Write(const std::vector<std::string>& events);
  const std::string& path() const { return path_; }

  // Takes ownership of `file`, open for writing at `path`; use Create.
  EventFileWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

 private:
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Close> file_;
};

}  // namespace cerebro::store::tensorboard
