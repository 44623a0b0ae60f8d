#include "rollback_component.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/prometheus/client.hpp>
#include <thread>

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using json = nlohmann::json;
using namespace std::chrono_literals;
using TimeUtil = google::protobuf::util::TimeUtil;

std::int64_t NowMs(const core::Clock& clock) { return core::ToUnixMillis(clock.Now()); }

std::string DeploymentIdOf(const v1::Envelope& e) {
  if (!e.deployment_id().empty()) return e.deployment_id();
  using PC = v1::Envelope::PayloadCase;
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned:
      return e.deployment_planned().deployment_id();
    case PC::kBatchRequested:
      return e.batch_requested().deployment_id();
    case PC::kInstanceUpdated:
      return e.instance_updated().deployment_id();
    case PC::kBatchSucceeded:
      return e.batch_succeeded().deployment_id();
    case PC::kBatchFailed:
      return e.batch_failed().deployment_id();
    case PC::kRevertCompleted:
      return e.revert_completed().deployment_id();
    case PC::kAnalysisFailed:
      return e.analysis_failed().deployment_id();
    case PC::kAlertRaised:
      return e.alert_raised().deployment_id();
    case PC::kOperatorCommand:
      return e.operator_command().deployment_id();
    default:
      return "";
  }
}

// "BatchRequested" from "sluice.v1.BatchRequested".
std::string ShortType(const v1::Envelope& e) {
  std::string t = e.type().empty() ? events::TypeName(e) : e.type();
  const auto dot = t.rfind('.');
  return dot == std::string::npos ? t : t.substr(dot + 1);
}

std::string JoinHosts(const google::protobuf::RepeatedPtrField<std::string>& hosts) {
  std::string out;
  for (const auto& h : hosts) out += (out.empty() ? "" : ", ") + h;
  return out;
}

std::string VerbText(v1::OperatorCommand::Verb v) {
  std::string name = v1::OperatorCommand::Verb_Name(v);
  if (name.rfind("VERB_", 0) == 0) name = name.substr(5);
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  return name;
}

// One line per event for the timeline. A batch is "batch N" (1-based), which BatchStarts reads.
std::string TimelineDetail(const v1::Envelope& e) {
  using PC = v1::Envelope::PayloadCase;
  auto batch = [](std::uint32_t i) { return "batch " + std::to_string(i + 1); };
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned: {
      const auto& p = e.deployment_planned();
      return p.version() + " planned in " + std::to_string(p.batches_size()) + " batches (stable " +
             (p.stable_version().empty() ? "none" : p.stable_version()) + ", on canary failure " +
             std::string(ToString(OnCanaryFailureFromString(p.on_canary_failure()))) + ")";
    }
    case PC::kBatchRequested: {
      const auto& p = e.batch_requested();
      std::string hosts;
      for (const auto& t : p.targets()) hosts += (hosts.empty() ? "" : ", ") + t.host();
      return batch(p.batch_index()) + " requested (generation " + std::to_string(p.generation()) +
             "): " + hosts;
    }
    case PC::kAnalysisRequested: {
      const auto& p = e.analysis_requested();
      return (p.bake_watch() ? std::string("bake watch") : batch(p.batch_index())) +
             " analysis requested (template " + p.template_name() + ")";
    }
    case PC::kInstanceUpdated: {
      const auto& p = e.instance_updated();
      std::string s = "host " + p.host() + " " +
                      v1::InstanceStatus_Name(p.status()).substr(sizeof("INSTANCE_STATUS_") - 1) +
                      " " + p.version();
      if (!p.error_message().empty()) s += ": " + p.error_message();
      return s;
    }
    case PC::kBatchSucceeded:
      return batch(e.batch_succeeded().batch_index()) + " succeeded";
    case PC::kBatchFailed:
      return batch(e.batch_failed().batch_index()) + " failed (" + e.batch_failed().reason() +
             "): " + JoinHosts(e.batch_failed().failed_hosts());
    case PC::kAnalysisPassed:
      return batch(e.analysis_passed().batch_index()) + " analysis passed";
    case PC::kAnalysisFailed: {
      const auto& p = e.analysis_failed();
      std::string s = (p.bake_watch() ? std::string("bake watch") : batch(p.batch_index())) +
                      " analysis " + (p.outcome().empty() ? "Failed" : p.outcome()) + " (" +
                      p.reason() + ")";
      if (p.evidence_size() > 0) s += ": " + CauseOf(p.evidence(0));
      return s;
    }
    case PC::kAlertRaised: {
      const auto& p = e.alert_raised();
      return "alert " + p.alert_name() + (p.resolved() ? " resolved" : " firing") +
             (p.has_evidence() ? ": " + CauseOf(p.evidence()) : "");
    }
    case PC::kOperatorCommand: {
      const auto& p = e.operator_command();
      return VerbText(p.verb()) + " by " + p.actor() +
             (p.reason().empty() ? "" : ": " + p.reason());
    }
    case PC::kDeploymentSucceeded:
      return "deployment succeeded";
    case PC::kDeploymentFailed:
      return "deployment failed (" + e.deployment_failed().reason() + ")";
    case PC::kDeploymentPaused:
      return "paused at " + batch(e.deployment_paused().batch_index()) + " (" +
             e.deployment_paused().reason() + ")";
    case PC::kDeploymentResumed:
      return "resumed by " + e.deployment_resumed().actor();
    case PC::kRevertCompleted: {
      const auto& p = e.revert_completed();
      std::string s = "reverted to " + p.target_version() + ": " + JoinHosts(p.reverted_hosts());
      if (p.failed_hosts_size() > 0) s += "; failed: " + JoinHosts(p.failed_hosts());
      return s;
    }
    case PC::kRollbackStarted: {
      const auto& p = e.rollback_started();
      return "rollback " + p.rollback_id() + " (" + p.trigger() + ", generation " +
             std::to_string(p.generation()) + ") to " + p.target_version() + ": " +
             JoinHosts(p.hosts());
    }
    case PC::kRevertRequested: {
      const auto& p = e.revert_requested();
      return "revert to " + p.target_version() + " requested (generation " +
             std::to_string(p.generation()) + "): " + JoinHosts(p.hosts());
    }
    case PC::kRollbackCompleted: {
      const auto& p = e.rollback_completed();
      return std::string(p.success() ? "rollback completed" : "rollback failed") + ", deployment " +
             v1::DeploymentStatus_Name(p.final_status()).substr(sizeof("DEPLOYMENT_STATUS_") - 1);
    }
    default:
      return "";
  }
}

