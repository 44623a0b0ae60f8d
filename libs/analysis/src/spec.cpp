#include "sluice/analysis/spec.hpp"

#include "sluice/core/duration.hpp"

namespace sluice::analysis {

std::string_view ToString(JudgeKind kind) {
  switch (kind) {
    case JudgeKind::kQuery:
      return "query";
    case JudgeKind::kGauge:
      return "gauge";
    case JudgeKind::kRatio:
      return "ratio";
    case JudgeKind::kHistogram:
      return "histogram";
    case JudgeKind::kMean:
      return "mean";
  }
  return "query";
}

const MetricQuery* Template::FindMetric(std::string_view metric) const {
  for (const auto& m : metrics) {
    if (m.name == metric) return &m;
  }
  return nullptr;
}

const Template* AnalysisSpec::FindTemplate(std::string_view name) const {
  const auto it = templates.find(std::string(name));
  return it == templates.end() ? nullptr : &it->second;
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  // Specs keep to h, m, s and ms: days are refused so a spec reads the same to every tool.
  if (s.find('d') != std::string_view::npos) return std::nullopt;
  const auto d = core::ParseDuration(s);
  if (!d || d->count() <= 0 || *d > std::chrono::hours(366 * 24)) return std::nullopt;  // a year
  return d;
}

}  // namespace sluice::analysis
