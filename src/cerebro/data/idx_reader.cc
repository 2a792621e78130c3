// IDX (the MNIST container): 0x00 0x00 <type> <ndim>, then ndim big-endian uint32
// dimensions, then the data in C order. Only unsigned bytes (type 0x08) are accepted,
// which covers MNIST, Fashion-MNIST, KMNIST and EMNIST.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {
namespace {

constexpr uint8_t kUbyte = 0x08;

struct IdxArray {
  std::vector<int64_t> dims;
  const uint8_t* data = nullptr;  // points into the file bytes
};

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

Status Truncated(const std::string& path, uint64_t expected, uint64_t got) {
  return DataLoss(path + ": truncated IDX file: expected " + std::to_string(expected) +
                  " bytes, got " + std::to_string(got));
}

StatusOr<IdxArray> ParseIdx(const std::string& path, const std::string& bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  ASSIGN_OR_RETURN(internal::IdxHeader h,
                   internal::ParseIdxHeader(path, p, bytes.size(), bytes.size()));
  IdxArray a;
  a.dims = std::move(h.dims);
  a.data = p + h.header_bytes;
  return a;
}

}  // namespace

StatusOr<internal::IdxHeader> internal::ParseIdxHeader(const std::string& path, const uint8_t* p,
                                                       size_t have, uint64_t file_size) {
  if (have < 4) return Truncated(path, 4, file_size);
  if (p[0] != 0 || p[1] != 0 || p[3] == 0) {
    char magic[16];
    std::snprintf(magic, sizeof(magic), "%02x%02x%02x%02x", p[0], p[1], p[2], p[3]);
    return InvalidArgument(path + ": bad IDX magic 0x" + magic +
                           " (expected 00 00 <type> <ndim>); is this an IDX file?");
  }
  if (p[2] != kUbyte) {
    char type[8];
    std::snprintf(type, sizeof(type), "0x%02x", p[2]);
    return InvalidArgument(path + ": unsupported IDX data type " + type +
                           "; only unsigned byte (0x08) is supported");
  }
  const int ndim = p[3];
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(ndim);
  if (have < header) return Truncated(path, header, file_size);
  IdxHeader h;
  h.header_bytes = header;
  uint64_t count = 1;
  for (int i = 0; i < ndim; ++i) {
    uint32_t d = BigEndian32(p + 4 + 4 * i);
    h.dims.push_back(d);
    // Each dim < 2^32 and the total must fit a file, so overflow means a corrupt header.
    if (d != 0 && count > (uint64_t{1} << 48) / d) {
      return DataLoss(path + ": IDX dimensions overflow; corrupt header");
    }
    count *= d;
  }
  const uint64_t expected = header + count;
  if (file_size < expected) return Truncated(path, expected, file_size);
  if (file_size > expected) {
    return DataLoss(path + ": IDX file has trailing data: expected " + std::to_string(expected) +
                    " bytes, got " + std::to_string(file_size));
  }
  return h;
}


StatusOr<Dataset> ReadIdx(const std::string& images_path, const std::string& labels_path,
                          double feature_scale) {
  if (labels_path.empty()) {
    return InvalidArgument(images_path + ": IDX images need a labels file; none was given");
  }
  ASSIGN_OR_RETURN(std::string image_bytes, ReadMaybeGzip(images_path));
  ASSIGN_OR_RETURN(std::string label_bytes, ReadMaybeGzip(labels_path));
  return internal::ParseIdxBytes(images_path, image_bytes, labels_path, label_bytes, feature_scale);
}

StatusOr<Dataset> internal::ParseIdxBytes(const std::string& images_path,
                                          const std::string& image_bytes,
                                          const std::string& labels_path,
                                          const std::string& label_bytes, double feature_scale) {
  const auto* p = reinterpret_cast<const uint8_t*>(image_bytes.data());
  ASSIGN_OR_RETURN(IdxHeader images,
                   ParseIdxHeader(images_path, p, image_bytes.size(), image_bytes.size()));
  ASSIGN_OR_RETURN(Dataset d,
                   IdxWithoutPixels(images_path, images, labels_path, label_bytes, feature_scale));
  const uint8_t* pixels = p + images.header_bytes;
  d.byte_features.assign(pixels, pixels + d.num_examples() * d.example_size());
  return d;
}

StatusOr<Dataset> internal::IdxWithoutPixels(const std::string& images_path,
                                             const IdxHeader& images,
                                             const std::string& labels_path,
                                             const std::string& label_bytes,
                                             double feature_scale) {
  ASSIGN_OR_RETURN(IdxArray labels, ParseIdx(labels_path, label_bytes));
  if (images.dims.size() < 2) {
    return InvalidArgument(images_path + ": IDX images must have rank >= 2, got rank " +
                           std::to_string(images.dims.size()));
  }
  if (labels.dims.size() != 1) {
    return InvalidArgument(labels_path + ": IDX labels must have rank 1, got rank " +
                           std::to_string(labels.dims.size()));
  }
  const int64_t n = images.dims[0];
  if (labels.dims[0] != n) {
    return InvalidArgument(images_path + " has " + std::to_string(n) + " images but " +
                           labels_path + " has " + std::to_string(labels.dims[0]) + " labels");
  }
  if (n == 0) return InvalidArgument(images_path + ": no examples (IDX dimension 0 is 0)");
  // A zero-sized image would let the other dimensions be anything (ParseIdx stops
  // counting at a zero), and their product overflow.
  for (size_t i = 1; i < images.dims.size(); ++i) {
    if (images.dims[i] == 0) {
      return InvalidArgument(images_path + ": IDX image dimension " + std::to_string(i) +
                             " is 0; images must be non-empty");
    }
  }

  Dataset d;
  d.task = Task::kClassification;
  if (images.dims.size() == 3) {
    // Rank-3 images are single-channel HxW; CNNs want an explicit channel axis.
    d.feature_shape = {1, images.dims[1], images.dims[2]};
  } else {
    d.feature_shape.assign(images.dims.begin() + 1, images.dims.end());
  }
  // Pixels stay bytes (see partition_store.h); the table only checks that every value
  // the scale can produce is a finite float.
  const std::array<float, 256> table = ByteFeatureTable(feature_scale);
  for (int v = 0; v < 256; ++v) {
    if (!std::isfinite(table[v])) {
      return InvalidArgument(images_path + ": feature_scale " + std::to_string(feature_scale) +
                             " turns pixel value " + std::to_string(v) +
                             " into a non-finite float");
    }
  }
  d.encoding = FeatureEncoding::kUint8;
  d.byte_feature_scale = feature_scale;
  d.int_labels.assign(labels.data, labels.data + n);
  internal::SetNumClasses(&d);
  return d;
}

}  // namespace cerebro::data