std::string ActorOf(const v1::Envelope& e) {
  if (e.has_operator_command() && !e.operator_command().actor().empty()) {
    return e.operator_command().actor();
  }
  if (e.has_deployment_resumed() && !e.deployment_resumed().actor().empty()) {
    return e.deployment_resumed().actor();
  }
  return e.source();
}

std::int64_t OccurredMs(const v1::Envelope& e, std::int64_t fallback) {
  return e.has_occurred_at() ? TimeUtil::TimestampToMilliseconds(e.occurred_at()) : fallback;
}

std::string SeverityText(v1::Severity s) {
  switch (s) {
    case v1::SEVERITY_INFO:
      return "info";
    case v1::SEVERITY_WARNING:
      return "warning";
    case v1::SEVERITY_CRITICAL:
      return "critical";
    default:
      return "";
  }
}

json EvidenceToJson(const v1::Evidence& e) {
  json recent = json::array();
  for (const auto& p : e.recent()) {
    recent.push_back({p.unix_ms(), std::isfinite(p.value()) ? json(p.value()) : json(nullptr)});
  }
  return {{"metric", e.metric()},
          {"query", e.query()},
          {"threshold", e.threshold()},
          {"observed", std::isfinite(e.observed()) ? json(e.observed()) : json(nullptr)},
          {"severity", SeverityText(e.severity())},
          {"severity_code", static_cast<int>(e.severity())},
          {"affected_instances",
           std::vector<std::string>(e.affected_instances().begin(), e.affected_instances().end())},
          {"recent", recent},
          {"comparator", e.comparator()},
          {"message", e.message()},
          {"window_ms", TimeUtil::DurationToMilliseconds(e.window())}};
}

v1::Evidence EvidenceFromJson(const json& j) {
  v1::Evidence e;
  e.set_metric(j.value("metric", ""));
  e.set_query(j.value("query", ""));
  e.set_threshold(j.value("threshold", 0.0));
  e.set_observed(j.contains("observed") && j["observed"].is_number() ? j["observed"].get<double>()
                                                                     : std::nan(""));
  e.set_severity(static_cast<v1::Severity>(j.value("severity_code", 0)));
  for (const auto& h : j.value("affected_instances", std::vector<std::string>{})) {
    e.add_affected_instances(h);
  }
  for (const auto& p : j.value("recent", json::array())) {
    auto* point = e.add_recent();
    point->set_unix_ms(p.at(0).get<std::int64_t>());
    point->set_value(p.at(1).is_number() ? p.at(1).get<double>() : std::nan(""));
  }
  e.set_comparator(j.value("comparator", ""));
  e.set_message(j.value("message", ""));
  *e.mutable_window() = TimeUtil::MillisecondsToDuration(j.value("window_ms", std::int64_t{0}));
  return e;
}

