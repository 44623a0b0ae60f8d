#include "analysis_step.hpp"

#include <algorithm>
#include <cmath>
#include <sluice/core/logging.hpp>

#include "analysis_events.hpp"
#include "analysis_template.hpp"
#include "evidence.hpp"

namespace sluice::watcher {
namespace {

using analysis::Outcome;
using nlohmann::json;
using std::chrono::milliseconds;

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

// The judge over this batch's data only: the lookback, never before the batch's hosts switched.
Outcome MeasureJudgeInto(MeasurementRow& m, MetricProvider& provider,
                         const analysis::JudgeSpec& spec, const AnalysisRow& a,
                         core::SystemTime now) {
  const auto jm = MeasureJudge(provider, spec, BindingsOf(a),
                               std::max(now - spec.lookback, DataFrom(a)), now, spec.step);
  json queries = json::object();
  for (const auto& [name, q] : jm.queries) {
    queries[name] = {{"canary", q.first}, {"baseline", q.second}};
  }
  m.queries = queries;
  m.values = ToJson(jm.judgement);
  m.observed = std::isfinite(jm.judgement.score) ? std::optional(jm.judgement.score) : std::nullopt;
  m.threshold = spec.pass_score;
  m.comparator = "judge";
  for (const auto& mj : jm.judgement.metrics) {
    if (mj.verdict != Outcome::kSuccessful) {
      m.metric = mj.name;
      break;
    }
  }
  m.message = jm.error.empty() ? jm.judgement.reason : jm.error;
  return jm.judgement.verdict;
}

Outcome MeasureThresholdInto(MeasurementRow& m, MetricProvider& provider,
                             const analysis::Template& tmpl, const analysis::ThresholdRule& rule,
                             const AnalysisRow& a, core::SystemTime now) {
  const auto rm = MeasureThreshold(provider, tmpl, rule, BindingsOf(a), now);
  m.queries = rm.queries;
  m.values = ValuesJson(rm.values);
  m.metric = rm.result.metric;
  if (std::isfinite(rm.result.observed)) m.observed = rm.result.observed;
  if (std::isfinite(rm.result.threshold)) m.threshold = rm.result.threshold;
  m.comparator = rm.result.comparator;
  m.affected = rm.result.affected_instances;
  m.message = rm.result.message;
  return rm.result.verdict;
}

// Measures one due rule and advances its progress (in `row`).
MeasurementRow MeasureRule(RuleRow& row, analysis::RuleProgress& progress,
                           const analysis::Template& tmpl, const analysis::ThresholdRule* rule,
                           const AnalysisRow& a, MetricProvider& provider, core::SystemTime now) {
  MeasurementRow m;
  m.rule = row.rule;
  m.taken_at = now;
  analysis::Limits limits;
  Outcome verdict = Outcome::kError;
  if (row.kind == "judge" && tmpl.judge) {
    limits = tmpl.judge->limits;
    verdict = MeasureJudgeInto(m, provider, *tmpl.judge, a, now);
  } else if (rule != nullptr) {
    limits = rule->limits;
    verdict = MeasureThresholdInto(m, provider, tmpl, *rule, a, now);
  } else {
    m.queries = json::object();
    m.values = json::object();
    m.message = "rule '" + row.rule + "' is no longer in template '" + a.template_name + "'";
  }
  m.verdict = analysis::ToString(verdict);
  progress = analysis::Advance(EffectiveLimits(limits, a.bake_watch), progress, verdict);
  row.progress = ProgressJson(progress);
  row.outcome = analysis::ToString(progress.outcome);
  const auto interval = std::max(limits.interval, milliseconds(100));
  row.next_due_at = analysis::IsFinal(progress.outcome)
                        ? std::nullopt
                        : std::optional<core::SystemTime>(now + interval);
  core::Logger("analyzer")
      ->debug("analysis {} rule {}: {} ({}), rule now {}", a.id, row.rule, m.verdict, m.message,
              row.outcome);
  return m;
}

const analysis::ThresholdRule* FindRule(const analysis::Template& tmpl, const RuleRow& row) {
  if (row.kind == "judge") return nullptr;
  const analysis::ThresholdRule* found = nullptr;
  for (const auto& r : tmpl.rules) {
    if (r.name == row.rule) found = &r;
  }
  return found;
}

// The decided run: its evidence, the final status, and the event, all in `tx`.
void Finish(pqxx::work& tx, const AnalysisRow& a, const StepResult& step, const Decision& decision,
            const core::Clock& clock) {
  const milliseconds window = std::chrono::duration_cast<milliseconds>(step.now - DataFrom(a));
  std::vector<v1::Evidence> evidence;
  const bool passed = decision.outcome == Outcome::kSuccessful;
  for (const auto& row : step.rules) {
    const bool wanted = passed || std::find(decision.rules.begin(), decision.rules.end(),
                                            row.rule) != decision.rules.end();
    if (!wanted) continue;
    auto ev = EvidenceOf(ListMeasurements(tx, a.id, row.rule, kRecentValues),
                         step.severities.at(row.rule), window);
    if (ev.metric().empty()) ev.set_metric(row.rule);
    evidence.push_back(std::move(ev));
  }
  json evidence_json = json::array();
  for (const auto& ev : evidence) evidence_json.push_back(EvidenceJson(ev));
  FinishAnalysis(tx, a.id, std::string(analysis::ToString(decision.outcome)), decision.reason,
                 evidence_json, step.now);
  const auto log = core::Logger("analyzer");
  if (passed) {
    PublishPassed(tx, clock, a, evidence);
    log->info("analysis {} of deployment {} batch {} passed{}", a.id, a.deployment_id,
              a.batch_index, a.bake_watch ? " (bake watch over)" : "");
  } else {
    PublishFailed(tx, clock, a, decision.outcome, decision.reason, evidence);
    log->warn("analysis {} of deployment {} batch {} {}: {} ({})", a.id, a.deployment_id,
              a.batch_index, analysis::ToString(decision.outcome), decision.reason,
              evidence.empty() ? std::string() : evidence.front().message());
  }
}

}  // namespace

StepResult MeasureStep(const AnalysisRow& a, std::vector<RuleRow> rules, MetricProvider& provider,
                       core::SystemTime now, WatcherMetrics* metrics) {
  StepResult step;
  step.now = now;
  step.rules = std::move(rules);
  auto resolved = TemplateOf(a);
  if (const auto* error = std::get_if<std::string>(&resolved)) {
    step.template_error = *error;
    return step;
  }
  const auto& tmpl = std::get<analysis::Template>(resolved);
  step.bake_over = a.bake_watch && a.ends_at && now >= *a.ends_at;
  for (auto& row : step.rules) {
    const analysis::ThresholdRule* rule = FindRule(tmpl, row);
    step.severities[row.rule] =
        rule != nullptr ? SeverityOf(rule->severity) : v1::SEVERITY_CRITICAL;
    auto progress = ProgressFromJson(row.progress);
    const bool due = !analysis::IsFinal(progress.outcome) && row.next_due_at &&
                     *row.next_due_at <= now && !step.bake_over;
    if (due) {
      step.taken.push_back(MeasureRule(row, progress, tmpl, rule, a, provider, now));
      if (metrics != nullptr) {
        metrics->CountMeasurement(
            OutcomeFromString(step.taken.back().verdict).value_or(Outcome::kError));
      }
    }
    step.states.push_back({row.rule, row.kind == "judge", progress.outcome});
    if (row.next_due_at && (!step.next_due || *row.next_due_at < *step.next_due)) {
      step.next_due = row.next_due_at;
    }
  }
  return step;
}

StepWrite RecordStep(pqxx::work& tx, const AnalysisRow& a, const StepResult& step,
                     const core::Clock& clock) {
  if (!LockClaimed(tx, a.id, a.claim_token)) return StepWrite::kStale;
  if (!step.template_error.empty()) {
    v1::Evidence ev;
    ev.set_metric(a.template_name);
    ev.set_message(step.template_error);
    FinishAnalysis(tx, a.id, std::string(analysis::ToString(Outcome::kError)),
                   std::string(kReasonTemplateMissing), json::array({EvidenceJson(ev)}), step.now);
    PublishFailed(tx, clock, a, Outcome::kError, std::string(kReasonTemplateMissing), {ev});
    return StepWrite::kDecided;
  }
  for (const auto& m : step.taken) InsertMeasurement(tx, a.id, m);
  for (const auto& row : step.rules) {
    const bool measured = std::any_of(step.taken.begin(), step.taken.end(),
                                      [&](const MeasurementRow& m) { return m.rule == row.rule; });
    if (measured) UpdateRule(tx, row);
  }
  const auto decision = Decide(step.states, a.bake_watch, step.bake_over);
  if (!decision) {
    auto next_due = step.next_due;
    if (a.bake_watch && a.ends_at && (!next_due || *a.ends_at < *next_due)) next_due = a.ends_at;
    if (!next_due) next_due = step.now + milliseconds(1000);  // nothing scheduled: look again soon
    SetNextDue(tx, a.id, next_due);
    return StepWrite::kRescheduled;
  }
  Finish(tx, a, step, *decision, clock);
  return StepWrite::kDecided;
}

}  // namespace sluice::watcher
