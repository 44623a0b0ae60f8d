#pragma once

// What the ssh driver sends to an agentless host and how it reads the answer. Pure: no I/O.
//
// The host runs a fixed, checked-in POSIX sh script (ssh_steps.sh, SshStepsScript()) that the
// driver writes on the channel's stdin; the exec request is `sh -s -- ARG...`, where every
// argument (operation, paths, version, URL, checksum, fence, restart and health argv) is one
// word made by ShellQuote. No value of a spec is ever part of a shell line: the remote login
// shell (which must be POSIX: sh, dash, bash) only splits the quoted words, and the script uses
// them as "$N" and runs the service's commands as argv through `xargs -0`, without a shell.
// Values are also validated before they are sent (ValidateStep): a version must be a version, a
// URL http(s) without blanks or controls, a checksum 64 hex digits, a release root an absolute
// path of plain characters.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "agent_service.hpp"
#include "target_driver.hpp"

namespace sluice::executor {

// A value that cannot be sent; `field` names it.
class SshArgumentError : public std::invalid_argument {
 public:
  SshArgumentError(std::string field, const std::string& message)
      : std::invalid_argument(field + ": " + message), field_(std::move(field)) {}
  const std::string& Field() const { return field_; }

 private:
  std::string field_;
};

// The checked-in step script (ssh_steps.sh), embedded at build time.
std::string_view SshStepsScript();

// One word for a POSIX shell: 'value' with every ' written as '\''. Newlines, $, `, ;, quotes
// and leading dashes stay literal. Throws SshArgumentError on a NUL byte (no shell word holds
// one).
std::string ShellQuote(std::string_view value);
// The exec request: `sh -s -- ` and the quoted words, separated by single spaces.
std::string RemoteCommandLine(const std::vector<std::string>& args);

// Host-side settings common to every command.
struct SshHostLayout {
  std::string release_root;  // absolute; releases/<version>, current, .sluice/state under it
  std::uint32_t keep = 3;    // installed versions kept (never the current or the previous one)
};

// Checks the values the script trusts; throws SshArgumentError naming the field.
void ValidateRoot(std::string_view root);
void ValidateVersion(std::string_view version);
void ValidateArtifactUrl(std::string_view url);
void ValidateSha256(std::string_view sha256);
void ValidateDeploymentId(std::string_view id);
// A host address libssh takes as a host name only: letters, digits, '.', ':', '-', '_', '%'
// (no '@' that would set a user, no leading '-'), at most 253 characters.
void ValidateAddress(std::string_view address);

// The script's arguments (see ssh_steps.sh), validated. A revert without a service uses the
// one the host kept from its last deploy.
std::vector<std::string> StatusArgs(const SshHostLayout& layout);
// `download_timeout`: the download's bound on the host (the time left before the call's
// deadline), whole seconds, at least 1.
std::vector<std::string> DeployArgs(const SshHostLayout& layout, const ArtifactRef& artifact,
                                    const CommandFence& fence, const AgentServiceSpec& service,
                                    std::chrono::milliseconds download_timeout);
std::vector<std::string> RevertArgs(const SshHostLayout& layout, std::string_view version,
                                    const CommandFence& fence,
                                    const std::optional<AgentServiceSpec>& service);

// The `sluice:key=value` lines of the script's stdout; other lines are ignored.
struct StepReport {
  std::string result;  // succeeded, unchanged, failed, stale, status; empty: no report
  std::string reason;
  std::string message;
  bool retryable = false;
  std::string current;
  std::string previous;
  std::string health;
  std::vector<std::string> installed;
  std::uint64_t highest_generation = 0;
};
StepReport ParseStepReport(std::string_view out);

// The outcome of a deploy or revert: `exit_status` is the remote exit status, `err` the tail of
// its stderr (for the message when there is no report).
HostOutcome StepOutcome(const StepReport& report, int exit_status, std::string_view err,
                        std::string_view expected_version);
HostState StepStatus(const StepReport& report, int exit_status, std::string_view err);

// Reasons of the ssh driver itself (the script's are the agent's codes).
inline constexpr std::string_view kReasonHostKeyUnknown = "host_key_unknown";
inline constexpr std::string_view kReasonHostKeyMismatch = "host_key_mismatch";
inline constexpr std::string_view kReasonSshAuthFailed = "ssh_auth_failed";
inline constexpr std::string_view kReasonSshNotConfigured = "ssh_not_configured";
inline constexpr std::string_view kReasonInvalidField = "invalid_field";

}  // namespace sluice::executor
