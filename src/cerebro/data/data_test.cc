#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cerebro/common/clock.h"
#include "cerebro/common/file_system.h"
#include "cerebro/common/rng.h"
#include "cerebro/common/status.h"
#include "cerebro/data/interrupt_guard.h"
#include "cerebro/data/partition_store.h"
#include "cerebro/data/readers.h"
#include "cerebro/data/store_cache.h"
#include "cerebro/data/store_identity.h"

namespace cerebro::data {
namespace {

// gmock is not linked by cerebro_add_test; a substring check is all we need.
#define EXPECT_HAS_SUBSTR(str, sub)                              \
  do {                                                           \
    const std::string s_ = (str);                                \
    const std::string sub_ = (sub);                              \
    EXPECT_NE(s_.find(sub_), std::string::npos)                  \
        << "message: '" << s_ << "'\nlacks:   '" << sub_ << "'"; \
  } while (0)

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cerebro_data_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    char* p = ::mkdtemp(buf.data());
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "";
  }
  ~TempDir() {
    if (!path_.empty()) (void)RealFileSystem().RemoveAll(path_);
  }
  std::string Path(const std::string& name) const { return JoinPath(path_, name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// An IDX ubyte file: 00 00 08 ndim, big-endian dims, data.
std::string MakeIdx(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  }
  s.append(data.begin(), data.end());
  return s;
}

struct SmallIdx {
  std::vector<uint8_t> pixels;  // 5 images of 2x3
  std::vector<uint8_t> labels;
};

SmallIdx MakeSmallIdx() {
  SmallIdx s;
  for (int i = 0; i < 5 * 6; ++i) s.pixels.push_back(static_cast<uint8_t>(i * 8));
  s.labels = {3, 0, 1, 3, 2};
  return s;
}

// MakeSmallIdx written as plain IDX files tmp/img and tmp/lab.
SmallIdx WriteSmallIdx(const TempDir& tmp) {
  SmallIdx s = MakeSmallIdx();
  WriteBytes(tmp.Path("img"), MakeIdx({5, 2, 3}, s.pixels));
  WriteBytes(tmp.Path("lab"), MakeIdx({5}, s.labels));
  return s;
}

// The source spec of WriteSmallIdx's files, a fifth of them validating, pixels / 255.
SourceSpec SmallIdxSpec(const TempDir& tmp) {
  SourceSpec spec;
  spec.format = "idx";
  spec.train_path = tmp.Path("img");
  spec.train_labels_path = tmp.Path("lab");
  spec.val_fraction = 0.2;
  spec.feature_scale = 1.0 / 255;
  return spec;
}

void ExpectIdxMatches(const Dataset& d, const SmallIdx& s, double scale) {
  EXPECT_EQ(d.task, Task::kClassification);
  EXPECT_EQ(d.num_examples(), 5);
  EXPECT_EQ(d.feature_shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(d.example_size(), 6);
  EXPECT_EQ(d.num_classes, 4);
  EXPECT_EQ(d.int_labels, (std::vector<int64_t>{3, 0, 1, 3, 2}));
  // Pixels are kept as bytes and decode to exactly the scaled floats.
  EXPECT_EQ(d.encoding, FeatureEncoding::kUint8);
  EXPECT_TRUE(d.features.empty());
  EXPECT_EQ(d.byte_features, s.pixels);
  ASSERT_EQ(d.num_feature_values(), static_cast<int64_t>(s.pixels.size()));
  for (size_t i = 0; i < s.pixels.size(); ++i) {
    EXPECT_EQ(d.FeatureAt(static_cast<int64_t>(i)), static_cast<float>(s.pixels[i] * scale));
  }
}

TEST(IdxReaderTest, ReadsPlainFiles) {
  TempDir tmp;
  SmallIdx s = WriteSmallIdx(tmp);
  auto d = ReadIdx(tmp.Path("img"), tmp.Path("lab"), 0.5);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ExpectIdxMatches(*d, s, 0.5);
}

TEST(IdxReaderTest, ReadsGzipFiles) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  WriteGzip(tmp.Path("img.gz"), MakeIdx({5, 2, 3}, s.pixels));
  WriteGzip(tmp.Path("lab.gz"), MakeIdx({5}, s.labels));
  auto d = ReadIdx(tmp.Path("img.gz"), tmp.Path("lab.gz"), 1.0 / 255);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ExpectIdxMatches(*d, s, 1.0 / 255);
}

TEST(IdxReaderTest, Rank2ImagesKeepFlatShape) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  WriteBytes(tmp.Path("img"), MakeIdx({5, 6}, s.pixels));
  WriteBytes(tmp.Path("lab"), MakeIdx({5}, s.labels));
  auto d = ReadIdx(tmp.Path("img"), tmp.Path("lab"), 1.0);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->feature_shape, (std::vector<int64_t>{6}));
}

TEST(IdxReaderTest, TruncatedFileIsDataLossNamingFileAndSizes) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  std::string img = MakeIdx({5, 2, 3}, s.pixels);
  WriteBytes(tmp.Path("img"), img.substr(0, img.size() - 7));
  WriteBytes(tmp.Path("lab"), MakeIdx({5}, s.labels));
  auto d = ReadIdx(tmp.Path("img"), tmp.Path("lab"), 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("img"));
  EXPECT_HAS_SUBSTR(d.status().message(), "expected 46 bytes, got 39");
}

TEST(IdxReaderTest, TruncatedGzipIsDataLossNamingFile) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  WriteGzip(tmp.Path("img.gz"), MakeIdx({5, 2, 3}, s.pixels));
  std::string gz = ReadBytes(tmp.Path("img.gz"));
  WriteBytes(tmp.Path("img.gz"), gz.substr(0, gz.size() / 2));
  WriteBytes(tmp.Path("lab"), MakeIdx({5}, s.labels));
  auto d = ReadIdx(tmp.Path("img.gz"), tmp.Path("lab"), 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("img.gz"));
}

TEST(IdxReaderTest, MissingFileIsNotFound) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  WriteBytes(tmp.Path("lab"), MakeIdx({5}, s.labels));
  for (const std::string name : {"nope", "nope.gz"}) {
    auto d = ReadIdx(tmp.Path(name), tmp.Path("lab"), 1.0);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), StatusCode::kNotFound);
    EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path(name));
  }
}

TEST(IdxReaderTest, BadMagicNamesFile) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  WriteBytes(tmp.Path("img"), "PK\x03\x04 not idx at all");
  WriteBytes(tmp.Path("lab"), MakeIdx({5}, s.labels));
  auto d = ReadIdx(tmp.Path("img"), tmp.Path("lab"), 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("img") + ": bad IDX magic");
}

