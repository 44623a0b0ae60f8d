#pragma once

// Fills the {{placeholders}} of a metric query for one deployment.

#include <string>
#include <string_view>
#include <vector>

namespace sluice::analysis {

struct Bindings {
  std::string app, env, version, baseline_version, deployment;
  std::vector<std::string> instances, baseline_instances;
};

// Replaces {{app}}, {{env}}, {{version}}, {{baseline_version}}, {{deployment}}, {{instances}}
// and {{baseline_instances}} (spaces inside the braces are allowed). The two instance lists
// become an alternation "h1|h2" of regex-escaped names, written for a quoted PromQL string:
// a regex metacharacter gets a doubled backslash ("web.1" -> "web\\.1"), which the PromQL
// string literal turns into the single backslash RE2 expects. An empty list becomes "^$",
// matching no series that carries the label. An unknown {{x}} is left as is.
std::string Render(std::string_view query, const Bindings& b);

// "web.1" -> "web\\.1" (see Render).
std::string RegexEscapeForPromQL(std::string_view name);
// The alternation of escaped names, or "^$" for none.
std::string InstancesRegex(const std::vector<std::string>& names);

// The baseline query derived from a canary query: {{instances}} -> {{baseline_instances}} and
// {{version}} -> {{baseline_version}} (before rendering).
std::string DeriveBaselineQuery(std::string_view query);

}  // namespace sluice::analysis
