#include "watcher_component.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>

#include "retrospective.hpp"
#include "run.hpp"

namespace sluice::watcher {
namespace {

using analysis::Outcome;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kRecentValues = 20;
constexpr std::string_view kReasonRolledBack = "rolled_back";
constexpr std::string_view kReasonDeploymentEnded = "deployment_ended";
constexpr std::string_view kReasonSuperseded = "superseded";

v1::Severity ToProto(analysis::Severity s) {
  switch (s) {
    case analysis::Severity::kInfo:
      return v1::SEVERITY_INFO;
    case analysis::Severity::kWarning:
      return v1::SEVERITY_WARNING;
    case analysis::Severity::kCritical:
      return v1::SEVERITY_CRITICAL;
  }
  return v1::SEVERITY_UNSPECIFIED;
}

std::string_view SeverityName(v1::Severity s) {
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

void SetDuration(google::protobuf::Duration* d, milliseconds ms) {
  d->set_seconds(ms.count() / 1000);
  d->set_nanos(static_cast<std::int32_t>((ms.count() % 1000) * 1000000));
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

analysis::Bindings BindingsOf(const AnalysisRow& a) {
  analysis::Bindings b;
  b.app = a.app;
  b.env = a.env;
  b.version = a.version;
  b.baseline_version = a.baseline_version;
  b.deployment = a.deployment_id;
  b.instances = a.instances;
  b.baseline_instances = a.baseline_instances;
  return b;
}

void PublishFailed(pqxx::work& tx, const core::Clock& clock, const AnalysisRow& a, Outcome outcome,
                   const std::string& reason, const std::vector<v1::Evidence>& evidence) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(a.deployment_id);
  e.set_release_id(a.release_id);
  auto* p = e.mutable_analysis_failed();
  p->set_analysis_id(a.id);
  p->set_deployment_id(a.deployment_id);
  p->set_batch_index(a.batch_index);
  p->set_generation(a.generation);
  p->set_release_id(a.release_id);
  for (const auto& ev : evidence) *p->add_evidence() = ev;
  p->set_reason(reason);
  p->set_bake_watch(a.bake_watch);
  p->set_app(a.app);
  p->set_env(a.env);
  p->set_version(a.version);
  p->set_template_name(a.template_name);
  p->set_outcome(std::string(analysis::ToString(outcome)));
  eventbus::Publish(tx, std::move(e));
}

void PublishPassed(pqxx::work& tx, const core::Clock& clock, const AnalysisRow& a,
                   const std::vector<v1::Evidence>& measurements) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(a.deployment_id);
  e.set_release_id(a.release_id);
  auto* p = e.mutable_analysis_passed();
  p->set_analysis_id(a.id);
  p->set_deployment_id(a.deployment_id);
  p->set_batch_index(a.batch_index);
  p->set_generation(a.generation);
  for (const auto& ev : measurements) *p->add_measurements() = ev;
  p->set_outcome(std::string(analysis::ToString(Outcome::kSuccessful)));
  p->set_bake_watch(a.bake_watch);
  p->set_template_name(a.template_name);
  eventbus::Publish(tx, std::move(e));
}

bool OnAnalysisRequested(pqxx::work& tx, const v1::Envelope& envelope, const core::Clock& clock) {
  const auto& r = envelope.analysis_requested();
  const auto now = clock.Now();
  WatchedDeployment d;
  d.deployment_id = r.deployment_id().empty() ? envelope.deployment_id() : r.deployment_id();
  d.app = r.app();
  d.env = r.env();
  d.version = r.version();
  d.release_id = r.release_id().empty() ? envelope.release_id() : r.release_id();
  d.status = "running";
  UpsertDeployment(tx, d, r.generation(), /*keep_status=*/true, now);

  AnalysisRow a;
  a.id = r.analysis_id().empty() ? core::NewUuid() : r.analysis_id();
  a.deployment_id = d.deployment_id;
  a.batch_index = r.batch_index();
  a.generation = r.generation();
  a.app = r.app();
  a.env = r.env();
  a.version = r.version();
  a.baseline_version = r.baseline_version();
  a.release_id = d.release_id;
  a.bake_watch = r.bake_watch();
  a.instances.assign(r.instances().begin(), r.instances().end());
  a.baseline_instances.assign(r.baseline_instances().begin(), r.baseline_instances().end());
  a.spec_yaml = r.spec_yaml();
  // The template comes resolved in the request (the planner names the bake watch's template
  // and duration there too); the spec text is kept, never parsed.
  if (r.has_resolved_template() &&
      !google::protobuf::util::MessageToJsonString(r.resolved_template(), &a.resolved_template)
           .ok()) {
    a.resolved_template.clear();  // then reported as template_missing below
  }
  a.started_at = now;
  const auto log = core::Logger("handler");

  a.template_name = r.template_name();
  if (a.template_name.empty()) a.template_name = "default";

  const std::uint64_t cancelled = CancelledGeneration(tx, a.deployment_id);
  if (cancelled > 0 && a.generation < cancelled) {
    a.status = kStatusCancelled;
    a.reason = kReasonRolledBack;
    a.finished_at = now;
    InsertAnalysis(tx, a);
    log->info("analysis {} of deployment {} (generation {}) cancelled: rolled back at {}", a.id,
              a.deployment_id, a.generation, cancelled);
    return false;
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
    return false;
  }

  auto resolved = TemplateFromRequest(a.resolved_template, a.env, a.template_name);
  if (const auto* error = std::get_if<std::string>(&resolved)) {
    v1::Evidence ev;
    ev.set_metric(a.template_name);
    ev.set_severity(v1::SEVERITY_CRITICAL);
    ev.set_message(*error);
    a.status = analysis::ToString(Outcome::kError);
    a.reason = kReasonTemplateMissing;
    a.finished_at = now;
    a.evidence = json::array({EvidenceJson(ev)});
    if (InsertAnalysis(tx, a)) {
      PublishFailed(tx, clock, a, Outcome::kError, a.reason, {ev});
      log->warn("analysis {} of deployment {}: {}", a.id, a.deployment_id, *error);
    }
    return false;
  }
  const auto& tmpl = std::get<analysis::Template>(resolved);
  if (a.bake_watch) {
    milliseconds duration = ToMillis(r.duration());
    if (duration.count() <= 0) duration = kDefaultBakeDuration;
    a.ends_at = now + duration;
    ExtendActiveUntil(tx, a.deployment_id, *a.ends_at, now);
  }
  a.status = analysis::ToString(Outcome::kRunning);
  a.next_due_at = now;
  if (!InsertAnalysis(tx, a)) return false;
  const json pending = ProgressJson({});
  for (const auto& rule : tmpl.rules) {
    InsertRule(tx, {a.id, rule.name, "threshold", pending, "Pending", now});
  }
  if (tmpl.judge && !a.bake_watch) {
    InsertRule(tx, {a.id, JudgeRuleName(tmpl), "judge", pending, "Pending", now});
  }
  log->info("analysis {} of deployment {} batch {} scheduled: template {}, {} rule(s){}{}", a.id,
            a.deployment_id, a.batch_index, a.template_name, tmpl.rules.size(),
            tmpl.judge && !a.bake_watch ? " + judge" : "", a.bake_watch ? " (bake watch)" : "");
  return true;
}

double Aggregate(const json& series, bool lowest) {
  double out = NAN;
  if (!series.is_array()) return out;
  for (const auto& s : series) {
    const auto v = s.find("value");
    if (v == s.end() || !v->is_number()) continue;
    const double x = v->get<double>();
    if (std::isnan(out) || (lowest ? x < out : x > out)) out = x;
  }
  return out;
}

}  // namespace

// ---- metrics ---------------------------------------------------------------------------------

WatcherMetrics::WatcherMetrics(::prometheus::Registry& registry)
    : measurements_(::prometheus::BuildCounter()
                        .Name("sluice_watcher_measurements_total")
                        .Help("Measurements taken, by verdict")
                        .Register(registry)),
      query_seconds_(
          ::prometheus::BuildHistogram()
              .Name("sluice_watcher_query_seconds")
              .Help("Time of one metric provider query, retries included")
              .Register(registry)
              .Add({}, ::prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                                 0.25, 0.5, 1, 2.5, 5, 10})),
      running_(::prometheus::BuildGauge()
                   .Name("sluice_watcher_analyses_running")
                   .Help("Analyses currently running")
                   .Register(registry)
                   .Add({})),
      alerts_(::prometheus::BuildCounter()
                  .Name("sluice_watcher_alerts_total")
                  .Help("Alertmanager alerts received, by result (raised, recorded, ignored)")
                  .Register(registry)) {}

