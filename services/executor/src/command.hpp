#pragma once

// The executor's command model: what a BatchRequested or a RevertRequested becomes once
// accepted, how it is stored (JSON columns of executor_commands), the generation fence, and the
// resolution of a revert's host names to the targets of the deployment's earlier commands.
// Pure: no I/O, no clock.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent_service.hpp"
#include "batch_runner.hpp"

namespace sluice::executor {

// A host a command names but cannot drive (a revert of a host never seen, no version to go
// back to). It is recorded as failed without a call.
struct UnresolvedHost {
  std::string host;
  std::string reason;  // a named constant below
  std::string message;

  bool operator==(const UnresolvedHost&) const = default;
};

// UnresolvedHost.reason and the reasons of hosts failed without a driver call.
inline constexpr std::string_view kReasonUnknownHost =
    events::Name(events::v1::REASON_UNKNOWN_HOST);
inline constexpr std::string_view kReasonNoTargetVersion =
    events::Name(events::v1::REASON_NO_TARGET_VERSION);
inline constexpr std::string_view kReasonNoServiceConfig =
    events::Name(events::v1::REASON_NO_SERVICE_CONFIG);
// A revert on a host that another deployment deployed after the reverted one: the host is
// left as it is (the newer deployment owns it), and the host counts as not reverted.
inline constexpr std::string_view kReasonHostOwnedElsewhere =
    events::Name(events::v1::REASON_HOST_OWNED_BY_NEWER_DEPLOYMENT);

// executor_commands.status.
inline constexpr std::string_view kCommandAccepted = "accepted";
inline constexpr std::string_view kCommandRunning = "running";
inline constexpr std::string_view kCommandDone = "done";
inline constexpr std::string_view kCommandRefused = "refused";
// executor_commands.reason of a refused command.
inline constexpr std::string_view kRefusedStaleGeneration =
    events::Name(events::v1::REASON_STALE_GENERATION);

struct Command {
  std::int64_t id = 0;  // executor_commands.id; 0 before it is stored
  core::DeploymentId deployment_id;
  core::BatchIndex batch_index{0};  // revert: 0 (each host keeps the batch of its record)
  core::Generation generation{0};
  BatchOperation operation = BatchOperation::kDeploy;
  std::string rollback_id;  // revert only
  std::string event_id;     // the event that carried it
  std::string app;
  std::string env;
  ArtifactRef artifact;  // revert: only version (the version to go back to)
  std::vector<HostTarget> targets;
  // Revert: the batch index of each host's earlier record (for its new record).
  std::map<std::string, std::uint32_t> host_batches;
  std::vector<UnresolvedHost> unresolved;
  std::optional<AgentServiceSpec> service;  // nullopt: the executor's configured default
  BatchPolicy policy;                       // retry comes from the configuration, not stored
};

// Values used where an event leaves a field at zero.
struct CommandDefaults {
  std::chrono::milliseconds host_timeout{300'000};
  std::uint32_t max_parallel = 1;
  // Hosts of a revert driven at once: a revert puts back the stable version and should take
  // seconds, not a host at a time.
  std::uint32_t revert_max_parallel = 50;
  // Timeouts of a service block whose durations are zero (the agent's own defaults).
  std::chrono::milliseconds restart_timeout{60'000};
  std::chrono::milliseconds health_timeout{30'000};
};

// BatchRequested → deploy command.
Command CommandFromBatchRequested(const events::v1::BatchRequested& e, std::string event_id,
                                  const CommandDefaults& defaults);

// RevertRequested → revert command. Its kubernetes_targets are taken as they come, each with
// the event's weight_percent (the share to fall back to). Each other host is resolved to its target
// in the most recent of `earlier` (the deployment's commands, in id order) that names it; a host no
// earlier command names, or every host when the event carries no target version, is unresolved.
Command CommandFromRevertRequested(const events::v1::RevertRequested& e, std::string event_id,
                                   const std::vector<Command>& earlier,
                                   const CommandDefaults& defaults);

// The service block a BatchRequested carries, or nullopt when it names no restart command.
std::optional<AgentServiceSpec> ServiceFromProto(const events::v1::ServiceConfig& s,
                                                 const CommandDefaults& defaults);

// The generation fence: a command whose generation is lower than the highest the deployment has
// seen is refused; the same generation (the next batch) or a newer one is accepted.
enum class FenceDecision { kAccept, kRefuseStale };
FenceDecision Fence(std::optional<std::uint64_t> highest, std::uint64_t generation);

// The service block to send: the command's own, else the configured default, else none.
std::optional<AgentServiceSpec> ServiceFor(const Command& command,
                                           const std::optional<AgentServiceSpec>& fallback);

// The command as the runner takes it: hosts are the resolved targets.
BatchCommand ToBatchCommand(const Command& command, const RetryPolicy& retry);

// JSON forms of the executor_commands columns (and of the read API).
nlohmann::json ArtifactToJson(const ArtifactRef& a);
ArtifactRef ArtifactFromJson(const nlohmann::json& j);
// A Kubernetes target's "kubernetes" object in a stored target.
nlohmann::json KubernetesToJson(const KubernetesTarget& k);
KubernetesTarget KubernetesFromJson(const nlohmann::json& j);
// Targets with their "batch_index" when host_batches names them.
nlohmann::json TargetsToJson(const std::vector<HostTarget>& targets,
                             const std::map<std::string, std::uint32_t>& host_batches);
void TargetsFromJson(const nlohmann::json& j, std::vector<HostTarget>& targets,
                     std::map<std::string, std::uint32_t>& host_batches);
nlohmann::json UnresolvedToJson(const std::vector<UnresolvedHost>& hosts);
std::vector<UnresolvedHost> UnresolvedFromJson(const nlohmann::json& j);
nlohmann::json ServiceToJson(const std::optional<AgentServiceSpec>& s);  // null when none
std::optional<AgentServiceSpec> ServiceFromJson(const nlohmann::json& j);
nlohmann::json PolicyToJson(const BatchPolicy& p);
BatchPolicy PolicyFromJson(const nlohmann::json& j);

}  // namespace sluice::executor
