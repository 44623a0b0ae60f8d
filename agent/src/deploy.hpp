#pragma once

// sluice-agent's decisions: what a valid deploy / revert command is, the fencing rule, what a
// deploy has to do given the agent's state, and which releases to delete. Pure functions over
// plain values: no I/O, no clock.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/agentapi/wire.hpp>
#include <sluice/events/vocabulary.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::agent {

// Reasons an operation was refused or failed; the executor keys on them.
inline constexpr std::string_view kReasonStaleGeneration =
    events::Name(events::v1::REASON_STALE_GENERATION);
// A revert of a deployment other than the one that deployed the host last (a newer one owns it).
inline constexpr std::string_view kReasonOwnedByNewerDeployment =
    events::Name(events::v1::REASON_HOST_OWNED_BY_NEWER_DEPLOYMENT);
inline constexpr std::string_view kReasonVersionConflict =
    events::Name(events::v1::REASON_VERSION_CONFLICT);
inline constexpr std::string_view kReasonNotInstalled =
    events::Name(events::v1::REASON_NOT_INSTALLED);
inline constexpr std::string_view kReasonChecksumMismatch =
    events::Name(events::v1::REASON_CHECKSUM_MISMATCH);
inline constexpr std::string_view kReasonArtifactTooLarge =
    events::Name(events::v1::REASON_ARTIFACT_TOO_LARGE);
inline constexpr std::string_view kReasonDownloadFailed =
    events::Name(events::v1::REASON_DOWNLOAD_FAILED);
inline constexpr std::string_view kReasonUnsafeArchive =
    events::Name(events::v1::REASON_UNSAFE_ARCHIVE);
inline constexpr std::string_view kReasonInstallFailed =
    events::Name(events::v1::REASON_INSTALL_FAILED);
inline constexpr std::string_view kReasonRestartFailed =
    events::Name(events::v1::REASON_RESTART_FAILED);
inline constexpr std::string_view kReasonHealthCheckFailed =
    events::Name(events::v1::REASON_HEALTH_CHECK_FAILED);
inline constexpr std::string_view kReasonInterrupted = events::Name(events::v1::REASON_INTERRUPTED);

// A request field that is missing or wrong.
class ValidationError : public std::runtime_error {
 public:
  ValidationError(std::string field, const std::string& message)
      : std::runtime_error(message), field_(std::move(field)) {}
  const std::string& Field() const { return field_; }

 private:
  std::string field_;
};

struct HealthCheck {
  std::string http_url;                       // exactly one of http_url and command
  std::vector<std::string> command;           // argv, run without a shell
  std::chrono::milliseconds timeout{30'000};  // deadline for the service to become healthy
  std::chrono::milliseconds interval{500};    // between attempts
};

struct ServiceConfig {
  std::vector<std::string> restart_command;  // argv, run without a shell
  std::chrono::milliseconds restart_timeout{60'000};
  HealthCheck health;
};

struct DeployRequest {
  std::string version;
  std::string artifact_url;
  std::string sha256;         // 64 lowercase hex
  std::string deployment_id;  // empty: a command not tied to a deployment (fenced host-wide)
  std::uint64_t generation = 0;
  ServiceConfig service;
};

struct RevertRequest {
  std::string version;
  std::string deployment_id;
  std::uint64_t generation = 0;
  std::optional<ServiceConfig> service;  // default: the one of the last deploy
};

// Parse and validate a body (the wire form of schemas/sluice/agent/v1/agent.proto; unknown
// fields are ignored). Throw ValidationError naming the field with its JSON path
// ("service.health.timeout").
DeployRequest ParseDeployRequest(std::string_view body);
RevertRequest ParseRevertRequest(std::string_view body);
// Validate the parsed messages.
DeployRequest FromWire(const agentapi::v1::DeployRequest& m);
RevertRequest FromWire(const agentapi::v1::RevertRequest& m);
ServiceConfig FromWire(const agentapi::v1::ServiceConfig& m, const std::string& path);
agentapi::v1::ServiceConfig ToWire(const ServiceConfig& s);

// 1.2.3, v1.2.3, 1.2, 1.2.3-rc.1, 1.2.3+build.5; at most 128 characters. Safe as a directory name.
bool IsValidVersion(std::string_view s);
bool IsValidSha256(std::string_view s);  // 64 hex digits, either case
bool IsHttpUrl(std::string_view s);      // http:// or https:// with a host, no whitespace
// A duration string in core::ParseDuration's grammar ("250ms", "5s", "1m30s") or a number of
// seconds up to a day. Empty optional when malformed.
std::optional<std::chrono::milliseconds> ParseDuration(const google::protobuf::Value& v);

enum class HealthStatus { kUnknown, kHealthy, kUnhealthy };
std::string_view ToString(HealthStatus h);

enum class OperationKind { kDeploy, kRevert };
std::string_view ToString(OperationKind k);

enum class OperationState { kInProgress, kSucceeded, kFailed, kUnchanged };
std::string_view ToString(OperationState s);

struct Operation {
  OperationKind kind = OperationKind::kDeploy;
  std::string version;
  std::uint64_t generation = 0;
  OperationState state = OperationState::kInProgress;
  std::string reason;  // one of the kReason* constants when failed
  std::string message;
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;
};

// The highest generation seen of one deployment.
struct DeploymentGeneration {
  std::string deployment_id;
  std::uint64_t generation = 0;
};

// How many deployments' generations a host remembers (the least recently seen are forgotten).
inline constexpr std::size_t kGenerationsKept = 256;

struct InstalledVersion {
  std::string version;
  std::string sha256;
  std::int64_t installed_at_ms = 0;
};

// What the agent knows about its host; persisted as JSON.
struct AgentState {
  std::string current;                      // empty before the first deploy
  std::string previous;                     // the version current pointed at before the last switch
  std::vector<InstalledVersion> installed;  // in install order, oldest first
  HealthStatus health = HealthStatus::kUnknown;
  // Generations count per deployment; most recently seen last, at most kGenerationsKept.
  std::vector<DeploymentGeneration> generations;
  std::optional<Operation> last_operation;
  std::optional<ServiceConfig> service;  // of the last deploy; used by revert
  // The deployment whose deploy this host accepted last ("" before the first, or when the
  // executor named none): only its revert may switch the host.
  std::string owner;