std::vector<std::string> AffectedOf(const json& evidence) {
  std::vector<std::string> out;
  for (const auto& e : evidence) {
    for (const auto& h : e.value("affected_instances", std::vector<std::string>{})) {
      if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
    }
  }
  return out;
}

v1::DeploymentStatus FinalStatusProto(const RollbackRow& row, bool success) {
  if (!success || row.plan.final_status == FinalStatus::kFailed) {
    return v1::DEPLOYMENT_STATUS_FAILED;
  }
  return v1::DEPLOYMENT_STATUS_ROLLED_BACK;
}

// Adds an event this agent publishes to the deployment's timeline too.
void PublishAndRecord(pqxx::work& tx, v1::Envelope e, std::int64_t now_ms) {
  events::Finalize(e);
  const std::string deployment_id = e.deployment_id();
  RollbackRepository::AppendTimeline(
      tx, deployment_id, e.event_id(),
      TimelineEntry{now_ms, ShortType(e), std::string(kServiceName), TimelineDetail(e)});
  eventbus::Publish(tx, std::move(e));
}

// Batch starts from the timeline ("batch N requested ..." details of BatchRequested).
std::vector<BatchMark> BatchStarts(const std::vector<TimelineEntry>& timeline) {
  std::vector<BatchMark> out;
  for (const auto& t : timeline) {
    if (t.kind != "BatchRequested" || t.detail.rfind("batch ", 0) != 0) continue;
    try {
      const auto n = std::stoul(t.detail.substr(6));
      if (n == 0) continue;
      const auto index = static_cast<std::uint32_t>(n - 1);
      if (std::none_of(out.begin(), out.end(),
                       [&](const BatchMark& m) { return m.batch == index; })) {
        out.push_back({t.at_ms, index});
      }
    } catch (const std::exception&) {
    }
  }
  return out;
}

class PrometheusHistory final : public MetricHistory {
 public:
  explicit PrometheusHistory(const PrometheusHistoryOptions& o) : client_(Options(o)) {}
  std::vector<SnapshotSeries> QueryRange(const std::string& query, std::int64_t start_ms,
                                         std::int64_t end_ms,
                                         std::chrono::milliseconds step) override {
    const auto result = client_.QueryRange(query, core::FromUnixMillis(start_ms),
                                           core::FromUnixMillis(end_ms), step);
    std::vector<SnapshotSeries> out;
    for (const auto& s : result.series) {
      SnapshotSeries series;
      series.labels = s.labels;
      for (const auto& p : s.points) series.points.push_back({core::ToUnixMillis(p.at), p.value});
      out.push_back(std::move(series));
    }
    return out;
  }

 private:
  static prometheus::ClientOptions Options(const PrometheusHistoryOptions& o) {
    prometheus::ClientOptions c;
    c.base_url = o.base_url;
    c.authorization = o.authorization;
    c.timeout = o.timeout;
    c.attempts = 2;
    return c;
  }
  prometheus::Client client_;
};

}  // namespace

std::unique_ptr<MetricHistory> MakePrometheusHistory(const PrometheusHistoryOptions& options) {
  return std::make_unique<PrometheusHistory>(options);
}

// ---- metrics -------------------------------------------------------------------------------

AgentMetrics::AgentMetrics(::prometheus::Registry& registry)
    : triggers_(::prometheus::BuildCounter()
                    .Name("sluice_rollback_triggers_total")
                    .Help("Rollback triggers received, by kind, decision (act, record) and reason")
                    .Register(registry)),
      completed_(::prometheus::BuildCounter()
                     .Name("sluice_rollbacks_completed_total")
                     .Help("Rollbacks completed, by result (success, failure)")
                     .Register(registry)),
      incidents_(::prometheus::BuildCounter()
                     .Name("sluice_rollback_incidents_total")
                     .Help("Incident reports written, by whether the metric snapshot was had")
                     .Register(registry)) {}

void AgentMetrics::Trigger(std::string_view kind, std::string_view decision,
                           std::string_view reason) {
  triggers_
      .Add({{"kind", std::string(kind)},
            {"decision", std::string(decision)},
            {"reason", std::string(reason)}})
      .Increment();
}

void AgentMetrics::Completed(bool success) {
  completed_.Add({{"result", success ? "success" : "failure"}}).Increment();
}

void AgentMetrics::Incident(bool snapshot_available) {
  incidents_.Add({{"snapshot", snapshot_available ? "available" : "unavailable"}}).Increment();
}

// ---- the handler ---------------------------------------------------------------------------

RollbackAgent::RollbackAgent(AgentDeps deps, AgentOptions options)
    : deps_(deps), options_(std::move(options)) {}

