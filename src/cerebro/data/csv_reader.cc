// CSV: one example per line, all columns numeric except that the label column holds a
// class id (classification) or a number (regression). No quoting: numeric data never
// needs it, and a quoted header name is unquoted.
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "cerebro/data/data_internal.h"
#include "cerebro/data/readers.h"

namespace cerebro::data {
namespace {

void SplitFields(std::string_view line, char delim, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    size_t pos = line.find(delim, start);
    if (pos == std::string_view::npos) {
      out->push_back(internal::Trim(line.substr(start)));
      return;
    }
    out->push_back(internal::Trim(line.substr(start, pos - start)));
    start = pos + 1;
  }
}

std::string_view Unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

bool IsIndex(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Resolves spec.csv_label_column against the header (a name, which wins if a column is
// literally named "3") or as a 0-based index; "" is the last column.
StatusOr<size_t> ResolveLabelColumn(const std::string& path, const SourceSpec& spec,
                                    const std::vector<std::string>& header, size_t num_fields) {
  const std::string& want = spec.csv_label_column;
  if (want.empty()) return num_fields - 1;
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == want) return i;
  }
  if (IsIndex(want)) {
    size_t index = std::stoul(want);
    if (index >= num_fields) {
      return InvalidArgument(path + ": label column index " + want +
                             " is out of range; the file has " + std::to_string(num_fields) +
                             " columns");
    }
    return index;
  }
  if (header.empty()) {
    return InvalidArgument(path + ": label column '" + want +
                           "' is a name but the file has no header (csv_header is false); "
                           "use a 0-based column index");
  }
  std::string names;
  for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
  return InvalidArgument(path + ": label column '" + want + "' not found in header (" + names +
                         ")");
}

}  // namespace

StatusOr<Dataset> ReadCsv(const std::string& path, const SourceSpec& spec) {
  ASSIGN_OR_RETURN(std::string text, ReadMaybeGzip(path));
  return internal::ParseCsvText(path, text, spec);
}

StatusOr<Dataset> internal::ParseCsvText(const std::string& path, const std::string& text,
                                         const SourceSpec& spec) {
  Dataset d;
  d.task = spec.task;
  const bool exact_scale = spec.feature_scale == 1.0;

  std::vector<std::string> header;
  bool need_header = spec.csv_header;
  size_t num_fields = 0;  // fixed by the header or the first data row
  size_t label_col = 0;
  std::vector<std::string_view> fields;
  std::string_view rest(text);
  int64_t line_no = 0;
  internal::LargestLabel largest;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (internal::Trim(line).empty()) continue;  // blank lines, e.g. a trailing one
    const std::string where = path + ":" + std::to_string(line_no);
    SplitFields(line, spec.csv_delimiter, &fields);

    if (need_header) {
      need_header = false;
      for (auto f : fields) header.emplace_back(Unquote(f));
      num_fields = header.size();
      if (num_fields < 2) {
        return InvalidArgument(where +
                               ": expected at least 2 columns (features and a label), got " +
                               std::to_string(num_fields) + "; check csv_delimiter");
      }
      ASSIGN_OR_RETURN(label_col, ResolveLabelColumn(path, spec, header, num_fields));
      continue;
    }
    if (num_fields == 0) {
      num_fields = fields.size();
      if (num_fields < 2) {
        return InvalidArgument(where +
                               ": expected at least 2 columns (features and a label), got " +
                               std::to_string(num_fields) + "; check csv_delimiter");
      }
      ASSIGN_OR_RETURN(label_col, ResolveLabelColumn(path, spec, header, num_fields));
    }
    if (fields.size() != num_fields) {
      return InvalidArgument(where + ": expected " + std::to_string(num_fields) + " fields, got " +
                             std::to_string(fields.size()));
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i == label_col) {
        if (d.task == Task::kClassification) {
          int64_t label = 0;
          RETURN_IF_ERROR(internal::ParseClassLabel(fields[i], where, &label));
          d.int_labels.push_back(label);
          largest.See(label, line_no);
        } else {
          float label = 0;
          if (!internal::ParseFiniteFloat(fields[i], &label)) {
            return InvalidArgument(where + ": label '" + std::string(fields[i]) +
                                   "' is not a finite number");
          }
          d.float_labels.push_back(label);
        }
        continue;
      }
      float v = 0;
      if (!internal::ParseFiniteFloat(fields[i], &v)) {
        std::string column =
            header.empty() ? "column " + std::to_string(i) : "column '" + header[i] + "'";
        return InvalidArgument(where + ": " + column + ": '" + std::string(fields[i]) +
                               "' is not a finite number");
      }
      if (!exact_scale) {
        v = static_cast<float>(v * spec.feature_scale);
        if (!std::isfinite(v)) {
          return InvalidArgument(where + ": " + std::string(fields[i]) + " * feature_scale " +
                                 std::to_string(spec.feature_scale) + " is not a finite float");
        }
      }
      d.features.push_back(v);
    }
  }
  if (num_fields == 0 || d.features.empty()) {
    return InvalidArgument(path + ": no examples");
  }
  d.feature_shape = {static_cast<int64_t>(num_fields - 1)};
  RETURN_IF_ERROR(internal::CheckDenseLabels(d, path + ":" + std::to_string(largest.line)));
  internal::SetNumClasses(&d);
  return d;
}

}  // namespace cerebro::data