TEST(IdxReaderTest, ImageLabelCountMismatchIsAnError) {
  TempDir tmp;
  SmallIdx s = MakeSmallIdx();
  WriteBytes(tmp.Path("img"), MakeIdx({5, 2, 3}, s.pixels));
  WriteBytes(tmp.Path("lab"), MakeIdx({4}, {0, 1, 2, 3}));
  auto d = ReadIdx(tmp.Path("img"), tmp.Path("lab"), 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(d.status().message(), "5 images");
  EXPECT_HAS_SUBSTR(d.status().message(), "4 labels");
}

SourceSpec CsvSpec(const std::string& label_column) {
  SourceSpec spec;
  spec.format = "csv";
  spec.csv_label_column = label_column;
  return spec;
}

TEST(CsvReaderTest, HeaderAndLabelColumnByName) {
  TempDir tmp;
  WriteBytes(tmp.Path("x.csv"), "a, label ,b\r\n1.5,2,-3\r\n4,0,5e-1\r\n\n");
  auto d = ReadCsv(tmp.Path("x.csv"), CsvSpec("label"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->feature_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(d->features, (std::vector<float>{1.5f, -3.0f, 4.0f, 0.5f}));
  EXPECT_EQ(d->int_labels, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(d->num_classes, 3);
}

TEST(CsvReaderTest, NoHeaderLabelByIndexCustomDelimiterAndScale) {
  TempDir tmp;
  WriteBytes(tmp.Path("x.csv"), "1;10;20\n0;30;40\n");
  SourceSpec spec = CsvSpec("0");
  spec.csv_header = false;
  spec.csv_delimiter = ';';
  spec.feature_scale = 0.1;
  auto d = ReadCsv(tmp.Path("x.csv"), spec);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->int_labels, (std::vector<int64_t>{1, 0}));
  ASSERT_EQ(d->features.size(), 4u);
  EXPECT_FLOAT_EQ(d->features[0], 1.0f);
  EXPECT_FLOAT_EQ(d->features[3], 4.0f);
}

TEST(CsvReaderTest, LastColumnIsDefaultLabelAndRegressionUsesFloats) {
  TempDir tmp;
  WriteBytes(tmp.Path("x.csv"), "a,b,y\n1,2,0.25\n3,4,-7.5\n");
  SourceSpec spec = CsvSpec("");
  spec.task = Task::kRegression;
  auto d = ReadCsv(tmp.Path("x.csv"), spec);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->task, Task::kRegression);
  EXPECT_EQ(d->float_labels, (std::vector<float>{0.25f, -7.5f}));
  EXPECT_TRUE(d->int_labels.empty());
  EXPECT_EQ(d->num_examples(), 2);
  EXPECT_EQ(d->features, (std::vector<float>{1, 2, 3, 4}));
}

TEST(CsvReaderTest, ErrorsNameFileAndLine) {
  TempDir tmp;
  const std::string path = tmp.Path("x.csv");
  struct Case {
    std::string text;
    std::string label_column;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"a,b,c\n1,2,3\n\n1,2\n", "", path + ":4: expected 3 fields, got 2"},
      {"a,b,c\n1,x,3\n", "", path + ":2: column 'b': 'x' is not a finite number"},
      {"a,b,c\n1,2,-1\n", "", path + ":2: class label '-1' must be a non-negative integer"},
      {"a,b,c\n1,2,1.5\n", "", path + ":2: class label '1.5' must be a non-negative integer"},
      {"a,b,c\n1,2,3\n", "zzz", path + ": label column 'zzz' not found in header (a, b, c)"},
      {"a,b,c\n1,2,3\n", "7", path + ": label column index 7 is out of range"},
      {"a,b,c\n", "", path + ": no examples"},
  };
  for (const Case& c : cases) {
    WriteBytes(path, c.text);
    auto d = ReadCsv(path, CsvSpec(c.label_column));
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_HAS_SUBSTR(d.status().message(), c.expected);
  }
  auto missing = ReadCsv(tmp.Path("missing.csv"), CsvSpec(""));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

SourceSpec LibSvmSpec(int64_t num_features) {
  SourceSpec spec;
  spec.format = "libsvm";
  spec.libsvm_num_features = num_features;
  return spec;
}

TEST(LibSvmReaderTest, ReadsSparseRowsIntoDenseFeatures) {
  TempDir tmp;
  WriteBytes(tmp.Path("x.svm"),
             "1 1:0.5 3:2\n# a comment line\n0\t2:-1  # trailing comment\n2 4:8\n");
  auto d = ReadLibSvm(tmp.Path("x.svm"), LibSvmSpec(0));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->feature_shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(d->int_labels, (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(d->num_classes, 3);
  EXPECT_EQ(d->features, (std::vector<float>{0.5f, 0, 2, 0,  //
                                             0, -1, 0, 0,    //
                                             0, 0, 0, 8}));
  auto wide = ReadLibSvm(tmp.Path("x.svm"), LibSvmSpec(6));
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  EXPECT_EQ(wide->feature_shape, (std::vector<int64_t>{6}));
  EXPECT_EQ(wide->features.size(), 18u);
  EXPECT_EQ(wide->features[6 + 1], -1.0f);
}

TEST(LibSvmReaderTest, ErrorsNameFileAndLine) {
  TempDir tmp;
  const std::string path = tmp.Path("x.svm");
  struct Case {
    std::string text;
    int64_t num_features;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"1 1:1\n0 0:1\n", 0, path + ":2: feature index 0; LibSVM indices are 1-based"},
      {"1 3:1 2:1\n", 0, path + ":1: feature index 2 is not greater than the previous index 3"},
      {"1 3:1 3:1\n", 0, path + ":1: feature index 3 is not greater"},
      {"1 5:1\n", 4, path + ":1: feature index 5 exceeds num_features 4"},
      {"1 2\n", 0, path + ":1: expected index:value, got '2'"},
      {"1 2:abc\n", 0, path + ":1: feature 2: 'abc' is not a finite number"},
      {"\n-1 2:1\n", 0, path + ":2: class label '-1' must be a non-negative integer"},
  };
  for (const Case& c : cases) {
    WriteBytes(path, c.text);
    auto d = ReadLibSvm(path, LibSvmSpec(c.num_features));
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_HAS_SUBSTR(d.status().message(), c.expected);
  }
}

TEST(NpyTest, FloatAndInt64RoundTrip) {
  TempDir tmp;
  std::vector<float> x(2 * 1 * 3 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * static_cast<float>(i) - 1.0f;
  std::vector<int64_t> y = {7, -3, int64_t{1} << 40};
  ASSERT_TRUE(WriteNpyFloat(tmp.Path("x.npy"), {2, 1, 3, 4}, x.data()).ok());
  ASSERT_TRUE(WriteNpyInt64(tmp.Path("y.npy"), {3}, y.data()).ok());

  std::string raw = ReadBytes(tmp.Path("x.npy"));
  const size_t header = raw.size() - x.size() * sizeof(float);
  EXPECT_EQ(header % 64, 0u);
  EXPECT_EQ(raw[header - 1], '\n');
  EXPECT_EQ(raw.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_HAS_SUBSTR(raw.substr(10, header - 10),
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 3, 4), }");
  EXPECT_HAS_SUBSTR(ReadBytes(tmp.Path("y.npy")), "'shape': (3,), }");

  auto rx = ReadNpy(tmp.Path("x.npy"));
  ASSERT_TRUE(rx.ok()) << rx.status().ToString();
  EXPECT_EQ(rx->dtype, "<f4");
  EXPECT_EQ(rx->shape, (std::vector<int64_t>{2, 1, 3, 4}));
  ASSERT_EQ(rx->bytes.size(), x.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(rx->bytes.data(), x.data(), rx->bytes.size()), 0);
  auto ry = ReadNpy(tmp.Path("y.npy"));
  ASSERT_TRUE(ry.ok()) << ry.status().ToString();
  EXPECT_EQ(ry->dtype, "<i8");
  EXPECT_EQ(ry->shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(std::memcmp(ry->bytes.data(), y.data(), ry->bytes.size()), 0);
}

// Builds a .npy by hand so the reader is tested against headers we did not write.
std::string HandNpy(int major, const std::string& dict, const std::string& payload) {
  std::string s("\x93NUMPY", 6);
  s += static_cast<char>(major);
  s += '\0';
  const size_t len = dict.size() + 1;
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) s += static_cast<char>((len >> (8 * i)) & 0xff);
  return s + dict + "\n" + payload;
}

TEST(NpyTest, ReadsVersion2HeaderAndNumpyVariants) {
  TempDir tmp;
  int64_t v[2] = {5, 6};
  std::string payload(reinterpret_cast<const char*>(v), sizeof(v));
  WriteBytes(tmp.Path("a.npy"),
             HandNpy(2, "{\"shape\":(2L,),\"fortran_order\":False,\"descr\":\"<i8\"}", payload));
  auto a = ReadNpy(tmp.Path("a.npy"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(a->bytes, payload);
}

TEST(NpyTest, RejectsFortranOrderUnknownDtypeAndGarbage) {
  TempDir tmp;
  std::string payload(16, '\0');
  WriteBytes(tmp.Path("f.npy"),
             HandNpy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", payload));
  WriteBytes(tmp.Path("d.npy"),
             HandNpy(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", payload));
  WriteBytes(tmp.Path("g.npy"), HandNpy(1, "{'descr': '<f4', 'shape': [2]}", payload));
  WriteBytes(tmp.Path("m.npy"), "not numpy at all");
  for (const char* name : {"f.npy", "d.npy", "g.npy", "m.npy"}) {
    auto r = ReadNpy(tmp.Path(name));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_HAS_SUBSTR(r.status().message(), tmp.Path(name));
  }
  EXPECT_HAS_SUBSTR(ReadNpy(tmp.Path("f.npy")).status().message(), "fortran_order");
  EXPECT_HAS_SUBSTR(ReadNpy(tmp.Path("d.npy")).status().message(), "'>f8'");
}

TEST(NpyTest, TruncatedIsDataLossNamingFile) {
  TempDir tmp;
  std::vector<float> x(100, 1.0f);
  ASSERT_TRUE(WriteNpyFloat(tmp.Path("x.npy"), {10, 10}, x.data()).ok());
  std::string raw = ReadBytes(tmp.Path("x.npy"));
  for (size_t keep : {raw.size() - 1, size_t{70}, size_t{9}}) {
    WriteBytes(tmp.Path("t.npy"), raw.substr(0, keep));
    auto r = ReadNpy(tmp.Path("t.npy"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << keep << " " << r.status().ToString();
    EXPECT_HAS_SUBSTR(r.status().message(), tmp.Path("t.npy"));
  }
  WriteBytes(tmp.Path("t.npy"), raw.substr(0, raw.size() - 4));
  EXPECT_HAS_SUBSTR(
      ReadNpy(tmp.Path("t.npy")).status().message(),
      "expected " + std::to_string(raw.size()) + " bytes, got " + std::to_string(raw.size() - 4));
  EXPECT_EQ(ReadNpy(tmp.Path("absent.npy")).status().code(), StatusCode::kNotFound);
}

// A CSV with n examples; example id = offset + i has features (id, id % 7) and label
// id % 5, so the first feature identifies the example.
std::string WriteNumberedCsv(const TempDir& tmp, const std::string& name, int n, int offset = 0) {
  std::string text = "id,other,label\n";
  for (int i = 0; i < n; ++i) {
    const int id = offset + i;
    text += std::to_string(id) + "," + std::to_string(id % 7) + "," + std::to_string(id % 5) + "\n";
  }
  WriteBytes(tmp.Path(name), text);
  return tmp.Path(name);
}

SourceSpec NumberedSpec(const std::string& path, double val_fraction) {
  SourceSpec spec = CsvSpec("label");
  spec.train_path = path;
  spec.val_fraction = val_fraction;
  return spec;
}

// Every (id, label) of a partition, in stored order.
std::vector<std::pair<int64_t, int64_t>> Rows(const Dataset& d) {
  std::vector<std::pair<int64_t, int64_t>> rows;
  for (int64_t i = 0; i < d.num_examples(); ++i) {
    rows.emplace_back(static_cast<int64_t>(d.features[i * 2]), d.int_labels[i]);
    EXPECT_EQ(d.features[i * 2 + 1], static_cast<float>(rows.back().first % 7));
  }
  return rows;
}

TEST(PrepareTest, EveryExampleLandsInExactlyOneNearEqualPartition) {
  TempDir tmp;
  const int n = 103;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", n), 0.2);
  PrepareOptions options;
  options.num_train_partitions = 4;
  options.num_val_partitions = 3;
  options.seed = 42;
  std::vector<std::pair<int64_t, int64_t>> reported;  // (written, total) per call
  options.progress = [&](int64_t written, int64_t total) { reported.emplace_back(written, total); };
  const std::string dir = tmp.Path("store");
  Status st = Prepare(spec, options, dir);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Progress counts every example once, train and validation together, up to the total.
  ASSERT_EQ(reported.size(), 7u);  // one chunk per partition here
  for (size_t i = 0; i < reported.size(); ++i) {
    EXPECT_EQ(reported[i].second, n);
    if (i > 0) {
      EXPECT_GT(reported[i].first, reported[i - 1].first);
    }
  }
  EXPECT_EQ(reported.back().first, n);

  auto meta = ReadStoreMeta(dir);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->task, Task::kClassification);
  EXPECT_EQ(meta->feature_shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(meta->num_classes, 5);
  EXPECT_EQ(meta->seed, 42u);
  ASSERT_EQ(meta->train.size(), 4u);
  ASSERT_EQ(meta->val.size(), 3u);

  std::map<int64_t, int> seen;  // id -> times seen
  int64_t train_total = 0;
  int64_t val_total = 0;
  for (const char* kind : {"train", "val"}) {
    const auto& parts = std::string(kind) == "train" ? meta->train : meta->val;
    int64_t lo = INT64_MAX;
    int64_t hi = 0;
    for (int p = 0; p < static_cast<int>(parts.size()); ++p) {
      auto d = LoadPartition(dir, kind, p);
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      EXPECT_EQ(d->num_examples(), parts[p].num_examples);
      EXPECT_EQ(d->num_classes, 5);
      lo = std::min(lo, d->num_examples());
      hi = std::max(hi, d->num_examples());
      for (auto [id, label] : Rows(*d)) {
        EXPECT_EQ(label, id % 5);
        ++seen[id];
      }
      (std::string(kind) == "train" ? train_total : val_total) += d->num_examples();
    }
    EXPECT_LE(hi - lo, 1) << kind;
  }
  EXPECT_EQ(val_total, 21);  // round(103 * 0.2)
  EXPECT_EQ(train_total, n - 21);
  ASSERT_EQ(seen.size(), static_cast<size_t>(n));
  for (auto [id, count] : seen) EXPECT_EQ(count, 1) << id;
  EXPECT_FALSE(RealFileSystem().Exists(dir + ".tmp-" + std::to_string(::getpid())));
}

std::string StoreBytes(const std::string& dir) {
  auto names = RealFileSystem().ListDir(dir);
  EXPECT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  std::string all;
  for (const auto& n : *names) all += n + ":" + ReadBytes(JoinPath(dir, n));
  return all;
}

TEST(PrepareTest, SameSeedSameBytesDifferentSeedDifferentOrder) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 50), 0.25);
  PrepareOptions options;
  options.num_train_partitions = 2;
  options.seed = 7;
  ASSERT_TRUE(Prepare(spec, options, tmp.Path("a")).ok());
  ASSERT_TRUE(Prepare(spec, options, tmp.Path("b")).ok());
  options.seed = 8;
  ASSERT_TRUE(Prepare(spec, options, tmp.Path("c")).ok());
  EXPECT_EQ(StoreBytes(tmp.Path("a")), StoreBytes(tmp.Path("b")));
  auto a = LoadPartition(tmp.Path("a"), "train", 0);
  auto c = LoadPartition(tmp.Path("c"), "train", 0);
  ASSERT_TRUE(a.ok() && c.ok());
  EXPECT_NE(Rows(*a), Rows(*c));
  // The shuffle really shuffles: ids are not in file order.
  auto rows = Rows(*a);
  EXPECT_FALSE(std::is_sorted(rows.begin(), rows.end()));
}

// The store's example order for a seed is part of its format: the same seed must give
// the same partitions in every release. The ids were computed with the shuffle as it
// was before it moved to common/rng.h (15e2161's ShuffledIndices in this file).
TEST(PrepareTest, ShuffledOrderForASeedIsPinned) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 12), 0.25);
  PrepareOptions options;
  options.num_train_partitions = 2;
  options.seed = 7;
  ASSERT_TRUE(Prepare(spec, options, tmp.Path("store")).ok());
  auto ids = [&](const char* kind, int index) {
    auto d = LoadPartition(tmp.Path("store"), kind, index);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    std::vector<int64_t> out;
    if (d.ok()) {
      for (auto [id, label] : Rows(*d)) out.push_back(id);
    }
    return out;
  };
  // ShuffledRange(12, DeriveSeed(7, "data.shuffle")) = 11 7 1 9 10 2 5 3 0 | 4 6 8.
  EXPECT_EQ(ids("train", 0), (std::vector<int64_t>{11, 7, 1, 9, 10}));
  EXPECT_EQ(ids("train", 1), (std::vector<int64_t>{2, 5, 3, 0}));
  EXPECT_EQ(ids("val", 0), (std::vector<int64_t>{4, 6, 8}));
}

TEST(PrepareTest, MorePartitionsThanExamplesFailsAndLeavesNoDirectory) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 10), 0.2);
  PrepareOptions options;
  options.num_train_partitions = 9;  // only 8 training examples
  Status st = Prepare(spec, options, tmp.Path("store"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(st.message(), "partitions");
  options.num_train_partitions = 2;
  options.num_val_partitions = 3;  // only 2 validation examples
  st = Prepare(spec, options, tmp.Path("store"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(st.message(), "partitions");
  auto names = RealFileSystem().ListDir(tmp.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"d.csv"});
}

TEST(PrepareTest, ExistingDirectoryIsAlreadyExists) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 10), 0.2);
  ASSERT_TRUE(RealFileSystem().MakeDirs(tmp.Path("store")).ok());
  Status st = Prepare(spec, PrepareOptions(), tmp.Path("store"));
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_HAS_SUBSTR(st.message(), tmp.Path("store"));
}

TEST(PrepareTest, RejectsValFractionOutsideOpenUnitInterval) {
  TempDir tmp;
  const std::string path = WriteNumberedCsv(tmp, "d.csv", 10);
  for (double f : {0.0, 1.0, -0.5}) {
    Status st = Prepare(NumberedSpec(path, f), PrepareOptions(), tmp.Path("store"));
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_HAS_SUBSTR(st.message(), "val_fraction");
  }
  EXPECT_FALSE(RealFileSystem().Exists(tmp.Path("store")));
}

TEST(PrepareTest, SeparateValidationSourceMustMatchFeatureCount) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "train.csv", 20), 0.0);
  spec.val_path = WriteNumberedCsv(tmp, "val.csv", 6, /*offset=*/1000);
  PrepareOptions options;
  options.num_val_partitions = 2;
  ASSERT_TRUE(Prepare(spec, options, tmp.Path("store")).ok());
  auto train = LoadPartition(tmp.Path("store"), "train", 0);
  auto val = LoadPartition(tmp.Path("store"), "val", 1);
  ASSERT_TRUE(train.ok() && val.ok());
  EXPECT_EQ(train->num_examples(), 20);
  EXPECT_EQ(val->num_examples(), 3);
  for (auto [id, label] : Rows(*val)) EXPECT_GE(id, 1000);

  WriteBytes(tmp.Path("bad.csv"), "a,label\n1,0\n2,1\n");
  spec.val_path = tmp.Path("bad.csv");
  Status st = Prepare(spec, options, tmp.Path("store2"));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(st.message(), tmp.Path("bad.csv"));
  EXPECT_FALSE(RealFileSystem().Exists(tmp.Path("store2")));
}

