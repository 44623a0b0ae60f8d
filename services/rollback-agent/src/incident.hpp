#pragma once

// The incident report written after every rollback, and its renderings (JSON, Markdown, an SVG
// chart of the metric snapshot). Pure: the data is gathered by the component.

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::rollback {

struct TimelineEntry {
  std::int64_t at_ms = 0;
  std::string kind;    // "DeploymentPlanned", "BatchRequested", ...
  std::string actor;   // the producing service, or the operator
  std::string detail;  // one line
};

struct DeployLogEntry {
  std::int64_t at_ms = 0;
  std::string host;
  std::uint32_t batch = 0;
  std::string status;
  std::string version;
  std::string error;
};

struct EvidenceView {
  std::string metric;
  std::string query;  // the resolved PromQL
  double threshold = 0;
  double observed = 0;
  std::string comparator;
  std::string severity;
  std::vector<std::string> affected_instances;
  std::string message;
};

struct SnapshotPoint {
  std::int64_t at_ms = 0;
  double value = 0;
};

// Whose series: the canary's (the evidence's query, the hosts on the new version) or the
// baseline's (the same query over the hosts still on the stable version).
enum class SeriesRole { kCanary, kBaseline };

struct SnapshotSeries {
  std::map<std::string, std::string> labels;
  std::vector<SnapshotPoint> points;
  SeriesRole role = SeriesRole::kCanary;  // stored as "role"; a report without it: canary
};

// The trigger's metric from before the deployment through the rollback (query_range).
struct Snapshot {
  bool available = false;
  std::string unavailable_reason;  // set when !available
  std::string metric;
  std::string query;
  std::int64_t start_ms = 0, end_ms = 0, step_ms = 0;
  std::optional<double> threshold;
  std::vector<SnapshotSeries> series;  // the canary's, then the baseline's
  // The query of the baseline's series (BaselineQueryOf in evidence.hpp), and why there are
  // none when it could not be derived or answered (empty when they were had).
  std::string baseline_query;
  std::string baseline_unavailable_reason;
};

struct BatchMark {
  std::int64_t at_ms = 0;
  std::uint32_t batch = 0;  // 0-based
};

struct Incident {
  std::string id;
  std::string deployment_id;
  std::string rollback_id;
  std::string app, env, version, target_version, target_release_id;
  std::string trigger;        // analysis_failed | alert | operator
  std::string trigger_actor;  // who or what triggered it
  std::string scope;          // batches | deployment
  std::vector<std::uint32_t> batches;
  std::string summary;
  bool success = false;
  std::string final_status;  // failed | rolled_back
  std::vector<std::string> reverted_hosts, failed_hosts;
  std::int64_t started_at_ms = 0, completed_at_ms = 0, created_at_ms = 0;
  std::string report_url, chart_url;
  std::vector<EvidenceView> evidence;
  std::vector<TimelineEntry> timeline;
  Snapshot snapshot;
  std::vector<BatchMark> batch_starts;
  std::vector<DeployLogEntry> deploy_log;
  std::map<std::string, std::string> result;  // host -> version it runs now
};

nlohmann::json IncidentToJson(const Incident& incident);
Incident IncidentFromJson(const nlohmann::json& j);

// Sections: Summary, Trigger, Timeline, Metric snapshot (a few points and the chart link),
// Deploy log, Result.
std::string RenderMarkdown(const Incident& incident);

// A self-contained SVG (width x height), made to be read at a glance at the sizes chat and
// mail clients show (800x400, 600x300): the time window from shortly before the first batch
// start to shortly after the rollback (else the last timeline event), not the whole lookback;
// the canary's series (thick, orange) and the baseline's (thin, blue) as polylines with a
// legend; the threshold as a dashed line; a vertical marker at each batch start and at the
// rollback, their labels on as many rows as keep them apart; axes with round ticks and the
// title. When the snapshot is unavailable the chart says so (the markers are still drawn).
std::string RenderChartSvg(const Incident& incident, int width = 800, int height = 400);

// The chart's estimate of a text's width in pixels: 0.6 em per character (code point), on the
// wide side for sans-serif fonts, so boxes laid out apart by it stay apart when rendered.
double EstimateTextWidth(std::string_view text, double font_size);

// The query_range step for [start, end]: whole seconds, at least 1 s, at most 300 points.
std::chrono::milliseconds ChooseStep(std::int64_t start_ms, std::int64_t end_ms);

// Escapes &, <, >, " and ' for XML text and attributes.
std::string XmlEscape(std::string_view s);

}  // namespace sluice::rollback
