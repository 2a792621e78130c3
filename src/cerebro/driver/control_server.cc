#include "cerebro/driver/control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cerebro/common/file_system.h"
#include "cerebro/common/rng.h"

namespace cerebro::driver {
namespace {

using Json = spec::Json;
constexpr size_t kMaxLine = 1 << 20;

std::string ControlFile(const std::string& run_dir) { return JoinPath(run_dir, "control"); }

// /tmp/cerebro-<uid>/ctl-<hash of the run dir>.sock: short enough for sun_path whatever
// the run directory's path, in a directory nobody else can enter.
StatusOr<std::string> SocketPathFor(const std::string& run_dir) {
  char real[4096];
  const std::string id = ::realpath(run_dir.c_str(), real) ? real : run_dir;
  const std::string dir = "/tmp/cerebro-" + std::to_string(::geteuid());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError(dir + ": mkdir: " + std::strerror(errno));
  }
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 077) != 0) {
    return FailedPrecondition(dir + ": not a private directory of this user (mode 0700)");
  }
  char name[64];
  std::snprintf(name, sizeof(name), "/ctl-%016llx.sock",
                static_cast<unsigned long long>(HashString(id)));
  return dir + name;
}

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

void WriteLine(int fd, const std::string& line) {
  std::string text = line + "\n";
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n <= 0 && errno != EINTR) return;
    if (n > 0) off += static_cast<size_t>(n);
  }
}

// Reads up to a newline (or EOF); false on error or an over-long line.
bool ReadLine(int fd, std::string* line) {
  char buf[4096];
  while (line->find('\n') == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line->append(buf, static_cast<size_t>(n));
    if (line->size() > kMaxLine) return false;
  }
  if (auto nl = line->find('\n'); nl != std::string::npos) line->resize(nl);
  return !line->empty();
}

StatusOr<ModelId> ModelField(const Json& j) {
  auto it = j.find("model");
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
    return InvalidArgument("model: expected a model id (a non-negative integer)");
  }
  return static_cast<ModelId>(it->get<int64_t>());
}

StatusOr<int> EpochsField(const Json& j, bool required) {
  auto it = j.find("epochs");
  if (it == j.end() && !required) return 0;
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 1 ||
      it->get<int64_t>() > 1000000) {
    return InvalidArgument("epochs: expected a positive number of epochs");
  }
  return static_cast<int>(it->get<int64_t>());
}

// Sockets of runs that were killed (their server never removed them) answer no one:
// remove them, so the private directory does not collect one per killed run.
void RemoveDeadSockets(const std::string& dir) {
  auto names = RealFileSystem().ListDir(dir);
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    if (n.rfind("ctl-", 0) != 0) continue;
    const std::string path = dir + "/" + n;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_un addr = Address(path);
    const bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
                         errno == ECONNREFUSED;
    ::close(fd);
    if (refused) ::unlink(path.c_str());
  }
}

}  // namespace

StatusOr<Command> ParseControlCommand(const std::string& line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("command: not a JSON object");
  const std::string verb = j.value("command", "");
  if (verb == "stop") {
    ASSIGN_OR_RETURN(ModelId m, ModelField(j));
    return Command(search::StopModel{m, j.value("detail", "")});
  }
  if (verb == "extend") {
    ASSIGN_OR_RETURN(ModelId m, ModelField(j));
    ASSIGN_OR_RETURN(int epochs, EpochsField(j, true));
    return Command(search::ExtendModel{m, epochs});
  }
  if (verb == "add") {
    auto params = j.find("params");
    if (params == j.end() || !params->is_object()) return InvalidArgument("params: expected an object");
    ASSIGN_OR_RETURN(int epochs, EpochsField(j, false));
    return Command(search::AddModel{*params, epochs, -1});
  }
  if (verb == "clone") {
    ASSIGN_OR_RETURN(ModelId m, ModelField(j));
    Json set = j.value("set", Json::object());
    if (!set.is_object()) return InvalidArgument("set: expected an object of params");
    ASSIGN_OR_RETURN(int epochs, EpochsField(j, false));
    return Command(CloneModel{m, set, epochs});
  }
  return InvalidArgument("command: expected stop, extend, add or clone, got '" + verb + "'");
}

StatusOr<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& run_dir) {
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->run_dir_ = run_dir;
  ASSIGN_OR_RETURN(s->socket_path_, SocketPathFor(run_dir));
  ASSIGN_OR_RETURN(s->wakeup_, Wakeup::Create());
  ASSIGN_OR_RETURN(s->stop_, Wakeup::Create());
  ::unlink(s->socket_path_.c_str());  // a crashed run's
  RemoveDeadSockets(s->socket_path_.substr(0, s->socket_path_.find_last_of('/')));
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr = Address(s->socket_path_);
  const mode_t old = ::umask(0177);  // the socket is created 0600
  const int rc = ::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0 || ::listen(s->listen_fd_, 8) != 0) {
    return IoError(s->socket_path_ + ": bind/listen: " + std::strerror(errno));
  }
  RETURN_IF_ERROR(RealFileSystem().WriteFileAtomic(ControlFile(run_dir), s->socket_path_ + "\n"));
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

ControlServer::~ControlServer() {
  if (stop_) stop_->Notify();
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::unlink(socket_path_.c_str());
  (void)RealFileSystem().RemoveFile(ControlFile(run_dir_));
  for (IncomingCommand& c : queue_) {  // the run ended before taking them
    if (c.reply) c.reply(FailedPrecondition(run_dir_ + ": the run ended"), "");
  }
}

void ControlServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_->fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) HandleConnection(fd);
  }
}

void ControlServer::HandleConnection(int fd) {
  ucred peer{};
  socklen_t len = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != ::geteuid()) {
    WriteLine(fd, "error: only the user who owns this run (uid " + std::to_string(::geteuid()) +
                      ") can steer it");
    ::close(fd);
    return;
  }
  std::string line;
  if (!ReadLine(fd, &line)) {
    WriteLine(fd, "error: command: expected one line of JSON");
    ::close(fd);
    return;
  }
  StatusOr<Command> command = ParseControlCommand(line);
  if (!command.ok()) {
    WriteLine(fd, "error: " + command.status().message());
    ::close(fd);
    return;
  }
  // The loop answers (from its thread) once the command is journaled or refused.
  CommandReply reply = [fd](const Status& st, const std::string& message) {
    WriteLine(fd, st.ok() ? "ok: " + message : "error: " + st.message());
    ::close(fd);
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({std::move(command).value(), std::move(reply)});
  }
  wakeup_->Notify();
}

std::vector<IncomingCommand> ControlServer::Take() {
  wakeup_->Drain();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<IncomingCommand> out;
  out.swap(queue_);
  return out;
}

StatusOr<std::string> SendControlCommand(const std::string& run_dir, const std::string& command_json) {
  auto path = RealFileSystem().ReadFile(ControlFile(run_dir));
  const std::string not_running = run_dir + ": not running (no run serves it; start it with cerebro resume)";
  if (!path.ok()) return FailedPrecondition(not_running);
  std::string socket_path = *path;
  while (!socket_path.empty() && socket_path.back() == '\n') socket_path.pop_back();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr = Address(socket_path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EACCES || err == EPERM) {
      return FailedPrecondition(run_dir + ": only the user who owns this run can steer it");
    }
    return FailedPrecondition(not_running);
  }
  WriteLine(fd, command_json);
  std::string reply;
  const bool got = ReadLine(fd, &reply);
  ::close(fd);
  if (!got) return FailedPrecondition(run_dir + ": the run ended before it answered");
  return reply;
}

}  // namespace cerebro::driver
