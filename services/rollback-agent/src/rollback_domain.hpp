#pragma once

// The rollback-agent's pure core: the deployment as the shared projection folds it
// (libs/projection), the rollback decision, and the bookkeeping of a revert's attempts. No I/O;
// time is passed in.

#include <sluice/v1/envelope.pb.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/events/vocabulary.hpp>
#include <sluice/projection/deployment.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::rollback {

// Reasons a trigger is recorded without acting (named constants the API and logs key on).
inline constexpr std::string_view kReasonAlreadyRolledBack =
    events::Name(events::v1::REASON_ALREADY_ROLLED_BACK);
inline constexpr std::string_view kReasonRollbackInProgress =
    events::Name(events::v1::REASON_ROLLBACK_IN_PROGRESS);
inline constexpr std::string_view kReasonUnknownDeployment =
    events::Name(events::v1::REASON_UNKNOWN_DEPLOYMENT);
inline constexpr std::string_view kReasonStaleGeneration =
    events::Name(events::v1::REASON_STALE_GENERATION);
inline constexpr std::string_view kReasonNoStableRelease =
    events::Name(events::v1::REASON_NO_STABLE_RELEASE);
inline constexpr std::string_view kReasonUnknownTargetRelease =
    events::Name(events::v1::REASON_UNKNOWN_TARGET_RELEASE);
inline constexpr std::string_view kReasonFailedTargetRelease =
    events::Name(events::v1::REASON_FAILED_TARGET_RELEASE);
inline constexpr std::string_view kReasonNothingDeployed =
    events::Name(events::v1::REASON_NOTHING_DEPLOYED);
inline constexpr std::string_view kReasonAlertResolved =
    events::Name(events::v1::REASON_ALERT_RESOLVED);
inline constexpr std::string_view kReasonSuperseded = events::Name(events::v1::REASON_SUPERSEDED);
// A concurrent trigger committed its rollback first (the unique row decided).
inline constexpr std::string_view kReasonLostRace =
    events::Name(events::v1::REASON_ROLLBACK_IN_PROGRESS);
// A newer holder of the deployment's Redis lease wrote first (its fencing token is higher).
inline constexpr std::string_view kReasonLockSuperseded =
    events::Name(events::v1::REASON_LOCK_SUPERSEDED);

// Trigger kinds (rollbacks.trigger_kind), the text of RollbackStarted.trigger_code.
inline constexpr std::string_view kTriggerAnalysisFailed =
    events::Name(events::v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED);
inline constexpr std::string_view kTriggerAlert = events::Name(events::v1::ROLLBACK_TRIGGER_ALERT);
inline constexpr std::string_view kTriggerOperator =
    events::Name(events::v1::ROLLBACK_TRIGGER_OPERATOR);

// The deployment's facts come from the shared projection (libs/projection).
using projection::BatchState;
using projection::RollbackPhase;

enum class Scope { kBatches, kDeployment };
std::string_view ToString(Scope s);  // "batches", "deployment"

// How the deployment ends once the rollback has finished.
enum class FinalStatus { kFailed, kRolledBack };
std::string_view ToString(FinalStatus s);  // "failed", "rolled_back"

// An earlier deployment of the same app and environment (for an operator's chosen target).
struct EarlierRelease {
  std::string release_id;
  std::string version;
  bool failed = false;  // that deployment failed or was rolled back: never a target
};

// The shared projection of the deployment (stored in rollback_deployments as its JSON), with
// what the repository adds at decision time.
struct DeploymentView : projection::Deployment {
  std::vector<EarlierRelease> earlier_releases;
  bool superseded = false;  // a newer deployment of the same app+env has been planned
};

// ---- triggers and the decision ------------------------------------------------------------

struct AnalysisFailedTrigger {
  std::string analysis_id;
  std::uint32_t batch = 0;
  bool bake_watch = false;
  std::uint64_t generation = 0;                 // 0: not known
  std::vector<std::string> affected_instances;  // union over the evidence
};

struct AlertTrigger {
  std::string alert_id;
  std::string alert_name;
  std::vector<std::string> affected_instances;
  bool resolved = false;
};

struct OperatorTrigger {
  std::string actor;
  std::string reason;
  std::optional<std::string> target_release_id;
  std::uint64_t generation = 0;  // the generation the operator saw; 0 = current
};