void WatcherMetrics::CountMeasurement(Outcome verdict) {
  measurements_.Add({{"verdict", std::string(analysis::ToString(verdict))}}).Increment();
}
void WatcherMetrics::ObserveQuery(double seconds) { query_seconds_.Observe(seconds); }
void WatcherMetrics::CountAlert(std::string_view result) {
  alerts_.Add({{"result", std::string(result)}}).Increment();
}
void WatcherMetrics::SetRunning(int analyses) { running_.Set(analyses); }

// ---- provider --------------------------------------------------------------------------------

namespace {
class QueryTimer {
 public:
  explicit QueryTimer(WatcherMetrics* m) : metrics_(m), start_(std::chrono::steady_clock::now()) {}
  ~QueryTimer() {
    if (metrics_ != nullptr) {
      metrics_->ObserveQuery(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
  }

 private:
  WatcherMetrics* metrics_;
  std::chrono::steady_clock::time_point start_;
};
}  // namespace

prom::QueryResult PrometheusProvider::Query(std::string_view promql, core::SystemTime at) {
  QueryTimer timer(metrics_);
  return client_.Query(promql, at);
}

prom::QueryResult PrometheusProvider::QueryRange(std::string_view promql, core::SystemTime start,
                                                 core::SystemTime end, milliseconds step) {
  QueryTimer timer(metrics_);
  return client_.QueryRange(promql, start, end, step);
}

// ---- events ----------------------------------------------------------------------------------

bool HandleEvent(pqxx::work& tx, const v1::Envelope& e, const HandlerOptions& options,
                 const core::Clock& clock) {
  const auto now = clock.Now();
  const std::string& id = e.deployment_id();
  switch (e.payload_case()) {
    case v1::Envelope::kAnalysisRequested:
      return OnAnalysisRequested(tx, e, clock);
    case v1::Envelope::kDeploymentPlanned: {
      const auto& p = e.deployment_planned();
      WatchedDeployment d;
      d.deployment_id = p.deployment_id().empty() ? id : p.deployment_id();
      d.app = p.app();
      d.env = p.env();
      d.version = p.version();
      d.release_id = p.release_id().empty() ? e.release_id() : p.release_id();
      d.status = "running";
      UpsertDeployment(tx, d, p.generation(), /*keep_status=*/false, now);
      // The newer release takes over the hosts: the older deployments' bake watches would
      // judge a release on its way out (and fail on its vanishing series). Cancelled quietly.
      for (const auto& cancelled : CancelSupersededBakeWatches(
               tx, d.app, d.env, d.deployment_id, std::string(kReasonSuperseded), now)) {
        core::Logger("handler")->info(
            "bake watch {} cancelled: deployment {} of {} {} supersedes it", cancelled,
            d.deployment_id, d.app, d.env);
      }
      return false;
    }
    case v1::Envelope::kDeploymentSucceeded: {
      const auto& p = e.deployment_succeeded();
      const std::string dep = p.deployment_id().empty() ? id : p.deployment_id();
      if (!SetDeploymentStatus(tx, dep, "succeeded", now + options.alert_window, now)) {
        WatchedDeployment d{dep,         p.app(), p.env(),     p.version(), e.release_id(),
                            "succeeded", now,     std::nullopt};
        UpsertDeployment(tx, d, 0, false, now);
        SetDeploymentStatus(tx, dep, "succeeded", now + options.alert_window, now);
      }
      return false;
    }
    case v1::Envelope::kDeploymentFailed: {
      const auto& p = e.deployment_failed();
      const std::string dep = p.deployment_id().empty() ? id : p.deployment_id();
      const std::string status = StatusName(p.status());
      // Alerts keep matching for the alert window: the rollback-agent records those that come
      // after a rollback (one rollback per incident) and acts on a breach it has not handled.
      if (!SetDeploymentStatus(tx, dep, status, now + options.alert_window, now)) {
        WatchedDeployment d{dep,    p.app(), p.env(),     p.version(), e.release_id(),
                            status, now,     std::nullopt};
        UpsertDeployment(tx, d, 0, false, now);
        SetDeploymentStatus(tx, dep, status, now + options.alert_window, now);
      }
      CancelAnalyses(tx, dep, 0, std::string(kReasonDeploymentEnded), now);
      return false;
    }
    case v1::Envelope::kDeploymentPaused:
      SetDeploymentStatus(tx, id, "paused", std::nullopt, now);
      return false;
    case v1::Envelope::kDeploymentResumed:
      SetDeploymentStatus(tx, id, "running", std::nullopt, now);
      return false;
    case v1::Envelope::kRollbackStarted: {
      const auto& p = e.rollback_started();
      const std::string dep = p.deployment_id().empty() ? id : p.deployment_id();
      MarkRolledBack(tx, dep, p.generation(), now);
      const int n = CancelAnalyses(tx, dep, p.generation(), std::string(kReasonRolledBack), now);
      if (n > 0) {
        core::Logger("handler")->info(
            "rollback of deployment {} (generation {}): {} running "
            "analysis(es) cancelled",
            dep, p.generation(), n);
      }
      return false;
    }
    case v1::Envelope::kRollbackCompleted: {
      const auto& p = e.rollback_completed();
      const std::string dep = p.deployment_id().empty() ? id : p.deployment_id();
      SetDeploymentStatus(tx, dep,
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

// ---- evidence --------------------------------------------------------------------------------

v1::Evidence EvidenceOf(const std::vector<MeasurementRow>& rows, v1::Severity severity,
                        milliseconds window) {
  v1::Evidence e;
  e.set_severity(severity);
  SetDuration(e.mutable_window(), window);
  if (rows.empty()) return e;
  const MeasurementRow* last = &rows.back();
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->verdict != analysis::ToString(Outcome::kSuccessful)) {
      last = &*it;
      break;
    }
  }
  e.set_metric(last->metric);
  if (const auto q = last->queries.find(last->metric); q != last->queries.end()) {
    if (q->is_string()) {
      e.set_query(q->get<std::string>());
    } else if (q->is_object() && q->contains("canary")) {
      e.set_query((*q)["canary"].get<std::string>());
    }
  } else if (last->queries.is_object() && last->queries.size() == 1 &&
             last->queries.begin()->is_string()) {
    e.set_query(last->queries.begin()->get<std::string>());
  }
  e.set_threshold(last->threshold.value_or(NAN));
  e.set_observed(last->observed.value_or(NAN));
  for (const auto& i : last->affected) e.add_affected_instances(i);
  e.set_comparator(last->comparator);
  e.set_message(last->message);
  const bool lowest = !last->comparator.empty() && last->comparator[0] == '<';
  const std::size_t first = rows.size() > kRecentValues ? rows.size() - kRecentValues : 0;
  for (std::size_t i = first; i < rows.size(); ++i) {
    const auto& row = rows[i];
    double v = NAN;
    if (const auto s = row.values.find(last->metric); s != row.values.end() && s->is_array()) {
      v = Aggregate(*s, lowest);
    } else if (row.metric == last->metric && row.observed) {
      v = *row.observed;
    }
    if (!std::isfinite(v)) continue;
    auto* p = e.add_recent();
    p->set_unix_ms(core::ToUnixMillis(row.taken_at));
    p->set_value(v);
  }
  return e;
}

json EvidenceJson(const v1::Evidence& e) {
  json recent = json::array();
  for (const auto& p : e.recent())
    recent.push_back({{"unix_ms", p.unix_ms()}, {"value", p.value()}});
  return {{"metric", e.metric()},
          {"query", e.query()},
          {"threshold", Finite(e.threshold())},
          {"observed", Finite(e.observed())},
          {"severity", std::string(SeverityName(e.severity()))},
          {"affected_instances",
           std::vector<std::string>(e.affected_instances().begin(), e.affected_instances().end())},
          {"recent", recent},
          {"comparator", e.comparator()},
          {"message", e.message()},
          {"window_ms", e.window().seconds() * 1000 + e.window().nanos() / 1000000}};
}

// ---- the analyzer ----------------------------------------------------------------------------

bool StepAnalysis(pqxx::work& tx, const AnalysisRow& a, MetricProvider& provider,
                  const core::Clock& clock, WatcherMetrics* metrics) {
  const auto now = clock.Now();
  const auto log = core::Logger("analyzer");
  auto resolved = TemplateFromRequest(a.resolved_template, a.env, a.template_name);
  if (const auto* error = std::get_if<std::string>(&resolved)) {
    v1::Evidence ev;
    ev.set_metric(a.template_name);
    ev.set_message(*error);
    FinishAnalysis(tx, a.id, std::string(analysis::ToString(Outcome::kError)),
                   std::string(kReasonTemplateMissing), json::array({EvidenceJson(ev)}), now);
    PublishFailed(tx, clock, a, Outcome::kError, std::string(kReasonTemplateMissing), {ev});
    return true;
  }
  const auto& tmpl = std::get<analysis::Template>(resolved);
  const auto bindings = BindingsOf(a);
  const bool bake_over = a.bake_watch && a.ends_at && now >= *a.ends_at;
  auto rules = LoadRules(tx, a.id);
  std::vector<RuleState> states;
  std::optional<core::SystemTime> next_due;
  std::map<std::string, v1::Severity> severities;
  for (auto& row : rules) {
    const bool judge = row.kind == "judge";
    const analysis::ThresholdRule* rule = nullptr;
    if (!judge) {
      for (const auto& r : tmpl.rules) {
        if (r.name == row.rule) rule = &r;
      }
    }
    severities[row.rule] = rule != nullptr ? ToProto(rule->severity) : v1::SEVERITY_CRITICAL;
    auto progress = ProgressFromJson(row.progress);
    const bool due = !analysis::IsFinal(progress.outcome) && row.next_due_at &&
                     *row.next_due_at <= now && !bake_over;
    if (due) {
      MeasurementRow m;
      m.rule = row.rule;
      m.taken_at = now;
      analysis::Limits limits;
      Outcome verdict = Outcome::kError;
      if (judge && tmpl.judge) {
        const auto& spec = *tmpl.judge;
        limits = spec.limits;
        // Only data from after this batch's hosts switched (the analysis started then).
        const auto jm = MeasureJudge(provider, spec, bindings,
                                     std::max(now - spec.lookback, a.started_at), now, spec.step);
        verdict = jm.judgement.verdict;
        json queries = json::object();
        for (const auto& [name, q] : jm.queries) {
          queries[name] = {{"canary", q.first}, {"baseline", q.second}};
        }
        m.queries = queries;
        m.values = ToJson(jm.judgement);
        m.observed =
            std::isfinite(jm.judgement.score) ? std::optional(jm.judgement.score) : std::nullopt;
        m.threshold = spec.pass_score;
        m.comparator = "judge";
        for (const auto& mj : jm.judgement.metrics) {
          if (mj.verdict != Outcome::kSuccessful) {
            m.metric = mj.name;
            break;
          }
        }
        m.message = jm.error.empty() ? jm.judgement.reason : jm.error;
      } else if (rule != nullptr) {
        limits = rule->limits;
        const auto rm = MeasureThreshold(provider, tmpl, *rule, bindings, now);
        verdict = rm.result.verdict;
        m.queries = rm.queries;
        m.values = ValuesJson(rm.values);
        m.metric = rm.result.metric;
        if (std::isfinite(rm.result.observed)) m.observed = rm.result.observed;
        if (std::isfinite(rm.result.threshold)) m.threshold = rm.result.threshold;
        m.comparator = rm.result.comparator;
        m.affected = rm.result.affected_instances;
        m.message = rm.result.message;
      } else {
        m.queries = json::object();
        m.values = json::object();
        m.message = "rule '" + row.rule + "' is no longer in template '" + a.template_name + "'";
      }
      m.verdict = analysis::ToString(verdict);
      InsertMeasurement(tx, a.id, m);
      if (metrics != nullptr) metrics->CountMeasurement(verdict);
      progress = analysis::Advance(EffectiveLimits(limits, a.bake_watch), progress, verdict);
      row.progress = ProgressJson(progress);
      row.outcome = analysis::ToString(progress.outcome);
      const auto interval = std::max(limits.interval, milliseconds(100));
      row.next_due_at = analysis::IsFinal(progress.outcome)
                            ? std::nullopt
                            : std::optional<core::SystemTime>(now + interval);
      UpdateRule(tx, row);
      log->debug("analysis {} rule {}: {} ({}), rule now {}", a.id, row.rule,
                 analysis::ToString(verdict), m.message, row.outcome);
    }
    states.push_back({row.rule, judge, progress.outcome});
    if (row.next_due_at && (!next_due || *row.next_due_at < *next_due)) next_due = row.next_due_at;
  }

  const auto decision = Decide(states, a.bake_watch, bake_over);
  if (!decision) {
    if (a.bake_watch && a.ends_at && (!next_due || *a.ends_at < *next_due)) next_due = a.ends_at;
    if (!next_due) next_due = now + milliseconds(1000);  // nothing scheduled: look again soon
    SetNextDue(tx, a.id, next_due);
    return false;
  }
  const milliseconds window = std::chrono::duration_cast<milliseconds>(now - a.started_at);
  std::vector<v1::Evidence> evidence;
  const bool passed = decision->outcome == Outcome::kSuccessful;
  for (const auto& row : rules) {
    const bool wanted = passed || std::find(decision->rules.begin(), decision->rules.end(),
                                            row.rule) != decision->rules.end();
    if (!wanted) continue;
    auto ev = EvidenceOf(ListMeasurements(tx, a.id, row.rule, kRecentValues), severities[row.rule],
                         window);
    if (ev.metric().empty()) ev.set_metric(row.rule);
    evidence.push_back(std::move(ev));
  }
  json evidence_json = json::array();
  for (const auto& ev : evidence) evidence_json.push_back(EvidenceJson(ev));
  FinishAnalysis(tx, a.id, std::string(analysis::ToString(decision->outcome)), decision->reason,
                 evidence_json, now);
  if (passed) {
    PublishPassed(tx, clock, a, evidence);
    log->info("analysis {} of deployment {} batch {} passed{}", a.id, a.deployment_id,
              a.batch_index, a.bake_watch ? " (bake watch over)" : "");
  } else {
    PublishFailed(tx, clock, a, decision->outcome, decision->reason, evidence);
    log->warn("analysis {} of deployment {} batch {} {}: {} ({})", a.id, a.deployment_id,
              a.batch_index, analysis::ToString(decision->outcome), decision->reason,
              evidence.empty() ? std::string() : evidence.front().message());
  }
  return true;
}

Analyzer::Analyzer(AnalyzerDeps deps, AnalyzerOptions options) : deps_(deps), options_(options) {}

Analyzer::~Analyzer() { Stop(); }

void Analyzer::Start() {
  std::lock_guard lock(mu_);
  stop_ = false;
  for (int i = 0; i < std::max(1, options_.workers); ++i) threads_.emplace_back([this] { Run(); });
}

void Analyzer::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Analyzer::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

int Analyzer::RunOnce() {
  int handled = 0;
  while (handled < options_.max_per_pass) {
    const bool stepped = deps_.db.WithTransaction([&](pqxx::work& tx) {
      const auto a = ClaimDueAnalysis(tx, deps_.clock.Now());
      if (!a) return false;
      StepAnalysis(tx, *a, deps_.provider, deps_.clock, deps_.metrics);
      return true;
    });
    if (!stepped) break;
    ++handled;
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
  }
  return handled;
}

void Analyzer::Run() {
  const auto log = core::Logger("analyzer");
  bool failing = false;
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_ = false;
    lock.unlock();
    int handled = 0;
    try {
      handled = RunOnce();
      if (failing) log->info("analyzer recovered");
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) log->error("analyzer pass failed (will retry): {}", e.what());
      failing = true;
    }
    lock.lock();
    if (handled < options_.max_per_pass || failing) {
      cv_.wait_for(lock, options_.poll, [this] { return stop_ || wake_; });
    }
  }
}

// ---- alerts ----------------------------------------------------------------------------------

json ReceiveAlerts(pqxx::work& tx, const AlertPayload& payload, const core::Clock& clock) {
  const auto now = clock.Now();
  int raised = 0, recorded = 0, ignored = 0;
  json results = json::array();
  for (const auto& alert : payload.alerts) {
    AlertRow row;
    row.fingerprint = alert.fingerprint;
    row.starts_at = alert.starts_at;
    const auto name = alert.labels.find("alertname");
    row.alert_name = name == alert.labels.end() ? "" : name->second;
    row.status = alert.status;
    row.labels = alert.labels;
    row.annotations = alert.annotations;
    std::string result;
    if (alert.labels.count("sluice_event") > 0) {
      row.reason = kReasonOwnEvent;
      InsertAlert(tx, row, now);
      result = "ignored";
    } else {
      const bool inserted = InsertAlert(tx, row, now);
      std::optional<AlertRow> existing;
      if (!inserted) existing = LockAlert(tx, row.fingerprint, row.starts_at);
      if (existing && existing->raised && alert.status == "firing") {
        row = *existing;
        result = "ignored";  // the same firing again: raised once already
      } else if (alert.status == "resolved") {
        if (existing) {
          row.raised = existing->raised;
          row.alert_id = existing->alert_id;
          row.deployment_id = existing->deployment_id;
        }
        row.reason = kReasonResolved;
        UpdateAlert(tx, row, now);
        result = "recorded";
      } else {
        const AlertKey key = KeyOf(alert);
        std::optional<WatchedDeployment> match;
        if ((!key.app.empty() && !key.env.empty()) || !key.deployment_id.empty()) {
          match = MatchAlert(alert, DeploymentsFor(tx, key.app, key.env, key.deployment_id), now);
        }
        if (match) {
          row.raised = true;
          row.alert_id = core::NewUuid();
          row.deployment_id = match->deployment_id;
          row.reason = "";
          auto e = events::NewEnvelope(kServiceName, clock);
          e.set_deployment_id(match->deployment_id);
          e.set_release_id(match->release_id);
          auto* p = e.mutable_alert_raised();
          p->set_alert_id(row.alert_id);
          p->set_fingerprint(row.fingerprint);
          p->set_deployment_id(match->deployment_id);
          p->set_release_id(match->release_id);
          p->set_alert_name(row.alert_name);
          *p->mutable_evidence() = AlertEvidence(alert);
          for (const auto& [k, v] : alert.labels) (*p->mutable_labels())[k] = v;
          p->set_app(match->app);
          p->set_env(match->env);
          p->set_version(match->version);
          p->set_resolved(false);
          const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                  alert.starts_at.time_since_epoch())
                                  .count();
          p->mutable_starts_at()->set_seconds(micros / 1000000);
          p->mutable_starts_at()->set_nanos(static_cast<std::int32_t>((micros % 1000000) * 1000));
          eventbus::Publish(tx, std::move(e));
          result = "raised";
        } else {
          row.reason = (key.app.empty() || key.env.empty()) && key.deployment_id.empty()
                           ? kReasonMissingLabels
                           : kReasonNoActiveDeployment;
          result = "recorded";
        }
        UpdateAlert(tx, row, now);
      }
    }
    if (result == "raised") ++raised;
    if (result == "recorded") ++recorded;
    if (result == "ignored") ++ignored;
    results.push_back({{"fingerprint", row.fingerprint},
                       {"starts_at", core::FormatRfc3339(row.starts_at)},
                       {"alertname", row.alert_name},
                       {"status", alert.status},
                       {"result", result},
                       {"reason", row.reason},
                       {"deployment_id", row.deployment_id},
                       {"alert_id", row.alert_id}});
  }
  return {{"raised", raised}, {"recorded", recorded}, {"ignored", ignored}, {"alerts", results}};
}

// ---- HTTP API --------------------------------------------------------------------------------

namespace {

bool TokenMatches(const std::string& header, const std::string& token) {
  const std::string prefix = "Bearer ";
  if (token.empty() || header.size() != prefix.size() + token.size() ||
      header.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(header[prefix.size() + i] ^ token[i]);
  }
  return diff == 0;
}

json OptTime(const std::optional<core::SystemTime>& t) {
  return t ? json(core::FormatRfc3339(*t)) : json(nullptr);
}

json AnalysisJson(const AnalysisRow& a) {
  return {{"id", a.id},
          {"deployment_id", a.deployment_id},
          {"batch_index", a.batch_index},
          {"generation", a.generation},
          {"app", a.app},
          {"env", a.env},
          {"version", a.version},
          {"baseline_version", a.baseline_version},
          {"release_id", a.release_id},
          {"template", a.template_name},
          {"bake_watch", a.bake_watch},
          {"instances", a.instances},
          {"baseline_instances", a.baseline_instances},
          {"status", a.status},
          {"reason", a.reason},
          {"started_at", core::FormatRfc3339(a.started_at)},
          {"ends_at", OptTime(a.ends_at)},
          {"next_due_at", OptTime(a.next_due_at)},
          {"finished_at", OptTime(a.finished_at)},
          {"evidence", a.evidence}};
}

json MeasurementJson(const MeasurementRow& m) {
  return {{"rule", m.rule},
          {"taken_at", core::FormatRfc3339(m.taken_at)},
          {"verdict", m.verdict},
          {"metric", m.metric},
          {"observed", m.observed ? Finite(*m.observed) : json(nullptr)},
          {"threshold", m.threshold ? Finite(*m.threshold) : json(nullptr)},
          {"comparator", m.comparator},
          {"affected_instances", m.affected},
          {"message", m.message},
          {"queries", m.queries},
          {"values", m.values}};
}

// ?limit=, 1 to 500, 100 when absent.
int LimitParam(const httplib::Request& req) {
  if (!req.has_param("limit")) return 100;
  int limit = 0;
  try {
    limit = std::stoi(req.get_param_value("limit"));
  } catch (const std::exception&) {
    limit = 0;
  }
  if (limit < 1 || limit > 500) throw http::BadRequest("limit", "limit must be 1 to 500");
  return limit;
}

json ListedAlertJson(const ListedAlert& l) {
  const auto& a = l.alert;
  return {{"fingerprint", a.fingerprint},
          {"name", a.alert_name},
          {"status", a.status},
          {"starts_at", core::FormatRfc3339(a.starts_at)},
          {"deployment_id", a.deployment_id},
          {"raised", a.raised},
          {"alert_id", a.alert_id},
          {"reason", a.reason},
          {"labels", a.labels},
          {"annotations", a.annotations},
          {"received_at", core::FormatRfc3339(l.received_at)},
          {"updated_at", core::FormatRfc3339(l.updated_at)}};
}

}  // namespace

void MountWatcherApi(http::Server& server, ApiDeps deps) {
  server.Post(
      std::string(kAlertmanagerPath), [deps](const httplib::Request& req, httplib::Response& res) {
        if (!TokenMatches(req.get_header_value("Authorization"), deps.alert_token)) {
          throw http::Unauthorized("a valid Authorization: Bearer token is required");
        }
        // NULs are sorted out per alert (one bad alert must not lose the batch).
        core::JsonLimits limits;
        limits.allow_nul = true;
        const auto body = http::ParseJsonBody(req, limits);
        AlertPayload payload;
        try {
          payload = ParseAlertmanagerPayload(body);
        } catch (const PayloadError& e) {
          throw http::BadRequest(e.Field(), e.what());
        }
        if (payload.alerts.empty() && !payload.rejected.empty()) {
          const auto& first = payload.rejected.front();
          throw http::BadRequest(first.field, first.reason);
        }
        json result = deps.db.WithTransaction(
            [&](pqxx::work& tx) { return ReceiveAlerts(tx, payload, deps.clock); });
        json rejected = json::array();
        for (const auto& r : payload.rejected) {
          core::Logger("alerts")->warn("alert {} of an Alertmanager batch rejected: {}", r.index,
                                       r.reason);
          rejected.push_back({{"index", r.index}, {"field", r.field}, {"reason", r.reason}});
        }
        result["rejected"] = std::move(rejected);
        if (deps.metrics != nullptr) {
          for (const char* r : {"raised", "recorded", "ignored"}) {
            for (int i = 0; i < result.at(r).get<int>(); ++i) deps.metrics->CountAlert(r);
          }
        }
        http::WriteJson(res, 200, result);
      });

  server.Get("/v1/alerts", [deps](const httplib::Request& req, httplib::Response& res) {
    const std::string app = req.get_param_value("app");
    const std::string deployment_id = req.get_param_value("deployment_id");
    const int limit = LimitParam(req);
    const auto rows = deps.db.WithTransaction(
        [&](pqxx::work& tx) { return ListAlerts(tx, app, deployment_id, limit); });
    json items = json::array();
    for (const auto& l : rows) items.push_back(ListedAlertJson(l));
    http::WriteJson(res, 200, {{"alerts", items}});
  });

  server.Post("/v1/analyses", [deps](const httplib::Request& req, httplib::Response& res) {
    const auto request = ParseRetrospectiveRequest(http::ParseJsonBody(req));
    http::WriteJson(res, 200, RunRetrospective(deps.provider, request));
  });

  server.Get("/v1/analyses", [deps](const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> deployment_id;
    if (req.has_param("deployment_id")) deployment_id = req.get_param_value("deployment_id");
    const int limit = LimitParam(req);
    const auto rows = deps.db.WithTransaction(
        [&](pqxx::work& tx) { return ListAnalyses(tx, deployment_id, limit); });
    json items = json::array();
    for (const auto& a : rows) items.push_back(AnalysisJson(a));
    http::WriteJson(res, 200, {{"analyses", items}});
  });

  server.Get(R"(/v1/analyses/([^/]+))",
             [deps](const httplib::Request& req, httplib::Response& res) {
               const std::string id = req.matches[1];
               const json out = deps.db.WithTransaction([&](pqxx::work& tx) -> json {
                 const auto a = GetAnalysis(tx, id);
                 if (!a) return nullptr;
                 json j = AnalysisJson(*a);
                 json rules = json::array();
                 for (const auto& r : LoadRules(tx, id)) {
                   rules.push_back({{"name", r.rule},
                                    {"kind", r.kind},
                                    {"outcome", r.outcome},
                                    {"progress", r.progress},
                                    {"next_due_at", OptTime(r.next_due_at)}});
                 }
                 j["rules"] = rules;
                 json measurements = json::array();
                 for (const auto& m : ListMeasurements(tx, id, "", 1000)) {
                   measurements.push_back(MeasurementJson(m));
                 }
                 j["measurements"] = measurements;
                 return j;
               });
               if (out.is_null()) throw http::NotFound("analysis " + id + " not found");
               http::WriteJson(res, 200, out);
             });
}

}  // namespace sluice::watcher
