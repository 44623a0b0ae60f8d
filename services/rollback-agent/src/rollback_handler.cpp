#include "rollback_handler.hpp"

#include <algorithm>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>

#include "evidence.hpp"
#include "rollback_transitions.hpp"
#include "timeline.hpp"

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using json = nlohmann::json;
using PC = v1::Envelope::PayloadCase;

std::int64_t NowMs(const core::Clock& clock) { return core::ToUnixMillis(clock.Now()); }

// An executor's instance record as the deploy log keeps it.
DeployLogEntry DeployLogOf(const v1::InstanceDeploymentUpdated& p, std::int64_t at_ms) {
  std::string status = v1::InstanceStatus_Name(p.status()).substr(sizeof("INSTANCE_STATUS_") - 1);
  std::transform(status.begin(), status.end(), status.begin(), ::tolower);
  return DeployLogEntry{at_ms, p.host(), p.batch_index(), status, p.version(), p.error_message()};
}

// The rollback row a trigger that acts inserts: the first revert attempt in flight.
RollbackRow NewRollback(const v1::Envelope& e, const RollbackPlan& plan,
                        const TriggerEvent& trigger, std::int64_t token, std::int64_t now_ms,
                        const RevertPolicy& policy) {
  RollbackRow row;
  row.rollback_id = core::NewUuid();
  row.deployment_id = DeploymentIdOf(e);
  row.plan = plan;
  row.trigger_kind = std::string(TriggerKind(trigger.trigger));
  row.trigger_event_id = e.event_id();
  row.trigger_actor = trigger.actor;
  row.evidence = trigger.evidence;
  row.status = "reverting";
  row.progress.attempt = 1;
  row.progress.attempt_generation = plan.new_generation;
  row.progress.hosts = plan.hosts;
  row.progress.pending = plan.hosts;
  row.timeout_at_ms = now_ms + policy.timeout.count();
  row.fence_token = token;
  row.started_at_ms = now_ms;
  return row;
}

}  // namespace

std::optional<TriggerEvent> TriggerOf(const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kAnalysisFailed: {
      const auto& p = e.analysis_failed();
      TriggerEvent out{AnalysisFailedTrigger{}, e.source(), json::array()};
      for (const auto& ev : p.evidence()) out.evidence.push_back(EvidenceToJson(ev));
      auto& t = std::get<AnalysisFailedTrigger>(out.trigger);
      t.analysis_id = p.analysis_id();
      t.batch = p.batch_index();
      t.bake_watch = p.bake_watch();
      t.generation = p.generation();
      t.affected_instances = AffectedOf(out.evidence);
      return out;
    }
    case PC::kAlertRaised: {
      const auto& p = e.alert_raised();
      TriggerEvent out{AlertTrigger{},
                       e.source().empty() ? p.alert_name() : e.source() + ": " + p.alert_name(),
                       json::array()};
      if (p.has_evidence()) out.evidence.push_back(EvidenceToJson(p.evidence()));
      auto& t = std::get<AlertTrigger>(out.trigger);
      t.alert_id = p.alert_id();
      t.alert_name = p.alert_name();
      t.resolved = p.resolved();
      t.affected_instances = AffectedOf(out.evidence);
      return out;
    }
    case PC::kOperatorCommand: {
      const auto& p = e.operator_command();
      if (p.verb() != v1::OperatorCommand::VERB_ROLLBACK) return std::nullopt;
      OperatorTrigger t;
      t.actor = p.actor();
      t.reason = p.reason();
      if (!p.target_release_id().empty()) t.target_release_id = p.target_release_id();
      t.generation = p.generation();
      return TriggerEvent{t, p.actor(), json::array()};
    }
    default:
      return std::nullopt;
  }
}

RollbackHandler::RollbackHandler(AgentDeps deps, AgentOptions options)
    : deps_(deps),
      options_(std::move(options)),
      leases_(deps_.locks, deps_.clock, {options_.owner, options_.lock_ttl, options_.lock_wait}) {}

eventbus::TransactionStep RollbackHandler::Prepare(const v1::Envelope& e) const {
  const std::string deployment_id = DeploymentIdOf(e);
  if (deployment_id.empty()) return {};
  auto trigger = TriggerOf(e);
  HeldLease lease;
  if (trigger && MayStartRollback(trigger->trigger)) lease = leases_.Acquire(deployment_id);
  return [this, &e, trigger = std::move(trigger), lease = std::move(lease)](pqxx::work& tx) {
    Handle(tx, e, trigger, lease.get());
  };
}

void RollbackHandler::Handle(pqxx::work& tx, const v1::Envelope& e,
                             const std::optional<TriggerEvent>& trigger,
                             const lock::Lease* lease) const {
  const std::string deployment_id = DeploymentIdOf(e);
  const auto now_ms = NowMs(deps_.clock);
  const auto at_ms = OccurredMs(e, now_ms);
  RollbackRepository::AppendTimeline(
      tx, deployment_id, e.event_id(),
      TimelineEntry{at_ms, ShortType(e), ActorOf(e), TimelineDetail(e)});
  if (trigger) {
    OnTrigger(tx, e, *trigger, lease);
    return;
  }
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned:
    case PC::kBatchRequested:
    case PC::kBatchSucceeded:
    case PC::kBatchFailed:
    case PC::kDeploymentSucceeded:
    case PC::kDeploymentFailed:
    case PC::kDeploymentPaused:
    case PC::kDeploymentResumed:
    case PC::kInstanceUpdated:
      Project(tx, e, at_ms, now_ms);
      return;
    case PC::kRevertCompleted:
      Project(tx, e, at_ms, now_ms);
      OnRevertCompleted(tx, e);
      return;
    default:
      return;
  }
}