using Trigger = std::variant<AnalysisFailedTrigger, AlertTrigger, OperatorTrigger>;
std::string_view TriggerKind(const Trigger& t);
// False when the trigger can never start a rollback, whatever the deployment (a resolved alert):
// the handler then takes no lease for it.
bool MayStartRollback(const Trigger& t);

struct RollbackPlan {
  Scope scope = Scope::kBatches;
  std::vector<std::uint32_t> batches;  // the batches reverted, ascending
  std::vector<std::string> hosts;      // the hosts reverted, in batch order
  std::string target_version;
  std::string target_release_id;
  FinalStatus final_status = FinalStatus::kRolledBack;
  std::uint64_t from_generation = 0;  // the dedupe key with the deployment id
  std::uint64_t new_generation = 0;   // from_generation + 1: RollbackStarted.generation
  std::string why;                    // one human line
};

struct RecordOnly {
  std::string reason;  // one of the kReason* constants
  std::string detail;  // one human line
};

struct Decision {
  std::variant<RollbackPlan, RecordOnly> outcome;
  bool Acts() const { return std::holds_alternative<RollbackPlan>(outcome); }
  const RollbackPlan& Plan() const { return std::get<RollbackPlan>(outcome); }
  const RecordOnly& Record() const { return std::get<RecordOnly>(outcome); }
};

// The decision for a trigger, with no side effects:
// - automatic triggers (analysis failed, alert): nothing while a rollback runs or after one;
//   a stale analysis generation, a resolved alert or a superseded deployment are recorded;
//   in canary (not full rollout) revert-batch reverts only the batches whose hosts the
//   evidence names (every deployed batch when none is named) and ends FAILED, revert-all
//   reverts every deployed batch and ends ROLLED_BACK; after full rollout every deployed host
//   goes back to the stable version and the deployment ends ROLLED_BACK.
// - operator: any state but a running rollback; the stable version or a chosen earlier
//   release of this app+env that did not fail; every deployed host not already on it;
//   ROLLED_BACK.
// Only hosts of requested batches are reverted, and only those not already on the target.
Decision DecideRollback(const DeploymentView& deployment, const Trigger& trigger);
Decision DecideRollback(const std::optional<DeploymentView>& deployment, const Trigger& trigger);

// ---- revert attempts ----------------------------------------------------------------------

struct RevertPolicy {
  int max_attempts = 3;
  std::chrono::milliseconds backoff{5000};  // before the second attempt; doubled after
  std::chrono::milliseconds timeout{300000};
};

// A rollback's revert as the agent tracks it.
struct RevertProgress {
  int attempt = 1;                       // the attempt in flight
  std::uint64_t attempt_generation = 0;  // generation of the attempt's RevertRequested
  std::vector<std::string> hosts;        // every host of the rollback
  std::vector<std::string> pending;      // hosts of the attempt in flight
  std::vector<std::string> reverted;     // hosts reverted so far
  std::vector<std::string> failed;       // hosts that failed their latest attempt
};

struct RevertNext {
  enum class Kind { kRetry, kComplete };
  Kind kind = Kind::kComplete;
  RevertProgress progress;             // updated
  std::chrono::milliseconds delay{0};  // kRetry: wait before the next RevertRequested
  bool success = false;                // kComplete
};

// Folds a RevertCompleted of the attempt in flight. Hosts the answer names in neither list
// count as failed. Failed hosts are retried (a new attempt, generation + 1) while attempts
// remain, after backoff * 2^(attempt-1); otherwise the revert completes.
RevertNext OnRevertResult(const RevertPolicy& policy, RevertProgress progress,
                          const std::vector<std::string>& reverted,
                          const std::vector<std::string>& failed);
// The attempt in flight never answered: its pending hosts fail and the revert completes.
RevertNext OnRevertTimeout(RevertProgress progress);

// "demo-app production: v3 rolled back to v2 on 2 hosts after error_rate 0.31 > 0.05 (batch 2)"
struct SummaryInput {
  std::string app, env, from_version, target_version;
  std::vector<std::string> reverted, failed;
  std::vector<std::uint32_t> batches;  // 0-based; printed 1-based
  Scope scope = Scope::kBatches;
  std::string cause;  // "error_rate 0.31 > 0.05", "operator rollback by alice", ...
};
std::string Summary(const SummaryInput& in);

// "error_rate 0.31 > 0.05" from an evidence (its message when it has no metric).
std::string CauseOf(const ::sluice::v1::Evidence& evidence);

}  // namespace sluice::rollback
