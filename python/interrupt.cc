#include "interrupt.h"

#include <atomic>
#include <utility>

namespace cerebro::python {
namespace {

// What the handler reaches: a flag and the eventfd behind the scope's Wakeup (Notify is
// async-signal-safe).
std::atomic<bool> g_interrupted{false};
std::atomic<const Wakeup*> g_wakeup{nullptr};
std::atomic<const Wakeup*> g_control_wakeup{nullptr};

void OnSigint(int) {
  g_interrupted.store(true);
  if (const Wakeup* w = g_wakeup.load()) w->Notify();
  if (const Wakeup* w = g_control_wakeup.load()) w->Notify();
}

// Workers inherit an ignored SIGINT across exec (a handled one reverts to the default):
// starting them with it ignored keeps a terminal's Ctrl-C from killing them mid-unit.
template <typename F>
Status WithSigintIgnored(F&& start) {
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGINT, &ignore, &previous);
  Status st = start();
  ::sigaction(SIGINT, &previous, nullptr);
  return st;
}

Status Interrupted() {
  return Cancelled("interrupted (Ctrl-C)");
}

class InterruptibleBackend final : public exec::Backend {
 public:
  explicit InterruptibleBackend(std::unique_ptr<exec::Backend> inner) : inner_(std::move(inner)) {}

  Status Launch(int n) override {  // as Start: the workers it spawns inherit the ignored SIGINT
    return WithSigintIgnored([&] { return inner_->Launch(n); });
  }
  Status Start(const std::vector<exec::WorkerSetup>& workers) override {
    if (g_interrupted.load()) return Interrupted();
    return WithSigintIgnored([&] { return inner_->Start(workers); });
  }
  int num_workers() const override { return inner_->num_workers(); }
  Status Submit(const exec::UnitRequest& request) override { return inner_->Submit(request); }
  StatusOr<std::optional<exec::Completion>> WaitFor(const Wakeup* wake,
                                                    double timeout_seconds) override {
    if (g_interrupted.load()) return Interrupted();
    auto c = inner_->WaitFor(wake, timeout_seconds);
    if (c.ok() && !c->has_value() && g_interrupted.load()) return Interrupted();
    return c;
  }
  Status RestartWorker(int worker) override {
    return WithSigintIgnored([&] { return inner_->RestartWorker(worker); });
  }
  void Shutdown() override { inner_->Shutdown(); }
  std::vector<std::string> warnings() const override { return inner_->warnings(); }
  exec::BackendStats stats() const override { return inner_->stats(); }

 private:
  std::unique_ptr<exec::Backend> inner_;
};

}  // namespace

StatusOr<std::unique_ptr<InterruptScope>> InterruptScope::Create() {
  ASSIGN_OR_RETURN(std::unique_ptr<Wakeup> w, Wakeup::Create());
  std::unique_ptr<InterruptScope> scope(new InterruptScope(std::move(w)));
  g_interrupted.store(false);
  g_wakeup.store(scope->wakeup_.get());
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &scope->previous_);
  return scope;
}

InterruptScope::~InterruptScope() {
  ::sigaction(SIGINT, &previous_, nullptr);
  g_wakeup.store(nullptr);
  g_control_wakeup.store(nullptr);
}

Status InterruptScope::ServeControlOnStart::OnStarted(const driver::RunView& run) {
  if (scope_->control_) return Status::Ok();
  ASSIGN_OR_RETURN(scope_->control_, driver::ControlServer::Start(run.run_dir));
  g_control_wakeup.store(&scope_->control_->wakeup());
  return Status::Ok();
}

bool InterruptScope::interrupted() const { return g_interrupted.load(); }

std::vector<driver::IncomingCommand> InterruptScope::Take() {
  if (!control_) return {};
  return control_->Take();
}

driver::BackendFactory InterruptScope::WrapBackends() const {
  return [](const exec::BackendConfig& config) -> StatusOr<std::unique_ptr<exec::Backend>> {
    ASSIGN_OR_RETURN(std::unique_ptr<exec::Backend> inner, exec::MakeBackend(config));
    return std::unique_ptr<exec::Backend>(std::make_unique<InterruptibleBackend>(std::move(inner)));
  };
}

}  // namespace cerebro::python