void RollbackAgent::Handle(pqxx::work& tx, const v1::Envelope& e) {
  const std::string deployment_id = DeploymentIdOf(e);
  if (deployment_id.empty()) return;
  using PC = v1::Envelope::PayloadCase;
  const auto now_ms = NowMs(deps_.clock);
  const auto at_ms = OccurredMs(e, now_ms);
  RollbackRepository::AppendTimeline(
      tx, deployment_id, e.event_id(),
      TimelineEntry{at_ms, ShortType(e), ActorOf(e), TimelineDetail(e)});
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned:
    case PC::kBatchRequested:
    case PC::kBatchSucceeded:
    case PC::kBatchFailed:
    case PC::kDeploymentSucceeded:
    case PC::kDeploymentFailed:
    case PC::kDeploymentPaused:
    case PC::kDeploymentResumed:
    case PC::kInstanceUpdated: {
      auto view = RollbackRepository::LockOrCreateDeployment(tx, deployment_id, now_ms);
      ApplyEvent(view, e, at_ms);
      RollbackRepository::SaveDeployment(tx, view, now_ms);
      if (e.has_instance_updated()) {
        const auto& p = e.instance_updated();
        const std::string status =
            v1::InstanceStatus_Name(p.status()).substr(sizeof("INSTANCE_STATUS_") - 1);
        std::string lower = status;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        RollbackRepository::AppendInstance(tx, deployment_id,
                                           DeployLogEntry{at_ms, p.host(), p.batch_index(), lower,
                                                          p.version(), p.error_message()});
      }
      return;
    }
    case PC::kRevertCompleted: {
      auto view = RollbackRepository::LockOrCreateDeployment(tx, deployment_id, now_ms);
      ApplyEvent(view, e, at_ms);
      RollbackRepository::SaveDeployment(tx, view, now_ms);
      OnRevertCompleted(tx, e);
      return;
    }
    case PC::kAnalysisFailed: {
      const auto& p = e.analysis_failed();
      json evidence = json::array();
      for (const auto& ev : p.evidence()) evidence.push_back(EvidenceToJson(ev));
      AnalysisFailedTrigger t;
      t.analysis_id = p.analysis_id();
      t.batch = p.batch_index();
      t.bake_watch = p.bake_watch();
      t.generation = p.generation();
      t.affected_instances = AffectedOf(evidence);
      OnTrigger(tx, e, t, e.source(), evidence);
      return;
    }
    case PC::kAlertRaised: {
      const auto& p = e.alert_raised();
      json evidence = json::array();
      if (p.has_evidence()) evidence.push_back(EvidenceToJson(p.evidence()));
      AlertTrigger t;
      t.alert_id = p.alert_id();
      t.alert_name = p.alert_name();
      t.resolved = p.resolved();
      t.affected_instances = AffectedOf(evidence);
      OnTrigger(tx, e, t, e.source().empty() ? p.alert_name() : e.source() + ": " + p.alert_name(),
                evidence);
      return;
    }
    case PC::kOperatorCommand: {
      const auto& p = e.operator_command();
      if (p.verb() != v1::OperatorCommand::VERB_ROLLBACK) return;
      OperatorTrigger t;
      t.actor = p.actor();
      t.reason = p.reason();
      if (!p.target_release_id().empty()) t.target_release_id = p.target_release_id();
      t.generation = p.generation();
      OnTrigger(tx, e, t, p.actor(), json::array());
      return;
    }
    default:
      return;
  }
}

std::optional<lock::Lease> RollbackAgent::AcquireLease(const std::string& deployment_id) {
  if (deps_.locks == nullptr) return std::nullopt;
  const auto log = core::Logger("trigger");
  const auto deadline = deps_.clock.Monotonic() + options_.lock_wait;
  while (true) {
    try {
      if (auto lease = deps_.locks->TryAcquire(deployment_id, options_.owner, options_.lock_ttl)) {
        return lease;
      }
    } catch (const std::exception& e) {
      // Losing Redis only costs the duplicate-work guard: the unique row still decides.
      log->warn("deployment {}: Redis lease not taken ({}); the unique rollback row decides",
                deployment_id, e.what());
      return std::nullopt;
    }
    if (deps_.clock.Monotonic() >= deadline) {
      log->warn(
          "deployment {}: the rollback lease is held elsewhere after {} ms; going ahead, "
          "the unique rollback row decides",
          deployment_id, options_.lock_wait.count());
      return std::nullopt;
    }
    std::this_thread::sleep_for(50ms);
  }
}

void RollbackAgent::ReleaseLease(const std::optional<lock::Lease>& lease) {
  if (!lease || deps_.locks == nullptr) return;
  try {
    deps_.locks->Release(*lease);
  } catch (const std::exception&) {
    // It expires.
  }
}

