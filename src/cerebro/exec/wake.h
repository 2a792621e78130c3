// The Wakeup checks every backend's WaitAny() shares (see Backend::WaitAny): whether a
// notification is pending, and sleeping until one is. Neither drains the Wakeup; the
// caller does once it has acted on the notification. Thread-safe (Wakeup's fd is).
#pragma once

#include "cerebro/common/status.h"
#include "cerebro/common/wakeup.h"

namespace cerebro::exec {

// True when `wake` is non-null and notified: a zero-timeout poll() on its fd.
bool WakePending(const Wakeup* wake);

// Blocks in poll() on `wake`'s fd alone until it is notified (no timer).
Status SleepUntilWoken(const Wakeup& wake);

}  // namespace cerebro::exec