TEST(PrepareTest, LibSvmValidationUsesTrainWidth) {
  TempDir tmp;
  WriteBytes(tmp.Path("train.svm"), "0 1:1 5:1\n1 2:1\n");
  WriteBytes(tmp.Path("val.svm"), "1 1:3\n");
  SourceSpec spec = LibSvmSpec(0);
  spec.train_path = tmp.Path("train.svm");
  spec.val_path = tmp.Path("val.svm");
  ASSERT_TRUE(Prepare(spec, PrepareOptions(), tmp.Path("store")).ok());
  auto val = LoadPartition(tmp.Path("store"), "val", 0);
  ASSERT_TRUE(val.ok()) << val.status().ToString();
  EXPECT_EQ(val->feature_shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(val->features, (std::vector<float>{3, 0, 0, 0, 0}));
}

TEST(PrepareTest, RegressionStoresFloatLabels) {
  TempDir tmp;
  WriteBytes(tmp.Path("r.csv"), "x,y\n1,0.5\n2,1.5\n3,2.5\n4,3.5\n");
  SourceSpec spec = CsvSpec("y");
  spec.train_path = tmp.Path("r.csv");
  spec.val_fraction = 0.25;
  spec.task = Task::kRegression;
  ASSERT_TRUE(Prepare(spec, PrepareOptions(), tmp.Path("store")).ok());
  auto meta = ReadStoreMeta(tmp.Path("store"));
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->task, Task::kRegression);
  EXPECT_EQ(meta->num_classes, 0);
  auto d = LoadPartition(tmp.Path("store"), "train", 0);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->float_labels.size(), 3u);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(d->float_labels[i], d->features[i] - 0.5f);
}

TEST(PrepareTest, IdxStoresKeepPixelsAsBytes) {
  TempDir tmp;
  SmallIdx s = WriteSmallIdx(tmp);
  ASSERT_TRUE(Prepare(SmallIdxSpec(tmp), PrepareOptions{}, tmp.Path("store")).ok());

  auto meta = ReadStoreMeta(tmp.Path("store"));
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->encoding, FeatureEncoding::kUint8);
  EXPECT_EQ(meta->feature_scale, 1.0 / 255);
  auto x = ReadNpy(tmp.Path("store/train_000.x.npy"));  // numpy.load() gives uint8
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(x->dtype, "|u1");
  EXPECT_EQ(x->shape, (std::vector<int64_t>{4, 1, 2, 3}));

  auto d = LoadPartition(tmp.Path("store"), "train", 0);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->encoding, FeatureEncoding::kUint8);
  EXPECT_EQ(d->byte_feature_scale, 1.0 / 255);
  EXPECT_TRUE(d->features.empty());
  ASSERT_EQ(d->byte_features.size(), 4u * 6);
  // Each stored row is one of the source images (rows are shuffled).
  for (int64_t r = 0; r < 4; ++r) {
    const int64_t first = d->byte_features[r * 6] / 8;  // pixel i is i * 8
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(d->byte_features[r * 6 + j], (first + j) * 8);
    EXPECT_EQ(d->int_labels[r], s.labels[first / 6]);
  }
}

TEST(PrepareTest, FormatOneFloatStoresStillLoad) {
  TempDir tmp;
  ASSERT_TRUE(RealFileSystem().MakeDirs(tmp.Path("store")).ok());
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, 3.5f};
  const std::vector<int64_t> y = {1, 0};
  ASSERT_TRUE(WriteNpyFloat(tmp.Path("store/t.x.npy"), {2, 2}, x.data()).ok());
  ASSERT_TRUE(WriteNpyInt64(tmp.Path("store/t.y.npy"), {2}, y.data()).ok());
  WriteBytes(tmp.Path("store/meta.json"),
             R"({"format_version":1,"task":"classification","feature_shape":[2],)"
             R"("num_classes":2,"seed":7,"train":[{"x":"t.x.npy","y":"t.y.npy","n":2}],"val":[]})");
  auto d = LoadPartition(tmp.Path("store"), "train", 0);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->encoding, FeatureEncoding::kFloat32);
  EXPECT_EQ(d->features, x);

  // Version 2 names the dtype; a byte store whose file holds floats is refused.
  WriteBytes(tmp.Path("store/meta.json"),
             R"({"format_version":2,"task":"classification","feature_shape":[2],)"
             R"("feature_dtype":"uint8","feature_scale":1.0,)"
             R"("num_classes":2,"seed":7,"train":[{"x":"t.x.npy","y":"t.y.npy","n":2}],"val":[]})");
  d = LoadPartition(tmp.Path("store"), "train", 0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_HAS_SUBSTR(d.status().message(), "t.x.npy: dtype <f4 shape [2, 2] does not match");
  for (const char* bad : {R"("feature_dtype":"uint16","feature_scale":1.0,)",
                          R"("feature_dtype":"uint8","feature_scale":1e300,)",
                          R"("feature_dtype":"uint8",)"}) {
    WriteBytes(tmp.Path("store/meta.json"),
               std::string(R"({"format_version":2,"task":"classification","feature_shape":[2],)") +
                   bad +
                   R"("num_classes":2,"seed":7,"train":[{"x":"t.x.npy","y":"t.y.npy","n":2}],)"
                   R"("val":[]})");
    auto meta = ReadStoreMeta(tmp.Path("store"));
    ASSERT_FALSE(meta.ok()) << bad;
    EXPECT_EQ(meta.status().code(), StatusCode::kDataLoss) << bad;
  }
}