void RollbackAgent::OnTrigger(pqxx::work& tx, const v1::Envelope& e, const Trigger& trigger,
                              const std::string& actor, const json& evidence) {
  const auto log = core::Logger("trigger");
  const std::string deployment_id = DeploymentIdOf(e);
  const auto now_ms = NowMs(deps_.clock);
  std::optional<DeploymentView> view = RollbackRepository::LockDeployment(tx, deployment_id);
  if (view && view->planned) {
    view->earlier_releases = RollbackRepository::EarlierReleases(tx, *view);
    view->superseded = RollbackRepository::Superseded(tx, *view);
  }
  const std::string kind(TriggerKind(trigger));
  TriggerRow tr;
  tr.deployment_id = deployment_id;
  tr.event_id = e.event_id();
  tr.kind = kind;
  tr.actor = actor;
  tr.received_at_ms = now_ms;
  auto record = [&](std::string_view reason, const std::string& detail) {
    tr.decision = "record";
    tr.reason = std::string(reason);
    tr.detail = detail;
    RollbackRepository::InsertTrigger(tx, tr);
    if (deps_.metrics != nullptr) deps_.metrics->Trigger(kind, "record", reason);
    log->info("{} {} for deployment {} recorded, not acted on: {} ({})", kind, e.event_id(),
              deployment_id, reason, detail);
  };

  const Decision decision = DecideRollback(view, trigger);
  if (!decision.Acts()) {
    record(decision.Record().reason, decision.Record().detail);
    return;
  }
  const RollbackPlan& plan = decision.Plan();
  const auto lease = AcquireLease(deployment_id);
  const std::int64_t token = lease ? lease->token.Value() : 0;
  if (lease && !RollbackRepository::AdvanceFence(tx, deployment_id, token, now_ms)) {
    ReleaseLease(lease);
    record(kReasonLockSuperseded, "a newer holder of the deployment's lease wrote first");
    return;
  }
  RollbackRow row;
  row.rollback_id = core::NewUuid();
  row.deployment_id = deployment_id;
  row.plan = plan;
  row.trigger_kind = kind;
  row.trigger_event_id = e.event_id();
  row.trigger_actor = actor;
  row.evidence = evidence;
  row.status = "reverting";
  row.progress.attempt = 1;
  row.progress.attempt_generation = plan.new_generation;
  row.progress.hosts = plan.hosts;
  row.progress.pending = plan.hosts;
  row.timeout_at_ms = now_ms + options_.revert.timeout.count();
  row.fence_token = token;
  row.started_at_ms = now_ms;
  if (!RollbackRepository::InsertRollback(tx, row)) {
    ReleaseLease(lease);
    record(kReasonLostRace, "a rollback of generation " + std::to_string(plan.from_generation) +
                                " was committed by a concurrent trigger");
    return;
  }

  // RollbackStarted and RevertRequested commit together with the row: a crash cannot leave
  // one without the other.
  auto started = events::NewEnvelope(kServiceName, deps_.clock);
  started.set_deployment_id(deployment_id);
  started.set_release_id(view->release_id);
  auto* s = started.mutable_rollback_started();
  s->set_rollback_id(row.rollback_id);
  s->set_deployment_id(deployment_id);
  s->set_generation(plan.new_generation);
  s->set_scope(plan.scope == Scope::kBatches ? v1::ROLLBACK_SCOPE_BATCHES
                                             : v1::ROLLBACK_SCOPE_DEPLOYMENT);
  for (auto b : plan.batches) s->add_batches(b);
  for (const auto& h : plan.hosts) s->add_hosts(h);
  s->set_target_version(plan.target_version);
  s->set_trigger(kind);
  if (!evidence.empty()) *s->mutable_evidence() = EvidenceFromJson(evidence.at(0));
  s->set_app(view->app);
  s->set_env(view->env);
  s->set_from_version(view->version);
  PublishAndRecord(tx, std::move(started), now_ms);
  SendRevert(tx, row);

  view->rollback = RollbackPhase::kActive;
  view->status = DeploymentState::kRollingBack;
  view->generation = std::max(view->generation, plan.new_generation);
  view->earlier_releases.clear();
  RollbackRepository::SaveDeployment(tx, *view, now_ms);

  tr.decision = "act";
  tr.reason = "";
  tr.detail = plan.why;
  tr.rollback_id = row.rollback_id;
  RollbackRepository::InsertTrigger(tx, tr);
  ReleaseLease(lease);
  if (deps_.metrics != nullptr) deps_.metrics->Trigger(kind, "act", "");
  log->warn("rollback {} of deployment {} started by {} {}: {} ({} host(s), generation {} -> {})",
            row.rollback_id, deployment_id, kind, e.event_id(), plan.why, plan.hosts.size(),
            plan.from_generation, plan.new_generation);
}

