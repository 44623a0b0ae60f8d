#pragma once

// An enrolled agent's reports to release-intake (POST /v1/agents/heartbeat with the host's
// credential, every SLUICE_AGENT_HEARTBEAT_INTERVAL): release-intake records when the host was
// last seen. When release-intake refuses the credential (401: revoked, or unknown to it), the
// agent refuses deploys and reverts (403 agent_revoked) until a heartbeat is accepted again.
// An unreachable release-intake changes nothing (the agent goes on serving the executor).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sluice/core/lifecycle.hpp>
#include <string>
#include <thread>

namespace sluice::agent {

struct HeartbeatOptions {
  std::string server;  // release-intake's base URL
  std::string name;
  std::string credential;
  std::string ca_file;
  std::chrono::milliseconds interval{30'000};
};

class Heartbeat : public core::Component {
 public:
  explicit Heartbeat(HeartbeatOptions options);
  ~Heartbeat() override;
  std::string_view Name() const override { return "heartbeat"; }
  void Start() override;
  void Stop() override;

  // Why this host takes no commands (release-intake refused its credential), if so.
  std::optional<std::string> Refusal() const;

 private:
  void Run();
  void Beat();

  HeartbeatOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;               // guarded by mu_
  std::optional<std::string> refusal_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace sluice::agent