// Fails the Nth WriteFileAtomic with EIO-like IoError; forwards everything else.
class FailingFileSystem : public FileSystem {
 public:
  explicit FailingFileSystem(int fail_on_write) : fail_on_write_(fail_on_write) {}
  StatusOr<std::string> ReadFile(const std::string& p) override { return real_.ReadFile(p); }
  Status WriteFileAtomic(const std::string& p, std::string_view c) override {
    if (++writes_ == fail_on_write_) return IoError(p + ": write: injected failure");
    return real_.WriteFileAtomic(p, c);
  }
  Status AppendDurable(const std::string& p, std::string_view d) override {
    return real_.AppendDurable(p, d);
  }
  Status MakeDirs(const std::string& p) override { return real_.MakeDirs(p); }
  Status Rename(const std::string& f, const std::string& t) override { return real_.Rename(f, t); }
  Status RemoveFile(const std::string& p) override { return real_.RemoveFile(p); }
  Status RemoveAll(const std::string& p) override { return real_.RemoveAll(p); }
  bool Exists(const std::string& p) override { return real_.Exists(p); }
  StatusOr<std::vector<std::string>> ListDir(const std::string& p) override {
    return real_.ListDir(p);
  }
  StatusOr<uint64_t> FileSize(const std::string& p) override { return real_.FileSize(p); }

 private:
  FileSystem& real_ = RealFileSystem();
  int fail_on_write_;
  int writes_ = 0;
};

TEST(PrepareTest, FailedWriteLeavesNoDirectory) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 20), 0.2);
  PrepareOptions options;
  options.num_train_partitions = 2;
  // 2 train + 1 val partitions (x and y each) + meta.json = 7 writes; fail each in turn.
  for (int fail = 1; fail <= 7; ++fail) {
    FailingFileSystem fs(fail);
    Status st = Prepare(spec, options, tmp.Path("store"), fs);
    EXPECT_EQ(st.code(), StatusCode::kIoError) << fail;
    EXPECT_HAS_SUBSTR(st.message(), "injected failure");
    auto names = RealFileSystem().ListDir(tmp.path());
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(*names, std::vector<std::string>{"d.csv"}) << fail;
  }
}

TEST(LoadPartitionTest, DetectsTruncationAndBadArguments) {
  TempDir tmp;
  SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 20), 0.2);
  const std::string dir = tmp.Path("store");
  ASSERT_TRUE(Prepare(spec, PrepareOptions(), dir).ok());
  EXPECT_EQ(LoadPartition(dir, "test", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadPartition(dir, "train", 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadPartition(tmp.Path("nostore"), "train", 0).status().code(), StatusCode::kNotFound);

  const std::string x = JoinPath(dir, "train_000.x.npy");
  std::string raw = ReadBytes(x);
  WriteBytes(x, raw.substr(0, raw.size() - 3));
  auto d = LoadPartition(dir, "train", 0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_HAS_SUBSTR(d.status().message(), x);

  // A well-formed file whose shape disagrees with meta.json is also DataLoss.
  std::vector<float> wrong(3 * 2, 0.0f);
  ASSERT_TRUE(WriteNpyFloat(x, {3, 2}, wrong.data()).ok());
  d = LoadPartition(dir, "train", 0);
  EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
  EXPECT_HAS_SUBSTR(d.status().message(), "does not match meta.json");
}

// ---- Regression tests for inputs found by the fuzz targets in fuzz/ (fuzz/README.md).

TEST(DataFuzzRegressionTest, IdxWithNoExamplesOrEmptyImagesIsRejected) {
  // Found by fuzz/idx_fuzz: 0 images were returned as a Dataset with no examples, and a
  // zero image dimension stopped the size check, so dims {0, 0, 2^32-1, 2^32-1} passed
  // and Dataset::example_size() overflowed int64.
  TempDir tmp;
  WriteBytes(tmp.Path("img0"), MakeIdx({0, 28, 28}, {}));
  WriteBytes(tmp.Path("lab0"), MakeIdx({0}, {}));
  auto d = ReadIdx(tmp.Path("img0"), tmp.Path("lab0"), 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("img0") + ": no examples");

  WriteBytes(tmp.Path("img1"), MakeIdx({2, 0, 0xffffffffu, 0xffffffffu}, {}));
  WriteBytes(tmp.Path("lab1"), MakeIdx({2}, {0, 1}));
  d = ReadIdx(tmp.Path("img1"), tmp.Path("lab1"), 1.0);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(d.status().message(), "IDX image dimension 1 is 0");
}

TEST(DataFuzzRegressionTest, FeatureScaleThatOverflowsFloatIsAnError) {
  // Found by the fuzz targets' finiteness check: a finite feature_scale (a double) such
  // as 1e300 turned finite features into float infinities that went on into training.
  TempDir tmp;
  SmallIdx s = WriteSmallIdx(tmp);
  auto d = ReadIdx(tmp.Path("img"), tmp.Path("lab"), 1e300);
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_SUBSTR(d.status().message(), "into a non-finite float");
  EXPECT_TRUE(ReadIdx(tmp.Path("img"), tmp.Path("lab"), 1e36).ok());  // 255e36 fits a float

  WriteBytes(tmp.Path("d.csv"), "a,b,label\n1,2,0\n1e30,2,1\n");
  SourceSpec csv = CsvSpec("");
  csv.feature_scale = 1e10;
  d = ReadCsv(tmp.Path("d.csv"), csv);
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("d.csv") + ":3: 1e30 * feature_scale");
  EXPECT_HAS_SUBSTR(d.status().message(), "is not a finite float");

  WriteBytes(tmp.Path("d.svm"), "1 1:1\n0 2:-3e37\n");
  SourceSpec svm = LibSvmSpec(0);
  svm.feature_scale = 100;
  d = ReadLibSvm(tmp.Path("d.svm"), svm);
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_SUBSTR(d.status().message(),
                    tmp.Path("d.svm") + ":2: feature 2: -3e37 * feature_scale");
  svm.feature_scale = 0.5;
  d = ReadLibSvm(tmp.Path("d.svm"), svm);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->features, (std::vector<float>{0.5f, 0, 0, static_cast<float>(-3e37f * 0.5)}));
}

TEST(DataFuzzRegressionTest, LibSvmHugeIndexInATinyFileIsRejectedBeforeAllocating) {
  // Found by fuzz/libsvm_fuzz: "1 4000000000:1" (14 bytes) asked for a 16 GB dense
  // matrix (the old limit was 2^34 values whatever the file size).
  TempDir tmp;
  WriteBytes(tmp.Path("x.svm"), "1 4000000000:1\n");
  auto d = ReadLibSvm(tmp.Path("x.svm"), LibSvmSpec(0));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_HAS_SUBSTR(d.status().message(), "1 examples x 4000000000 features is too large");
  // The same with the width given by num_features.
  WriteBytes(tmp.Path("y.svm"), "1 1:1\n0 2:1\n");
  d = ReadLibSvm(tmp.Path("y.svm"), LibSvmSpec(int64_t{1} << 33));
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_SUBSTR(d.status().message(), "too large to store densely");
  // A wide but plausible file still reads: 2 x 100000 dense values from 25 bytes.
  WriteBytes(tmp.Path("z.svm"), "1 100000:1\n0 3:2 99999:1\n");
  d = ReadLibSvm(tmp.Path("z.svm"), LibSvmSpec(0));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->feature_shape, (std::vector<int64_t>{100000}));
  EXPECT_EQ(d->features[100000 + 2], 2.0f);
}

TEST(DataFuzzRegressionTest, StoreMetaWithNonIntegerNumbersIsDataLoss) {
  // Found by fuzz/store_meta_fuzz: get<int>() of 1.5e300 is undefined behaviour (UBSan:
  // "outside the range of representable values"); likewise for the shape, n and seed.
  TempDir tmp;
  const std::string good =
      R"({"format_version":1,"task":"classification","feature_shape":[2,3],"num_classes":4,)"
      R"("seed":7,"train":[{"x":"a.npy","y":"b.npy","n":5}],"val":[]})";
  WriteBytes(tmp.Path("meta.json"), good);
  auto meta = ReadStoreMeta(tmp.path());
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->feature_shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(meta->seed, 7u);
  struct Case {
    std::string from, to, expected;
  };
  const std::vector<Case> cases = {
      {R"("format_version":1)", R"("format_version":1.5e300)", "format_version must be an integer"},
      {R"("format_version":1)", R"("format_version":4294967297)", "unsupported format_version"},
      {"[2,3]", "[2,1e300]", "feature_shape[1] must be an integer"},
      {"[2,3]", "[2,18446744073709551615]", "feature_shape[1] must be an integer"},
      {"[2,3]", "[16777216,16777216,16777216]", "is too large"},
      {"[2,3]", "{}", "feature_shape must be a non-empty array"},
      {R"("num_classes":4)", R"("num_classes":4.5)", "num_classes must be an integer"},
      {R"("seed":7)", R"("seed":-1)", "seed must be a non-negative integer"},
      {R"("seed":7)", R"("seed":1e300)", "seed must be a non-negative integer"},
      {R"("n":5)", R"("n":-1e300)", "train: n must be an integer"},
  };
  for (const Case& c : cases) {
    std::string text = good;
    text.replace(text.find(c.from), c.from.size(), c.to);
    WriteBytes(tmp.Path("meta.json"), text);
    meta = ReadStoreMeta(tmp.path());
    ASSERT_FALSE(meta.ok()) << text;
    EXPECT_HAS_SUBSTR(meta.status().message(), c.expected);
  }
}

// ---- Class labels must be dense enough to be class ids (issue 10, item 8) ----

