#include "cerebro/data/interrupt_guard.h"

#include <atomic>

namespace cerebro::data::internal {
namespace {

constexpr int kSignals[2] = {SIGINT, SIGTERM};

// A signal handler reaches only globals. These belong to the one active guard (g_owned
// says whether there is one); nothing else reads or writes them.
volatile std::sig_atomic_t g_armed = 0;
volatile std::sig_atomic_t g_pending = 0;
std::atomic<bool> g_owned{false};

void SetDefault(int sig) {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
}

// Only async-signal-safe calls: sigaction, raise.
void OnInterrupt(int sig) {
  if (g_armed == 0 || g_pending != 0) {
    // Nothing staged yet, or a second signal: the default action. The signal is blocked
    // while its handler runs, so it is delivered (and ends the process) on return.
    SetDefault(sig);
    raise(sig);
    return;
  }
  g_pending = sig;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  if (g_owned.exchange(true)) return;
  owner_ = true;
  g_armed = 0;
  g_pending = 0;
  struct sigaction handler = {};
  handler.sa_handler = OnInterrupt;
  sigemptyset(&handler.sa_mask);
  handler.sa_flags = SA_RESTART;  // a write in progress completes rather than failing EINTR
  for (int i = 0; i < 2; ++i) {
    struct sigaction current = {};
    if (sigaction(kSignals[i], nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) continue;
    previous_[i] = current;
    replaced_[i] = sigaction(kSignals[i], &handler, nullptr) == 0;
  }
}

InterruptGuard::~InterruptGuard() {
  if (!owner_) return;
  Restore();
  g_armed = 0;
  g_pending = 0;
  g_owned = false;
}

void InterruptGuard::Arm() {
  if (owner_) g_armed = 1;
}

bool InterruptGuard::Interrupted() const { return owner_ && g_pending != 0; }

void InterruptGuard::Reraise() {
  if (!Interrupted()) return;
  const int sig = g_pending;
  Restore();
  raise(sig);
}

void InterruptGuard::Restore() {
  for (int i = 0; i < 2; ++i) {
    if (replaced_[i]) sigaction(kSignals[i], &previous_[i], nullptr);
    replaced_[i] = false;
  }
}

}  // namespace cerebro::data::internal