  const InstalledVersion* Find(std::string_view version) const;
  // The highest generation seen of `deployment_id`; 0 when never seen.
  std::uint64_t HighestGeneration(std::string_view deployment_id) const;
  // The highest over every remembered deployment (reported in the status).
  std::uint64_t HighestGeneration() const;
};

nlohmann::json ToJson(const AgentState& s);
// Throws std::runtime_error when the document is not a state written by ToJson.
AgentState StateFromJson(const nlohmann::json& j);

// The answers of the HTTP API (sluice.agent.v1): the status of the host, and the report of the
// operation that just finished (its state is the report's result).
agentapi::v1::Status StatusMessage(const AgentState& s);
agentapi::v1::OperationReport ReportMessage(const AgentState& s);

// The fencing rule: a command older than the highest generation seen of its deployment is
// refused (a forward batch after that deployment's rollback started). A command with the same
// generation is accepted again (the executor's retry of the same command). Generations of other
// deployments do not matter: each deployment counts from 1.
bool IsStale(const AgentState& state, std::string_view deployment_id, std::uint64_t generation);
// Host ownership: a revert of `deployment_id` is refused when another deployment deployed the
// host after it (generations count per deployment, so they cannot say which is newer; the last
// deploy accepted can). Unnamed deployments and hosts no named deploy has reached are not fenced.
bool OwnedByAnother(const AgentState& state, std::string_view deployment_id);
// Remembers the generation of an accepted command of `deployment_id`.
void ObserveGeneration(AgentState& state, std::string_view deployment_id, std::uint64_t generation);

enum class PlanKind {
  kNoOp,             // the version is current and healthy
  kSwitchOnly,       // the version is installed: switch the link, restart, check
  kDownloadInstall,  // download, verify, unpack, switch, restart, check
  kConflict,         // the version is installed with another checksum
};
std::string_view ToString(PlanKind p);
PlanKind Plan(const AgentState& state, const DeployRequest& request);

// Points current at `version`; the old current becomes previous (unless they are the same).
void RecordSwitch(AgentState& state, const std::string& version);
// Adds (or replaces) an installed version at the end of the install order.
void RecordInstalled(AgentState& state, InstalledVersion v);
void RecordRemoved(AgentState& state, std::string_view version);

// The installed versions to delete so that at most `keep` remain, oldest first; never the
// current or the previous version (so more than `keep` may remain when keep < 2).
std::vector<std::string> SelectForRemoval(const AgentState& state, std::size_t keep);

}  // namespace sluice::agent