void RollbackAgent::SendRevert(pqxx::work& tx, const RollbackRow& row) {
  auto e = events::NewEnvelope(kServiceName, deps_.clock);
  e.set_deployment_id(row.deployment_id);
  auto* r = e.mutable_revert_requested();
  r->set_rollback_id(row.rollback_id);
  r->set_deployment_id(row.deployment_id);
  r->set_generation(row.progress.attempt_generation);
  r->set_target_version(row.plan.target_version);
  r->set_target_release_id(row.plan.target_release_id);
  for (const auto& h : row.progress.pending) r->add_hosts(h);
  PublishAndRecord(tx, std::move(e), NowMs(deps_.clock));
}

void RollbackAgent::OnRevertCompleted(pqxx::work& tx, const v1::Envelope& e) {
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
  if (next.kind == RevertNext::Kind::kRetry) {
    row->status = "waiting_retry";
    row->retry_at_ms = NowMs(deps_.clock) + next.delay.count();
    row->timeout_at_ms.reset();
    RollbackRepository::UpdateRollback(tx, *row);
    log->warn("rollback {}: {} host(s) not reverted ({}); attempt {} of {} in {} ms",
              row->rollback_id, row->progress.pending.size(), JoinHosts(p.failed_hosts()),
              row->progress.attempt, options_.revert.max_attempts, next.delay.count());
    return;
  }
  Complete(tx, *row, next.success);
}

void RollbackAgent::Complete(pqxx::work& tx, RollbackRow& row, bool success) {
  const auto log = core::Logger("revert");
  const auto now_ms = NowMs(deps_.clock);
  row.status = success ? "succeeded" : "failed";
  row.finished_at_ms = now_ms;
  row.retry_at_ms.reset();
  row.timeout_at_ms.reset();
  RollbackRepository::UpdateRollback(tx, row);

  auto view = RollbackRepository::LockOrCreateDeployment(tx, row.deployment_id, now_ms);
  view.rollback = RollbackPhase::kDone;
  view.status = success && row.plan.final_status == FinalStatus::kRolledBack
                    ? DeploymentState::kRolledBack
                    : DeploymentState::kFailed;
  for (const auto& h : row.progress.reverted) {
    auto& host = view.hosts[h];
    host.version = row.plan.target_version;
    host.status = "reverted";
  }
  view.generation = std::max(view.generation, row.progress.attempt_generation);
  RollbackRepository::SaveDeployment(tx, view, now_ms);

  auto e = events::NewEnvelope(kServiceName, deps_.clock);
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
  if (deps_.metrics != nullptr) deps_.metrics->Completed(success);
  if (success) {
    log->info("rollback {} of deployment {} completed: {} host(s) on {}", row.rollback_id,
              row.deployment_id, row.progress.reverted.size(), row.plan.target_version);
  } else {
    std::string failed;
    for (const auto& h : row.progress.failed) failed += (failed.empty() ? "" : ", ") + h;
    log->error("rollback {} of deployment {} FAILED: not reverted: {}", row.rollback_id,
               row.deployment_id, failed);
  }
}

// ---- the worker ----------------------------------------------------------------------------

int RollbackAgent::RunDue() {
  const auto log = core::Logger("worker");
  try {
    return deps_.db.WithTransaction([&](pqxx::work& tx) {
      const auto now_ms = NowMs(deps_.clock);
      auto rows = RollbackRepository::LockDueRollbacks(tx, now_ms, options_.batch_limit);
      for (auto& row : rows) {
        if (row.status == "waiting_retry") {
          row.status = "reverting";
          row.retry_at_ms.reset();
          row.timeout_at_ms = now_ms + options_.revert.timeout.count();
          RollbackRepository::UpdateRollback(tx, row);
          auto view = RollbackRepository::LockOrCreateDeployment(tx, row.deployment_id, now_ms);
          view.generation = std::max(view.generation, row.progress.attempt_generation);
          RollbackRepository::SaveDeployment(tx, view, now_ms);
          SendRevert(tx, row);
          log->info("rollback {}: attempt {} for {} host(s) (generation {})", row.rollback_id,
                    row.progress.attempt, row.progress.pending.size(),
                    row.progress.attempt_generation);
        } else {
          log->error("rollback {}: the revert did not answer within {} ms", row.rollback_id,
                     options_.revert.timeout.count());
          auto next = OnRevertTimeout(row.progress);
          row.progress = next.progress;
          Complete(tx, row, next.success);
        }
      }
      return static_cast<int>(rows.size());
    });
  } catch (const std::exception& e) {
    log->warn("due rollbacks not handled now (will retry): {}", e.what());
    return 0;
  }
}

