#pragma once

// One step of a claimed analysis, in two halves so that no database transaction is open while
// Prometheus answers (DESIGN.md invariant 9):
//   MeasureStep  takes the due measurements (network I/O, no transaction) and advances the
//                rules' progress in memory;
//   RecordStep   writes them in one transaction, guarded by the claim, and decides the run
//                (AnalysisPassed / AnalysisFailed) or reschedules it.

#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <string>
#include <vector>

#include "measure.hpp"
#include "run.hpp"
#include "watcher_metrics.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {

struct StepResult {
  core::SystemTime now{};      // when the step measured
  std::string template_error;  // not empty: the analysis has no template (it ends in Error)
  bool bake_over = false;
  std::vector<RuleRow> rules;         // every rule, advanced where measured
  std::vector<MeasurementRow> taken;  // the measurements of this step
  std::vector<RuleState> states;      // every rule's outcome now
  std::map<std::string, v1::Severity> severities;
  std::optional<core::SystemTime> next_due;  // the earliest rule due next
};

// Measures the due rules of `a` at `now` through `provider`. Touches no database: call it with
// no transaction open. `metrics` may be null.
StepResult MeasureStep(const AnalysisRow& a, std::vector<RuleRow> rules, MetricProvider& provider,
                       core::SystemTime now, WatcherMetrics* metrics);

enum class StepWrite {
  kStale,        // the claim is no longer the caller's (cancelled, finished, claimed again)
  kRescheduled,  // measured; the run goes on
  kDecided,      // the run ended; AnalysisPassed / AnalysisFailed is in the outbox
};

// Writes a step of the analysis claimed as `a` (a.claim_token) in `tx`; writes nothing when
// the claim is stale.
StepWrite RecordStep(pqxx::work& tx, const AnalysisRow& a, const StepResult& step,
                     const core::Clock& clock);

}  // namespace sluice::watcher
