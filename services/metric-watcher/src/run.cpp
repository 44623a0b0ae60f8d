#include "run.hpp"

#include <google/protobuf/util/json_util.h>

#include <sluice/events/envelope.hpp>
#include <sluice/spec/convert.hpp>
#include <stdexcept>

namespace sluice::watcher {

using analysis::Outcome;

std::variant<analysis::Template, std::string> TemplateFromRequest(
    const std::string& resolved, std::string_view env, const std::string& template_name) {
  const std::string name = template_name.empty() ? "default" : template_name;
  if (resolved.empty()) {
    return "analysis template '" + name + "' is not defined for environment '" + std::string(env) +
           "'";
  }
  events::v1::AnalysisTemplate t;
  if (!google::protobuf::util::JsonStringToMessage(resolved, &t).ok()) {
    return std::string("the stored resolved template is unreadable");
  }
  if (t.name() != name) {
    return "the request resolved template '" + t.name() + "', not '" + name + "'";
  }
  try {
    return spec::FromProto(t);
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
}

std::variant<analysis::Template, std::string> ResolveTemplate(std::string_view spec_yaml,
                                                              std::string_view env,
                                                              const std::string& template_name) {
  if (spec_yaml.empty()) return std::string("the request carries no delivery spec");
  auto parsed = spec::ParseAnalysisFromDeliverySpec(spec_yaml, env);
  if (const auto* issue = std::get_if<spec::SpecIssue>(&parsed)) {
    std::string where = issue->path;
    if (issue->line > 0) {
      where += " (line " + std::to_string(issue->line) + ", column " +
               std::to_string(issue->column) + ")";
    }
    return "delivery spec: " + where + ": " + issue->message;
  }
  auto& spec = std::get<analysis::AnalysisSpec>(parsed);
  const std::string name = template_name.empty() ? "default" : template_name;
  const auto it = spec.templates.find(name);
  if (it == spec.templates.end()) {
    return "analysis template '" + name + "' is not defined for environment '" + std::string(env) +
           "'";
  }
  return it->second;
}

analysis::Limits EffectiveLimits(analysis::Limits limits, bool bake_watch) {
  if (bake_watch) {
    limits.count = 0;  // until the watch ends
    limits.consecutive_success_limit = 0;
  }
  return limits;
}

std::optional<Decision> Decide(const std::vector<RuleState>& rules, bool bake_watch,
                               bool bake_over) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(rules.size());
  for (const auto& r : rules) outcomes.push_back(r.outcome);
  Outcome combined = rules.empty() ? Outcome::kSuccessful : analysis::Combine(outcomes);
  if (bake_watch) {
    if (combined == Outcome::kSuccessful || combined == Outcome::kRunning ||
        combined == Outcome::kPending) {
      if (!bake_over) return std::nullopt;
      // A rule still Pending when the watch ends never measured anything (its first
      // measurement was due after the end): the watch cannot vouch for the release.
      std::vector<std::string> unmeasured;
      for (const auto& r : rules) {
        if (r.outcome == Outcome::kPending) unmeasured.push_back(r.name);
      }
      if (!unmeasured.empty()) {
        return Decision{Outcome::kInconclusive, std::string(kReasonNothingMeasured),
                        std::move(unmeasured)};
      }
      combined = Outcome::kSuccessful;
    }
  } else if (combined == Outcome::kRunning || combined == Outcome::kPending) {
    return std::nullopt;
  }
  Decision d;
  d.outcome = combined;
  bool threshold_failed = false;
  for (const auto& r : rules) {
    if (combined != Outcome::kSuccessful && r.outcome == combined) {
      d.rules.push_back(r.name);
      if (!r.judge && r.outcome == Outcome::kFailed) threshold_failed = true;
    }
  }
  switch (combined) {
    case Outcome::kFailed:
      d.reason = threshold_failed ? kReasonThresholdBreached : kReasonJudgeFailed;
      break;
    case Outcome::kError:
      d.reason = kReasonQueryError;
      break;
    case Outcome::kInconclusive:
      d.reason = kReasonInconclusiveLimit;
      break;
    default:
      break;
  }
  return d;
}

}  // namespace sluice::watcher