int RollbackAgent::WriteIncidents() {
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

bool RollbackAgent::WriteIncident(const std::string& incident_id, const std::string& rollback_id) {
  const auto log = core::Logger("incident");
  struct Gathered {
    RollbackRow row;
    DeploymentView view;
    std::vector<TimelineEntry> timeline;
    std::vector<DeployLogEntry> log;
  };
  const auto gathered = deps_.db.WithTransaction([&](pqxx::work& tx) -> std::optional<Gathered> {
    auto row = RollbackRepository::GetRollback(tx, rollback_id);
    if (!row) return std::nullopt;
    auto view = RollbackRepository::LockDeployment(tx, row->deployment_id);
    return Gathered{*row, view.value_or(DeploymentView{}),
                    RollbackRepository::Timeline(tx, row->deployment_id),
                    RollbackRepository::DeployLog(tx, row->deployment_id)};
  });
  if (!gathered) throw std::runtime_error("rollback " + rollback_id + " is missing");
  const auto& row = gathered->row;
  const auto& view = gathered->view;
  const auto now_ms = NowMs(deps_.clock);

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
  const json* first_query = nullptr;
  for (const auto& e : row.evidence) {
    EvidenceView v;
    v.metric = e.value("metric", "");
    v.query = e.value("query", "");
    v.threshold = e.value("threshold", 0.0);
    v.observed = e.contains("observed") && e["observed"].is_number() ? e["observed"].get<double>()
                                                                     : std::nan("");
    v.comparator = e.value("comparator", "");
    v.severity = e.value("severity", "");
    v.affected_instances = e.value("affected_instances", std::vector<std::string>{});
    v.message = e.value("message", "");
    in.evidence.push_back(std::move(v));
    if (first_query == nullptr && !e.value("query", "").empty()) first_query = &e;
  }
  in.timeline = gathered->timeline;
  in.batch_starts = BatchStarts(in.timeline);
  in.deploy_log = gathered->log;
  for (const auto& h : view.DeployedHosts()) {
    const auto it = view.hosts.find(h);
    in.result[h] =
        it != view.hosts.end() && !it->second.version.empty() ? it->second.version : "unknown";
  }

  std::string cause;
  if (row.trigger_kind == kTriggerOperator) {
    cause =
        "operator rollback by " + (row.trigger_actor.empty() ? "an operator" : row.trigger_actor);
  } else if (!row.evidence.empty()) {
    cause = CauseOf(EvidenceFromJson(row.evidence.at(0)));
  } else {
    cause = row.trigger_kind == kTriggerAlert ? "alert " + row.trigger_actor : "analysis failure";
  }
  in.summary = Summary(SummaryInput{view.app, view.env, view.version, row.plan.target_version,
                                    row.progress.reverted, row.progress.failed, row.plan.batches,
                                    row.plan.scope, cause});

  // The metric snapshot: from before the deployment through the rollback.
  Snapshot& snap = in.snapshot;
  const std::int64_t from = (view.planned_at_ms > 0 ? view.planned_at_ms : row.started_at_ms) -
                            options_.snapshot_before.count();
  snap.start_ms = from;
  snap.end_ms = now_ms;
  snap.step_ms = ChooseStep(from, now_ms).count();
  if (first_query == nullptr) {
    snap.unavailable_reason = "the trigger carried no metric query";
  } else {
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
      log->warn("incident {}: snapshot unavailable: {}", incident_id, e.what());
    }
  }

  const json report = IncidentToJson(in);
  const bool wrote = deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (!RollbackRepository::LockPendingIncident(tx, incident_id)) return false;
    RollbackRepository::WriteIncident(tx, incident_id, in.summary, report, NowMs(deps_.clock));
    auto e = events::NewEnvelope(kServiceName, deps_.clock);
    e.set_deployment_id(row.deployment_id);
    e.set_release_id(view.release_id);
    auto* r = e.mutable_incident_reported();
    r->set_incident_id(incident_id);
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
  if (wrote) {
    if (deps_.metrics != nullptr) deps_.metrics->Incident(snap.available);
    log->info("incident {} written: {}", incident_id, in.summary);
  }
  return wrote;
}

// ---- read API ------------------------------------------------------------------------------

