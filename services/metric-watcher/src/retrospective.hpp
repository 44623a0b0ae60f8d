#pragma once

// POST /v1/analyses: an analysis over a past time range, answered synchronously, by the same
// measuring code as the live analysis (measure.hpp) and the same limits bookkeeping.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/analysis/analysis.hpp>
#include <sluice/core/clock.hpp>
#include <string>
#include <string_view>

#include "measure.hpp"

namespace sluice::watcher {

struct RetrospectiveRequest {
  analysis::Template tmpl;
  analysis::Bindings bindings;
  core::SystemTime start{};
  core::SystemTime end{};
  std::optional<std::chrono::milliseconds> step;  // overrides rule intervals and judge step
};

// What one retrospective analysis may cost: each step of a rule is a Prometheus query (or a few),
// answered synchronously. A request over a cap is refused with 400 naming the cap.
inline constexpr std::size_t kMaxRetrospectiveRules = 10;   // threshold rules in the template
inline constexpr int kMaxRetrospectiveSteps = 500;          // measurements of one rule
inline constexpr int kMaxRetrospectiveMeasurements = 2000;  // of all rules together
inline constexpr std::chrono::hours kMaxRetrospectiveRange{7 * 24};  // end - start
inline constexpr int kMaxRetrospectiveJudgePoints = 11000;           // points per judged series

// A `step`: core::ParseDuration's grammar ("250ms", "5s", "1m30s") or a bare number of seconds.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);

// Reads the request body; throws http::ApiException: 400 invalid_field naming the field when a
// field is missing or malformed, 422 unprocessable naming the field when the template or the
// range cannot be used.
RetrospectiveRequest ParseRetrospectiveRequest(const nlohmann::json& body);

// The caps above: 400 invalid_field naming `end` (range), `template` (rules) or `step`
// (measurements per rule, of all rules, judge points), with the cap in the message.
void CheckRetrospectiveCaps(const RetrospectiveRequest& request);

// Runs every threshold rule at each step of [start, end] (instant queries at that time, until
// the rule is decided) and the judge over [start, end]; returns
// {outcome, reason, rules: [{name, outcome, measurements: [...]}], judge}.
nlohmann::json RunRetrospective(MetricProvider& provider, const RetrospectiveRequest& request);

}  // namespace sluice::watcher
