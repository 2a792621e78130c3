// The paths a spec names, made absolute against the spec file's directory (what users of
// YAML configs expect, and independent of where cerebro is started) so the resolved spec a
// run directory stores means the same files from anywhere: data files and stores (which
// must exist, checked by field before anything is created) and params.model_file (which
// need not: a model whose file is missing fails, not the run). Internal to spec/;
// stateless functions, thread-compatible (they rewrite the strings they are given).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cerebro/common/status.h"
#include "cerebro/spec/spec.h"

namespace cerebro::spec::internal {

// A data file the spec names and the field that names it ("data.train.images"), so
// ParseSpecFile can resolve and check it with a message naming the field.
struct DataFileField {
  std::string field;
  std::string* path;
  bool store = false;  // a store directory (its meta.json must exist), not a file
};

// Why `path` cannot be read as a file, as the end of a message ("not found", "is a
// directory", "a symlink loop", strerror), or kOk when it is one. The code is NotFound for a
// missing file and InvalidArgument for the rest: all of them are the user's input (exit 2).
std::pair<StatusCode, std::string> WhyNotAFile(const std::string& path);

// Resolves each field's path and checks that it is a file (a store: has meta.json).
// Errors name the field and the path as written: NotFound when missing, else
// InvalidArgument; with `spec_path` as context.
Status ResolveDataFiles(const std::string& spec_path, const std::vector<DataFileField>& files);

// Resolves params.model_file — fixed, among a choice's values, or in a condition on it.
Status ResolveModelFiles(const std::string& spec_path, std::vector<Param>* params);

}  // namespace cerebro::spec::internal
