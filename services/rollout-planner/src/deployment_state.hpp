#pragma once

// The deployment state machine: Next(deployment, input, now) -> (next deployment, commands).
// Pure: no I/O, the time is an argument. The component persists `next`, turns the commands
// into outbox rows / timer rows in the same transaction, and records why an input was ignored.
// The transition table is in services/rollout-planner/README.md.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/ids.hpp"
#include "sluice/events/vocabulary.hpp"
#include "sluice/spec/delivery_spec.hpp"
#include "sluice/spec/plan.hpp"

namespace sluice::rollout_planner {

// The delivery spec and the batches it implies (libs/spec), by the names the planner uses.
using spec::ApprovalPolicy;
using spec::ApprovalStep;
using spec::Batch;
using spec::CanaryStep;
using spec::ConcurrencyPolicy;
using spec::DeliverySpec;
using spec::Environment;
using spec::Gate;
using spec::Host;
using spec::HostGroup;
using spec::ParseDeliverySpec;
using spec::ParseDuration;
using spec::ParsePercent;
using spec::ParseStrategyType;
using spec::PauseStep;
using spec::PlanError;
using spec::PlanOptions;
using spec::PlanRollout;
using spec::Policy;
using spec::Quantity;
using spec::ServiceSpec;
using spec::SpecError;
using spec::Strategy;
using spec::StrategyType;
using spec::ToString;
using spec::TrafficSwitch;
using spec::WeightStep;

enum class Status {
  kPending,
  kRunning,
  kPaused,
  kSucceeded,
  kFailed,
  kRollingBack,
  kRolledBack,
  kAborted,
};
std::string_view ToString(Status s);  // "pending", "running", ..., "rolled_back", "aborted"

// Where a started deployment stands, beside its status.
enum class Phase {
  kNotStarted,
  kAtGate,            // waiting at batches[current_batch].gates_before[gate_index]
  kHeld,              // at the start of batches[current_batch], held by an operator pause
  kBatchInFlight,     // batches[current_batch] requested, waiting for its outcome
  kAnalysing,         // waiting for the analysis of batches[current_batch]
  kSwitchingTraffic,  // blue-green: waiting for the traffic switch
  kDone,              // finished (any final status) or rolling back
};
std::string_view ToString(Phase p);

// Why a deployment paused (DeploymentPaused.reason).
enum class PauseReason { kPauseStep, kApprovalRequired, kOperator };
// The schema's value; its text (events::Name) is "pause_step", "approval_required", "operator".
events::v1::Reason ToProto(PauseReason r);
std::string_view ToString(PauseReason r);

// Why a deployment ended without success (DeploymentFailed.reason).
enum class FailureReason {
  kBatchFailed,
  kAnalysisFailed,
  kTrafficSwitchFailed,
  kAborted,
  kNoTargets,
  kRolledBack,
  kRollbackFailed,
};
// The schema's value; its text (events::Name) is "batch_failed", "analysis_failed", ...
events::v1::Reason ToProto(FailureReason r);
std::string_view ToString(FailureReason r);

// Why an input changed nothing.
enum class IgnoreReason {
  kFinished,     // the deployment accepts no input of this kind any more
  kRollingBack,  // a rollback is in progress: only its completion is accepted
  kAlreadyStarted,
  kNotStarted,
  kStaleGeneration,      // the input carries another generation than the deployment's
  kWrongBatch,           // the input is about another batch than the one in hand
  kNotAwaitingBatch,     // no batch is in flight
  kNotAwaitingAnalysis,  // no analysis is running
  kNotSwitchingTraffic,
  kUnknownTimer,  // not the timer the deployment waits for (cancelled or stale)
  kNoApprovalPending,
  // An approval gate is passed only by `approve` (which release-intake accepts only from a user
  // with the approver role): promote and resume do not pass it.
  kApprovalRequired,
  kNotPaused,
  kAlreadyPaused,
  kNothingToPromote,
  kNotRollingBack,
  kAlreadyRollingBack,
};
std::string_view ToString(IgnoreReason r);  // "finished", "stale_generation", ...

// What the environment asks for once every batch is done: keep analysing the whole deployment
// with `template_name` for `duration`. A breach is the rollback-agent's to act on.
struct BakeWatchPlan {
  std::string template_name;
  std::chrono::milliseconds duration{0};

  bool operator==(const BakeWatchPlan&) const = default;
};

struct Deployment {
  core::DeploymentId id;
  Status status = Status::kPending;
  Phase phase = Phase::kNotStarted;
  core::Generation generation{1};
  std::vector<Batch> batches;
  std::uint32_t current_batch = 0;
  std::uint32_t gate_index = 0;
  bool operator_hold = false;            // an operator paused; only resume/promote clears it
  std::optional<std::string> timer_key;  // the durable timer the deployment waits for
  std::optional<core::SystemTime> timer_due_at;
  std::optional<PauseReason> pause_reason;  // set while status is kPaused
  std::optional<FailureReason> failure_reason;
  bool rollback_started = false;  // once true, no batch is ever requested again
  // Set when the rollback-agent reverts a failed canary analysis of this deployment (its
  // app+env had a stable release other than this version when it started): an analysis failure
  // then keeps the deployment active (rolling_back, holding its app+env) until the rollback
  // completes, or until this long has passed with no RollbackStarted. Unset: an analysis
  // failure is final at once.
  std::optional<std::chrono::milliseconds> await_rollback;
  // Watch the release for a while after it reached 100% (the environment's analysis.bakeWatch).
  std::optional<BakeWatchPlan> bake_watch;
  std::optional<core::SystemTime> started_at;
  std::optional<core::SystemTime> finished_at;

