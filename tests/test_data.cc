#include "test_data.h"

#include <sys/wait.h>

#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace cerebro::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/cerebro_e2e_XXXXXX";
  path_ = ::mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string WriteBlobsCsv(const std::string& dir, int rows, unsigned seed) {
  std::string path = dir + "/blobs.csv";
  std::ofstream out(path);
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.6);
  out << "f0,f1,f2,f3,f4,f5,f6,f7,label\n";
  for (int i = 0; i < rows; ++i) {
    int label = i % 3;
    for (int f = 0; f < 8; ++f) {
      double center = (f % 3 == label) ? 2.0 : 0.0;
      out << center + noise(rng) << ",";
    }
    out << label << "\n";
  }
  return path;
}

std::string SmallSpec(const std::string& csv_path, int epochs, int workers,
                      const std::string& extra_run) {
  std::ostringstream s;
  s << "name: small\n"
    << "data:\n"
    << "  format: csv\n"
    << "  train: {path: " << csv_path << ", header: true, label_column: label}\n"
    << "  validation: {fraction: 0.25}\n"
    << "params:\n"
    << "  model: mlp\n"
    << "  hidden: {choice: [[16], [32, 16]]}\n"
    << "  optimizer: adam\n"
    << "  lr: {choice: [0.01, 0.003]}\n"
    << "  batch_size: 32\n"
    << "run:\n"
    << "  epochs: " << epochs << "\n"
    << "  workers: " << workers << "\n"
    << "  seed: 5\n"
    << extra_run;
  return s.str();
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BinaryDir() {
  const char* d = std::getenv("CEREBRO_BINARY_DIR");
  return d != nullptr ? d : ".";
}

CmdResult RunCerebro(const std::string& args) {
  std::string cmd = BinaryDir() + "/cerebro " + args + " 2>&1";
  CmdResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace cerebro::testing
