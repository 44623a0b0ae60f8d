#pragma once

// Pure mapping between the state machine and the outside world: the deployment state as the
// JSON stored in Postgres, the commands of a transition as the events they publish, the events
// consumed as inputs, and the batch status the read API shows. No I/O; the time comes from an
// injected clock.

#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "deployment_state.hpp"

namespace sluice::rollout_planner {

inline constexpr std::string_view kServiceName = "rollout-planner";

// DeploymentPlanned.canary_failure_policy texts (deployments.on_canary_failure).
inline constexpr std::string_view kRevertBatch =
    events::Name(events::v1::CANARY_FAILURE_POLICY_REVERT_BATCH);
inline constexpr std::string_view kRevertAll =
    events::Name(events::v1::CANARY_FAILURE_POLICY_REVERT_ALL);

// Reasons of DeploymentFailed that the state machine does not produce: the deployment never
// started.
inline constexpr std::string_view kReasonConcurrentDeployment =
    events::Name(events::v1::REASON_CONCURRENT_DEPLOYMENT);
inline constexpr std::string_view kReasonInvalidSpec =
    events::Name(events::v1::REASON_INVALID_SPEC);
inline constexpr std::string_view kReasonUnknownEnvironment =
    events::Name(events::v1::REASON_UNKNOWN_ENVIRONMENT);
inline constexpr std::string_view kReasonInvalidPlan =
    events::Name(events::v1::REASON_INVALID_PLAN);

// Why an event about a deployment changed nothing, beside the state machine's IgnoreReason.
inline constexpr std::string_view kIgnoredRollbackVerb = "rollback_is_for_rollback_agent";
inline constexpr std::string_view kIgnoredUnknownVerb = "unknown_verb";
// A rollback of a finished deployment whose app+env a newer deployment holds now.
inline constexpr std::string_view kIgnoredNewerDeploymentActive = "newer_deployment_active";

// The release-level facts of a deployment that the state machine does not carry but its
// events do.
struct DeploymentContext {
  std::string deployment_id;
  std::string release_id;
  std::string app;
  std::string env;
  std::string version;
  events::v1::Artifact artifact;
  StrategyType strategy = StrategyType::kCanary;
  std::optional<ServiceSpec> service;
  std::string stable_release_id;  // of app+env when the deployment was requested; may be empty
  std::string stable_version;
  std::uint64_t spec_version = 0;
  std::string spec_yaml;  // the delivery spec text (deprecated in events; passed on, never read)
  // The environment as release-intake resolved it (DeploymentRequested.spec): the analysis
  // templates AnalysisRequested carries, the Kubernetes targets.
  events::v1::DeliverySpec::Environment env_spec;
  // The environment's rollback.onCanaryFailure ("revert-batch" or "revert-all").
  std::string on_canary_failure = std::string(kRevertBatch);
};

// --- the environment's analysis and rollback policy ------------------------------------------

// analysis.bakeWatch of the environment, as the state machine keeps it (nullopt: none).
std::optional<BakeWatchPlan> BakeWatchOf(const Environment& env);
// rollback.onCanaryFailure of the environment: "revert-batch" (the default) or "revert-all".
std::string OnCanaryFailureOf(const Environment& env);

// Deployment::await_rollback for a deployment about to start: `wait` when the rollback-agent
// reverts a failed canary analysis of it (its app+env has a stable release, and not this
// version: DecideRollback then has hosts to send back), nullopt when such a failure is final.
std::optional<std::chrono::milliseconds> AwaitRollbackFor(const DeploymentContext& ctx,
                                                          std::chrono::milliseconds wait);

// --- the stored state ------------------------------------------------------------------------

nlohmann::json DeploymentToJson(const Deployment& d);
// Throws nlohmann::json::exception or std::invalid_argument for a document it did not write.
Deployment DeploymentFromJson(const nlohmann::json& j);

nlohmann::json ServiceToJson(const ServiceSpec& s);
ServiceSpec ServiceFromJson(const nlohmann::json& j);

// The parsers of the ToString() forms (nullopt for anything else).
std::optional<Status> ParseStatus(std::string_view s);
std::optional<Phase> ParsePhase(std::string_view s);
std::optional<PauseReason> ParsePauseReason(std::string_view s);
std::optional<FailureReason> ParseFailureReason(std::string_view s);

events::v1::DeploymentStatus ToProto(Status s);
events::v1::Strategy ToProto(StrategyType t);

// --- the read API ----------------------------------------------------------------------------

// "pending" | "waiting" (at a gate or held) | "running" | "analysing" | "succeeded" | "failed".
std::string_view BatchStatus(const Deployment& d, std::uint32_t index);

// The batches as the read API shows them: index, weight_percent, hosts (names), status, gates.
nlohmann::json BatchesView(const Deployment& d);

// --- ids -------------------------------------------------------------------------------------

// A name-based (version 5) UUID of "<release_id>/<env>": a redelivered ReleaseCreated makes
// the same auto-deploy deployment id, hence no second deployment.
std::string AutoDeployDeploymentId(std::string_view release_id, std::string_view env);

// The key of a deployment's durable timer in the shared timers table.
std::string TimerRowKey(std::string_view deployment_id, std::string_view state_key);

// --- events ----------------------------------------------------------------------------------

events::v1::Target ToTarget(const Host& h);  // driver "agent"
// driver "kubernetes", `host` = the target's name, `kubernetes` = its workload.
events::v1::Target ToTarget(const spec::KubernetesTarget& t);

// The instances the analysis of batch `index` judges: the batch's VM hosts (as planned), then
// each host the executor reported in the batch's BatchSucceeded that is neither a VM host of
// the deployment nor the name of one of its Kubernetes targets: the canary pods the executor
// names for its Kubernetes targets. In that order, each once.
std::vector<std::string> AnalysisInstances(const Deployment& d, std::uint32_t index,
                                           const std::vector<std::string>& reported);

// The template `name` of the deployment's environment, as resolved at intake; nullptr when the
// environment has no such template.
const events::v1::AnalysisTemplate* ResolvedTemplate(const DeploymentContext& ctx,
                                                     std::string_view name);
events::v1::ServiceConfig ToServiceConfig(const ServiceSpec& s);

// The event a command publishes, or nullopt for the commands with other effects (timers,
// traffic switch, stable release). `next` is the deployment after the transition; the analysis
// id of AnalysisRequested is a new UUID. AnalysisRequested carries the resolved template (and,
// for one release, the spec text), the judged instances (AnalysisInstances; bake watch: every
// VM host) and the hosts still on the stable version (`baseline_instances`: those of the
// batches after the judged one; bake watch: none). BatchRequested and DeploymentPlanned list
// every Kubernetes target in every batch, with the batch's cumulative weight.
std::optional<events::v1::Envelope> EventFor(const Command& command, const DeploymentContext& ctx,
                                             const Deployment& next, const core::Clock& clock);

// DeploymentFailed for a deployment that never started (reasons above).
events::v1::Envelope NeverStartedFailure(const DeploymentContext& ctx, std::string_view reason,
                                         std::string_view detail, const core::Clock& clock);

// The state machine input an event stands for, or nullopt when it is not one (DeploymentRequested,
// ReleaseCreated, AppSpecApplied are handled apart). `current` is the deployment's generation,
// for the inputs that carry none. Sets *ignore_reason (and returns nullopt) for an operator
// command the planner refuses without asking the state machine.
struct MappedInput {
  Input input;
  std::string actor;
};
std::optional<MappedInput> InputFor(const events::v1::Envelope& e, core::Generation current,
                                    std::string* ignore_reason);

// Timeline wording: "batch_succeeded", "operator_pause", "timer_fired", ...; and a short detail.
std::string InputKind(const Input& in);
std::string InputDetail(const Input& in);

}  // namespace sluice::rollout_planner
