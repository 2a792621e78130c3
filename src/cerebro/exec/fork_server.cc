#include "cerebro/exec/fork_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace cerebro::exec {
namespace {

// A request: the args, an empty string, then "KEY=VALUE" entries, each NUL-terminated;
// the worker's descriptor rides along as SCM_RIGHTS. The reply: an int64, the worker's
// pid or -errno.
constexpr size_t kMaxRequest = 64 * 1024;

std::unique_ptr<ForkServer>& Instance() {
  static std::unique_ptr<ForkServer> server;
  return server;
}

int CountThreads() {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

ssize_t ReceiveWithFd(int channel, char* buf, size_t cap, int* fd) {
  *fd = -1;
  iovec iov{buf, cap};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::memcpy(fd, CMSG_DATA(c), sizeof(int));
    }
  }
  return n;
}

// In the worker, forked from the intermediate: waits to be reparented to the driver,
// then becomes the worker. Never returns.
[[noreturn]] void BecomeWorker(ForkServer::Entry entry, pid_t driver, pid_t intermediate,
                               int fd, std::vector<std::string> args,
                               const std::vector<std::string>& env) {
  // The intermediate exits right after forking us; until then it is our parent. Anyone
  // else (the driver died, or it is no subreaper) means there is no one to serve.
  for (int i = 0; ::getppid() != driver; ++i) {
    if (::getppid() != intermediate || i > 100000) ::_exit(127);
    ::usleep(100);
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != driver) ::_exit(127);
  ::prctl(PR_SET_NAME, "cerebro-worker");
  if (fd != 3) {
    ::dup2(fd, 3);  // dup2 clears FD_CLOEXEC on the new descriptor
    ::close(fd);
  } else {
    ::fcntl(3, F_SETFD, 0);
  }
  for (const std::string& kv : env) {
    const size_t eq = kv.find('=');
    ::setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = entry(static_cast<int>(args.size()), argv.data());
  std::fflush(nullptr);
  ::_exit(rc);  // not exit(): the driver's atexit handlers and static destructors are not ours
}

// The server's loop: one worker per request, until the channel closes.
[[noreturn]] void Serve(int channel, ForkServer::Entry entry, pid_t driver) {
  std::vector<char> buf(kMaxRequest);
  for (;;) {
    int fd = -1;
    const ssize_t n = ReceiveWithFd(channel, buf.data(), buf.size(), &fd);
    if (n <= 0) ::_exit(0);
    std::vector<std::string> args, env;
    bool in_env = false;
    for (size_t at = 0; at < static_cast<size_t>(n);) {
      const size_t len = ::strnlen(buf.data() + at, static_cast<size_t>(n) - at);
      std::string s(buf.data() + at, len);
      at += len + 1;
      if (!in_env && s.empty()) {
        in_env = true;
      } else {
        (in_env ? env : args).push_back(std::move(s));
      }
    }
    int64_t reply = -EINVAL;
    int pid_pipe[2];
    if (fd < 0 || args.empty()) {
      reply = -EINVAL;
    } else if (::pipe2(pid_pipe, O_CLOEXEC) != 0) {
      reply = -errno;
    } else {
      const pid_t intermediate = ::fork();
      if (intermediate == 0) {
        ::close(pid_pipe[0]);
        ::close(channel);
        const pid_t self = ::getpid();
        pid_t worker = ::fork();
        if (worker == 0) {
          ::close(pid_pipe[1]);
          BecomeWorker(entry, driver, self, fd, std::move(args), env);
        }
        const int64_t out = worker > 0 ? worker : -errno;
        (void)!::write(pid_pipe[1], &out, sizeof(out));
        ::_exit(0);
      }
      ::close(pid_pipe[1]);
      if (intermediate < 0) {
        reply = -errno;
      } else {
        int64_t got = -ECHILD;
        ssize_t r;
        do {
          r = ::read(pid_pipe[0], &got, sizeof(got));
        } while (r < 0 && errno == EINTR);
        reply = r == sizeof(got) ? got : -ECHILD;
        while (::waitpid(intermediate, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      ::close(pid_pipe[0]);
    }
    if (fd >= 0) ::close(fd);
    if (::send(channel, &reply, sizeof(reply), MSG_NOSIGNAL) != sizeof(reply)) ::_exit(0);
  }
}

}  // namespace

Status ForkServer::Start(Entry entry) {
  if (Instance()) return Status::Ok();
  const int threads = CountThreads();
  if (threads != 1) {
    return FailedPrecondition("fork server: the process has " + std::to_string(threads) +
                              " threads; it must be started while it has one");
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return IoError(std::string("fork server: socketpair: ") + std::strerror(errno));
  }
  std::fflush(nullptr);  // else the server's copy of unflushed output could be written twice
  const pid_t driver = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return IoError(std::string("fork server: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != driver) ::_exit(0);
    ::prctl(PR_SET_NAME, "cerebro-fork");
    ::close(fds[0]);
    Serve(fds[1], entry, driver);
  }
  ::close(fds[1]);
  Instance().reset(new ForkServer(fds[0], pid));
  return Status::Ok();
}

ForkServer* ForkServer::Get() { return Instance().get(); }

StatusOr<pid_t> ForkServer::Spawn(const std::vector<std::string>& args, const Env& env, int fd) {
  std::string request;
  for (const std::string& a : args) {
    if (a.empty() || a.find('\0') != std::string::npos) {
      return InvalidArgument("fork server: an argument is empty or holds a NUL");
    }
    request.append(a).push_back('\0');
  }
  request.push_back('\0');
  for (const auto& [key, value] : env) request.append(key + "=" + value).push_back('\0');
  if (request.size() > kMaxRequest) return InvalidArgument("fork server: request too long");

  std::lock_guard<std::mutex> lock(mu_);
  if (!subreaper_) {
    // The workers' intermediate parents exit at once; this makes the workers ours.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      return IoError(std::string("fork server: PR_SET_CHILD_SUBREAPER: ") + std::strerror(errno));
    }
    subreaper_ = true;
  }
  iovec iov{request.data(), request.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t sent;
  do {
    sent = ::sendmsg(channel_, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(request.size())) {
    return IoError(std::string("fork server: gone (") + std::strerror(errno) + ")");
  }
  int64_t reply = 0;
  ssize_t got;
  do {
    got = ::recv(channel_, &reply, sizeof(reply), 0);
  } while (got < 0 && errno == EINTR);
  if (got != sizeof(reply)) return IoError("fork server: gone (no reply)");
  if (reply <= 0) {
    return IoError(std::string("fork server: fork: ") + std::strerror(static_cast<int>(-reply)));
  }
  return static_cast<pid_t>(reply);
}

ForkServer::~ForkServer() {
  ::close(channel_);  // the server sees EOF and exits
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace cerebro::exec