  bool operator==(const Deployment&) const = default;
};

// When a timed pause step passes by itself: the deployment waits at a pause step with a duration
// and no operator holds it. nullopt otherwise (running, an approval, an open-ended pause, an
// operator's pause, or the rollback timer).
std::optional<core::SystemTime> PauseEndsAt(const Deployment& d);

// A new deployment over a plan.
Deployment NewDeployment(core::DeploymentId id, std::vector<Batch> batches);

// Inputs.
struct Start {};
struct BatchSucceeded {
  std::uint32_t batch = 0;
  core::Generation generation;
  std::vector<std::string> hosts = {};  // as the executor reported them (VM hosts, Kubernetes pods)
  std::vector<std::string> baseline_hosts = {};      // the stable pods beside a canary
  std::optional<core::SystemTime> switched_at = {};  // when the last host switched
};
struct BatchFailed {
  std::uint32_t batch = 0;
  core::Generation generation;
};
struct TimerFired {
  std::string key;
};
struct AnalysisPassed {
  std::uint32_t batch = 0;
  core::Generation generation;
};
struct AnalysisFailed {
  std::uint32_t batch = 0;
  core::Generation generation;
};
struct TrafficSwitched {
  core::Generation generation;
  bool success = true;
};
// sluice.v1.OperatorCommand.Verb (text: events::Name). The planner acts on promote, pause,
// resume, abort and approve; rollback is the rollback-agent's (InputFor never maps it).
using OperatorCommand = events::v1::OperatorCommand;
using OperatorAction = OperatorCommand::Verb;
struct Operator {
  OperatorAction action = OperatorCommand::VERB_PROMOTE;
  std::string actor;
};
struct RollbackStarted {
  core::Generation generation;  // the rollback's generation: must exceed the deployment's
};
struct RollbackCompleted {
  core::Generation generation;
  bool success = true;
  // RollbackCompleted.final_status FAILED (a batch reverted in canary): the deployment ends
  // failed rather than rolled_back.
  bool deployment_failed = false;
};
using Input =
    std::variant<Start, BatchSucceeded, BatchFailed, TimerFired, AnalysisPassed, AnalysisFailed,
                 TrafficSwitched, Operator, RollbackStarted, RollbackCompleted>;

// Commands.
struct RequestBatch {
  std::uint32_t index = 0;
  core::Generation generation;
  std::vector<Host> hosts;
  std::uint32_t max_parallel = 1;
  std::uint32_t failure_tolerance = 0;
  std::chrono::milliseconds host_timeout{0};
  bool operator==(const RequestBatch&) const = default;
};
struct RequestAnalysis {
  std::uint32_t index = 0;
  core::Generation generation;
  std::vector<std::string> reported_hosts = {};  // BatchSucceeded.hosts of the batch (see EventFor)
  std::vector<std::string> reported_baseline = {};   // BatchSucceeded.baseline_hosts
  std::optional<core::SystemTime> switched_at = {};  // BatchSucceeded.switched_at
  bool operator==(const RequestAnalysis&) const = default;
};
struct ScheduleTimer {
  std::string key;
  core::SystemTime due_at;
  bool operator==(const ScheduleTimer&) const = default;
};
struct CancelTimer {
  std::string key;
  bool operator==(const CancelTimer&) const = default;
};
struct SwitchTraffic {
  std::string url;
  core::Generation generation;
  bool operator==(const SwitchTraffic&) const = default;
};
struct MarkStable {
  bool operator==(const MarkStable&) const = default;
};
// The deployment was rolled back (or its rollback failed): if its release is the stable one of
// its app+env, the release that was stable before it becomes the stable one again.
struct RevokeStable {
  bool operator==(const RevokeStable&) const = default;
};
// AnalysisRequested for the bake period after 100%: every host, for `plan.duration`.
struct RequestBakeWatch {
  std::uint32_t last_batch = 0;
  core::Generation generation;
  BakeWatchPlan plan;
  bool operator==(const RequestBakeWatch&) const = default;
};
enum class EventKind {
  kDeploymentPlanned,
  kDeploymentPaused,
  kDeploymentResumed,
  kDeploymentSucceeded,
  kDeploymentFailed,
};
std::string_view ToString(EventKind k);
struct Emit {
  EventKind kind = EventKind::kDeploymentPlanned;
  std::uint32_t batch = 0;
  std::optional<PauseReason> pause_reason;                  // kDeploymentPaused
  std::optional<std::chrono::milliseconds> pause_duration;  // kDeploymentPaused, pause steps
  std::optional<FailureReason> failure_reason;              // kDeploymentFailed
  std::string actor;                                        // kDeploymentResumed by an operator
  bool operator==(const Emit&) const = default;
};
using Command = std::variant<RequestBatch, RequestAnalysis, ScheduleTimer, CancelTimer,
                             SwitchTraffic, MarkStable, RevokeStable, RequestBakeWatch, Emit>;

struct Transition {
  Deployment next;
  std::vector<Command> commands;
  std::optional<IgnoreReason> ignored;  // set when the input changed nothing
};

// The key of the durable timer of a pause gate; unique per batch, gate and generation.
std::string PauseTimerKey(std::uint32_t batch, std::uint32_t gate, core::Generation generation);
// The key of the durable timer that bounds the wait for the rollback of a failed analysis.
std::string RollbackWaitTimerKey(core::Generation generation);

Transition Next(const Deployment& deployment, const Input& input, core::SystemTime now);

bool IsFinal(Status s);  // succeeded, failed, rolled_back, aborted
// Whether the deployment holds its app+env (the deployments_one_active index): running,
// paused, rolling_back (which includes a failed analysis waiting for its rollback).
bool HoldsSlot(Status s);

}  // namespace sluice::rollout_planner
