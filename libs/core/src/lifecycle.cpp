#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <stdexcept>
#include <string>

namespace sluice::core {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

void StopInReverse(std::vector<Component*>& started) {
  while (!started.empty()) {
    Component* c = started.back();
    started.pop_back();
    Logger("lifecycle")->info("stopping {}", c->Name());
    try {
      c->Stop();
    } catch (const std::exception& e) {
      Logger("lifecycle")->error("{} threw while stopping: {}", c->Name(), e.what());
    } catch (...) {
      Logger("lifecycle")->error("{} threw while stopping", c->Name());
    }
  }
}

}  // namespace

Lifecycle::~Lifecycle() { StopAll(); }

void Lifecycle::Add(Component& c) {
  std::lock_guard lock(mu_);
  components_.push_back(&c);
}

void Lifecycle::StartAll() {
  std::lock_guard lock(mu_);
  if (!started_.empty()) throw std::logic_error("Lifecycle::StartAll called twice");
  for (Component* c : components_) {
    Logger("lifecycle")->info("starting {}", c->Name());
    try {
      c->Start();
    } catch (const std::exception& e) {
      Logger("lifecycle")->error("{} failed to start: {}", c->Name(), e.what());
      StopInReverse(started_);
      throw;
    } catch (...) {
      Logger("lifecycle")->error("{} failed to start", c->Name());
      StopInReverse(started_);
      throw;
    }
    started_.push_back(c);
  }
}

void Lifecycle::StopAll() {
  std::lock_guard lock(mu_);
  StopInReverse(started_);
}

void Lifecycle::BlockTerminationSignals() {
  const sigset_t set = TerminationSignals();
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    throw std::runtime_error(std::string("pthread_sigmask failed: ") + std::strerror(rc));
  }
}

void Lifecycle::RequestShutdown() { ::kill(::getpid(), SIGTERM); }

int Lifecycle::RunUntilSignal() {
  BlockTerminationSignals();
  StartAll();
  const sigset_t set = TerminationSignals();
  int sig = 0;
  if (const int rc = sigwait(&set, &sig); rc != 0) {
    StopAll();
    throw std::runtime_error(std::string("sigwait failed: ") + std::strerror(rc));
  }
  Logger("lifecycle")->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  StopAll();
  return sig;
}

}  // namespace sluice::core
