#pragma once

// The evidence an analysis's outcome carries (AnalysisPassed.measurements,
// AnalysisFailed.evidence, analyses.evidence), built from the measurements a rule took.

#include <sluice/v1/common.pb.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sluice/analysis/analysis.hpp>
#include <vector>

#include "watcher_repository.hpp"

namespace sluice::watcher {

// The recent values an evidence carries, at most.
inline constexpr int kRecentValues = 20;

v1::Severity SeverityOf(analysis::Severity s);

// Builds the evidence of one rule from its measurements (oldest first): the last measurement
// that was not Successful (else the last one), and the rule metric's recent values (<= 20).
v1::Evidence EvidenceOf(const std::vector<MeasurementRow>& rows, v1::Severity severity,
                        std::chrono::milliseconds window);
nlohmann::json EvidenceJson(const v1::Evidence& e);

}  // namespace sluice::watcher
