#include "sluice/analysis/window.hpp"

#include <algorithm>

namespace sluice::analysis {

std::vector<std::string> MetricsOfRule(const Template& tmpl, const ThresholdRule& rule) {
  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (tmpl.FindMetric(name) != nullptr && std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(name);
    }
  };
  for (const auto* c : rule.condition.Comparisons()) add(c->metric);
  if (rule.min_requests_metric) add(*rule.min_requests_metric);
  return out;
}

std::chrono::milliseconds LongestRange(std::string_view promql) {
  std::chrono::milliseconds longest{0};
  for (std::size_t i = promql.find('['); i != std::string_view::npos; i = promql.find('[', i + 1)) {
    const auto close = promql.find_first_of(":]", i + 1);
    if (close == std::string_view::npos) break;
    if (const auto d = ParseDuration(promql.substr(i + 1, close - i - 1))) {
      longest = std::max(longest, *d);
    }
  }
  return longest;
}

std::chrono::milliseconds RuleWindow(const Template& tmpl, const ThresholdRule& rule) {
  std::chrono::milliseconds longest{0};
  for (const auto& name : MetricsOfRule(tmpl, rule)) {
    longest = std::max(longest, LongestRange(tmpl.FindMetric(name)->query));
  }
  return longest;
}

}  // namespace sluice::analysis
