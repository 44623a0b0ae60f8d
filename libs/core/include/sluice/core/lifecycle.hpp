#pragma once

#include <mutex>
#include <string_view>
#include <vector>

namespace sluice::core {

// A part of a service with a start and a stop (an HTTP server, a consumer, a relay).
class Component {
 public:
  virtual ~Component() = default;
  virtual std::string_view Name() const = 0;
  // May throw: start-up then aborts and the components already started are stopped.
  virtual void Start() = 0;
  // Must not throw; called at most once after a successful Start.
  virtual void Stop() = 0;
};

// Starts components in the order they were added and stops them in reverse, so a component
// is stopped before the ones it depends on.
class Lifecycle {
 public:
  Lifecycle() = default;
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;
  ~Lifecycle();

  // Order of Add = start order. The component must outlive the Lifecycle (or its StopAll).
  void Add(Component& c);
  // On failure stops the started ones in reverse and rethrows.
  void StartAll();
  // Reverse order; idempotent.
  void StopAll();
  // Blocks SIGTERM/SIGINT in the calling thread (threads created later inherit the mask),
  // StartAll, waits for one of them (sigwait), then StopAll. Returns the signal number.
  int RunUntilSignal();
  // Call first thing in main, before any thread is created, so no thread takes the signal.
  static void BlockTerminationSignals();
  // Asks RunUntilSignal to shut the process down, as if SIGTERM had arrived.
  static void RequestShutdown();

 private:
  std::mutex mu_;
  std::vector<Component*> components_;  // guarded by mu_
  std::vector<Component*> started_;     // guarded by mu_
};

}  // namespace sluice::core