// `n` rows "f,label" with labels i % 10, and `stray` as the label of row `stray_row`.
std::string LabelledCsv(int n, int stray_row, int64_t stray) {
  std::string text = "f,label\n";
  for (int i = 0; i < n; ++i) {
    text += std::to_string(i) + "," + std::to_string(i == stray_row ? stray : i % 10) + "\n";
  }
  return text;
}

TEST(DenseLabelsTest, AStrayHugeLabelIsRefusedNamingFileLineAndValue) {
  TempDir tmp;
  const std::string path = tmp.Path("d.csv");
  for (int64_t stray : {int64_t{1000000}, int64_t{2000000000}}) {
    WriteBytes(path, LabelledCsv(100, 55, stray));  // row 55 is on line 57 (header is 1)
    auto d = ReadCsv(path, CsvSpec("label"));
    ASSERT_FALSE(d.ok()) << stray;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_HAS_SUBSTR(d.status().message(), path + ":57: class label " + std::to_string(stray) +
                                                " would make a " + std::to_string(stray + 1) +
                                                "-way output layer for 11 distinct labels");
    EXPECT_HAS_SUBSTR(d.status().message(), "twice and 100 more than");
  }
  // LibSVM names its line the same way.
  WriteBytes(tmp.Path("d.svm"), "0 1:1\n1 1:2\n\n5000 1:3\n");
  auto svm = ReadLibSvm(tmp.Path("d.svm"), LibSvmSpec(0));
  ASSERT_FALSE(svm.ok());
  EXPECT_HAS_SUBSTR(svm.status().message(), tmp.Path("d.svm") + ":4: class label 5000");
}

TEST(DenseLabelsTest, SparseButPlausibleLabelSetsPass) {
  TempDir tmp;
  const std::string path = tmp.Path("d.csv");
  // Classes numbered 1..10 (0 unused), and 101 distinct labels up to 201: both pass.
  std::string one_based = "f,label\n", spread = "f,label\n";
  for (int i = 0; i < 101; ++i) {
    one_based += "0," + std::to_string(i % 10 + 1) + "\n";
    spread += "0," + std::to_string(i * 2) + "\n";
  }
  WriteBytes(path, one_based);
  auto d = ReadCsv(path, CsvSpec("label"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->num_classes, 11);
  WriteBytes(path, spread);
  d = ReadCsv(path, CsvSpec("label"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->num_classes, 201);
  // A regression target is any number.
  WriteBytes(path, LabelledCsv(100, 55, 1000000));
  SourceSpec regression = CsvSpec("label");
  regression.task = Task::kRegression;
  EXPECT_TRUE(ReadCsv(path, regression).ok());
}

TEST(DenseLabelsTest, IdxLabelsAreCheckedForClassificationOnly) {
  TempDir tmp;
  std::vector<uint8_t> pixels(200 * 4, 1), labels(200);
  for (int i = 0; i < 200; ++i) labels[i] = static_cast<uint8_t>(i % 3);
  labels[123] = 255;
  WriteBytes(tmp.Path("img"), MakeIdx({200, 2, 2}, pixels));
  WriteBytes(tmp.Path("lab"), MakeIdx({200}, labels));
  SourceSpec spec;
  spec.format = "idx";
  spec.train_path = tmp.Path("img");
  spec.train_labels_path = tmp.Path("lab");
  auto d = ReadSource(spec, /*validation=*/false);
  ASSERT_FALSE(d.ok());
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("lab") + ": item 123: class label 255");
  spec.task = Task::kRegression;
  EXPECT_TRUE(ReadSource(spec, /*validation=*/false).ok());
}

TEST(DenseLabelsTest, ValidationLabelsAbsentFromTrainingAreReportedNotRefused) {
  TempDir tmp;
  // Train has classes 0..2, validation 0..4: 3 and 4 never occur in training.
  std::string train = "f,label\n", val = "f,label\n";
  for (int i = 0; i < 30; ++i) train += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  for (int i = 0; i < 10; ++i) val += std::to_string(i) + "," + std::to_string(i % 5) + "\n";
  WriteBytes(tmp.Path("train.csv"), train);
  WriteBytes(tmp.Path("val.csv"), val);
  SourceSpec spec = CsvSpec("label");
  spec.train_path = tmp.Path("train.csv");
  spec.val_path = tmp.Path("val.csv");
  ::testing::internal::CaptureStderr();
  Status st = Prepare(spec, PrepareOptions(), tmp.Path("store"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_HAS_SUBSTR(err, "data: 2 of 5 classes occur in validation but never in training (3, 4)");
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  auto meta = ReadStoreMeta(tmp.Path("store"));
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->num_classes, 5);
  // Nothing to report when every validation class was seen in training.
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(Prepare(NumberedSpec(WriteNumberedCsv(tmp, "n.csv", 50), 0.2), PrepareOptions(),
                      tmp.Path("store2"))
                  .ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// ---- A path that cannot be a file is bad input, not an I/O failure (item 10) ----

TEST(ReadSourceTest, ASymlinkLoopIsInvalidArgument) {
  TempDir tmp;
  ASSERT_EQ(::symlink(tmp.Path("b").c_str(), tmp.Path("a").c_str()), 0);
  ASSERT_EQ(::symlink(tmp.Path("a").c_str(), tmp.Path("b").c_str()), 0);
  SourceSpec spec = CsvSpec("");
  spec.train_path = tmp.Path("a");
  auto d = ReadSource(spec, /*validation=*/false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << d.status().ToString();
  EXPECT_HAS_SUBSTR(d.status().message(), tmp.Path("a") + ": open: a symlink loop");
}

// ---- The store's identity (item 3) ----

PrepareOptions Options(int partitions, uint64_t seed) {
  PrepareOptions o;
  o.num_train_partitions = partitions;
  o.num_val_partitions = partitions;
  o.seed = seed;
  return o;
}

StoreIdentity IdentityOf(const std::string& dir) {
  auto id = ComputeStoreIdentity(dir);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : StoreIdentity();
}

std::string VerifyMessage(const std::string& dir, const StoreIdentity& expected) {
  Status st = VerifyStoreIdentity(dir, expected);
  EXPECT_FALSE(st.ok()) << dir;
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_HAS_SUBSTR(st.message(), "was the store re-prepared or swapped?");
  return st.message();
}

TEST(StoreIdentityTest, AStoreVerifiesAgainstItselfAndAnIdenticalPreparation) {
  TempDir tmp;
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("a")).ok());
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("b")).ok());
  const StoreIdentity id = IdentityOf(tmp.Path("a"));
  EXPECT_EQ(id.format_version, 2);
  EXPECT_EQ(id.seed, 7u);
  EXPECT_EQ(id.train_partitions, 2);
  EXPECT_EQ(id.val_partitions, 2);
  EXPECT_EQ(id.source["train_path"], tmp.Path("d.csv"));
  ASSERT_EQ(id.source_files.size(), 1u);
  EXPECT_EQ(id.source_files[0]["bytes"], ReadBytes(tmp.Path("d.csv")).size());
  std::vector<std::string> names;
  for (const StoreFile& f : id.files) {
    names.push_back(f.name);
    EXPECT_EQ(f.bytes, ReadBytes(tmp.Path("a/" + f.name)).size());
    const std::string bytes = ReadBytes(tmp.Path("a/" + f.name));
    EXPECT_EQ(f.hash, Hash64(bytes.data(), bytes.size())) << f.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"meta.json", "train_000.x.npy", "train_000.y.npy",
                                             "train_001.x.npy", "train_001.y.npy", "val_000.x.npy",
                                             "val_000.y.npy", "val_001.x.npy", "val_001.y.npy"}));
  Status st = VerifyStoreIdentity(tmp.Path("a"), id);
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = VerifyStoreIdentity(tmp.Path("b"), id);
  EXPECT_TRUE(st.ok()) << st.ToString();

  // The JSON form round-trips, through text too (as a journal line would hold it).
  auto back = StoreIdentityFromJson(nlohmann::ordered_json::parse(ToJson(id).dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == id);
  nlohmann::ordered_json bad = ToJson(id);
  bad["files"][0]["hash"] = "x";
  EXPECT_EQ(StoreIdentityFromJson(bad).status().message(),
            "store identity: hash: expected a non-negative integer");
  bad = ToJson(id);
  bad.erase("seed");
  EXPECT_EQ(StoreIdentityFromJson(bad).status().code(), StatusCode::kDataLoss);
}

TEST(StoreIdentityTest, ARePreparedStoreFailsNamingTheField) {
  TempDir tmp;
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("run")).ok());
  const StoreIdentity id = IdentityOf(tmp.Path("run"));

  ASSERT_TRUE(Prepare(spec, Options(2, 8), tmp.Path("seed8")).ok());
  EXPECT_HAS_SUBSTR(VerifyMessage(tmp.Path("seed8"), id),
                    tmp.Path("seed8") + "/meta.json: seed 8 differs from the run's record (7)");
  ASSERT_TRUE(Prepare(spec, Options(3, 7), tmp.Path("three")).ok());
  EXPECT_HAS_SUBSTR(VerifyMessage(tmp.Path("three"), id),
                    "/meta.json: train partitions 3 differs from the run's record (2)");
  // Another source (another run's data, same seed and partitions).
  const SourceSpec other = NumberedSpec(WriteNumberedCsv(tmp, "e.csv", 200, 1000), 0.2);
  ASSERT_TRUE(Prepare(other, Options(2, 7), tmp.Path("other")).ok());
  EXPECT_HAS_SUBSTR(VerifyMessage(tmp.Path("other"), id),
                    "/meta.json: source.train_path \"" + tmp.Path("e.csv") +
                        "\" differs from the run's record (\"" + tmp.Path("d.csv") + "\")");
}

