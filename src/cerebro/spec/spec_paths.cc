#include "cerebro/spec/spec_paths.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace cerebro::spec::internal {
namespace {

// The spec file's directory, absolute and normalised: what relative paths resolve against.
StatusOr<std::filesystem::path> SpecDirectory(const std::string& spec_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path base = fs::path(spec_path).parent_path();
  base = fs::absolute(base.empty() ? fs::path(".") : base, ec).lexically_normal();
  if (ec) return InvalidArgument(spec_path + ": cannot resolve its directory: " + ec.message());
  return base;
}

}  // namespace

std::pair<StatusCode, std::string> WhyNotAFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return {StatusCode::kNotFound, "not found"};
    if (err == ELOOP) return {StatusCode::kInvalidArgument, "a symlink loop"};
    return {StatusCode::kInvalidArgument, std::strerror(err)};
  }
  if (S_ISDIR(st.st_mode)) return {StatusCode::kInvalidArgument, "is a directory"};
  return {StatusCode::kOk, ""};
}

Status ResolveDataFiles(const std::string& spec_path, const std::vector<DataFileField>& files) {
  namespace fs = std::filesystem;
  ASSIGN_OR_RETURN(const fs::path base, SpecDirectory(spec_path));
  std::string base_text = base.string();
  while (base_text.size() > 1 && base_text.back() == '/') base_text.pop_back();
  for (const DataFileField& f : files) {
    const std::string written = *f.path;
    const bool relative = !fs::path(written).is_absolute();
    if (relative) *f.path = (base / written).lexically_normal().string();
    auto [code, why] = WhyNotAFile(f.store ? *f.path + "/meta.json" : *f.path);
    if (code == StatusCode::kOk) continue;
    if (f.store && code == StatusCode::kNotFound) why = "has no meta.json (not a store made by `cerebro prepare`)";
    std::string message = f.field + ": " + written + ": " + why;
    if (why == "is a directory") message += ", expected a file";
    if (relative) {
      message += " (relative paths are resolved against the spec's directory " + base_text + ")";
    }
    return Status(code, message).WithContext(spec_path);
  }
  return Status::Ok();
}

// params.model_file (the torchscript family's file, or a template naming one file per
// configuration): a relative path, fixed or among a choice's values, is resolved against
// the spec's directory as data paths are, so every worker loads the same file whatever its
// working directory. The file need not exist yet: a model whose file is missing fails, not
// the run.
Status ResolveModelFiles(const std::string& spec_path, std::vector<Param>* params) {
  namespace fs = std::filesystem;
  ASSIGN_OR_RETURN(const fs::path base, SpecDirectory(spec_path));
  auto resolve = [&base](Json& value) {
    if (!value.is_string()) return;  // the model family reports the type
    const std::string written = value.get<std::string>();
    if (!written.empty() && !fs::path(written).is_absolute()) {
      value = (base / written).lexically_normal().string();
    }
  };
  for (Param& p : *params) {
    for (Condition& c : p.when) {  // a condition on the file names it as the param does
      if (c.param == "model_file") std::for_each(c.values.begin(), c.values.end(), resolve);
    }
    if (p.name != "model_file") continue;
    if (!p.searched) resolve(p.value);
    if (p.searched && p.dist.kind == Distribution::Kind::kChoice) {
      std::for_each(p.dist.choices.begin(), p.dist.choices.end(), resolve);
    }
  }
  return Status::Ok();
}

}  // namespace cerebro::spec::internal
