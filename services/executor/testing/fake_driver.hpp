#pragma once

// A scripted TargetDriver for unit tests: per host, a queue of outcomes (success once the
// queue is empty), a reported status, and a log of every call. Thread-safe.

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "target_driver.hpp"

namespace sluice::executor::testing {

struct DriverCall {
  std::string op;  // "deploy", "revert", "status"
  std::string host;
  std::string version;
  std::uint64_t generation = 0;
  Deadline deadline{};
};

class FakeDriver final : public TargetDriver {
 public:
  void Script(const std::string& host, std::vector<HostOutcome> outcomes) {
    std::lock_guard lock(mu_);
    for (auto& o : outcomes) scripts_[host].push_back(std::move(o));
  }
  void SetStatus(const std::string& host, HostState state) {
    std::lock_guard lock(mu_);
    states_[host] = std::move(state);
  }
  // The first `n` deploy calls wait until `n` calls are in flight together (or 5 s pass), so
  // a test can show that the runner really runs that many hosts at once.
  void HoldUntilInFlight(int n) {
    std::lock_guard lock(mu_);
    hold_ = n;
  }
  // Runs before a call returns (outside the driver's lock), e.g. to raise a cancel flag.
  void OnCall(std::function<void(const DriverCall&)> f) {
    std::lock_guard lock(mu_);
    on_call_ = std::move(f);
  }

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override {
    return Run({"deploy", host.host, artifact.version, fence.generation.Value(), deadline});
  }
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override {
    return Run({"revert", host.host, std::move(version), fence.generation.Value(), deadline});
  }
  HostState Status(const HostTarget& host, Deadline deadline) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"status", host.host, "", 0, deadline});
    const auto it = states_.find(host.host);
    if (it != states_.end()) return it->second;
    HostState s;
    s.error = "no status scripted";
    return s;
  }

  std::vector<DriverCall> Calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::string> CallsOf(const std::string& host) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> ops;
    for (const auto& c : calls_) {
      if (c.host == host) ops.push_back(c.op);
    }
    return ops;
  }
  int MaxInFlight() const {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }

 private:
  HostOutcome Run(DriverCall call) {
    HostOutcome outcome;
    std::function<void(const DriverCall&)> hook;
    {
      std::unique_lock lock(mu_);
      calls_.push_back(call);
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      if (hold_ > 0) {
        --hold_;
        changed_.notify_all();
        changed_.wait_for(lock, std::chrono::seconds(5), [&] { return hold_ == 0; });
      }
      auto& q = scripts_[call.host];
      if (q.empty()) {
        outcome = HostOutcome::Success(call.version);
      } else {
        outcome = q.front();
        q.pop_front();
      }
      hook = on_call_;
    }
    if (hook) hook(call);
    std::lock_guard lock(mu_);
    --in_flight_;
    changed_.notify_all();
    return outcome;
  }
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::deque<HostOutcome>> scripts_;
  std::map<std::string, HostState> states_;
  std::vector<DriverCall> calls_;
  std::function<void(const DriverCall&)> on_call_;
  int hold_ = 0;  // held calls still to arrive; the held ones go on when it reaches 0
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

}  // namespace sluice::executor::testing
