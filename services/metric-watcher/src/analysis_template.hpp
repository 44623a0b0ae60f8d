#pragma once

// Where an analysis's template comes from. The one place that knows: the template release-intake
// resolved and the planner passed on in AnalysisRequested.resolved_template (stored in
// analyses.resolved_template); the spec text is kept for people, never parsed here.

#include <optional>
#include <sluice/analysis/analysis.hpp>
#include <string>
#include <variant>

#include "watcher_repository.hpp"

namespace sluice::watcher {

// The analysis's resolved template, or why there is none.
std::variant<analysis::Template, std::string> TemplateOf(const AnalysisRow& a);

}  // namespace sluice::watcher