TEST(StoreIdentityTest, ChangedSwappedMissingOrExtraFilesFailNamingTheFile) {
  TempDir tmp;
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 2000), 0.2);
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("run")).ok());
  ASSERT_TRUE(Prepare(spec, Options(2, 9), tmp.Path("seed9")).ok());
  const StoreIdentity id = IdentityOf(tmp.Path("run"));
  const std::string x1 = tmp.Path("run/train_001.x.npy");
  const std::string original = ReadBytes(x1);
  ASSERT_GT(original.size(), 2000u);
  const std::string hash_of = [&] {
    for (const StoreFile& f : id.files) {
      if (f.name == "train_001.x.npy") return std::to_string(f.bytes) + " bytes, hash 0x";
    }
    return std::string("?");
  }();

  // 1000 overwritten bytes, same size.
  std::string damaged = original;
  for (size_t i = 500; i < 1500; ++i) damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
  WriteBytes(x1, damaged);
  std::string msg = VerifyMessage(tmp.Path("run"), id);
  EXPECT_HAS_SUBSTR(msg, x1 + ": " + hash_of);
  EXPECT_HAS_SUBSTR(msg, "differs from the run's record (" + hash_of);

  // A file swapped in from another preparation (same size, other examples).
  WriteBytes(x1, ReadBytes(tmp.Path("seed9/train_001.x.npy")));
  EXPECT_HAS_SUBSTR(VerifyMessage(tmp.Path("run"), id), x1 + ": " + hash_of);

  // Truncated: caught by its size before anything is hashed.
  WriteBytes(x1, original.substr(0, original.size() - 8));
  EXPECT_HAS_SUBSTR(VerifyMessage(tmp.Path("run"), id),
                    x1 + ": " + std::to_string(original.size() - 8) +
                        " bytes differ from the run's record (" + std::to_string(original.size()) +
                        " bytes)");

  WriteBytes(x1, original);
  ASSERT_TRUE(VerifyStoreIdentity(tmp.Path("run"), id).ok());
  ASSERT_EQ(std::rename(x1.c_str(), tmp.Path("moved").c_str()), 0);
  EXPECT_HAS_SUBSTR(
      VerifyMessage(tmp.Path("run"), id),
      x1 + ": missing (the run's record has " + std::to_string(original.size()) + " bytes)");
  ASSERT_EQ(std::rename(tmp.Path("moved").c_str(), x1.c_str()), 0);
  WriteBytes(tmp.Path("run/extra.npy"), "x");
  EXPECT_HAS_SUBSTR(VerifyMessage(tmp.Path("run"), id),
                    tmp.Path("run/extra.npy") + ": not in the run's record");
}

// ---- Ctrl-C or SIGTERM while a store is written leaves nothing (item 10) ----

// Streaming preparation (issue 13, item 2): IDX pixels are read by row from the file (a
// gzip'd one decompressed to a scratch file of the staging directory), never held whole.
// The store is what gathering from the whole source by the seed's shuffle gives.
TEST(PrepareTest, IdxIsPreparedByRowWithTheSameBytesPlainOrGzipped) {
  TempDir tmp;
  constexpr int kN = 203;  // 7x5 images
  std::vector<uint8_t> pixels, labels;
  for (int i = 0; i < kN * 35; ++i) pixels.push_back(static_cast<uint8_t>((i * 37) % 251));
  for (int i = 0; i < kN; ++i) labels.push_back(static_cast<uint8_t>((i * 7) % 10));
  WriteBytes(tmp.Path("img"), MakeIdx({kN, 7, 5}, pixels));
  WriteBytes(tmp.Path("lab"), MakeIdx({kN}, labels));
  WriteGzip(tmp.Path("img.gz"), MakeIdx({kN, 7, 5}, pixels));
  WriteGzip(tmp.Path("lab.gz"), MakeIdx({kN}, labels));
  WriteBytes(tmp.Path("vimg"), MakeIdx({31, 7, 5}, {pixels.begin(), pixels.begin() + 31 * 35}));
  WriteBytes(tmp.Path("vlab"), MakeIdx({31}, {labels.begin(), labels.begin() + 31}));
  auto spec = [&](const std::string& suffix, bool separate_val) {
    SourceSpec s;
    s.format = "idx";
    s.train_path = tmp.Path("img" + suffix);
    s.train_labels_path = tmp.Path("lab" + suffix);
    if (separate_val) {
      s.val_path = tmp.Path("vimg");
      s.val_labels_path = tmp.Path("vlab");
    } else {
      s.val_fraction = 0.25;
    }
    s.feature_scale = 1.0 / 255;
    return s;
  };
  for (bool separate_val : {false, true}) {
    const std::string tag = separate_val ? "-sep" : "-frac";
    ASSERT_TRUE(Prepare(spec("", separate_val), Options(3, 11), tmp.Path("plain" + tag)).ok());
    ASSERT_TRUE(Prepare(spec(".gz", separate_val), Options(3, 11), tmp.Path("gz" + tag)).ok());
    // What the whole-source path gives: the source gathered by the seed's shuffle.
    auto whole = ReadSource(spec("", separate_val), false);
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();
    std::vector<int64_t> idx = ShuffledRange(int64_t{kN}, DeriveSeed(11, "data.shuffle"));
    if (!separate_val) idx.resize(kN - std::llround(0.25 * kN));
    const StoreIdentity plain = IdentityOf(tmp.Path("plain" + tag));
    const StoreIdentity gz = IdentityOf(tmp.Path("gz" + tag));
    ASSERT_EQ(plain.files.size(), gz.files.size());  // no scratch file left in the store
    for (size_t f = 0; f < plain.files.size(); ++f) {
      EXPECT_EQ(plain.files[f].name, gz.files[f].name);
      if (plain.files[f].name != "meta.json") {
        EXPECT_EQ(plain.files[f].hash, gz.files[f].hash) << plain.files[f].name;
      }
    }
    int64_t at = 0;
    for (int p = 0; p < 3; ++p) {
      auto part = LoadPartition(tmp.Path("gz" + tag), "train", p);
      ASSERT_TRUE(part.ok()) << part.status().ToString();
      for (int64_t r = 0; r < part->num_examples(); ++r, ++at) {
        ASSERT_EQ(part->int_labels[r], whole->int_labels[idx[at]]);
        for (int j = 0; j < 35; ++j) {
          ASSERT_EQ(part->byte_features[r * 35 + j], whole->byte_features[idx[at] * 35 + j]);
        }
      }
    }
    EXPECT_EQ(at, static_cast<int64_t>(idx.size()));
  }
  // A truncated gzip'd source fails naming the file, and leaves nothing behind.
  std::string cut = ReadBytes(tmp.Path("img.gz"));
  WriteBytes(tmp.Path("cut.gz"), cut.substr(0, cut.size() / 2));
  SourceSpec bad = spec(".gz", false);
  bad.train_path = tmp.Path("cut.gz");
  Status st = Prepare(bad, Options(3, 11), tmp.Path("bad"));
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_HAS_SUBSTR(st.message(), tmp.Path("cut.gz"));
  EXPECT_FALSE(RealFileSystem().Exists(tmp.Path("bad")));
  EXPECT_FALSE(RealFileSystem().Exists(tmp.Path("bad.tmp-" + std::to_string(::getpid()))));
}

// Mapped partitions (issue 13, item 3): the same examples as a loaded one, features in a
// read-only mapping that outlives the store directory's names.
TEST(MapPartitionTest, MapsTheSameExamplesAsLoadPartitionReadsForBothEncodings) {
  TempDir tmp;
  WriteSmallIdx(tmp);
  ASSERT_TRUE(Prepare(SmallIdxSpec(tmp), PrepareOptions{}, tmp.Path("bytes")).ok());
  const SourceSpec csv = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  ASSERT_TRUE(Prepare(csv, Options(2, 7), tmp.Path("floats")).ok());
  for (const char* store : {"bytes", "floats"}) {
    for (const char* kind : {"train", "val"}) {
      auto loaded = LoadPartition(tmp.Path(store), kind, 0);
      auto mapped = MapPartition(tmp.Path(store), kind, 0);
      ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
      ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
      EXPECT_EQ(loaded->mapped, nullptr);
      ASSERT_NE(mapped->mapped, nullptr);
      EXPECT_TRUE(mapped->features.empty() && mapped->byte_features.empty());
      EXPECT_EQ(mapped->encoding, loaded->encoding);
      EXPECT_EQ(mapped->feature_shape, loaded->feature_shape);
      EXPECT_EQ(mapped->int_labels, loaded->int_labels);
      EXPECT_EQ(mapped->num_classes, loaded->num_classes);
      ASSERT_EQ(mapped->num_feature_values(), loaded->num_feature_values());
      for (int64_t i = 0; i < loaded->num_feature_values(); ++i) {
        ASSERT_EQ(mapped->FeatureAt(i), loaded->FeatureAt(i)) << store << " " << kind << " " << i;
      }
    }
  }
  // A copy shares the mapping, which outlives the store's files.
  auto mapped = MapPartition(tmp.Path("floats"), "train", 1);
  ASSERT_TRUE(mapped.ok());
  const Dataset copy = *mapped;
  EXPECT_EQ(copy.mapped, mapped->mapped);
  const float first = copy.FeatureAt(0);
  ASSERT_TRUE(RealFileSystem().RemoveAll(tmp.Path("floats")).ok());
  *mapped = Dataset();
  EXPECT_EQ(copy.FeatureAt(0), first);
  // The loader's checks hold for mapping too.
  EXPECT_EQ(MapPartition(tmp.Path("bytes"), "train", 3).status().code(),
            StatusCode::kInvalidArgument);
}

// ---- The prepared-store cache (issue 13, item 1) ----

// Points CEREBRO_CACHE at a temporary directory for one test, so no test touches ~/.cache.
class ScopedCacheEnv {
 public:
  explicit ScopedCacheEnv(const std::string& value) {
    const char* old = std::getenv("CEREBRO_CACHE");
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv("CEREBRO_CACHE", value.c_str(), 1);
  }
  ~ScopedCacheEnv() {
    if (had_) {
      ::setenv("CEREBRO_CACHE", old_.c_str(), 1);
    } else {
      ::unsetenv("CEREBRO_CACHE");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

ino_t InodeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(StoreCacheTest, TheRootFollowsTheEnvironmentAndOffDisablesIt) {
  {
    ScopedCacheEnv env("/some/where");
    EXPECT_EQ(StoreCacheRoot(), "/some/where/stores");
  }
  {
    ScopedCacheEnv env("off");
    EXPECT_EQ(StoreCacheRoot(), "");
  }
  {
    ScopedCacheEnv env("");
    EXPECT_EQ(StoreCacheRoot(), "");
  }
}

TEST(StoreCacheTest, ASecondPreparationLinksTheCachedStoreWithTheSameBytes) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto first = PrepareCached(spec, Options(2, 7), tmp.Path("run1"), cache);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->reused);
  EXPECT_EQ(first->key.size(), 16u);
  EXPECT_HAS_SUBSTR(first->Describe(), "data: prepared store " + first->key + " (");
  auto second = PrepareCached(spec, Options(2, 7), tmp.Path("run2"), cache);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->reused);
  EXPECT_EQ(second->key, first->key);
  EXPECT_HAS_SUBSTR(second->Describe(), "data: reused prepared store " + first->key + " (");
  // Same bytes as a plain preparation, and the same identity (what a run records).
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("plain")).ok());
  const StoreIdentity plain = IdentityOf(tmp.Path("plain"));
  EXPECT_TRUE(IdentityOf(tmp.Path("run1")) == plain);
  EXPECT_TRUE(IdentityOf(tmp.Path("run2")) == plain);
  // Hard links: the run's files are the cache's.
  EXPECT_EQ(InodeOf(tmp.Path("run2/train_000.x.npy")),
            InodeOf(JoinPath(cache, first->key + "/train_000.x.npy")));
  // The run directory outlives the cache.
  ASSERT_TRUE(RealFileSystem().RemoveAll(cache).ok());
  EXPECT_TRUE(VerifyStoreIdentity(tmp.Path("run2"), plain).ok());
  EXPECT_TRUE(LoadPartition(tmp.Path("run2"), "train", 1).ok());
}

