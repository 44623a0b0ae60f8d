#include "rollback_transitions.hpp"

#include <algorithm>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>

#include "evidence.hpp"
#include "rollback_options.hpp"
#include "timeline.hpp"

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;

v1::DeploymentStatus FinalStatusProto(const RollbackRow& row, bool success) {
  if (!success || row.plan.final_status == FinalStatus::kFailed) {
    return v1::DEPLOYMENT_STATUS_FAILED;
  }
  return v1::DEPLOYMENT_STATUS_ROLLED_BACK;
}

// The view once the rollback is done: every reverted host on the target version.
void MarkDone(DeploymentView& view, const RollbackRow& row, bool success) {
  view.rollback = RollbackPhase::kDone;
  view.status = success && row.plan.final_status == FinalStatus::kRolledBack
                    ? projection::Status::kRolledBack
                    : projection::Status::kFailed;
  for (const auto& h : row.progress.reverted) {
    auto& host = view.hosts[h];
    host.version = row.plan.target_version;
    host.status = "reverted";
  }
  view.generation = std::max(view.generation, row.progress.attempt_generation);
}

void LogCompleted(const RollbackRow& row, bool success) {
  const auto log = core::Logger("revert");
  if (success) {
    log->info("rollback {} of deployment {} completed: {} host(s) on {}", row.rollback_id,
              row.deployment_id, row.progress.reverted.size(), row.plan.target_version);
  } else {
    log->error("rollback {} of deployment {} FAILED: not reverted: {}", row.rollback_id,
               row.deployment_id, JoinHosts(row.progress.failed));
  }
}

}  // namespace

void PublishAndRecord(pqxx::work& tx, v1::Envelope e, std::int64_t now_ms) {
  events::Finalize(e);
  const std::string deployment_id = e.deployment_id();
  RollbackRepository::AppendTimeline(
      tx, deployment_id, e.event_id(),
      TimelineEntry{now_ms, ShortType(e), std::string(kServiceName), TimelineDetail(e)});
  eventbus::Publish(tx, std::move(e));
}

void PublishStarted(pqxx::work& tx, const core::Clock& clock, const RollbackRow& row,
                    const DeploymentView& view) {
  const RollbackPlan& plan = row.plan;
  auto started = events::NewEnvelope(kServiceName, clock);
  started.set_deployment_id(row.deployment_id);
  started.set_release_id(view.release_id);
  auto* s = started.mutable_rollback_started();
  s->set_rollback_id(row.rollback_id);
  s->set_deployment_id(row.deployment_id);
  s->set_generation(plan.new_generation);
  s->set_scope(plan.scope == Scope::kBatches ? v1::ROLLBACK_SCOPE_BATCHES
                                             : v1::ROLLBACK_SCOPE_DEPLOYMENT);
  for (auto b : plan.batches) s->add_batches(b);
  for (const auto& h : plan.hosts) s->add_hosts(h);
  s->set_target_version(plan.target_version);
  events::SetTrigger(*s, events::ParseRollbackTrigger(row.trigger_kind));
  if (!row.evidence.empty()) *s->mutable_evidence() = EvidenceFromJson(row.evidence.at(0));
  s->set_app(view.app);
  s->set_env(view.env);
  s->set_from_version(view.version);
  PublishAndRecord(tx, std::move(started), core::ToUnixMillis(clock.Now()));
  SendRevert(tx, clock, row, view);
}

void SendRevert(pqxx::work& tx, const core::Clock& clock, const RollbackRow& row,
                const DeploymentView& view) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(row.deployment_id);
  auto* r = e.mutable_revert_requested();
  r->set_rollback_id(row.rollback_id);
  r->set_deployment_id(row.deployment_id);
  r->set_generation(row.progress.attempt_generation);
  r->set_target_version(row.plan.target_version);
  r->set_target_release_id(row.plan.target_release_id);
  for (const auto& h : row.progress.pending) r->add_hosts(h);
  for (auto& t : view.KubernetesTargets(row.progress.pending)) {
    *r->add_kubernetes_targets() = std::move(t);
  }
  // Batch scope: Kubernetes targets fall back to the share before the first reverted batch.
  if (row.plan.scope == Scope::kBatches && !row.plan.batches.empty() &&
      r->kubernetes_targets_size() > 0) {
    r->set_weight_percent(view.WeightBefore(row.plan.batches.front()));
  }
  PublishAndRecord(tx, std::move(e), core::ToUnixMillis(clock.Now()));
}

void CompleteRollback(pqxx::work& tx, const core::Clock& clock, AgentMetrics* metrics,
                      RollbackRow& row, bool success) {
  const auto now_ms = core::ToUnixMillis(clock.Now());
  row.status = success ? "succeeded" : "failed";
  row.finished_at_ms = now_ms;
  row.retry_at_ms.reset();
  row.timeout_at_ms.reset();
  RollbackRepository::UpdateRollback(tx, row);

  auto view = RollbackRepository::LockOrCreateDeployment(tx, row.deployment_id, now_ms);
  MarkDone(view, row, success);
  RollbackRepository::SaveDeployment(tx, view, now_ms);

  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(row.deployment_id);
  e.set_release_id(view.release_id);
  auto* c = e.mutable_rollback_completed();
  c->set_rollback_id(row.rollback_id);
  c->set_deployment_id(row.deployment_id);
  c->set_success(success);
  for (const auto& h : row.progress.reverted) c->add_reverted_hosts(h);
  for (const auto& h : row.progress.failed) c->add_failed_hosts(h);
  c->set_final_status(FinalStatusProto(row, success));
  c->set_target_version(row.plan.target_version);
  PublishAndRecord(tx, std::move(e), now_ms);
  RollbackRepository::InsertPendingIncident(tx, core::NewUuid(), row.rollback_id, row.deployment_id,
                                            now_ms);
  if (metrics != nullptr) metrics->Completed(success);
  LogCompleted(row, success);
}

}  // namespace sluice::rollback
