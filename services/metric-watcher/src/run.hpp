#pragma once

// The decisions of a live analysis run, as pure functions: which template applies, the limits
// a rule is measured under, and when a run is decided (and why).

#include <chrono>
#include <optional>
#include <sluice/analysis/analysis.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/spec/analysis_spec.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::watcher {

inline constexpr std::string_view kServiceName = "metric-watcher";

// AnalysisFailed.reason: named constants the rollback-agent and the notifier key on.
inline constexpr std::string_view kReasonThresholdBreached =
    events::Name(events::v1::REASON_THRESHOLD_BREACHED);
inline constexpr std::string_view kReasonJudgeFailed =
    events::Name(events::v1::REASON_JUDGE_FAILED);
inline constexpr std::string_view kReasonInconclusiveLimit =
    events::Name(events::v1::REASON_INCONCLUSIVE_LIMIT);
inline constexpr std::string_view kReasonQueryError = events::Name(events::v1::REASON_QUERY_ERROR);
inline constexpr std::string_view kReasonNothingMeasured =
    events::Name(events::v1::REASON_NOTHING_MEASURED);
inline constexpr std::string_view kReasonTemplateMissing =
    events::Name(events::v1::REASON_TEMPLATE_MISSING);

// analyses.status besides the analysis::Outcome names: a run stopped by a rollback.
inline constexpr std::string_view kStatusCancelled = "Cancelled";
// The rule name under which the judge's progress is kept.
inline constexpr std::string_view kJudgeRule = "judge";

inline constexpr std::chrono::milliseconds kDefaultBakeDuration{std::chrono::minutes(5)};

// The template of an analysis: AnalysisRequested.resolved_template as stored (its JSON
// mapping; release-intake resolved it, the planner passed it on); or why there is none (the
// environment has no template of that name, or the request carried none).
std::variant<analysis::Template, std::string> TemplateFromRequest(const std::string& resolved,
                                                                  std::string_view env,
                                                                  const std::string& template_name);

// The template of a delivery spec text a person posts to the retrospective API; or why there
// is none (unparsable spec, no analysis section for the env, no template of that name).
std::variant<analysis::Template, std::string> ResolveTemplate(std::string_view spec_yaml,
                                                              std::string_view env,
                                                              const std::string& template_name);

// A bake watch measures until its end: never decided Successful by count or by consecutive
// successes. Otherwise the limits as written.
analysis::Limits EffectiveLimits(analysis::Limits limits, bool bake_watch);

struct RuleState {
  std::string name;
  bool judge = false;
  analysis::Outcome outcome = analysis::Outcome::kPending;
};

struct Decision {
  analysis::Outcome outcome = analysis::Outcome::kRunning;
  std::string reason;              // empty when Successful
  std::vector<std::string> rules;  // the rules whose outcome decided it (evidence)
};

// The run's outcome once decided; nullopt while it keeps measuring. A canary run is decided by
// analysis::Combine (one failed rule decides at once). A bake watch fails as soon as a rule
// does and passes only when its time is over (`bake_over`).
std::optional<Decision> Decide(const std::vector<RuleState>& rules, bool bake_watch,
                               bool bake_over);

}  // namespace sluice::watcher
