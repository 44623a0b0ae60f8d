#pragma once

// Incidents the chart tests draw (incident_test.cpp checks their structure,
// incident_png_test.cpp renders them to PNG; scripts/incident-charts.sh keeps the PNGs under
// docs/ for review). Fixed times: the charts do not depend on the clock.

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "incident.hpp"

namespace sluice::rollback::testdata {

inline constexpr std::int64_t kPlannedMs = 1'765'000'000'000;  // 2025-12-06T05:46:40Z
inline constexpr std::int64_t kStepMs = 5'000;

// A series of the snapshot from `from` to `to` (ms after planning), its value at each time.
template <typename Value>
SnapshotSeries MakeSeries(const std::string& host, SeriesRole role, std::int64_t from,
                          std::int64_t to, Value value) {
  SnapshotSeries s;
  s.labels = {{"instance_name", host}};
  s.role = role;
  for (std::int64_t t = from; t <= to; t += kStepMs) s.points.push_back({kPlannedMs + t, value(t)});
  return s;
}

// A canary of three batches of two hosts: batch 2's h3 starts failing a minute after its
// start, the analysis fails and batch 2 is rolled back; h5 and h6 (batch 3) stayed on v2. The
// snapshot runs from 5 minutes before planning to the report, as the worker queries it.
inline Incident CanaryFailure() {
  Incident in;
  in.id = "inc-7f3a";
  in.deployment_id = "dep-42";
  in.rollback_id = "rb-9";
  in.app = "demo-app";
  in.env = "production";
  in.version = "v3";
  in.target_version = "v2";
  in.trigger = "analysis_failed";
  in.trigger_actor = "metric-watcher";
  in.scope = "batches";
  in.batches = {1};
  in.success = true;
  in.final_status = "failed";
  in.reverted_hosts = {"h3", "h4"};
  in.started_at_ms = kPlannedMs + 250'000;
  in.completed_at_ms = kPlannedMs + 262'000;
  in.created_at_ms = kPlannedMs + 270'000;
  in.report_url = "http://127.0.0.1:8080/v1/incidents/inc-7f3a";
  in.chart_url = in.report_url + "/chart.svg";
  in.evidence.push_back(
      {"error_rate", "q", 0.05, 0.31, ">", "critical", {"h3"}, "error_rate 0.31 > 0.05 on h3"});
  in.timeline = {{kPlannedMs, "DeploymentPlanned", "rollout-planner", "3 batches"},
                 {kPlannedMs + 5'000, "BatchRequested", "rollout-planner", "batch 1"},
                 {kPlannedMs + 125'000, "BatchRequested", "rollout-planner", "batch 2"},
                 {kPlannedMs + 250'000, "RollbackStarted", "rollback-agent", "batch 2"},
                 {kPlannedMs + 262'000, "RollbackCompleted", "rollback-agent", "reverted"}};
  in.batch_starts = {{kPlannedMs + 5'000, 0}, {kPlannedMs + 125'000, 1}};
  Snapshot& s = in.snapshot;
  s.available = true;
  s.metric = "error_rate";
  s.query = "sum by (instance_name) (rate(errors{instance_name=~\"h1|h2|h3|h4\"}[30s]))";
  s.baseline_query = "sum by (instance_name) (rate(errors{instance_name=~\"h5|h6\"}[30s]))";
  s.start_ms = kPlannedMs - 300'000;
  s.end_ms = kPlannedMs + 270'000;
  s.step_ms = kStepMs;
  s.threshold = 0.05;
  const auto noise = [](std::int64_t t, double base) {
    return base + 0.004 * std::sin(static_cast<double>(t) / 17'000.0);
  };
  // The hosts report from their batch's start on (before it they ran v2, another series).
  s.series.push_back(MakeSeries("h1", SeriesRole::kCanary, 5'000, 270'000,
                                [&](std::int64_t t) { return noise(t, 0.012); }));
  s.series.push_back(MakeSeries("h2", SeriesRole::kCanary, 5'000, 270'000,
                                [&](std::int64_t t) { return noise(t + 4'000, 0.01); }));
  s.series.push_back(MakeSeries("h3", SeriesRole::kCanary, 125'000, 262'000, [&](std::int64_t t) {
    return t < 185'000 ? noise(t, 0.015) : std::min(0.34, 0.015 + (t - 185'000) / 150'000.0);
  }));
  s.series.push_back(MakeSeries("h4", SeriesRole::kCanary, 125'000, 262'000,
                                [&](std::int64_t t) { return noise(t + 9'000, 0.02); }));
  for (const char* host : {"h5", "h6"}) {
    s.series.push_back(
        MakeSeries(host, SeriesRole::kBaseline, -300'000, 270'000,
                   [&](std::int64_t t) { return noise(t + host[1] * 1000, 0.011); }));
  }
  return in;
}

// Batch starts and the rollback seconds apart: their labels must still not collide.
inline Incident CloseEvents() {
  Incident in = CanaryFailure();
  in.id = "inc-close";
  in.batch_starts = {{kPlannedMs + 5'000, 0},
                     {kPlannedMs + 6'000, 1},
                     {kPlannedMs + 8'000, 2},
                     {kPlannedMs + 9'000, 3}};
  in.batches = {2, 3};
  in.started_at_ms = kPlannedMs + 10'000;
  in.completed_at_ms = kPlannedMs + 12'000;
  return in;
}

// A report stored before the baseline was queried: its series carry no role (canary), and a
// two-hour lookback of which the deployment is the last minutes.
inline Incident WithoutBaseline() {
  Incident in = CanaryFailure();
  in.id = "inc-old";
  Snapshot& s = in.snapshot;
  s.baseline_query.clear();
  s.baseline_unavailable_reason = "no host was still on the stable version";
  s.start_ms = kPlannedMs - 7'200'000;
  s.step_ms = 30'000;
  std::vector<SnapshotSeries> kept;
  for (auto& x : s.series) {
    if (x.role != SeriesRole::kCanary) continue;
    kept.push_back(std::move(x));
  }
  s.series = std::move(kept);
  return in;
}

// Prometheus did not answer: the markers are still drawn, the chart says why there are no
// series.
inline Incident SnapshotUnavailable() {
  Incident in = CanaryFailure();
  in.id = "inc-down";
  in.snapshot = Snapshot{};
  in.snapshot.metric = "error_rate";
  in.snapshot.unavailable_reason = "Prometheus answered 503";
  return in;
}

struct Example {
  std::string name;
  Incident incident;
};

inline std::vector<Example> Examples() {
  return {{"canary", CanaryFailure()},
          {"close-events", CloseEvents()},
          {"without-baseline", WithoutBaseline()},
          {"unavailable", SnapshotUnavailable()}};
}

// The sizes chat and mail clients show the chart at.
inline const std::vector<std::pair<int, int>>& Sizes() {
  static const std::vector<std::pair<int, int>> kSizes = {{800, 400}, {600, 300}};
  return kSizes;
}

}  // namespace sluice::rollback::testdata
