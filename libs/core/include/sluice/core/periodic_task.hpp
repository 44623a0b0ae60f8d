#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <sluice/core/lifecycle.hpp>
#include <string>
#include <thread>

namespace sluice::core {

// A component that runs `task` on its own thread at start and then every `interval` until it
// is stopped (readiness probes, gauges). Stop() wakes it at once and joins. `task` must not
// throw; an exception escaping it is logged and the next round still runs.
class PeriodicTask final : public Component {
 public:
  PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<void()> task);
  ~PeriodicTask() override;
  std::string_view Name() const override { return name_; }
  void Start() override;
  void Stop() override;

 private:
  void Run();

  std::string name_;
  std::chrono::milliseconds interval_;
  std::function<void()> task_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace sluice::core
