#include "rollback_worker.hpp"

#include <algorithm>
#include <sluice/core/logging.hpp>

#include "evidence.hpp"
#include "rollback_transitions.hpp"
#include "timeline.hpp"

namespace sluice::rollback {
namespace {

using json = nlohmann::json;

std::int64_t NowMs(const core::Clock& clock) { return core::ToUnixMillis(clock.Now()); }

// The incident's cause line: the operator, the first evidence, or the trigger.
std::string CauseLine(const RollbackRow& row) {
  if (row.trigger_kind == kTriggerOperator) {
    return "operator rollback by " +
           (row.trigger_actor.empty() ? "an operator" : row.trigger_actor);
  }
  if (!row.evidence.empty()) return CauseOf(EvidenceFromJson(row.evidence.at(0)));
  return row.trigger_kind == kTriggerAlert ? "alert " + row.trigger_actor : "analysis failure";
}

// The first evidence that carries a query: the metric the snapshot charts.
const json* FirstQuery(const json& evidence) {
  for (const auto& e : evidence) {
    if (!e.value("query", "").empty()) return &e;
  }
  return nullptr;
}

}  // namespace

RollbackWorker::RollbackWorker(AgentDeps deps, AgentOptions options)
    : deps_(deps), options_(std::move(options)) {}

// ---- revert retries and timeouts -----------------------------------------------------------

int RollbackWorker::RunDue() {
  const auto log = core::Logger("worker");
  try {
    return deps_.db.WithTransaction([&](pqxx::work& tx) {
      const auto now_ms = NowMs(deps_.clock);
      auto rows = RollbackRepository::LockDueRollbacks(tx, now_ms, options_.batch_limit);
      for (auto& row : rows) {
        if (row.status == "waiting_retry") {
          RetryRevert(tx, row, now_ms);
          continue;
        }
        log->error("rollback {}: the revert did not answer within {} ms", row.rollback_id,
                   options_.revert.timeout.count());
        auto next = OnRevertTimeout(row.progress);
        row.progress = next.progress;
        CompleteRollback(tx, deps_.clock, deps_.metrics, row, next.success);
      }
      return static_cast<int>(rows.size());
    });
  } catch (const std::exception& e) {
    log->warn("due rollbacks not handled now (will retry): {}", e.what());
    return 0;
  }
}

void RollbackWorker::RetryRevert(pqxx::work& tx, RollbackRow& row, std::int64_t now_ms) {
  row.status = "reverting";
  row.retry_at_ms.reset();
  row.timeout_at_ms = now_ms + options_.revert.timeout.count();
  RollbackRepository::UpdateRollback(tx, row);
  auto view = RollbackRepository::LockOrCreateDeployment(tx, row.deployment_id, now_ms);
  view.generation = std::max(view.generation, row.progress.attempt_generation);
  RollbackRepository::SaveDeployment(tx, view, now_ms);
  SendRevert(tx, deps_.clock, row, view);
  core::Logger("worker")->info("rollback {}: attempt {} for {} host(s) (generation {})",
                               row.rollback_id, row.progress.attempt, row.progress.pending.size(),
                               row.progress.attempt_generation);
}

// ---- incident reports ----------------------------------------------------------------------

int RollbackWorker::WriteIncidents() {
  const auto log = core::Logger("incident");
  std::vector<IncidentRow> pending;
  try {
    pending = deps_.db.WithTransaction([&](pqxx::work& tx) {
      return RollbackRepository::PendingIncidents(tx, options_.batch_limit);
    });
  } catch (const std::exception& e) {
    log->warn("pending incidents not read now (will retry): {}", e.what());
    return 0;
  }
  int written = 0;
  for (const auto& p : pending) {
    try {
      if (WriteIncident(p.incident_id, p.rollback_id)) ++written;
    } catch (const std::exception& e) {
      log->error("incident {} of rollback {} not written (will retry): {}", p.incident_id,
                 p.rollback_id, e.what());
      try {
        deps_.db.WithTransaction(
            [&](pqxx::work& tx) { RollbackRepository::CountIncidentAttempt(tx, p.incident_id); });
      } catch (const std::exception&) {
      }
    }
  }
  return written;
}

// Read (one transaction), query the snapshot (none open), write if still pending (a second).
bool RollbackWorker::WriteIncident(const std::string& incident_id, const std::string& rollback_id) {
  const auto gathered = deps_.db.WithTransaction([&](pqxx::work& tx) -> std::optional<Gathered> {
    auto row = RollbackRepository::GetRollback(tx, rollback_id);
    if (!row) return std::nullopt;
    auto view = RollbackRepository::LockDeployment(tx, row->deployment_id);
    return Gathered{*row, view.value_or(DeploymentView{}),
                    RollbackRepository::Timeline(tx, row->deployment_id),
                    RollbackRepository::DeployLog(tx, row->deployment_id)};
  });
  if (!gathered) throw std::runtime_error("rollback " + rollback_id + " is missing");
  const auto now_ms = NowMs(deps_.clock);
  Incident in = BuildIncident(incident_id, *gathered, now_ms);
  TakeSnapshot(in, gathered->row, gathered->view, now_ms);
  const bool wrote = Publish(in, *gathered);
  if (wrote) {
    if (deps_.metrics != nullptr) deps_.metrics->Incident(in.snapshot.available);
    core::Logger("incident")->info("incident {} written: {}", incident_id, in.summary);
  }
  return wrote;
}

Incident RollbackWorker::BuildIncident(const std::string& incident_id, const Gathered& gathered,
                                       std::int64_t now_ms) const {
  const auto& row = gathered.row;
  const auto& view = gathered.view;
  Incident in;
  in.id = incident_id;
  in.deployment_id = row.deployment_id;
  in.rollback_id = row.rollback_id;
  in.app = view.app;
  in.env = view.env;
  in.version = view.version;
  in.target_version = row.plan.target_version;
  in.target_release_id = row.plan.target_release_id;
  in.trigger = row.trigger_kind;
  in.trigger_actor = row.trigger_actor;
  in.scope = std::string(ToString(row.plan.scope));
  in.batches = row.plan.batches;
  in.success = row.status == "succeeded";
  in.final_status = in.success ? std::string(ToString(row.plan.final_status)) : "failed";
  in.reverted_hosts = row.progress.reverted;
  in.failed_hosts = row.progress.failed;
  in.started_at_ms = row.started_at_ms;
  in.completed_at_ms = row.finished_at_ms.value_or(now_ms);
  in.created_at_ms = now_ms;
  std::string base = options_.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  in.report_url = base + "/v1/incidents/" + incident_id;
  in.chart_url = in.report_url + "/chart.svg";
  for (const auto& e : row.evidence) in.evidence.push_back(EvidenceViewOf(e));
  in.timeline = gathered.timeline;
  in.batch_starts = BatchStarts(in.timeline);
  in.deploy_log = gathered.log;
  for (const auto& h : view.DeployedHosts()) {
    const auto it = view.hosts.find(h);
    in.result[h] =
        it != view.hosts.end() && !it->second.version.empty() ? it->second.version : "unknown";
  }
  in.summary = Summary(SummaryInput{view.app, view.env, view.version, row.plan.target_version,
                                    row.progress.reverted, row.progress.failed, row.plan.batches,
                                    row.plan.scope, CauseLine(row)});
  return in;
}

// The metric snapshot: from before the deployment through the rollback.
void RollbackWorker::TakeSnapshot(Incident& in, const RollbackRow& row, const DeploymentView& view,
                                  std::int64_t now_ms) {
  Snapshot& snap = in.snapshot;
  const std::int64_t from = (view.planned_at_ms > 0 ? view.planned_at_ms : row.started_at_ms) -
                            options_.snapshot_before.count();
  snap.start_ms = from;
  snap.end_ms = now_ms;
  snap.step_ms = ChooseStep(from, now_ms).count();
  const json* first_query = FirstQuery(row.evidence);
  if (first_query == nullptr) {
    snap.unavailable_reason = "the trigger carried no metric query";
    return;
  }
  snap.metric = first_query->value("metric", "");
  snap.query = first_query->value("query", "");
  const std::string cmp = first_query->value("comparator", "");
  if (cmp == ">" || cmp == ">=" || cmp == "<" || cmp == "<=") {
    snap.threshold = first_query->value("threshold", 0.0);
  }
  try {
    snap.series = deps_.history.QueryRange(snap.query, snap.start_ms, snap.end_ms,
                                           std::chrono::milliseconds(snap.step_ms));
    snap.available = true;
  } catch (const std::exception& e) {
    snap.available = false;
    snap.unavailable_reason = e.what();
    core::Logger("incident")->warn("incident {}: snapshot unavailable: {}", in.id, e.what());
    return;
  }
  TakeBaseline(in, view);
}

// The same query over the hosts still on the stable version, drawn beside the canary's; the
// snapshot stands without it.
void RollbackWorker::TakeBaseline(Incident& in, const DeploymentView& view) {
  Snapshot& snap = in.snapshot;
  BaselineHosts hosts;
  hosts.canary = view.DeployedHosts();
  for (const auto& b : view.batches) {
    if (b.state != projection::BatchState::kPlanned) continue;
    for (const auto& h : b.hosts) {
      // A Kubernetes target is in every batch: its stable pods are not hosts by name.
      if (view.kubernetes.count(h) == 0) hosts.baseline.push_back(h);
    }
  }
  hosts.version = view.version;
  hosts.baseline_version = view.stable_version;
  const auto baseline = BaselineQueryOf(snap.query, hosts);
  if (baseline.query.empty()) {
    snap.baseline_unavailable_reason = baseline.reason;
    return;
  }
  snap.baseline_query = baseline.query;
  try {
    auto series = deps_.history.QueryRange(snap.baseline_query, snap.start_ms, snap.end_ms,
                                           std::chrono::milliseconds(snap.step_ms));
    for (auto& x : series) {
      x.role = SeriesRole::kBaseline;
      snap.series.push_back(std::move(x));
    }
  } catch (const std::exception& e) {
    snap.baseline_unavailable_reason = e.what();
    core::Logger("incident")->warn("incident {}: baseline series unavailable: {}", in.id, e.what());
  }
}

// Writes the report and publishes IncidentReported, only while the incident is still pending.
bool RollbackWorker::Publish(const Incident& in, const Gathered& gathered) {
  const auto& row = gathered.row;
  const auto& view = gathered.view;
  const json report = IncidentToJson(in);
  return deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (!RollbackRepository::LockPendingIncident(tx, in.id)) return false;
    RollbackRepository::WriteIncident(tx, in.id, in.summary, report, NowMs(deps_.clock));
    auto e = events::NewEnvelope(kServiceName, deps_.clock);
    e.set_deployment_id(row.deployment_id);
    e.set_release_id(view.release_id);
    auto* r = e.mutable_incident_reported();
    r->set_incident_id(in.id);
    r->set_deployment_id(row.deployment_id);
    r->set_rollback_id(row.rollback_id);
    r->set_summary(in.summary);
    r->set_report_url(in.report_url);
    r->set_chart_url(in.chart_url);
    if (!row.evidence.empty()) *r->mutable_evidence() = EvidenceFromJson(row.evidence.at(0));
    r->set_app(view.app);
    r->set_env(view.env);
    PublishAndRecord(tx, std::move(e), NowMs(deps_.clock));
    return true;
  });
}

}  // namespace sluice::rollback
