// cerebro._core: the native half of the `cerebro` Python package. A thin layer: JSON text
// in and out (the package converts at the edge), the GIL released while the engine
// works, and every engine Status turned into a Python exception carrying the engine's
// one-line message — ValueError for bad input, OSError for files, KeyboardInterrupt for a
// run stopped by Ctrl-C, RuntimeError otherwise. Functions are as thread-safe as the
// driver: one run per run directory at a time, one interrupt scope per process.
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include <unistd.h>

#include "cerebro/cli/progress.h"
#include "cerebro/cli/ranked_table.h"
#include "cerebro/cli/run_name.h"
#include "cerebro/driver/driver.h"
#include "cerebro/driver/run_status.h"
#include "cerebro/spec/spec.h"
#include "cerebro/store/summary.h"
#include "interrupt.h"
#include "sampler.h"

namespace py = pybind11;

namespace cerebro::python {
namespace {

// Raises the Python exception for a failed Status (never returns).
[[noreturn]] void Raise(const Status& st) {
  PyObject* type = PyExc_RuntimeError;
  switch (st.code()) {
    case StatusCode::kInvalidArgument: type = PyExc_ValueError; break;
    case StatusCode::kNotFound: type = PyExc_FileNotFoundError; break;
    case StatusCode::kAlreadyExists: type = PyExc_FileExistsError; break;
    case StatusCode::kIoError: type = PyExc_OSError; break;
    case StatusCode::kCancelled: type = PyExc_KeyboardInterrupt; break;
    default: break;
  }
  PyErr_SetString(type, st.message().c_str());
  throw py::error_already_set();
}

template <typename T>
T Check(StatusOr<T> v) {
  if (!v.ok()) Raise(v.status());
  return std::move(v).value();
}

void Check(const Status& st) {
  if (!st.ok()) Raise(st);
}

std::string WorkerBinary() {
  const char* env = std::getenv("CEREBRO_WORKER_BINARY");
  return env != nullptr && *env ? env : CEREBRO_WORKER_PATH;
}

spec::Json ParseJson(const std::string& text, const char* what) {
  auto j = spec::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Raise(InvalidArgument(std::string(what) + ": not JSON"));
  return j;
}

// summary.json's content plus what only the live result knows.
std::string ResultJson(const driver::RunResult& r) {
  spec::Json j = store::SummaryToJson(r);
  j["run_dir"] = r.run_dir;
  j["warnings"] = r.warnings;
  return j.dump();
}

// Validates a spec given as text (JSON is YAML) without touching any file: the checks a
// run makes before it writes anything, except that data files need not exist yet.
// Returns the resolved spec (defaults filled in) as JSON text.
std::string CheckSpec(const std::string& text, const std::string& source) {
  spec::ExperimentSpec s = Check(spec::ParseSpecString(text, source));
  Check(driver::ConfigurationsJson(s).status());
  return spec::ToJson(s).dump();
}

std::string Configurations(const std::string& text, const std::string& source) {
  spec::ExperimentSpec s = Check(spec::ParseSpecString(text, source));
  return Check(driver::ConfigurationsJson(s)).dump();
}

// Where `cerebro run` would write this spec's run when given no --out (cli/run_name.h):
// for spec text, or (`is_file`) for the spec file at that path.
std::string DefaultRunDirFor(const std::string& spec, bool is_file) {
  spec::ExperimentSpec s =
      Check(is_file ? spec::ParseSpecFile(spec) : spec::ParseSpecString(spec, "spec"));
  return cli::DefaultRunDir(s, std::chrono::system_clock::now(), ::getpid());
}

// Runs (or resumes) with Ctrl-C wired to a clean stop (interrupt.h) and the CLI's
// progress line on stderr unless quiet. `start` calls the driver.
template <typename F>
std::string Drive(const std::string& what, bool quiet, F&& start) {
  StatusOr<driver::RunResult> result = Internal("not run");
  {
    py::gil_scoped_release no_gil;
    auto scope = InterruptScope::Create();
    if (!scope.ok()) {
      result = scope.status();
    } else {
      driver::RunOptions opts;
      opts.worker_binary = WorkerBinary();
      opts.commands = scope->get();
      opts.observers.push_back((*scope)->observer());
      opts.backend_factory = (*scope)->WrapBackends();
      cli::ProgressPrinter progress(quiet);
      progress.Attach(&opts, what);
      result = start(opts);
    }
  }
  return ResultJson(Check(std::move(result)));
}

std::string Run(const std::string& spec_path, const std::string& out_dir, bool quiet) {
  spec::ExperimentSpec s = Check(spec::ParseSpecFile(spec_path));
  return Drive(spec_path, quiet, [&](driver::RunOptions& opts) {
    opts.out_dir = out_dir;
    return driver::RunExperiment(s, opts);
  });
}

std::string Resume(const std::string& run_dir, bool wait, bool quiet) {
  return Drive("resume " + run_dir, quiet, [&](driver::RunOptions& opts) {
    opts.wait_for_lock = wait;
    return driver::ResumeExperiment(run_dir, opts);
  });
}

// summary.json, or for a run that has none yet (live, or killed before its end) its
// models as the journal has them so far, with finished false (as `cerebro report`).
std::string ReadRun(const std::string& run_dir) {
  FileSystem* fs = &RealFileSystem();
  StatusOr<store::Summary> summary = Internal("unread");
  {
    py::gil_scoped_release no_gil;
    summary = driver::ReadSummaryOrJournal(run_dir, fs);
  }
  spec::Json j = store::SummaryToJson(Check(std::move(summary)));
  j["run_dir"] = run_dir;
  return j.dump();
}

std::string RankedTable(const std::string& summary_json) {
  store::Summary s = Check(store::ParseSummary(summary_json, "summary"));
  return cli::FormatRankedTable(s);
}

}  // namespace
}  // namespace cerebro::python

PYBIND11_MODULE(_core, m) {
  using namespace cerebro::python;
  m.doc() = "The native half of the cerebro package (use `cerebro`, not this module).";
  m.def("check_spec", &CheckSpec, py::arg("spec_text"), py::arg("source") = "spec");
  m.def("configurations", &Configurations, py::arg("spec_text"), py::arg("source") = "spec");
  m.def("default_run_dir", &DefaultRunDirFor, py::arg("spec"), py::arg("is_file") = false);
  m.def("run", &Run, py::arg("spec_path"), py::arg("out_dir"), py::arg("quiet") = false);
  m.def("resume", &Resume, py::arg("run_dir"), py::arg("wait") = false, py::arg("quiet") = false);
  m.def("read_run", &ReadRun, py::arg("run_dir"));
  m.def("ranked_table", &RankedTable, py::arg("summary_json"));
  m.def("worker_binary", &WorkerBinary);
  m.attr("cli_path") = CEREBRO_CLI_PATH;

  py::class_<AskTellSampler>(m, "AskTellSampler")
      .def(py::init([](const std::string& spec_text) {
             return Check(AskTellSampler::Create(spec_text));
           }),
           py::arg("spec_text"))
      .def("ask", [](AskTellSampler& s) { return s.Ask().dump(); })
      .def("tell",
           [](AskTellSampler& s, const std::string& config, double value) {
             Check(s.Tell(ParseJson(config, "config"), value));
           },
           py::arg("config_json"), py::arg("value"))
      .def_property_readonly("asked", &AskTellSampler::asked);
}
