#pragma once

// The metric-watcher's scheduled work: the analyzer's workers take the due analyses and measure
// them. Each step is claim (one short transaction), measure (Prometheus, no transaction open),
// record (a second transaction, refused when the claim is no longer the worker's).

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sluice/core/clock.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/pg/database.hpp>
#include <string_view>
#include <thread>
#include <vector>

#include "measure.hpp"
#include "watcher_metrics.hpp"

namespace sluice::watcher {

struct AnalyzerDeps {
  pg::Database& db;
  MetricProvider& provider;
  const core::Clock& clock;
  WatcherMetrics* metrics;  // null: none
};

struct AnalyzerOptions {
  std::chrono::milliseconds poll{200};
  int max_per_pass = 50;
  // Threads measuring at once. None holds a database connection while Prometheus answers.
  int workers = 4;
  // How long a claim lasts: a worker that dies mid-step leaves the analysis due again after it,
  // and a worker slower than it has its result refused. Longer than a step's queries (the
  // Prometheus client's attempts and timeouts).
  std::chrono::milliseconds claim_lease{std::chrono::seconds(60)};
};

// The workers: each claims due analyses (FOR UPDATE SKIP LOCKED in the claim, so workers and
// replicas share them) until none is due; then waits for the poll interval or a Wake().
class Analyzer final : public core::Component {
 public:
  Analyzer(AnalyzerDeps deps, AnalyzerOptions options);
  ~Analyzer() override;
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;
  std::string_view Name() const override { return "analyzer"; }
  void Start() override;
  void Stop() override;
  // Steps due analyses until none is due or max_per_pass; returns how many were claimed.
  int RunOnce();
  // One step of the analysis due first; false when none is due.
  bool StepOne();
  void Wake();

 private:
  void Run();

  AnalyzerDeps deps_;
  AnalyzerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::vector<std::thread> threads_;  // last: stopped first
};

}  // namespace sluice::watcher
