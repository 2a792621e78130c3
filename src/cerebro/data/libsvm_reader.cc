// LibSVM / SVMlight: "label index:value index:value ..." with 1-based, strictly
// increasing indices; absent features are 0. Output is dense (the models here are
// dense), so this is for the modest-width datasets LibSVM is usually used for.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {
namespace {

bool ParseIndex(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

StatusOr<Dataset> ReadLibSvm(const std::string& path, const SourceSpec& spec) {
  if (spec.libsvm_num_features < 0) {
    return InvalidArgument(path + ": libsvm_num_features must be >= 0 (0 = infer), got " +
                           std::to_string(spec.libsvm_num_features));
  }
  ASSIGN_OR_RETURN(std::string text, ReadMaybeGzip(path));
  return internal::ParseLibSvmText(path, text, spec);
}

StatusOr<Dataset> internal::ParseLibSvmText(const std::string& path, const std::string& text,
                                            const SourceSpec& spec) {
  if (spec.libsvm_num_features < 0) {
    return InvalidArgument(path + ": libsvm_num_features must be >= 0 (0 = infer), got " +
                           std::to_string(spec.libsvm_num_features));
  }
  Dataset d;
  d.task = spec.task;

  // Sparse rows first; the width is known only at the end when it is inferred.
  std::vector<int64_t> row_start;
  std::vector<std::pair<int64_t, float>> entries;  // (0-based index, value)
  int64_t max_index = 0;                           // 1-based
  std::string_view rest(text);
  int64_t line_no = 0;
  internal::LargestLabel largest;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = internal::Trim(line);
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no);

    size_t pos = 0;
    auto next_token = [&]() -> std::string_view {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      size_t start = pos;
      while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
      return line.substr(start, pos - start);
    };

    std::string_view label = next_token();
    if (d.task == Task::kClassification) {
      int64_t v = 0;
      RETURN_IF_ERROR(internal::ParseClassLabel(label, where, &v));
      d.int_labels.push_back(v);
      largest.See(v, line_no);
    } else {
      float v = 0;
      if (!internal::ParseFiniteFloat(label, &v)) {
        return InvalidArgument(where + ": label '" + std::string(label) +
                               "' is not a finite number");
      }
      d.float_labels.push_back(v);
    }
    row_start.push_back(static_cast<int64_t>(entries.size()));
    int64_t prev = 0;
    for (std::string_view tok = next_token(); !tok.empty(); tok = next_token()) {
      size_t colon = tok.find(':');
      int64_t index = 0;
      float value = 0;
      if (colon == std::string_view::npos || !ParseIndex(tok.substr(0, colon), &index)) {
        return InvalidArgument(where + ": expected index:value, got '" + std::string(tok) + "'");
      }
      if (index == 0) {
        return InvalidArgument(where + ": feature index 0; LibSVM indices are 1-based");
      }
      if (index <= prev) {
        return InvalidArgument(where + ": feature index " + std::to_string(index) +
                               " is not greater than the previous index " + std::to_string(prev));
      }
      if (spec.libsvm_num_features > 0 && index > spec.libsvm_num_features) {
        return InvalidArgument(where + ": feature index " + std::to_string(index) +
                               " exceeds num_features " + std::to_string(spec.libsvm_num_features));
      }
      if (!internal::ParseFiniteFloat(tok.substr(colon + 1), &value)) {
        return InvalidArgument(where + ": feature " + std::to_string(index) + ": '" +
                               std::string(tok.substr(colon + 1)) + "' is not a finite number");
      }
      if (spec.feature_scale != 1.0) {
        value = static_cast<float>(value * spec.feature_scale);
        if (!std::isfinite(value)) {
          return InvalidArgument(where + ": feature " + std::to_string(index) + ": " +
                                 std::string(tok.substr(colon + 1)) + " * feature_scale " +
                                 std::to_string(spec.feature_scale) + " is not a finite float");
        }
      }
      prev = index;
      if (index > max_index) max_index = index;
      entries.emplace_back(index - 1, value);
    }
  }
  const int64_t n = static_cast<int64_t>(row_start.size());
  if (n == 0) return InvalidArgument(path + ": no examples");
  const int64_t width = spec.libsvm_num_features > 0 ? spec.libsvm_num_features : max_index;
  if (width == 0) return InvalidArgument(path + ": no features in any example");
  // Densifying a very wide sparse file would exhaust memory; say so instead of crashing.
  // The limit grows with the file (a 15-byte line naming feature 4000000000 must not ask
  // for 16 GB): at most 1024 dense values per byte of input, 2^26 for any file, and
  // never more than 2^34.
  const uint64_t limit = std::min<uint64_t>(
      std::max<uint64_t>(uint64_t{1} << 26, uint64_t{1024} * text.size()), uint64_t{1} << 34);
  if (static_cast<uint64_t>(width) > limit / static_cast<uint64_t>(n)) {
    return InvalidArgument(path + ": " + std::to_string(n) + " examples x " +
                           std::to_string(width) + " features is too large to store densely (" +
                           std::to_string(limit) + " values at most for this " +
                           std::to_string(text.size()) +
                           "-byte file); check the feature indices or num_features");
  }
  d.feature_shape = {width};
  d.features.assign(static_cast<size_t>(n * width), 0.0f);
  row_start.push_back(static_cast<int64_t>(entries.size()));
  for (int64_t r = 0; r < n; ++r) {
    float* row = d.features.data() + r * width;
    for (int64_t e = row_start[r]; e < row_start[r + 1]; ++e) {
      row[entries[e].first] = entries[e].second;  // already scaled
    }
  }
  RETURN_IF_ERROR(internal::CheckDenseLabels(d, path + ":" + std::to_string(largest.line)));
  internal::SetNumClasses(&d);
  return d;
}

}  // namespace cerebro::data
