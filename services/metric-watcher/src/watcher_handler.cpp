#include "watcher_handler.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/projection/deployment.hpp>

#include "adapters/alertmanager_receiver.hpp"
#include "analysis_events.hpp"
#include "analysis_template.hpp"
#include "deployment_repository.hpp"
#include "evidence.hpp"
#include "measure.hpp"
#include "run.hpp"
#include "watcher_metrics.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {
namespace {

using analysis::Outcome;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::string_view kReasonRolledBack = events::Name(events::v1::REASON_ROLLED_BACK);
constexpr std::string_view kReasonDeploymentEnded =
    events::Name(events::v1::REASON_DEPLOYMENT_ENDED);
constexpr std::string_view kReasonSuperseded = events::Name(events::v1::REASON_SUPERSEDED);

milliseconds ToMillis(const google::protobuf::Duration& d) {
  return milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

// The deployment an event is about: the payload's id where it names one, else the envelope's.
std::string DeploymentIdOf(const v1::Envelope& e) {
  std::string id;
  switch (e.payload_case()) {
    case v1::Envelope::kAnalysisRequested:
      id = e.analysis_requested().deployment_id();
      break;
    case v1::Envelope::kDeploymentPlanned:
      id = e.deployment_planned().deployment_id();
      break;
    case v1::Envelope::kDeploymentSucceeded:
      id = e.deployment_succeeded().deployment_id();
      break;
    case v1::Envelope::kDeploymentFailed:
      id = e.deployment_failed().deployment_id();
      break;
    case v1::Envelope::kRollbackStarted:
      id = e.rollback_started().deployment_id();
      break;
    case v1::Envelope::kRollbackCompleted:
      id = e.rollback_completed().deployment_id();
      break;
    default:
      break;
  }
  return id.empty() ? e.deployment_id() : id;
}

// The event's time (the receipt's when it carries none), for the projection.
std::int64_t OccurredMs(const v1::Envelope& e, core::SystemTime now) {
  if (!e.has_occurred_at()) return core::ToUnixMillis(now);
  return e.occurred_at().seconds() * 1000 + e.occurred_at().nanos() / 1000000;
}

// Folds the event into the deployment's shared projection, stored when it changed.
projection::Deployment Project(pqxx::work& tx, const v1::Envelope& e, const std::string& id,
                               core::SystemTime now) {
  const auto stored = LockDeployment(tx, id);
  projection::Deployment d = stored.value_or(projection::Deployment{});
  if (d.id.empty()) d.id = id;
  const auto before = projection::ToJson(d);
  const bool kept = projection::Apply(d, e, OccurredMs(e, now));
  d.id = id;  // the row's key, whatever the payload said
  if (kept && (!stored || projection::ToJson(d) != before)) SaveDeployment(tx, d, now);
  return d;
}

// The name the judge's progress is kept under, away from any threshold rule's name.
std::string JudgeRuleName(const analysis::Template& tmpl) {
  std::string name(kJudgeRule);
  while (std::any_of(tmpl.rules.begin(), tmpl.rules.end(),
                     [&](const analysis::ThresholdRule& r) { return r.name == name; })) {
    name += "_";
  }
  return name;
}

// The analysis an AnalysisRequested asks for, before its template is known.
AnalysisRow AnalysisOf(const v1::Envelope& envelope, core::SystemTime now) {
  const auto& r = envelope.analysis_requested();
  AnalysisRow a;
  a.id = r.analysis_id().empty() ? core::NewUuid() : r.analysis_id();
  a.deployment_id = r.deployment_id().empty() ? envelope.deployment_id() : r.deployment_id();
  a.batch_index = r.batch_index();
  a.generation = r.generation();
  a.app = r.app();
  a.env = r.env();
  a.version = r.version();
  a.baseline_version = r.baseline_version();
  a.release_id = r.release_id().empty() ? envelope.release_id() : r.release_id();
  a.bake_watch = r.bake_watch();
  a.instances.assign(r.instances().begin(), r.instances().end());
  a.baseline_instances.assign(r.baseline_instances().begin(), r.baseline_instances().end());
  a.spec_yaml = r.spec_yaml();
  // The template comes resolved in the request (the planner names the bake watch's template
  // and duration there too); the spec text is kept, never parsed.
  if (r.has_resolved_template() &&
      !google::protobuf::util::MessageToJsonString(r.resolved_template(), &a.resolved_template)
           .ok()) {
    a.resolved_template.clear();  // then reported as template_missing
  }
  a.started_at = now;
  if (r.has_switched_at()) {
    a.switched_at = core::FromUnixMillis(
        google::protobuf::util::TimeUtil::TimestampToMilliseconds(r.switched_at()));
  }
  a.template_name = r.template_name();
  return a;
}

// Records the analysis as cancelled when it arrives void: its generation was rolled back, or
// (a bake watch) a newer deployment of the app+env was planned. True when it was.
bool CancelIfVoid(pqxx::work& tx, AnalysisRow& a, std::uint64_t cancelled, core::SystemTime now) {
  const auto log = core::Logger("handler");
  if (cancelled > 0 && a.generation < cancelled) {
    a.status = kStatusCancelled;
    a.reason = kReasonRolledBack;
    a.finished_at = now;
    InsertAnalysis(tx, a);
    log->info("analysis {} of deployment {} (generation {}) cancelled: rolled back at {}", a.id,
              a.deployment_id, a.generation, cancelled);
    return true;
  }
  // A bake watch that arrives after a newer deployment of the app+env was planned (the topics
  // are read independently) would judge a release on its way out.
  if (a.bake_watch && NewerDeploymentPlanned(tx, a.app, a.env, a.deployment_id)) {
    a.status = kStatusCancelled;
    a.reason = kReasonSuperseded;
    a.finished_at = now;
    InsertAnalysis(tx, a);
    log->info("bake watch {} of deployment {} cancelled: a newer deployment of {} {} was planned",
              a.id, a.deployment_id, a.app, a.env);
    return true;
  }
  return false;
}

// No template: the analysis ends at once with AnalysisFailed "template_missing".
void FailTemplateMissing(pqxx::work& tx, const core::Clock& clock, AnalysisRow& a,
                         const std::string& error, core::SystemTime now) {
  v1::Evidence ev;
  ev.set_metric(a.template_name);
  ev.set_severity(v1::SEVERITY_CRITICAL);
  ev.set_message(error);
  a.status = analysis::ToString(Outcome::kError);
  a.reason = kReasonTemplateMissing;
  a.finished_at = now;
  a.evidence = json::array({EvidenceJson(ev)});
  if (InsertAnalysis(tx, a)) {
    PublishFailed(tx, clock, a, Outcome::kError, a.reason, {ev});
    core::Logger("handler")->warn("analysis {} of deployment {}: {}", a.id, a.deployment_id, error);
  }
}

// Inserts the Running analysis and its rules. False when it existed already. A threshold rule
// stays Pending until everything its queries read is from after the batch's last host switched
// (DataFrom): measured sooner, `rate(...[1m])` would still count the minute before, e.g. a bad
// release's errors under the same version label. The judge bounds its own queries to the time
// since the switch, and is first due when each of its metrics has a whole first window.
bool Schedule(pqxx::work& tx, AnalysisRow& a, const analysis::Template& tmpl,
              core::SystemTime now) {
  a.status = analysis::ToString(Outcome::kRunning);
  a.next_due_at = now;
  if (!InsertAnalysis(tx, a)) return false;
  const json pending = ProgressJson({});
  const auto from = DataFrom(a);
  for (const auto& rule : tmpl.rules) {
    InsertRule(tx, {a.id, rule.name, "threshold", pending, "Pending",
                    std::max(now, from + RuleWindow(tmpl, rule))});
  }
  const bool judge = tmpl.judge && !a.bake_watch;
  if (judge) {
    InsertRule(tx, {a.id, JudgeRuleName(tmpl), "judge", pending, "Pending",
                    std::max(now, from + JudgeWindow(*tmpl.judge))});
  }
  core::Logger("handler")->info(
      "analysis {} of deployment {} batch {} scheduled: template {}, {} rule(s){}{}", a.id,
      a.deployment_id, a.batch_index, a.template_name, tmpl.rules.size(), judge ? " + judge" : "",
      a.bake_watch ? " (bake watch)" : "");
  return true;
}

bool OnAnalysisRequested(pqxx::work& tx, const v1::Envelope& envelope, const core::Clock& clock) {
  const auto now = clock.Now();
  AnalysisRow a = AnalysisOf(envelope, now);
  const auto d = Project(tx, envelope, a.deployment_id, now);

  if (a.template_name.empty()) a.template_name = "default";
  if (CancelIfVoid(tx, a, d.rollback_generation, now)) return false;

  auto resolved = TemplateOf(a);
  if (const auto* error = std::get_if<std::string>(&resolved)) {
    FailTemplateMissing(tx, clock, a, *error, now);
    return false;
  }
  if (a.bake_watch) {
    milliseconds duration = ToMillis(envelope.analysis_requested().duration());
    if (duration.count() <= 0) duration = kDefaultBakeDuration;
    a.ends_at = now + duration;
    ExtendActiveUntil(tx, a.deployment_id, *a.ends_at, now);
  }
  return Schedule(tx, a, std::get<analysis::Template>(resolved), now);
}

// The newer release takes over the hosts: the older deployments' bake watches would judge a
// release on its way out (and fail on its vanishing series). Cancelled quietly.
void OnPlanned(pqxx::work& tx, const projection::Deployment& d, core::SystemTime now) {
  for (const auto& cancelled :
       CancelSupersededBakeWatches(tx, d.app, d.env, d.id, std::string(kReasonSuperseded), now)) {
    core::Logger("handler")->info("bake watch {} cancelled: deployment {} of {} {} supersedes it",
                                  cancelled, d.id, d.app, d.env);
  }
}

void OnRollbackStarted(pqxx::work& tx, const v1::Envelope& e, const std::string& dep,
                       core::SystemTime now) {
  const auto& p = e.rollback_started();
  const int n = CancelAnalyses(tx, dep, p.generation(), std::string(kReasonRolledBack), now);
  if (n > 0) {
    core::Logger("handler")->info(
        "rollback of deployment {} (generation {}): {} running analysis(es) cancelled", dep,
        p.generation(), n);
  }
}

// An external alert as the Alertmanager receiver takes one: labels alertname, app, env,
// severity (when given), source "kafka" and submitted_by; annotations summary and
// submission_id; starting when release-intake received it (each submission its own alert: the
// inbox holds a redelivery back).
void OnExternalAlert(pqxx::work& tx, const v1::Envelope& e, const core::Clock& clock,
                     WatcherMetrics* metrics) {
  const auto& p = e.external_alert_received();
  Alert alert;
  alert.status = p.resolved() ? "resolved" : "firing";
  alert.labels = {{"alertname", p.alert_name()},
                  {"app", p.app()},
                  {"env", p.env()},
                  {"source", "kafka"},
                  {"submitted_by", p.actor()}};
  if (!p.severity().empty()) alert.labels["severity"] = p.severity();
  if (!p.summary().empty()) alert.annotations["summary"] = p.summary();
  alert.annotations["submission_id"] = p.submission_id();
  // The envelope's time (release-intake's receipt, checked in range by the consumer).
  alert.starts_at = core::FromUnixMillis(OccurredMs(e, clock.Now()));
  alert.fingerprint = LabelsFingerprint(alert.labels);
  AlertPayload payload;
  payload.alerts.push_back(std::move(alert));
  const json result = ReceiveAlerts(tx, payload, clock);
  const json& one = result.at("alerts").at(0);
  core::Logger("alerts")->info("external alert {} about {} in {} from {} (submission {}): {}{}{}",
                               p.alert_name(), p.app(), p.env(), p.actor(), p.submission_id(),
                               one.value("result", ""), one.value("reason", "").empty() ? "" : ", ",
                               one.value("reason", ""));
  if (metrics != nullptr) metrics->CountAlert(one.value("result", "recorded"));
}

}  // namespace

bool HandleEvent(pqxx::work& tx, const v1::Envelope& e, const HandlerOptions& options,
                 const core::Clock& clock, WatcherMetrics* metrics) {
  const auto now = clock.Now();
  switch (e.payload_case()) {
    case v1::Envelope::kAnalysisRequested:
      return OnAnalysisRequested(tx, e, clock);
    case v1::Envelope::kExternalAlertReceived:
      OnExternalAlert(tx, e, clock, metrics);
      return false;
    default:
      break;
  }
  if (events::TopicFor(e) == events::kTopicReleases) return false;  // release-intake's requests
  const std::string dep = DeploymentIdOf(e);
  if (dep.empty()) return false;
  const auto d = Project(tx, e, dep, now);
  switch (e.payload_case()) {
    case v1::Envelope::kDeploymentPlanned:
      OnPlanned(tx, d, now);
      break;
    case v1::Envelope::kDeploymentSucceeded:
      // Alerts keep matching for the window after the end (the rollback-agent records those
      // that come after a rollback and acts on a breach it has not handled).
      ExtendActiveUntil(tx, dep, now + options.alert_window, now);
      break;
    case v1::Envelope::kDeploymentFailed:
      ExtendActiveUntil(tx, dep, now + options.alert_window, now);
      CancelAnalyses(tx, dep, 0, std::string(kReasonDeploymentEnded), now);
      break;
    case v1::Envelope::kRollbackStarted:
      OnRollbackStarted(tx, e, dep, now);
      break;
    default:
      break;  // the projection is all the other events change
  }
  return false;
}

}  // namespace sluice::watcher
