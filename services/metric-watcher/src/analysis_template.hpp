#pragma once

// Where an analysis's template and bake watch come from. The one place that knows: today the
// delivery spec's YAML the AnalysisRequested carried (stored in analyses.spec_yaml).

#include <optional>
#include <sluice/analysis/analysis.hpp>
#include <string>
#include <variant>

#include "watcher_repository.hpp"

namespace sluice::watcher {

// The analysis's resolved template, or why there is none.
std::variant<analysis::Template, std::string> TemplateOf(const AnalysisRow& a);

// The environment's bake watch settings, when the deployment has them.
std::optional<analysis::BakeWatch> BakeWatchSettingsOf(const AnalysisRow& a);

}  // namespace sluice::watcher
