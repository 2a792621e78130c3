// ForkServer with a stand-in entry point: what a forked worker gets (argv, env, fd 3, its
// name), that it is this process's child, and that a process with threads gets no server.
// Its own binary: Start() needs a process that has not started a thread yet.
#include "cerebro/exec/fork_server.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace cerebro::exec {
namespace {

// Writes "argv[1]|$FORK_TEST_VALUE|comm|ppid" to fd 3, exits with argc.
int Entry(int argc, char** argv) {
  char comm[17] = {0};
  ::prctl(PR_GET_NAME, comm);
  const char* value = std::getenv("FORK_TEST_VALUE");
  const std::string line = std::string(argc > 1 ? argv[1] : "") + "|" + (value ? value : "") +
                           "|" + comm + "|" + std::to_string(::getppid());
  (void)!::write(3, line.data(), line.size());
  return argc;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// First (gtest runs tests in the order they are defined), in a child process, before
// this process starts its server: with a second thread running, Start refuses.
TEST(ForkServerStartTest, AProcessWithThreadsGetsNoServer) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    bool stop = false;
    std::thread t([&stop] {
      while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) ::usleep(1000);
    });
    const Status st = ForkServer::Start(&Entry);
    __atomic_store_n(&stop, true, __ATOMIC_SEQ_CST);
    t.join();
    ::_exit(st.code() == StatusCode::kFailedPrecondition && ForkServer::Get() == nullptr ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

class ForkServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(ForkServer::Start(&Entry).ok()); }
};

TEST_F(ForkServerTest, AWorkerGetsItsArgsEnvDescriptorAndNameAndIsOurChild) {
  ForkServer* server = ForkServer::Get();
  ASSERT_NE(server, nullptr);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto pid = server->Spawn({"worker", "hello", "x"}, {{"FORK_TEST_VALUE", "v=1"}}, fds[1]);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  ::close(fds[1]);
  EXPECT_EQ(ReadAll(fds[0]), "hello|v=1|cerebro-worker|" + std::to_string(::getpid()));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);  // ours to reap, with its exit status
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST_F(ForkServerTest, ServesOneWorkerAfterAnother) {
  for (int i = 0; i < 3; ++i) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    auto pid = ForkServer::Get()->Spawn({"worker", std::to_string(i)}, {}, fds[1]);
    ASSERT_TRUE(pid.ok()) << pid.status().ToString();
    ::close(fds[1]);
    EXPECT_EQ(ReadAll(fds[0]).substr(0, 2), std::to_string(i) + "|");
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
    EXPECT_EQ(WEXITSTATUS(status), 2);
  }
}

TEST_F(ForkServerTest, AnEmptyArgumentIsRefusedBeforeAnythingIsForked) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto pid = ForkServer::Get()->Spawn({"worker", ""}, {}, fds[1]);
  EXPECT_EQ(pid.status().code(), StatusCode::kInvalidArgument);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace cerebro::exec
