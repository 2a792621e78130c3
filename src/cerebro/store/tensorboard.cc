#include "cerebro/store/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cerebro/common/file_system.h"

namespace cerebro::store::tensorboard {
namespace {

// Wire types.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected
    table[i] = c;
  }
  return table;
}

void AppendLittleEndian(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// An Event (event.proto: wall_time = 1, step = 2, file_version = 3, summary = 5) whose
// summary holds one Summary.Value (summary.proto: Summary.value = 1).
std::string EventWithValue(double wall_time, int64_t step, const ProtoWriter& value) {
  ProtoWriter summary;
  summary.Bytes(1, value.data());
  ProtoWriter event;
  event.Double(1, wall_time);
  if (step != 0) event.Varint(2, static_cast<uint64_t>(step));
  event.Bytes(5, summary.data());
  return event.data();
}

// google.protobuf.Value: number_value = 2, string_value = 3, bool_value = 4.
std::string ValueProto(const HParamValue& v) {
  ProtoWriter w;
  if (const double* d = std::get_if<double>(&v)) w.Double(2, *d);
  if (const std::string* s = std::get_if<std::string>(&v)) w.Bytes(3, *s);
  if (const bool* b = std::get_if<bool>(&v)) w.Varint(4, *b ? 1 : 0);
  return w.data();
}

// A Summary.Value carrying HParamsPluginData (plugin_data.proto: version = 1 (0, so
// omitted), experiment = 2, session_start_info = 3, session_end_info = 4).
std::string HParamsEvent(double wall_time, std::string_view tag, int oneof_field,
                         const std::string& message) {
  ProtoWriter plugin_content;
  plugin_content.Bytes(oneof_field, message);
  ProtoWriter plugin_data;  // SummaryMetadata.PluginData: plugin_name = 1, content = 2
  plugin_data.Bytes(1, "hparams");
  plugin_data.Bytes(2, plugin_content.data());
  ProtoWriter metadata;  // SummaryMetadata: plugin_data = 1, data_class = 4 (TENSOR = 2)
  metadata.Bytes(1, plugin_data.data());
  metadata.Varint(4, 2);
  ProtoWriter value;  // Summary.Value: tag = 1, metadata = 9
  value.Bytes(1, tag);
  value.Bytes(9, metadata.data());
  return EventWithValue(wall_time, 0, value);
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) crc = kTable[(crc ^ c) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t MaskedCrc32c(std::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

std::string FrameRecord(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  AppendLittleEndian(&out, data.size(), 8);
  AppendLittleEndian(&out, MaskedCrc32c(out), 4);
  out.append(data);
  AppendLittleEndian(&out, MaskedCrc32c(data), 4);
  return out;
}

void ProtoWriter::RawVarint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void ProtoWriter::Tag(int field, int wire_type) {
  RawVarint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void ProtoWriter::Varint(int field, uint64_t v) {
  Tag(field, kVarint);
  RawVarint(v);
}

void ProtoWriter::Double(int field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Tag(field, kFixed64);
  AppendLittleEndian(&out_, bits, 8);
}

void ProtoWriter::Float(int field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Tag(field, kFixed32);
  AppendLittleEndian(&out_, bits, 4);
}

void ProtoWriter::Bytes(int field, std::string_view v) {
  Tag(field, kLengthDelimited);
  RawVarint(v.size());
  out_.append(v);
}

std::string FileVersionEvent(double wall_time) {
  ProtoWriter event;
  event.Double(1, wall_time);
  event.Bytes(3, "brain.Event:2");
  return event.data();
}

std::string ScalarEvent(double wall_time, int64_t step, std::string_view tag, float value) {
  ProtoWriter v;  // Summary.Value: tag = 1, simple_value = 2
  v.Bytes(1, tag);
  v.Float(2, value);
  return EventWithValue(wall_time, step, v);
}

std::string ExperimentEvent(double wall_time, const std::vector<HParamInfo>& hparams,
                            const std::vector<MetricInfo>& metrics) {
  ProtoWriter experiment;  // api.proto Experiment: hparam_infos = 4, metric_infos = 5
  for (const HParamInfo& h : hparams) {
    // HParamInfo: name = 1, type = 4, domain_discrete = 5 (ListValue: values = 1),
    // domain_interval = 6 (Interval: min_value = 1, max_value = 2).
    ProtoWriter info;
    info.Bytes(1, h.name);
    info.Varint(4, static_cast<uint64_t>(h.type));
    if (h.has_interval) {
      ProtoWriter interval;
      interval.Double(1, h.min_value);
      interval.Double(2, h.max_value);
      info.Bytes(6, interval.data());
    } else if (!h.domain_discrete.empty()) {
      ProtoWriter list;
      for (const HParamValue& v : h.domain_discrete) list.Bytes(1, ValueProto(v));
      info.Bytes(5, list.data());
    }
    experiment.Bytes(4, info.data());
  }
  for (const MetricInfo& m : metrics) {
    // MetricInfo: name = 1 (MetricName: group = 1, tag = 2), display_name = 3,
    // dataset_type = 5.
    ProtoWriter name;
    name.Bytes(2, m.tag);
    ProtoWriter info;
    info.Bytes(1, name.data());
    if (!m.display_name.empty()) info.Bytes(3, m.display_name);
    if (m.dataset_type != DatasetType::kUnknown) {
      info.Varint(5, static_cast<uint64_t>(m.dataset_type));
    }
    experiment.Bytes(5, info.data());
  }
  return HParamsEvent(wall_time, "_hparams_/experiment", 2, experiment.data());
}

std::string SessionStartEvent(double wall_time, const std::map<std::string, HParamValue>& hparams,
                              std::string_view group_name, double start_time_secs) {
  // SessionStartInfo: hparams = 1 (map entries: key = 1, value = 2), group_name = 4,
  // start_time_secs = 5.
  ProtoWriter start;
  for (const auto& [key, value] : hparams) {
    ProtoWriter entry;
    entry.Bytes(1, key);
    entry.Bytes(2, ValueProto(value));
    start.Bytes(1, entry.data());
  }
  if (!group_name.empty()) start.Bytes(4, group_name);
  start.Double(5, start_time_secs);
  return HParamsEvent(wall_time, "_hparams_/session_start_info", 3, start.data());
}

std::string SessionEndEvent(double wall_time, SessionStatus status, double end_time_secs) {
  ProtoWriter end;  // SessionEndInfo: status = 1, end_time_secs = 2
  end.Varint(1, static_cast<uint64_t>(status));
  end.Double(2, end_time_secs);
  return HParamsEvent(wall_time, "_hparams_/session_end_info", 4, end.data());
}

std::string EventFileName(double wall_time) {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
    std::strcpy(host.data(), "localhost");
  }
  return "events.out.tfevents." + std::to_string(static_cast<int64_t>(wall_time)) + "." +
         host.data();
}

StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Create(const std::string& dir,
                                                                   double wall_time) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(dir + ": create directory: " + ec.message());
  const std::string path = JoinPath(dir, EventFileName(wall_time));
  // "x": a second writer in the same second never appends to another's file.
  std::FILE* f = std::fopen(path.c_str(), "wbx");
  if (f == nullptr) return IoError(path + ": create: " + std::strerror(errno));
  auto w = std::make_unique<EventFileWriter>(path, f);
  RETURN_IF_ERROR(w->Write({FileVersionEvent(wall_time)}));
  return w;
}

Status EventFileWriter::Write(const std::vector<std::string>& events) {
  std::string bytes;
  for (const std::string& e : events) bytes += FrameRecord(e);
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_.get()) != bytes.size() ||
      std::fflush(file_.get()) != 0) {
    return IoError(path_ + ": write: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace cerebro::store::tensorboard