TEST(StoreCacheTest, AnythingThatChangesTheBytesIsAnotherKey) {
  TempDir tmp;
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto key = [&](const SourceSpec& s, const PrepareOptions& o) {
    auto k = StoreCacheKey(s, o);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? *k : std::string();
  };
  const std::string base = key(spec, Options(2, 7));
  EXPECT_EQ(key(spec, Options(2, 7)), base);
  PrepareOptions worded = Options(2, 7);
  worded.partitions_field = "run.workers";  // only words errors
  EXPECT_EQ(key(spec, worded), base);
  EXPECT_NE(key(spec, Options(2, 8)), base);
  EXPECT_NE(key(spec, Options(3, 7)), base);
  PrepareOptions val = Options(2, 7);
  val.num_val_partitions = 1;
  EXPECT_NE(key(spec, val), base);
  SourceSpec scaled = spec;
  scaled.feature_scale = 0.5;
  EXPECT_NE(key(scaled, Options(2, 7)), base);
  SourceSpec fraction = spec;
  fraction.val_fraction = 0.3;
  EXPECT_NE(key(fraction, Options(2, 7)), base);

  // An edit that keeps the size and the modification time is still seen (content hash).
  struct stat st;
  ASSERT_EQ(::stat(spec.train_path.c_str(), &st), 0);
  std::string bytes = ReadBytes(spec.train_path);
  const size_t digit = bytes.find_last_of("123456789");
  ASSERT_NE(digit, std::string::npos);
  bytes[digit] = bytes[digit] == '1' ? '2' : '1';
  WriteBytes(spec.train_path, bytes);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, spec.train_path.c_str(), times, 0), 0);
  EXPECT_NE(key(spec, Options(2, 7)), base);
}

TEST(StoreCacheTest, AChangedSourceIsNeverServedStale) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto first = PrepareCached(spec, Options(2, 7), tmp.Path("run1"), cache);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  WriteNumberedCsv(tmp, "d.csv", 200, 1000);  // same name, other values
  auto second = PrepareCached(spec, Options(2, 7), tmp.Path("run2"), cache);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->reused);
  EXPECT_NE(second->key, first->key);
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("plain")).ok());
  EXPECT_TRUE(IdentityOf(tmp.Path("run2")) == IdentityOf(tmp.Path("plain")));
}

TEST(StoreCacheTest, ADamagedEntryIsPreparedAgainNotServed) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto first = PrepareCached(spec, Options(2, 7), tmp.Path("run1"), cache);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const StoreIdentity good = IdentityOf(tmp.Path("run1"));
  // Edited in place through the run's hard link: the cache's bytes change too.
  const std::string path = tmp.Path("run1/train_001.x.npy");
  std::string bytes = ReadBytes(path);
  bytes.back() = static_cast<char>(bytes.back() ^ 0x5a);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(bytes.size() - 1));
    f.put(bytes.back());
  }
  auto second = PrepareCached(spec, Options(2, 7), tmp.Path("run2"), cache);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->reused);
  EXPECT_TRUE(IdentityOf(tmp.Path("run2")) == good);
  auto third = PrepareCached(spec, Options(2, 7), tmp.Path("run3"), cache);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_TRUE(third->reused);
  EXPECT_TRUE(IdentityOf(tmp.Path("run3")) == good);
}

TEST(StoreCacheTest, ConcurrentPreparationsOfOneKeyAllGetTheStoreAndOneEntry) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 500), 0.2);
  constexpr int kRuns = 4;
  std::vector<Status> results(kRuns);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      auto r = PrepareCached(spec, Options(2, 7), tmp.Path("run" + std::to_string(i)), cache);
      results[i] = r.status();
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(Prepare(spec, Options(2, 7), tmp.Path("plain")).ok());
  const StoreIdentity plain = IdentityOf(tmp.Path("plain"));
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].ToString();
    EXPECT_TRUE(IdentityOf(tmp.Path("run" + std::to_string(i))) == plain) << i;
  }
  auto names = RealFileSystem().ListDir(cache);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);  // one entry, no staging left behind
}

TEST(StoreCacheTest, StagingLeftByADeadProcessIsRemovedALiveOnesIsKept) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto key = StoreCacheKey(spec, Options(2, 7));
  ASSERT_TRUE(key.ok());
  // A pid that is certainly gone: a child that has exited and been reaped.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const std::string dead = JoinPath(cache, ".staging-" + *key + "-" + std::to_string(child) + "-0");
  const std::string live =
      JoinPath(cache, ".staging-" + *key + "-" + std::to_string(::getpid()) + "-0");
  ASSERT_TRUE(RealFileSystem().MakeDirs(dead).ok());
  ASSERT_TRUE(RealFileSystem().MakeDirs(live).ok());
  auto r = PrepareCached(spec, Options(2, 7), tmp.Path("run"), cache);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(RealFileSystem().Exists(dead));
  EXPECT_TRUE(RealFileSystem().Exists(live));
}

TEST(StoreCacheTest, WithoutACacheItIsPrepareAndErrorsAreItsOwn) {
  TempDir tmp;
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto r = PrepareCached(spec, Options(2, 7), tmp.Path("run"), "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->reused);
  EXPECT_EQ(r->key, "");
  SourceSpec missing = spec;
  missing.train_path = tmp.Path("nope.csv");
  auto m = PrepareCached(missing, Options(2, 7), tmp.Path("run2"), tmp.Path("cache"));
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound) << m.status().ToString();
  auto exists = PrepareCached(spec, Options(2, 7), tmp.Path("run"), tmp.Path("cache"));
  EXPECT_EQ(exists.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(LinkStore(tmp.Path("run"), tmp.Path("run")).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(LinkStore(tmp.path(), tmp.Path("copy")).code(), StatusCode::kNotFound);
}

// ---- Store-cache eviction: a size cap, least recently used first ----

// Sets (or with nullptr unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

// Sets an entry's last use (its cache.json's mtime) to `seconds` since the epoch.
void SetLastUse(const std::string& cache, const std::string& key, time_t seconds) {
  const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, JoinPath(cache, key + "/cache.json").c_str(), times, 0), 0);
}

std::vector<std::string> KeysOf(const std::string& cache) {
  auto entries = ListStoreCache(cache);
  EXPECT_TRUE(entries.ok()) << entries.status().ToString();
  std::vector<std::string> keys;
  if (entries.ok()) {
    for (const StoreCacheEntry& e : *entries) keys.push_back(e.key);
  }
  return keys;
}

// Prepares `seed`'s store into the cache through a run directory that is then deleted
// (as a user deletes old runs): the entry alone holds its files. Returns its key.
std::string CachedAlone(const TempDir& tmp, const SourceSpec& spec, const std::string& cache,
                        uint64_t seed) {
  const std::string run = tmp.Path("gone-" + std::to_string(seed));
  auto r = PrepareCached(spec, Options(2, seed), run, cache);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(RealFileSystem().RemoveAll(run).ok());
  return r.ok() ? r->key : std::string();
}

TEST(StoreCacheEvictionTest, TheCapComesFromTheEnvironmentInGigabytes) {
  {
    ScopedEnv env("CEREBRO_CACHE_MAX_GB", nullptr);
    EXPECT_EQ(StoreCacheMaxBytes(), static_cast<uint64_t>(kDefaultStoreCacheMaxGb * 1e9));
  }
  {
    ScopedEnv env("CEREBRO_CACHE_MAX_GB", "0.5");
    EXPECT_EQ(StoreCacheMaxBytes(), 500000000u);
  }
  {
    ScopedEnv env("CEREBRO_CACHE_MAX_GB", "0");
    EXPECT_EQ(StoreCacheMaxBytes(), 0u);
  }
  for (const char* bad : {"lots", "-1", "5GB", "nan"}) {
    ScopedEnv env("CEREBRO_CACHE_MAX_GB", bad);
    EXPECT_EQ(StoreCacheMaxBytes(), static_cast<uint64_t>(kDefaultStoreCacheMaxGb * 1e9)) << bad;
  }
}

TEST(StoreCacheEvictionTest, LeastRecentlyUsedGoFirstUntilUnderTheCapAndALinkIsAUse) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  const std::string a = CachedAlone(tmp, spec, cache, 1);
  const std::string b = CachedAlone(tmp, spec, cache, 2);
  const std::string c = CachedAlone(tmp, spec, cache, 3);
  SetLastUse(cache, a, 1000);
  SetLastUse(cache, b, 2000);
  SetLastUse(cache, c, 3000);
  EXPECT_EQ(KeysOf(cache), (std::vector<std::string>{a, b, c}));
  // A run linking `a` uses it: it becomes the most recently used.
  auto reuse = PrepareCached(spec, Options(2, 1), tmp.Path("again"), cache);
  ASSERT_TRUE(reuse.ok()) << reuse.status().ToString();
  EXPECT_TRUE(reuse->reused);
  ASSERT_TRUE(RealFileSystem().RemoveAll(tmp.Path("again")).ok());
  EXPECT_EQ(KeysOf(cache), (std::vector<std::string>{b, c, a}));

  auto entries = ListStoreCache(cache);
  ASSERT_TRUE(entries.ok());
  uint64_t total = 0;
  for (const StoreCacheEntry& e : *entries) {
    EXPECT_FALSE(e.linked) << e.key;
    EXPECT_EQ(e.held_bytes, e.bytes) << e.key;
    total += e.held_bytes;
  }
  // A cap one byte under the total: only the least recently used goes.
  std::vector<std::string> evicted;
  ASSERT_TRUE(EvictStoreCache(cache, total - 1, "", &evicted).ok());
  EXPECT_EQ(evicted, std::vector<std::string>{b});
  EXPECT_EQ(KeysOf(cache), (std::vector<std::string>{c, a}));
  // Under the cap: nothing more.
  evicted.clear();
  ASSERT_TRUE(EvictStoreCache(cache, total, "", &evicted).ok());
  EXPECT_TRUE(evicted.empty());
  // Cap 0 keeps only what it is told to keep.
  ASSERT_TRUE(EvictStoreCache(cache, 0, c, &evicted).ok());
  EXPECT_EQ(evicted, std::vector<std::string>{a});
  EXPECT_EQ(KeysOf(cache), std::vector<std::string>{c});
  auto names = RealFileSystem().ListDir(cache);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);  // nothing half-removed is left behind
}

