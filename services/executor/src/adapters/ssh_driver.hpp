#pragma once

// TargetDriver for agentless hosts over SSH (libssh): the same steps as sluice-agent, run by the
// fixed step script of ssh_steps.hpp, one SSH session per call.
//   - Authentication: a private key file, or ssh-agent through SSH_AUTH_SOCK when none is set.
//   - Host keys: checked against the operator's known_hosts file only (no ~/.ssh, no
//     /etc/ssh). An unknown or changed key is a hard failure, not retryable, naming the host and
//     the key's SHA256 fingerprint. An unknown key is added only when trust_on_first_use is
//     set; a changed one never.
//   - At most max_sessions_per_host sessions to a host at once (shared by every command of the
//     process); TCP keep-alive on the socket and an SSH ignore message every `keepalive`; every
//     wait bounded by the call's Deadline.
// Per host, the labels sluice.io/ssh-user and sluice.io/ssh-port override user and port.

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/core/clock.hpp>
#include <string>
#include <vector>

#include "adapters/ssh_steps.hpp"
#include "agent_service.hpp"
#include "target_driver.hpp"

namespace sluice::executor {

inline constexpr std::string_view kLabelSshUser = "sluice.io/ssh-user";
inline constexpr std::string_view kLabelSshPort = "sluice.io/ssh-port";

// Counts the sessions open to each host; shared by the drivers of every command.
class SshHostLimiter {
 public:
  explicit SshHostLimiter(int per_host) : per_host_(per_host < 1 ? 1 : per_host) {}
  // False when `until` passed before a slot was free.
  bool Acquire(const std::string& host, std::chrono::steady_clock::time_point until);
  void Release(const std::string& host);

 private:
  const int per_host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> open_;  // guarded by mu_
};

struct SshDriverConfig {
  std::string user = "sluice";
  int port = 22;
  std::string key_file;          // empty: ssh-agent (SSH_AUTH_SOCK)
  std::string known_hosts_file;  // empty: ssh targets fail with ssh_not_configured
  bool trust_on_first_use = false;
  SshHostLayout layout{"/opt/sluice/app", 3};
  int max_sessions_per_host = 2;
  std::chrono::milliseconds keepalive{15'000};
  std::chrono::milliseconds connect_timeout{10'000};
  // The batch's service block; a revert without one uses the service the host kept.
  std::optional<AgentServiceSpec> service;
  std::shared_ptr<SshHostLimiter> limiter;  // made by the driver when null

  bool Configured() const { return !known_hosts_file.empty(); }
};

// The user and port of a host: its labels, else the configuration. Throws SshArgumentError
// when a label is malformed.
std::string SshUserFor(const HostTarget& host, const SshDriverConfig& config);
int SshPortFor(const HostTarget& host, const SshDriverConfig& config);

class SshDriver final : public TargetDriver {
 public:
  SshDriver(SshDriverConfig config, const core::Clock& clock);

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override;
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override;
  HostState Status(const HostTarget& host, Deadline deadline) override;

  // What one run of the step script returned; `failure` is set when it did not run to the end.
  struct RunResult {
    std::optional<HostOutcome> failure;
    int exit_status = -1;
    std::string out;
    std::string err;
  };
  RunResult Run(const HostTarget& host, const std::vector<std::string>& args, Deadline deadline);

 private:
  SshDriverConfig config_;
  const core::Clock& clock_;
};

}  // namespace sluice::executor
