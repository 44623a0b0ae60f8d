#pragma once

// The events an analysis ends with, written to the outbox in the caller's transaction.

#include <pqxx/pqxx>
#include <sluice/analysis/analysis.hpp>
#include <sluice/core/clock.hpp>
#include <string>
#include <vector>

#include "watcher_repository.hpp"

namespace sluice::watcher {

void PublishFailed(pqxx::work& tx, const core::Clock& clock, const AnalysisRow& a,
                   analysis::Outcome outcome, const std::string& reason,
                   const std::vector<v1::Evidence>& evidence);
void PublishPassed(pqxx::work& tx, const core::Clock& clock, const AnalysisRow& a,
                   const std::vector<v1::Evidence>& measurements);

}  // namespace sluice::watcher
