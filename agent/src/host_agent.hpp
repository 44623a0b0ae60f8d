#pragma once

// The agent's operations on its host: download, unpack, switch `current`, restart, check,
// revert, and the state file. Serialises operations; status reads never wait for one.

#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "deploy.hpp"
#include "extract.hpp"

namespace sluice::agent {

struct HostAgentOptions {
  std::filesystem::path root;  // state.json, current, releases/, downloads/, logs/
  std::size_t keep = 5;        // installed versions kept (current and previous always)
  std::uint64_t max_artifact_bytes = 1ull << 30;
  std::chrono::milliseconds download_timeout{600'000};
  ExtractLimits extract;
};

// A command refused before anything changed on the host (or, for a download that failed, with
// nothing installed). `status` is the HTTP status to answer with, `code` a kReason* constant
// or "operation_in_progress" / "no_service_config".
class Refused : public std::runtime_error {
 public:
  Refused(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int Status() const { return status_; }
  const std::string& Code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

// Result of a command that ran: result "succeeded" | "failed" | "unchanged", the operation and
// the status after it (sluice.agent.v1.OperationReport).
using OperationReport = agentapi::v1::OperationReport;

struct CommandResult {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;  // or 128 + signal
  std::string Describe() const;
};

// Runs argv (PATH lookup, no shell) with stdin from /dev/null and output appended to
// `log_path`, in its own process group, with default signal dispositions and mask; kills the
// group after `timeout`. Extra environment variables are added to the agent's own. With a
// `working_dir`, the command runs there, so a relative argv[0] such as "bin/restart.sh" is
// the release's own script.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env,
                         const std::filesystem::path& log_path, std::chrono::milliseconds timeout,
                         const core::Clock& clock, const std::filesystem::path& working_dir = {});

class HostAgent {
 public:
  HostAgent(const core::Clock& clock, HostAgentOptions options);

  // Creates the directories, loads state.json (a missing file is a fresh host), marks an
  // operation that a crash interrupted, drops leftovers, and trusts the `current` link over
  // the state file when they disagree. Throws std::runtime_error when the root is unusable or
  // the state file is corrupt.
  void Load();

  // Throw Refused; otherwise return the report (the health check may have failed: the
  // executor decides what to do, the agent does not revert by itself).
  OperationReport Deploy(const DeployRequest& request);
  OperationReport Revert(const RevertRequest& request);
  agentapi::v1::Status Status() const;

 private:
  struct Switched {
    bool ok = false;
    std::string reason;
    std::string message;
  };
  // Fencing per deployment; the state lock must be held.
  void Admit(const std::string& deployment_id, std::uint64_t generation);
  void Persist();  // the state lock must be held
  void Install(const DeployRequest& request);
  void SwitchCurrent(const std::string& version);
  Switched RestartAndCheck(const std::string& version, const ServiceConfig& service);
  bool CheckHealthOnce(const HealthCheck& h, std::chrono::milliseconds budget,
                       const std::string& version, std::string& detail);
  OperationReport Finish(Operation op, OperationState state, std::string reason,
                         std::string message);
  void PruneReleases();
  std::filesystem::path ReleaseDir(const std::string& version) const;
  agentapi::v1::Status StatusLocked() const;
  std::int64_t NowMs() const { return core::ToUnixMillis(clock_.Now()); }

  const core::Clock& clock_;
  HostAgentOptions options_;
  std::mutex op_mu_;  // one operation at a time
  mutable std::mutex mu_;
  AgentState state_;  // guarded by mu_
};

}  // namespace sluice::agent
