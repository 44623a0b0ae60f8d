#include "watcher_worker.hpp"

#include <algorithm>
#include <optional>
#include <sluice/core/logging.hpp>
#include <sluice/service/poll_loop.hpp>

#include "analysis_step.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {
namespace {

struct Claimed {
  AnalysisRow analysis;
  std::vector<RuleRow> rules;
};

}  // namespace

Analyzer::Analyzer(AnalyzerDeps deps, AnalyzerOptions options) : deps_(deps), options_(options) {}

Analyzer::~Analyzer() { Stop(); }

void Analyzer::Start() {
  std::lock_guard lock(mu_);
  stop_ = false;
  for (int i = 0; i < std::max(1, options_.workers); ++i) threads_.emplace_back([this] { Run(); });
}

void Analyzer::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Analyzer::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

bool Analyzer::StepOne() {
  // 1. Claim, and commit: no row stays locked and no connection stays taken while measuring.
  const auto claimed = deps_.db.WithTransaction([&](pqxx::work& tx) -> std::optional<Claimed> {
    auto a = ClaimDueAnalysis(tx, deps_.clock.Now(), options_.claim_lease);
    if (!a) return std::nullopt;
    auto rules = LoadRules(tx, a->id);
    return Claimed{std::move(*a), std::move(rules)};
  });
  if (!claimed) return false;
  // 2. Measure with no transaction open (network I/O).
  const auto& a = claimed->analysis;
  const StepResult step =
      MeasureStep(a, claimed->rules, deps_.provider, deps_.clock.Now(), deps_.metrics);
  // 3. Record, only while the claim is still this worker's.
  const StepWrite wrote = deps_.db.WithTransaction(
      [&](pqxx::work& tx) { return RecordStep(tx, a, step, deps_.clock); });
  if (wrote == StepWrite::kStale) {
    core::Logger("analyzer")
        ->info(
            "analysis {}: measured, but no longer this worker's (cancelled, finished or claimed "
            "again): result dropped",
            a.id);
  }
  return true;
}

int Analyzer::RunOnce() {
  int handled = 0;
  while (handled < options_.max_per_pass) {
    if (!StepOne()) break;
    ++handled;
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
  }
  return handled;
}

void Analyzer::Run() {
  service::RunPollLoop("analyzer", {mu_, cv_, stop_, wake_}, options_.poll, options_.max_per_pass,
                       [this] { return RunOnce(); });
}

}  // namespace sluice::watcher