void RollbackHandler::Project(pqxx::work& tx, const v1::Envelope& e, std::int64_t at_ms,
                              std::int64_t now_ms) const {
  const std::string deployment_id = DeploymentIdOf(e);
  auto view = RollbackRepository::LockOrCreateDeployment(tx, deployment_id, now_ms);
  projection::Apply(view, e, at_ms);
  RollbackRepository::SaveDeployment(tx, view, now_ms);
  if (e.has_instance_updated()) {
    RollbackRepository::AppendInstance(tx, deployment_id, DeployLogOf(e.instance_updated(), at_ms));
  }
}

void RollbackHandler::Record(pqxx::work& tx, TriggerRow& tr, std::string_view reason,
                             const std::string& detail) const {
  tr.decision = "record";
  tr.reason = std::string(reason);
  tr.detail = detail;
  RollbackRepository::InsertTrigger(tx, tr);
  if (deps_.metrics != nullptr) deps_.metrics->Trigger(tr.kind, "record", reason);
  core::Logger("trigger")->info("{} {} for deployment {} recorded, not acted on: {} ({})", tr.kind,
                                tr.event_id, tr.deployment_id, reason, detail);
}

// The decision and, when it acts, the rollback: under the deployment's row lock, guarded by the
// unique (deployment, generation) row and, when a lease was had, by its fencing token.
void RollbackHandler::OnTrigger(pqxx::work& tx, const v1::Envelope& e, const TriggerEvent& trigger,
                                const lock::Lease* lease) const {
  const std::string deployment_id = DeploymentIdOf(e);
  const auto now_ms = NowMs(deps_.clock);
  std::optional<DeploymentView> view = RollbackRepository::LockDeployment(tx, deployment_id);
  if (view && view->planned) {
    view->earlier_releases = RollbackRepository::EarlierReleases(tx, *view);
    view->superseded = RollbackRepository::Superseded(tx, *view);
  }
  TriggerRow tr;
  tr.deployment_id = deployment_id;
  tr.event_id = e.event_id();
  tr.kind = std::string(TriggerKind(trigger.trigger));
  tr.actor = trigger.actor;
  tr.received_at_ms = now_ms;

  const Decision decision = DecideRollback(view, trigger.trigger);
  if (!decision.Acts()) return Record(tx, tr, decision.Record().reason, decision.Record().detail);
  const RollbackPlan& plan = decision.Plan();
  const std::int64_t token = lease != nullptr ? lease->token.Value() : 0;
  if (lease != nullptr && !RollbackRepository::AdvanceFence(tx, deployment_id, token, now_ms)) {
    return Record(tx, tr, kReasonLockSuperseded,
                  "a newer holder of the deployment's lease wrote first");
  }
  const RollbackRow row = NewRollback(e, plan, trigger, token, now_ms, options_.revert);
  if (!RollbackRepository::InsertRollback(tx, row)) {
    return Record(tx, tr, kReasonLostRace,
                  "a rollback of generation " + std::to_string(plan.from_generation) +
                      " was committed by a concurrent trigger");
  }
  PublishStarted(tx, deps_.clock, row, *view);

  view->rollback = RollbackPhase::kActive;
  view->status = projection::Status::kRollingBack;
  view->generation = std::max(view->generation, plan.new_generation);
  view->earlier_releases.clear();
  RollbackRepository::SaveDeployment(tx, *view, now_ms);

  tr.decision = "act";
  tr.reason = "";
  tr.detail = plan.why;
  tr.rollback_id = row.rollback_id;
  RollbackRepository::InsertTrigger(tx, tr);
  if (deps_.metrics != nullptr) deps_.metrics->Trigger(tr.kind, "act", "");
  core::Logger("trigger")->warn(
      "rollback {} of deployment {} started by {} {}: {} ({} host(s), generation {} -> {})",
      row.rollback_id, deployment_id, tr.kind, e.event_id(), plan.why, plan.hosts.size(),
      plan.from_generation, plan.new_generation);
}

void RollbackHandler::OnRevertCompleted(pqxx::work& tx, const v1::Envelope& e) const {
  const auto log = core::Logger("revert");
  const auto& p = e.revert_completed();
  auto row = RollbackRepository::LockRollback(tx, p.rollback_id());
  if (!row) {
    log->info("RevertCompleted {} names rollback {} this agent does not know; ignored",
              e.event_id(), p.rollback_id());
    return;
  }
  if (row->status != "reverting" || p.generation() != row->progress.attempt_generation) {
    log->info(
        "RevertCompleted {} of rollback {} (generation {}) is not the attempt in flight "
        "(status {}, generation {}); ignored",
        e.event_id(), row->rollback_id, p.generation(), row->status,
        row->progress.attempt_generation);
    return;
  }
  const std::vector<std::string> reverted(p.reverted_hosts().begin(), p.reverted_hosts().end());
  const std::vector<std::string> failed(p.failed_hosts().begin(), p.failed_hosts().end());
  const auto next = OnRevertResult(options_.revert, row->progress, reverted, failed);
  row->progress = next.progress;
  if (next.kind != RevertNext::Kind::kRetry) {
    CompleteRollback(tx, deps_.clock, deps_.metrics, *row, next.success);
    return;
  }
  row->status = "waiting_retry";
  row->retry_at_ms = NowMs(deps_.clock) + next.delay.count();
  row->timeout_at_ms.reset();
  RollbackRepository::UpdateRollback(tx, *row);
  log->warn("rollback {}: {} host(s) not reverted ({}); attempt {} of {} in {} ms",
            row->rollback_id, row->progress.pending.size(), JoinHosts(failed),
            row->progress.attempt, options_.revert.max_attempts, next.delay.count());
}

}  // namespace sluice::rollback
