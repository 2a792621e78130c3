#include "cerebro/cli/signals.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cerebro/cli/outcome.h"

namespace cerebro::cli {
namespace {

// A signal handler reaches only globals, and may only call async-signal-safe functions:
// the hint and the directory are copied here when the handler is installed, so the
// handler itself just tests the path (access) and writes the bytes.
constexpr size_t kMax = 4096;
char g_dir[kMax];
char g_hint[kMax + 64];
size_t g_hint_len = 0;

void PrintHintThenDie(int sig) {
  const int saved_errno = errno;
  if (::access(g_dir, F_OK) == 0) {
    for (size_t done = 0; done < g_hint_len;) {
      const ssize_t n = ::write(STDERR_FILENO, g_hint + done, g_hint_len - done);
      if (n <= 0) break;  // stderr is gone: nobody to tell
      done += static_cast<size_t>(n);
    }
  }
  errno = saved_errno;
  // SA_RESETHAND restored the default action; the signal stays blocked until this
  // handler returns, and is then delivered again: the process ends as it would have.
  ::raise(sig);
}

// A signal the process was started with ignored (a background job of a script ignores
// SIGINT) stays ignored: the hint never makes a run stoppable that was not.
void InstallUnlessIgnored(int sig, struct sigaction* old) {
  ::sigaction(sig, nullptr, old);
  if (old->sa_handler == SIG_IGN) return;
  struct sigaction sa {};
  sa.sa_handler = PrintHintThenDie;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  ::sigaction(sig, &sa, nullptr);
}

}  // namespace

void IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }

ResumeHintOnSignal::ResumeHintOnSignal(const std::string& run_dir) {
  // A tty may be showing a redrawn progress line: the hint starts a line of its own.
  const std::string hint = (::isatty(STDERR_FILENO) ? "\n" : "") + ResumeHint(run_dir) + "\n";
  if (run_dir.size() >= kMax) return;  // no path that long exists: nothing to hint at
  std::memcpy(g_dir, run_dir.c_str(), run_dir.size() + 1);
  std::memcpy(g_hint, hint.data(), hint.size());
  g_hint_len = hint.size();
  InstallUnlessIgnored(SIGINT, &old_int_);
  InstallUnlessIgnored(SIGTERM, &old_term_);
  installed_ = true;
}

ResumeHintOnSignal::~ResumeHintOnSignal() {
  if (!installed_) return;
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
}

}  // namespace cerebro::cli
