#pragma once

// The one projection of a deployment that the services which only follow deployments keep
// (docs/deployment-projection.md): folded from the planner's, the executor's and the
// rollback-agent's events, stored by each consumer as JSON in its own schema. Pure: no I/O,
// the event's time is passed in.

#include <sluice/v1/envelope.pb.h>
#include <sluice/v1/vocabulary.pb.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::projection {

enum class Status { kRunning, kPaused, kSucceeded, kFailed, kRollingBack, kRolledBack };
std::string_view ToString(Status s);  // "running", "paused", ..., "rolling_back", "rolled_back"
std::optional<Status> StatusFromString(std::string_view s);

enum class BatchState { kPlanned, kRequested, kSucceeded, kFailed };
std::string_view ToString(BatchState s);
std::optional<BatchState> BatchStateFromString(std::string_view s);

// The canary-failure policy of a DeploymentPlanned (the enum, else an older producer's
// string) or of its stored text (events::Name): unspecified, empty or unknown is the default,
// revert-batch.
v1::CanaryFailurePolicy CanaryFailurePolicyOf(const v1::DeploymentPlanned& p);
v1::CanaryFailurePolicy CanaryFailurePolicyFromString(std::string_view s);

// Whether the deployment has been rolled back: none yet, one under way, one finished.
enum class RollbackPhase { kNone, kActive, kDone };
std::string_view ToString(RollbackPhase p);

struct Batch {
  std::uint32_t index = 0;
  std::vector<std::string> hosts;
  BatchState state = BatchState::kPlanned;
  std::uint32_t weight_percent = 0;  // DeploymentPlanned's cumulative share after the batch
};

// The latest instance record of a host, as the executor reported it.
struct Host {
  std::uint32_t batch = 0;
  std::string version;
  std::string status;  // "pending", "deploying", "succeeded", "failed", "reverting", "reverted"
  std::string error;
};

struct Deployment {
  std::string id;
  bool planned = false;  // DeploymentPlanned seen: until then the deployment is unknown
  std::string app;
  std::string env;
  std::string release_id;
  std::string version;
  std::string stable_release_id;  // the stable release before this deployment
  std::string stable_version;
  v1::CanaryFailurePolicy on_canary_failure = v1::CANARY_FAILURE_POLICY_REVERT_BATCH;
  Status status = Status::kRunning;
  std::uint64_t generation = 0;  // the highest generation seen or issued
  std::vector<Batch> batches;
  std::map<std::string, Host> hosts;
  bool succeeded_seen = false;  // DeploymentSucceeded
  RollbackPhase rollback = RollbackPhase::kNone;
  std::string rollback_target_version;  // RollbackStarted.target_version (empty: none)
  // The highest generation a rollback started at (0: none): work of a lower generation (an
  // analysis, a batch) belongs to what was rolled back.
  std::uint64_t rollback_generation = 0;
  std::int64_t planned_at_ms = 0;
  // The Kubernetes targets the planner listed (driver "kubernetes"), by name; each is in every
  // batch's `hosts` by that name. The pods a batch event reports for them are instances, not
  // targets: they are not added to a planned deployment's batches.
  std::map<std::string, ::sluice::v1::KubernetesWorkload> kubernetes;

  // Every batch succeeded (and there is one), or DeploymentSucceeded was seen.
  bool FullRollout() const;
  // Hosts of the batches that were requested (so may run the new version), in batch order.
  std::vector<std::string> DeployedHosts() const;
  // The Kubernetes targets among `hosts`, in that order, as RevertRequested.kubernetes_targets
  // names them (driver "kubernetes", `host` = the name, `kubernetes` = the workload).
  std::vector<::sluice::v1::Target> KubernetesTargets(const std::vector<std::string>& hosts) const;
  // The cumulative share before batch `index`: that of the batch before it (0 for the first).
  std::uint32_t WeightBefore(std::uint32_t index) const;
};

// Folds one event of the deployment in. Returns false when the event says nothing the
// projection keeps. `at_ms` is the event's time. Redelivery is harmless: applying an event a
// second time leaves the projection as the first time did (hosts are a set, the generation
// only rises, a state is set, never toggled). DeploymentPlanned is the authority for the
// release facts; any other event only fills those still empty (a consumer that missed the
// plan still names the app).
bool Apply(Deployment& d, const ::sluice::v1::Envelope& envelope, std::int64_t at_ms);

// The stored form. FromJson reads what ToJson wrote (missing keys are defaults) and throws
// nlohmann::json::exception for a batch without index or hosts.
nlohmann::json ToJson(const Deployment& d);
Deployment FromJson(const nlohmann::json& j);

}  // namespace sluice::projection