TEST(StoreCacheEvictionTest, AStoreARunLinksIsNeverEvictedAndTheRunKeepsItsData) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  auto running = PrepareCached(spec, Options(2, 7), tmp.Path("run"), cache);
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  const StoreIdentity id = IdentityOf(tmp.Path("run"));
  auto entries = ListStoreCache(cache);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_TRUE((*entries)[0].linked);
  EXPECT_LT((*entries)[0].held_bytes, (*entries)[0].bytes);  // only cache.json is its own
  std::vector<std::string> evicted;
  ASSERT_TRUE(EvictStoreCache(cache, 0, "", &evicted).ok());
  EXPECT_TRUE(evicted.empty());
  EXPECT_EQ(KeysOf(cache), std::vector<std::string>{running->key});
  // Were the entry removed anyway (by hand), the run's hard links keep its data whole.
  ASSERT_TRUE(RealFileSystem().RemoveAll(JoinPath(cache, running->key)).ok());
  EXPECT_TRUE(VerifyStoreIdentity(tmp.Path("run"), id).ok());
  EXPECT_TRUE(LoadPartition(tmp.Path("run"), "train", 1).ok());
}

TEST(StoreCacheEvictionTest, PublishingEvictsOverTheCapAndAnEvictedStoreIsPreparedAgain) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  const std::string old = CachedAlone(tmp, spec, cache, 1);
  auto fresh = PrepareCached(spec, Options(2, 2), tmp.Path("run2"), cache, /*max_cache_bytes=*/0);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(KeysOf(cache), std::vector<std::string>{fresh->key});  // `old` went, not the new
  auto again = PrepareCached(spec, Options(2, 1), tmp.Path("run1"), cache, 0);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->reused);  // prepared, not served from what was evicted
  EXPECT_EQ(again->key, old);
  ASSERT_TRUE(Prepare(spec, Options(2, 1), tmp.Path("plain")).ok());
  EXPECT_TRUE(IdentityOf(tmp.Path("run1")) == IdentityOf(tmp.Path("plain")));
  // run2 still links its entry, so it stays even at cap 0.
  EXPECT_EQ(KeysOf(cache).size(), 2u);
}

TEST(StoreCacheEvictionTest, NoEvictionWhileARunLinksAndADeadEvictionsLeftoversGo) {
  TempDir tmp;
  const std::string cache = tmp.Path("cache");
  const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 200), 0.2);
  const std::string key = CachedAlone(tmp, spec, cache, 1);
  {
    // Another process linking a store out of the cache holds the lock shared.
    const int fd = ::open((cache + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_SH), 0);
    std::vector<std::string> evicted;
    ASSERT_TRUE(EvictStoreCache(cache, 0, "", &evicted).ok());
    EXPECT_TRUE(evicted.empty());
    EXPECT_EQ(KeysOf(cache), std::vector<std::string>{key});
    ::close(fd);
  }
  // What a process that died mid-eviction left (renamed out of the key, half removed).
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  const std::string dead = JoinPath(cache, ".evicting-" + std::to_string(child) + "-0-" + key);
  ASSERT_TRUE(RealFileSystem().MakeDirs(dead).ok());
  std::vector<std::string> evicted;
  ASSERT_TRUE(EvictStoreCache(cache, 0, "", &evicted).ok());
  EXPECT_EQ(evicted, std::vector<std::string>{key});
  EXPECT_FALSE(RealFileSystem().Exists(dead));
  auto names = RealFileSystem().ListDir(cache);
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

// Raises `sig` in this process during the `on_write`-th file write (the store's files are
// written one by one), as a user's Ctrl-C arriving mid-prepare would.
class SignallingFileSystem : public FailingFileSystem {
 public:
  SignallingFileSystem(int sig, int on_write) : FailingFileSystem(0), sig_(sig), on_(on_write) {}
  Status WriteFileAtomic(const std::string& p, std::string_view c) override {
    if (++writes_ == on_) ::raise(sig_);
    return FailingFileSystem::WriteFileAtomic(p, c);
  }

 private:
  int sig_, on_;
  int writes_ = 0;
};

using PrepareDeathTest = ::testing::Test;

// The "fast" death-test style (gtest's default) is needed: the child must be a fork at
// EXPECT_EXIT, writing into this test's directory, not a re-run of the test in a new one.
TEST(PrepareDeathTest, ASignalWhileWritingRemovesTheStagingDirectoryThenEndsTheProcess) {
  ::testing::FLAGS_gtest_death_test_style = "fast";
  for (int sig : {SIGINT, SIGTERM}) {
    for (int on_write : {1, 4, 7}) {  // the first, a middle and the last (meta.json) write
      TempDir tmp;
      const SourceSpec spec = NumberedSpec(WriteNumberedCsv(tmp, "d.csv", 20), 0.2);
      EXPECT_EXIT(
          {
            SignallingFileSystem fs(sig, on_write);
            PrepareOptions options;
            options.num_train_partitions = 2;
            (void)Prepare(spec, options, tmp.Path("store"), fs);
            std::exit(0);  // not reached: the signal ends the process
          },
          ::testing::KilledBySignal(sig), "")
          << "signal " << sig << " on write " << on_write;
      auto names = RealFileSystem().ListDir(tmp.path());
      ASSERT_TRUE(names.ok());
      EXPECT_EQ(*names, std::vector<std::string>{"d.csv"}) << sig << " " << on_write;
    }
  }
}

TEST(PrepareDeathTest, TheGuardDefersOnlyWhileArmedAndRestoresTheDisposition) {
  ::testing::FLAGS_gtest_death_test_style = "fast";
  // Not armed (nothing staged yet): the default action, at once.
  EXPECT_EXIT(
      {
        internal::InterruptGuard guard;
        ::raise(SIGINT);
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "");
  // Armed: recorded; a second signal (the user insisting) acts at once.
  EXPECT_EXIT(
      {
        internal::InterruptGuard guard;
        guard.Arm();
        ::raise(SIGTERM);
        if (!guard.Interrupted()) std::exit(3);
        ::raise(SIGTERM);
        std::exit(4);
      },
      ::testing::KilledBySignal(SIGTERM), "");
  {
    internal::InterruptGuard guard;
    struct sigaction now = {};
    ASSERT_EQ(::sigaction(SIGINT, nullptr, &now), 0);
    EXPECT_NE(now.sa_handler, SIG_DFL);
  }
  struct sigaction after = {};
  ASSERT_EQ(::sigaction(SIGINT, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);
  // A process that ignores the signal keeps ignoring it: the guard installs nothing.
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGTERM, &ignore, &after), 0);
  {
    internal::InterruptGuard guard;
    guard.Arm();
    ::raise(SIGTERM);
    EXPECT_FALSE(guard.Interrupted());
  }
  ASSERT_EQ(::sigaction(SIGTERM, nullptr, &ignore), 0);
  EXPECT_EQ(ignore.sa_handler, SIG_IGN);
  ASSERT_EQ(::sigaction(SIGTERM, &after, nullptr), 0);
}

constexpr char kFashionDir[] = "/usr/share/datasets/fashion-mnist/";

TEST(FashionMnistTest, ReadsRealFilesAndLoadsAPartition) {
  const std::string base = kFashionDir;
  if (!RealFileSystem().Exists(base + "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed at " << base;
  }
  SourceSpec spec;
  spec.format = "idx";
  spec.train_path = base + "train-images-idx3-ubyte.gz";
  spec.train_labels_path = base + "train-labels-idx1-ubyte.gz";
  spec.val_path = base + "t10k-images-idx3-ubyte.gz";
  spec.val_labels_path = base + "t10k-labels-idx1-ubyte.gz";
  spec.feature_scale = 1.0 / 255;

  auto train = ReadSource(spec, /*validation=*/false);
  ASSERT_TRUE(train.ok()) << train.status().ToString();
  EXPECT_EQ(train->num_examples(), 60000);
  EXPECT_EQ(train->feature_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(train->num_classes, 10);
  auto [lo, hi] =
      std::minmax_element(train->byte_features.begin(), train->byte_features.end());
  EXPECT_EQ(ByteFeatureTable(spec.feature_scale)[*lo], 0.0f);
  EXPECT_EQ(ByteFeatureTable(spec.feature_scale)[*hi], 1.0f);

  TempDir tmp;
  PrepareOptions options;
  options.num_train_partitions = 2;
  options.seed = 1;
  Status st = Prepare(spec, options, tmp.Path("store"));
  ASSERT_TRUE(st.ok()) << st.ToString();
  const double start = MonotonicSeconds();
  auto part = LoadPartition(tmp.Path("store"), "train", 0);
  const double ms = (MonotonicSeconds() - start) * 1e3;
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->num_examples(), 30000);
  EXPECT_EQ(part->num_classes, 10);
  // Informational only (no timing assertions in tests).
  std::cout << "[ info ] LoadPartition(30000 x 1x28x28) took " << ms << " ms\n";
  auto val = LoadPartition(tmp.Path("store"), "val", 0);
  ASSERT_TRUE(val.ok()) << val.status().ToString();
  EXPECT_EQ(val->num_examples(), 10000);

  const double hash_start = MonotonicSeconds();
  auto id = ComputeStoreIdentity(tmp.Path("store"));
  const double hash_ms = (MonotonicSeconds() - hash_start) * 1e3;
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  uint64_t bytes = 0;
  for (const StoreFile& f : id->files) bytes += f.bytes;
  std::cout << "[ info ] ComputeStoreIdentity(" << id->files.size() << " files, " << bytes
            << " bytes) took " << hash_ms << " ms\n";
  Status st_verify = VerifyStoreIdentity(tmp.Path("store"), *id);
  EXPECT_TRUE(st_verify.ok()) << st_verify.ToString();
}

}  // namespace
}  // namespace cerebro::data
