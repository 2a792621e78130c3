#include "cerebro/driver/command_source.h"

namespace cerebro::driver {

StatusOr<std::unique_ptr<QueueCommandSource>> QueueCommandSource::Create() {
  ASSIGN_OR_RETURN(std::unique_ptr<Wakeup> w, Wakeup::Create());
  return std::unique_ptr<QueueCommandSource>(new QueueCommandSource(std::move(w)));
}

void QueueCommandSource::Push(Command command, CommandReply reply) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({std::move(command), std::move(reply)});
  }
  wakeup_->Notify();
}

std::vector<IncomingCommand> QueueCommandSource::Take() {
  wakeup_->Drain();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<IncomingCommand> out;
  out.swap(queue_);
  return out;
}

}  // namespace cerebro::driver
