#include "watcher_handler.hpp"

#include <algorithm>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>

#include "analysis_events.hpp"
#include "analysis_template.hpp"
#include "evidence.hpp"
#include "measure.hpp"
#include "run.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {
namespace {

using analysis::Outcome;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::string_view kReasonRolledBack = "rolled_back";
constexpr std::string_view kReasonDeploymentEnded = "deployment_ended";
constexpr std::string_view kReasonSuperseded = "superseded";

std::string StatusName(v1::DeploymentStatus s) {
  switch (s) {
    case v1::DEPLOYMENT_STATUS_PENDING:
      return "pending";
    case v1::DEPLOYMENT_STATUS_RUNNING:
      return "running";
    case v1::DEPLOYMENT_STATUS_PAUSED:
      return "paused";
    case v1::DEPLOYMENT_STATUS_SUCCEEDED:
      return "succeeded";
    case v1::DEPLOYMENT_STATUS_ROLLING_BACK:
      return "rolling_back";
    case v1::DEPLOYMENT_STATUS_ROLLED_BACK:
      return "rolled_back";
    case v1::DEPLOYMENT_STATUS_ABORTED:
      return "aborted";
    default:
      return "failed";
  }
}

milliseconds ToMillis(const google::protobuf::Duration& d) {
  return milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
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
  a.started_at = now;
  a.template_name = r.template_name();
  return a;
}

// Records the analysis as cancelled when it arrives void: its generation was rolled back, or
// (a bake watch) a newer deployment of the app+env was planned. True when it was.
bool CancelIfVoid(pqxx::work& tx, AnalysisRow& a, core::SystemTime now) {
  const auto log = core::Logger("handler");
  const std::uint64_t cancelled = CancelledGeneration(tx, a.deployment_id);
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

// Inserts the Running analysis and its rules, all due now. False when it existed already.
bool Schedule(pqxx::work& tx, AnalysisRow& a, const analysis::Template& tmpl,
              core::SystemTime now) {
  a.status = analysis::ToString(Outcome::kRunning);
  a.next_due_at = now;
  if (!InsertAnalysis(tx, a)) return false;
  const json pending = ProgressJson({});
  for (const auto& rule : tmpl.rules) {
    InsertRule(tx, {a.id, rule.name, "threshold", pending, "Pending", now});
  }
  const bool judge = tmpl.judge && !a.bake_watch;
  if (judge) InsertRule(tx, {a.id, JudgeRuleName(tmpl), "judge", pending, "Pending", now});
  core::Logger("handler")->info(
      "analysis {} of deployment {} batch {} scheduled: template {}, {} rule(s){}{}", a.id,
      a.deployment_id, a.batch_index, a.template_name, tmpl.rules.size(), judge ? " + judge" : "",
      a.bake_watch ? " (bake watch)" : "");
  return true;
}

bool OnAnalysisRequested(pqxx::work& tx, const v1::Envelope& envelope, const core::Clock& clock) {
  const auto now = clock.Now();
  AnalysisRow a = AnalysisOf(envelope, now);
  WatchedDeployment d{a.deployment_id, a.app,     a.env, a.version,
                      a.release_id,    "running", now,   std::nullopt};
  UpsertDeployment(tx, d, a.generation, /*keep_status=*/true, now);

  std::optional<analysis::BakeWatch> bake;
  if (a.bake_watch) bake = BakeWatchSettingsOf(a);
  if (a.template_name.empty() && bake) a.template_name = bake->template_name;
  if (a.template_name.empty()) a.template_name = "default";
  if (CancelIfVoid(tx, a, now)) return false;

  auto resolved = TemplateOf(a);
  if (const auto* error = std::get_if<std::string>(&resolved)) {
    FailTemplateMissing(tx, clock, a, *error, now);
    return false;
  }
  if (a.bake_watch) {
    milliseconds duration = ToMillis(envelope.analysis_requested().duration());
    if (duration.count() <= 0) duration = bake ? bake->duration : kDefaultBakeDuration;
    if (duration.count() <= 0) duration = kDefaultBakeDuration;
    a.ends_at = now + duration;
    ExtendActiveUntil(tx, a.deployment_id, *a.ends_at, now);
  }
  return Schedule(tx, a, std::get<analysis::Template>(resolved), now);
}

void OnPlanned(pqxx::work& tx, const v1::Envelope& e, core::SystemTime now) {
  const auto& p = e.deployment_planned();
  WatchedDeployment d;
  d.deployment_id = p.deployment_id().empty() ? e.deployment_id() : p.deployment_id();
  d.app = p.app();
  d.env = p.env();
  d.version = p.version();
  d.release_id = p.release_id().empty() ? e.release_id() : p.release_id();
  d.status = "running";
  UpsertDeployment(tx, d, p.generation(), /*keep_status=*/false, now);
  // The newer release takes over the hosts: the older deployments' bake watches would
  // judge a release on its way out (and fail on its vanishing series). Cancelled quietly.
  for (const auto& cancelled : CancelSupersededBakeWatches(tx, d.app, d.env, d.deployment_id,
                                                           std::string(kReasonSuperseded), now)) {
    core::Logger("handler")->info("bake watch {} cancelled: deployment {} of {} {} supersedes it",
                                  cancelled, d.deployment_id, d.app, d.env);
  }
}

// DeploymentSucceeded / DeploymentFailed: the status, and alerts keep matching for the window
// (the rollback-agent records those that come after a rollback and acts on a breach it has not
// handled).
void OnEnded(pqxx::work& tx, const v1::Envelope& e, const std::string& dep, const std::string& app,
             const std::string& env, const std::string& version, const std::string& status,
             const HandlerOptions& options, core::SystemTime now) {
  if (!SetDeploymentStatus(tx, dep, status, now + options.alert_window, now)) {
    WatchedDeployment d{dep, app, env, version, e.release_id(), status, now, std::nullopt};
    UpsertDeployment(tx, d, 0, false, now);
    SetDeploymentStatus(tx, dep, status, now + options.alert_window, now);
  }
}

void OnRollbackStarted(pqxx::work& tx, const v1::Envelope& e, core::SystemTime now) {
  const auto& p = e.rollback_started();
  const std::string dep = p.deployment_id().empty() ? e.deployment_id() : p.deployment_id();
  MarkRolledBack(tx, dep, p.generation(), now);
  const int n = CancelAnalyses(tx, dep, p.generation(), std::string(kReasonRolledBack), now);
  if (n > 0) {
    core::Logger("handler")->info(
        "rollback of deployment {} (generation {}): {} running analysis(es) cancelled", dep,
        p.generation(), n);
  }
}

}  // namespace

bool HandleEvent(pqxx::work& tx, const v1::Envelope& e, const HandlerOptions& options,
                 const core::Clock& clock) {
  const auto now = clock.Now();
  const std::string& id = e.deployment_id();
  auto or_envelope = [&](const std::string& dep) { return dep.empty() ? id : dep; };
  switch (e.payload_case()) {
    case v1::Envelope::kAnalysisRequested:
      return OnAnalysisRequested(tx, e, clock);
    case v1::Envelope::kDeploymentPlanned:
      OnPlanned(tx, e, now);
      return false;
    case v1::Envelope::kDeploymentSucceeded: {
      const auto& p = e.deployment_succeeded();
      OnEnded(tx, e, or_envelope(p.deployment_id()), p.app(), p.env(), p.version(), "succeeded",
              options, now);
      return false;
    }
    case v1::Envelope::kDeploymentFailed: {
      const auto& p = e.deployment_failed();
      const std::string dep = or_envelope(p.deployment_id());
      OnEnded(tx, e, dep, p.app(), p.env(), p.version(), StatusName(p.status()), options, now);
      CancelAnalyses(tx, dep, 0, std::string(kReasonDeploymentEnded), now);
      return false;
    }
    case v1::Envelope::kDeploymentPaused:
      SetDeploymentStatus(tx, id, "paused", std::nullopt, now);
      return false;
    case v1::Envelope::kDeploymentResumed:
      SetDeploymentStatus(tx, id, "running", std::nullopt, now);
      return false;
    case v1::Envelope::kRollbackStarted:
      OnRollbackStarted(tx, e, now);
      return false;
    case v1::Envelope::kRollbackCompleted: {
      const auto& p = e.rollback_completed();
      SetDeploymentStatus(tx, or_envelope(p.deployment_id()),
                          p.final_status() == v1::DEPLOYMENT_STATUS_UNSPECIFIED
                              ? std::string("rolled_back")
                              : StatusName(p.final_status()),
                          std::nullopt, now);
      return false;
    }
    default:
      return false;  // other events of the topics: nothing to do
  }
}

}  // namespace sluice::watcher
