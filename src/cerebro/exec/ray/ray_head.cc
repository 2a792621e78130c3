#include "cerebro/exec/ray/ray_head.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "cerebro/common/clock.h"

namespace cerebro::exec {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t nl = t.find_last_of('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// A port nothing listens on right now (the kernel's pick for bind(0)).
StatusOr<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  if (port <= 0) return IoError("no free port on 127.0.0.1");
  return port;
}

// The token for Ray's token auth: 32 bytes from the kernel's CSPRNG, in hex (what
// `ray get-auth-token --generate` makes). One per process, not per head: Ray's C++
// runtime loads the token at the first ray::Init and keeps it for later ones, so every
// head this process starts (tests start several) must accept the same token.
StatusOr<std::string> ProcessAuthToken() {
  static std::mutex mu;
  static std::string token;
  std::lock_guard<std::mutex> lock(mu);
  if (!token.empty()) return token;
  unsigned char raw[32];
  size_t got = 0;
  while (got < sizeof(raw)) {
    ssize_t n = ::getrandom(raw + got, sizeof(raw) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char b : raw) {
    token += kHex[b >> 4];
    token += kHex[b & 15];
  }
  return token;
}

// Writes the token to a new 0600 file (never an existing one: O_EXCL, O_NOFOLLOW).
Status WriteAuthToken(const std::string& path) {
  ASSIGN_OR_RETURN(std::string token, ProcessAuthToken());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("ray auth token " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size());
  ok = (::close(fd) == 0) && ok;
  if (!ok) return IoError("ray auth token " + path + ": short write");
  return Status::Ok();
}

bool Exited(int pid, int* status) {
  pid_t r;
  do {
    r = ::waitpid(pid, status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  return r == pid || (r < 0 && errno == ECHILD);
}

}  // namespace

std::string DefaultRayCli() {
  if (const char* env = std::getenv("CEREBRO_RAY_CLI"); env != nullptr && *env) return env;
#ifdef CEREBRO_RAY_CLI_PATH
  if (::access(CEREBRO_RAY_CLI_PATH, X_OK) == 0) return CEREBRO_RAY_CLI_PATH;
#endif
  return "ray";
}

StatusOr<std::unique_ptr<LocalRayHead>> LocalRayHead::Start(const RayHeadOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<LocalRayHead> head, Launch(options));
  RETURN_IF_ERROR(head->AwaitRunning());
  return head;
}

StatusOr<std::unique_ptr<LocalRayHead>> LocalRayHead::Launch(const RayHeadOptions& options) {
  std::unique_ptr<LocalRayHead> head(new LocalRayHead());
  char tmpl[] = "/tmp/cerebro-ray-XXXXXX";  // short: Ray's socket paths live below it
  if (::mkdtemp(tmpl) == nullptr) return IoError(std::string("mkdtemp: ") + std::strerror(errno));
  // mkdtemp makes it 0700, and it stays so: the token beside Ray's own directory, which
  // Ray makes 0777 (anyone could swap a token file in there while Ray starts).
  head->temp_dir_ = tmpl;
  const bool join = !options.join_address.empty();
  if (join) {
    head->token_path_ = options.join_token_path;  // the cluster's token, the head's file
    head->address_ = options.join_address;
  } else {
    head->token_path_ = head->temp_dir_ + "/auth_token";
    RETURN_IF_ERROR(WriteAuthToken(head->token_path_));
  }
  const std::string cli = options.ray_cli.empty() ? DefaultRayCli() : options.ray_cli;
  const std::string log = head->temp_dir_ + "/ray_start.log";

  std::vector<std::string> args = {cli, "start", "--block",
                                   "--node-ip-address=" + options.node_ip,
                                   "--num-cpus=" + std::to_string(options.num_cpus),
                                   "--disable-usage-stats",
                                   "--temp-dir=" + head->temp_dir_ + "/ray"};
  if (join) {
    args.push_back("--address=" + options.join_address);
  } else {
    ASSIGN_OR_RETURN(int port, FreePort());
    head->address_ = options.node_ip + ":" + std::to_string(port);
    args.insert(args.end(),
                {"--head", "--port=" + std::to_string(port), "--include-dashboard=false"});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Prepared before fork: the child may only make async-signal-safe calls.
  std::vector<std::pair<std::string, std::string>> env = {
      {"RAY_AUTH_MODE", "token"},
      {"RAY_AUTH_TOKEN_PATH", head->token_path_},
      // With 1 (Linux's default) `ray start` silently replaces 127.0.0.1 by the eth0
      // address and a driver at 127.0.0.1 cannot find its node (docs/ray-spike.md,
      // pitfall 1); with 0 it refuses worker nodes, which other 127.x addresses need.
      {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", options.node_ip == "127.0.0.1" ? "0" : "1"},
      {"RAY_USAGE_STATS_ENABLED", "0"}};
  for (const auto& [k, v] : options.env) env.emplace_back(k, v);

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);                      // Ctrl-C on the terminal is the driver's alone
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);   // the driver died: stop the cluster
    if (::getppid() != parent) ::_exit(127);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::unsetenv("RAY_AUTH_TOKEN");  // would win over our token file in Ray's loader
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execvp(argv[0], argv.data());
    const char msg[] = "exec of the ray CLI failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here, so it holds before we might signal the group
  head->pid_ = pid;
  head->cli_ = cli;
  head->log_ = log;
  head->start_timeout_seconds_ = options.start_timeout_seconds;
  return head;
}

Status LocalRayHead::AwaitRunning() {
  if (running_) return Status::Ok();
  if (pid_ <= 0) return FailedPrecondition("ray start: no head was launched");
  const double deadline = MonotonicSeconds() + start_timeout_seconds_;
  while (true) {
    std::string text = ReadAll(log_);
    if (text.find("Ray runtime started") != std::string::npos) break;
    int status = 0;
    if (Exited(pid_, &status)) {
      pid_ = -1;
      std::string last = LastLine(text);
      return Internal("ray start (" + cli_ + ") failed" +
                      (last.empty() ? std::string(": no output") : ": " + last) + " (log: " +
                      log_ + ")");
    }
    if (MonotonicSeconds() > deadline) {
      return Internal("ray start did not report a running head within " +
                      std::to_string(static_cast<int>(start_timeout_seconds_)) +
                      " s (log: " + log_ + ")");
    }
    // Start-up only (seconds, once per run): a short sleep between log checks.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  running_ = true;
  return Status::Ok();
}

std::map<std::string, std::string> LocalRayHead::AuthEnvironment() const {
  return {{"RAY_AUTH_MODE", "token"}, {"RAY_AUTH_TOKEN_PATH", token_path_}};
}

void LocalRayHead::Kill() {
  if (pid_ > 0) ::killpg(pid_, SIGKILL);
  for (int p : LiveProcesses()) ::kill(p, SIGKILL);
}

std::vector<int> LocalRayHead::LiveProcesses() const {
  std::vector<int> pids;
  if (temp_dir_.empty()) return pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid == ::getpid()) continue;
    std::string cmdline = ReadAll("/proc/" + std::string(e->d_name) + "/cmdline");
    std::string stat = ReadAll("/proc/" + std::string(e->d_name) + "/stat");
    bool zombie = false;
    long pgrp = -1;
    if (size_t rp = stat.rfind(')'); rp != std::string::npos) {
      std::istringstream fields(stat.substr(rp + 2));
      char state = 0;
      long ppid = 0;
      fields >> state >> ppid >> pgrp;
      zombie = state == 'Z';
    }
    if (zombie) continue;
    if ((pid_ > 0 && pgrp == pid_) || cmdline.find(temp_dir_) != std::string::npos) {
      pids.push_back(static_cast<int>(pid));
    }
  }
  ::closedir(dir);
  return pids;
}

Status LocalRayHead::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const double deadline = MonotonicSeconds() + 30;
    while (!Exited(pid_, &status) && MonotonicSeconds() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Whatever is still in the group (or the blocked `ray start` itself) goes now.
    ::killpg(pid_, SIGKILL);
    while (!Exited(pid_, &status)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Ray's processes are reparented on exit; give the kernel a moment to reap them.
  std::vector<int> left = LiveProcesses();
  for (int i = 0; i < 100 && !left.empty(); ++i) {
    for (int p : left) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    left = LiveProcesses();
  }
  pid_ = -1;
  if (!temp_dir_.empty()) {
    if (std::getenv("CEREBRO_RAY_KEEP_LOGS") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(temp_dir_, ec);
    }
    if (left.empty()) temp_dir_.clear();
  }
  if (!left.empty()) {
    return Internal("ray head: " + std::to_string(left.size()) +
                    " process(es) survived the stop, e.g. pid " + std::to_string(left[0]));
  }
  return Status::Ok();
}

LocalRayHead::~LocalRayHead() { (void)Stop(); }

}  // namespace cerebro::exec
