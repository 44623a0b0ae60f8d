#pragma once

// Reading the `analysis:` section of one environment of a delivery spec into its typed form
// (sluice/analysis/spec.hpp, defaults applied). Parsing is pure; every error carries the 1-based
// line and column of the offending node and its key path. The format is described in
// libs/analysis/README.md.

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <variant>

#include "sluice/analysis/spec.hpp"

namespace sluice::spec {

// Where and what: line and column are 1-based (0 when unknown).
struct SpecIssue {
  int line = 0, column = 0;
  std::string path;
  std::string message;

  std::string ToString() const;  // "12:7: <path>: <message>"
};

// `node` is the environment's `analysis` mapping; `path` names it in errors, e.g.
// "environments.production.analysis".
std::variant<analysis::AnalysisSpec, SpecIssue> ParseAnalysisSpec(const YAML::Node& node,
                                                                  const std::string& path);

// Finds environments.<env>.analysis in a whole delivery spec text (what the metric-watcher's
// retrospective API takes; events carry resolved templates instead). An environment without an
// `analysis` section gives an empty AnalysisSpec; invalid YAML or a missing environment gives a
// SpecIssue.
std::variant<analysis::AnalysisSpec, SpecIssue> ParseAnalysisFromDeliverySpec(
    std::string_view spec_yaml, std::string_view env);

}  // namespace sluice::spec