namespace {

std::string RequireDeploymentQuery(const httplib::Request& req) {
  const std::string id = req.get_param_value("deployment_id");
  if (id.empty()) throw http::BadRequest("deployment_id", "give ?deployment_id=<id>");
  return id;
}

std::string Rfc3339(std::int64_t ms) { return core::FormatRfc3339(core::FromUnixMillis(ms)); }

json OptTime(const std::optional<std::int64_t>& ms) {
  return ms ? json(Rfc3339(*ms)) : json(nullptr);
}

json RollbackJson(const RollbackRow& r) {
  return {{"rollback_id", r.rollback_id},
          {"deployment_id", r.deployment_id},
          {"from_generation", r.plan.from_generation},
          {"generation", r.plan.new_generation},
          {"scope", ToString(r.plan.scope)},
          {"batches", r.plan.batches},
          {"hosts", r.plan.hosts},
          {"target_version", r.plan.target_version},
          {"target_release_id", r.plan.target_release_id},
          {"final_status", ToString(r.plan.final_status)},
          {"trigger", r.trigger_kind},
          {"trigger_event_id", r.trigger_event_id},
          {"trigger_actor", r.trigger_actor},
          {"why", r.plan.why},
          {"evidence", r.evidence},
          {"status", r.status},
          {"attempt", r.progress.attempt},
          {"attempt_generation", r.progress.attempt_generation},
          {"pending_hosts", r.progress.pending},
          {"reverted_hosts", r.progress.reverted},
          {"failed_hosts", r.progress.failed},
          {"retry_at", OptTime(r.retry_at_ms)},
          {"timeout_at", OptTime(r.timeout_at_ms)},
          {"started_at", Rfc3339(r.started_at_ms)},
          {"finished_at", OptTime(r.finished_at_ms)}};
}

json TriggerJson(const TriggerRow& t) {
  return {{"id", t.id},
          {"event_id", t.event_id},
          {"kind", t.kind},
          {"actor", t.actor},
          {"decision", t.decision},
          {"reason", t.reason},
          {"detail", t.detail},
          {"rollback_id", t.rollback_id},
          {"received_at", Rfc3339(t.received_at_ms)}};
}

json IncidentListJson(const IncidentRow& r) {
  json j = {{"incident_id", r.incident_id},
            {"rollback_id", r.rollback_id},
            {"deployment_id", r.deployment_id},
            {"status", r.status},
            {"summary", r.summary},
            {"created_at", Rfc3339(r.created_at_ms)}};
  if (r.report) {
    j["report_url"] = r.report->value("report_url", "");
    j["chart_url"] = r.report->value("chart_url", "");
  }
  return j;
}

// The written report of an incident; 404 when unknown, 503 while it is being written.
Incident WrittenIncident(pg::Database& db, const std::string& id) {
  const auto row =
      db.WithTransaction([&](pqxx::work& tx) { return RollbackRepository::GetIncident(tx, id); });
  if (!row) throw http::NotFound("incident " + id + " is unknown");
  if (!row->report) throw http::Unavailable("incident " + id + " is being written", 2);
  return IncidentFromJson(*row->report);
}

}  // namespace

void MountRollbackApi(http::Server& server, pg::Database& db) {
  server.Get("/v1/incidents", [&db](const httplib::Request& req, httplib::Response& res) {
    const auto deployment_id = RequireDeploymentQuery(req);
    const auto rows = db.WithTransaction(
        [&](pqxx::work& tx) { return RollbackRepository::ListIncidents(tx, deployment_id); });
    json items = json::array();
    for (const auto& r : rows) items.push_back(IncidentListJson(r));
    http::WriteJson(res, 200, {{"incidents", items}});
  });
  server.Get(R"(/v1/incidents/([^/]+)/chart\.svg)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const auto incident = WrittenIncident(db, req.matches[1]);
               res.status = 200;
               res.set_content(RenderChartSvg(incident), "image/svg+xml");
             });
  server.Get(R"(/v1/incidents/([^/]+))", [&db](const httplib::Request& req,
                                               httplib::Response& res) {
    const auto incident = WrittenIncident(db, req.matches[1]);
    const bool markdown = req.get_param_value("format") == "markdown" ||
                          req.get_header_value("Accept").find("text/markdown") != std::string::npos;
    if (markdown) {
      res.status = 200;
      res.set_content(RenderMarkdown(incident), "text/markdown; charset=utf-8");
      return;
    }
    http::WriteJson(res, 200, IncidentToJson(incident));
  });
  server.Get("/v1/rollbacks", [&db](const httplib::Request& req, httplib::Response& res) {
    const auto deployment_id = RequireDeploymentQuery(req);
    const auto [rollbacks, triggers] = db.WithTransaction([&](pqxx::work& tx) {
      return std::make_pair(RollbackRepository::ListRollbacks(tx, deployment_id),
                            RollbackRepository::ListTriggers(tx, deployment_id));
    });
    json rb = json::array();
    for (const auto& r : rollbacks) rb.push_back(RollbackJson(r));
    json tr = json::array();
    for (const auto& t : triggers) tr.push_back(TriggerJson(t));
    http::WriteJson(res, 200,
                    {{"deployment_id", deployment_id}, {"rollbacks", rb}, {"triggers", tr}});
  });
}

}  // namespace sluice::rollback
