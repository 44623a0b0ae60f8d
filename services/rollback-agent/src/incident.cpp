#include "incident.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iterator>
#include <limits>
#include <sstream>
#include <tuple>
#include <utility>

namespace sluice::rollback {
namespace {

using json = nlohmann::json;

std::string Rfc3339(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return out;
}

std::string ClockTime(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream os;
  os.precision(4);
  os << v;
  return os.str();
}

// Markdown table cells: pipes and newlines would break the row.
std::string Cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += sep;
    out += v[i];
  }
  return out;
}

std::string SeriesName(const SnapshotSeries& s) {
  for (const char* key : {"instance_name", "instance", "host"}) {
    const auto it = s.labels.find(key);
    if (it != s.labels.end()) return it->second;
  }
  if (s.labels.empty()) return "series";
  std::string out;
  for (const auto& [k, v] : s.labels) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out;
}

}  // namespace

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab / newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::chrono::milliseconds ChooseStep(std::int64_t start_ms, std::int64_t end_ms) {
  const std::int64_t span = std::max<std::int64_t>(end_ms - start_ms, 0);
  // ceil(span / 299) so that span / step + 1 <= 300, rounded up to whole seconds.
  std::int64_t step = (span + 298) / 299;
  step = std::max<std::int64_t>(((step + 999) / 1000) * 1000, 1000);
  return std::chrono::milliseconds(step);
}

// ---- JSON ---------------------------------------------------------------------------------

namespace {

json SnapshotToJson(const Snapshot& s) {
  json series = json::array();
  for (const auto& x : s.series) {
    json points = json::array();
    for (const auto& p : x.points) {
      points.push_back({p.at_ms, std::isfinite(p.value) ? json(p.value) : json(nullptr)});
    }
    series.push_back({{"labels", x.labels},
                      {"points", points},
                      {"role", x.role == SeriesRole::kBaseline ? "baseline" : "canary"}});
  }
  return {{"available", s.available},
          {"unavailable_reason", s.unavailable_reason},
          {"metric", s.metric},
          {"query", s.query},
          {"start", s.start_ms ? json(Rfc3339(s.start_ms)) : json(nullptr)},
          {"start_ms", s.start_ms},
          {"end_ms", s.end_ms},
          {"step_ms", s.step_ms},
          {"threshold", s.threshold ? json(*s.threshold) : json(nullptr)},
          {"series", series},
          {"baseline_query", s.baseline_query},
          {"baseline_unavailable_reason", s.baseline_unavailable_reason}};
}

Snapshot SnapshotFromJson(const json& j) {
  Snapshot s;
  s.available = j.value("available", false);
  s.unavailable_reason = j.value("unavailable_reason", "");
  s.metric = j.value("metric", "");
  s.query = j.value("query", "");
  s.start_ms = j.value("start_ms", std::int64_t{0});
  s.end_ms = j.value("end_ms", std::int64_t{0});
  s.step_ms = j.value("step_ms", std::int64_t{0});
  if (j.contains("threshold") && j["threshold"].is_number()) {
    s.threshold = j["threshold"].get<double>();
  }
  for (const auto& x : j.value("series", json::array())) {
    SnapshotSeries series;
    series.labels = x.value("labels", std::map<std::string, std::string>{});
    for (const auto& p : x.value("points", json::array())) {
      series.points.push_back(
          {p.at(0).get<std::int64_t>(),
           p.at(1).is_number() ? p.at(1).get<double>() : std::numeric_limits<double>::quiet_NaN()});
    }
    series.role = x.value("role", "") == "baseline" ? SeriesRole::kBaseline : SeriesRole::kCanary;
    s.series.push_back(std::move(series));
  }
  s.baseline_query = j.value("baseline_query", "");
  s.baseline_unavailable_reason = j.value("baseline_unavailable_reason", "");
  return s;
}

}  // namespace

json IncidentToJson(const Incident& in) {
  json evidence = json::array();
  for (const auto& e : in.evidence) {
    evidence.push_back({{"metric", e.metric},
                        {"query", e.query},
                        {"threshold", e.threshold},
                        {"observed", std::isfinite(e.observed) ? json(e.observed) : json(nullptr)},
                        {"comparator", e.comparator},
                        {"severity", e.severity},
                        {"affected_instances", e.affected_instances},
                        {"message", e.message}});
  }
  json timeline = json::array();
  for (const auto& t : in.timeline) {
    timeline.push_back({{"at", Rfc3339(t.at_ms)},
                        {"at_ms", t.at_ms},
                        {"kind", t.kind},
                        {"actor", t.actor},
                        {"detail", t.detail}});
  }
  json log = json::array();
  for (const auto& d : in.deploy_log) {
    log.push_back({{"at", Rfc3339(d.at_ms)},
                   {"at_ms", d.at_ms},
                   {"host", d.host},
                   {"batch", d.batch},
                   {"status", d.status},
                   {"version", d.version},
                   {"error", d.error}});
  }
  json marks = json::array();
  for (const auto& m : in.batch_starts) marks.push_back({{"at_ms", m.at_ms}, {"batch", m.batch}});
  return {{"id", in.id},
          {"deployment_id", in.deployment_id},
          {"rollback_id", in.rollback_id},
          {"app", in.app},
          {"env", in.env},
          {"version", in.version},
          {"target_version", in.target_version},
          {"target_release_id", in.target_release_id},
          {"trigger", in.trigger},
          {"trigger_actor", in.trigger_actor},
          {"scope", in.scope},
          {"batches", in.batches},
          {"summary", in.summary},
          {"success", in.success},
          {"final_status", in.final_status},
          {"reverted_hosts", in.reverted_hosts},
          {"failed_hosts", in.failed_hosts},
          {"started_at", Rfc3339(in.started_at_ms)},
          {"started_at_ms", in.started_at_ms},
          {"completed_at", Rfc3339(in.completed_at_ms)},
          {"completed_at_ms", in.completed_at_ms},
          {"created_at", Rfc3339(in.created_at_ms)},
          {"created_at_ms", in.created_at_ms},
          {"report_url", in.report_url},
          {"chart_url", in.chart_url},
          {"evidence", evidence},
          {"timeline", timeline},
          {"snapshot", SnapshotToJson(in.snapshot)},
          {"batch_starts", marks},
          {"deploy_log", log},
          {"result", in.result}};
}

Incident IncidentFromJson(const json& j) {
  Incident in;
  in.id = j.value("id", "");
  in.deployment_id = j.value("deployment_id", "");
  in.rollback_id = j.value("rollback_id", "");
  in.app = j.value("app", "");
  in.env = j.value("env", "");
  in.version = j.value("version", "");
  in.target_version = j.value("target_version", "");
  in.target_release_id = j.value("target_release_id", "");
  in.trigger = j.value("trigger", "");
  in.trigger_actor = j.value("trigger_actor", "");
  in.scope = j.value("scope", "");
  in.batches = j.value("batches", std::vector<std::uint32_t>{});
  in.summary = j.value("summary", "");
  in.success = j.value("success", false);
  in.final_status = j.value("final_status", "");
  in.reverted_hosts = j.value("reverted_hosts", std::vector<std::string>{});
  in.failed_hosts = j.value("failed_hosts", std::vector<std::string>{});
  in.started_at_ms = j.value("started_at_ms", std::int64_t{0});
  in.completed_at_ms = j.value("completed_at_ms", std::int64_t{0});
  in.created_at_ms = j.value("created_at_ms", std::int64_t{0});
  in.report_url = j.value("report_url", "");
  in.chart_url = j.value("chart_url", "");
  for (const auto& e : j.value("evidence", json::array())) {
    EvidenceView v;
    v.metric = e.value("metric", "");
    v.query = e.value("query", "");
    v.threshold = e.value("threshold", 0.0);
    v.observed = e.contains("observed") && e["observed"].is_number()
                     ? e["observed"].get<double>()
                     : std::numeric_limits<double>::quiet_NaN();
    v.comparator = e.value("comparator", "");
    v.severity = e.value("severity", "");
    v.affected_instances = e.value("affected_instances", std::vector<std::string>{});
    v.message = e.value("message", "");
    in.evidence.push_back(std::move(v));
  }
  for (const auto& t : j.value("timeline", json::array())) {
    in.timeline.push_back({t.value("at_ms", std::int64_t{0}), t.value("kind", ""),
                           t.value("actor", ""), t.value("detail", "")});
  }
  if (j.contains("snapshot")) in.snapshot = SnapshotFromJson(j["snapshot"]);
  for (const auto& m : j.value("batch_starts", json::array())) {
    in.batch_starts.push_back({m.value("at_ms", std::int64_t{0}), m.value("batch", 0u)});
  }
  for (const auto& d : j.value("deploy_log", json::array())) {
    in.deploy_log.push_back({d.value("at_ms", std::int64_t{0}), d.value("host", ""),
                             d.value("batch", 0u), d.value("status", ""), d.value("version", ""),
                             d.value("error", "")});
  }
  in.result = j.value("result", std::map<std::string, std::string>{});
  return in;
}

// ---- Markdown -----------------------------------------------------------------------------

namespace {

void WriteOverview(std::ostringstream& md, const Incident& in) {
  md << "# Incident " << in.id << "\n\n";
  md << "## Summary\n\n" << in.summary << "\n\n";
  md << "| | |\n|---|---|\n";
  md << "| App | " << Cell(in.app) << " |\n";
  md << "| Environment | " << Cell(in.env) << " |\n";
  md << "| Deployment | " << Cell(in.deployment_id) << " |\n";
  md << "| Rollback | " << Cell(in.rollback_id) << " |\n";
  md << "| Version | " << Cell(in.version) << " → " << Cell(in.target_version) << " |\n";
  md << "| Scope | " << Cell(in.scope);
  if (!in.batches.empty()) {
    std::vector<std::string> b;
    for (auto i : in.batches) b.push_back(std::to_string(i + 1));
    md << " (batch " << Join(b, ", ") << ")";
  }
  md << " |\n";
  md << "| Outcome | " << (in.success ? "reverted" : "revert failed") << ", deployment "
     << Cell(in.final_status) << " |\n";
  md << "| Started | " << Rfc3339(in.started_at_ms) << " |\n";
  md << "| Completed | " << Rfc3339(in.completed_at_ms) << " |\n\n";
}

void WriteTrigger(std::ostringstream& md, const Incident& in) {
  md << "## Trigger\n\n";
  md << "Trigger: **" << Cell(in.trigger) << "**";
  if (!in.trigger_actor.empty()) md << " (" << Cell(in.trigger_actor) << ")";
  md << "\n\n";
  if (in.evidence.empty()) {
    md << "No metric evidence.\n\n";
    return;
  }
  md << "| Metric | Observed | Threshold | Severity | Affected instances |\n";
  md << "|---|---|---|---|---|\n";
  for (const auto& e : in.evidence) {
    md << "| " << Cell(e.metric) << " | " << Num(e.observed) << " | " << Cell(e.comparator) << " "
       << Num(e.threshold) << " | " << Cell(e.severity) << " | "
       << Cell(Join(e.affected_instances, ", ")) << " |\n";
  }
  md << "\n";
  for (const auto& e : in.evidence) {
    if (!e.message.empty()) md << "- " << e.message << "\n";
    if (!e.query.empty()) md << "\n```promql\n" << e.query << "\n```\n";
  }
  md << "\n";
}

void WriteSnapshot(std::ostringstream& md, const Incident& in) {
  md << "## Metric snapshot\n\n";
  if (!in.snapshot.available) {
    md << "snapshot unavailable: " << in.snapshot.unavailable_reason << "\n\n";
  } else {
    md << "`" << in.snapshot.query << "` from " << Rfc3339(in.snapshot.start_ms) << " to "
       << Rfc3339(in.snapshot.end_ms) << ", step " << in.snapshot.step_ms / 1000 << "s";
    if (in.snapshot.threshold) md << ", threshold " << Num(*in.snapshot.threshold);
    md << ".\n\n";
    if (!in.snapshot.baseline_query.empty()) {
      md << "Baseline (the hosts still on the stable version): `" << in.snapshot.baseline_query
         << "`.\n\n";
    }
    if (!in.snapshot.baseline_unavailable_reason.empty()) {
      md << "No baseline series: " << in.snapshot.baseline_unavailable_reason << ".\n\n";
    }
    md << "| Series | Points | Last values |\n|---|---|---|\n";
    for (const auto& s : in.snapshot.series) {
      std::vector<std::string> last;
      const std::size_t from = s.points.size() > 5 ? s.points.size() - 5 : 0;
      for (std::size_t i = from; i < s.points.size(); ++i) {
        last.push_back(ClockTime(s.points[i].at_ms) + " " + Num(s.points[i].value));
      }
      md << "| " << Cell(SeriesName(s)) << (s.role == SeriesRole::kBaseline ? " (baseline)" : "")
         << " | " << s.points.size() << " | " << Cell(Join(last, "; ")) << " |\n";
    }
    md << "\n";
  }
  md << "Chart: " << in.chart_url << "\n\n";
}

void WriteLogs(std::ostringstream& md, const Incident& in) {
  md << "## Deploy log\n\n| Time (UTC) | Host | Batch | Status | Version | Error |\n"
        "|---|---|---|---|---|---|\n";
  for (const auto& d : in.deploy_log) {
    md << "| " << Rfc3339(d.at_ms) << " | " << Cell(d.host) << " | " << d.batch + 1 << " | "
       << Cell(d.status) << " | " << Cell(d.version) << " | " << Cell(d.error) << " |\n";
  }
  md << "\n";

  md << "## Result\n\n| Host | Runs now |\n|---|---|\n";
  for (const auto& [host, version] : in.result) {
    md << "| " << Cell(host) << " | " << Cell(version) << " |\n";
  }
  if (!in.failed_hosts.empty()) {
    md << "\nNot reverted: " << Join(in.failed_hosts, ", ") << "\n";
  }
}

}  // namespace

std::string RenderMarkdown(const Incident& in) {
  std::ostringstream md;
  WriteOverview(md, in);
  WriteTrigger(md, in);
  md << "## Timeline\n\n| Time (UTC) | Event | Actor | Detail |\n|---|---|---|---|\n";
  for (const auto& t : in.timeline) {
    md << "| " << Rfc3339(t.at_ms) << " | " << Cell(t.kind) << " | " << Cell(t.actor) << " | "
       << Cell(t.detail) << " |\n";
  }
  md << "\n";
  WriteSnapshot(md, in);
  WriteLogs(md, in);
  return md.str();
}

// ---- SVG ----------------------------------------------------------------------------------

namespace {

std::string F(double v) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(1);
  os << v;
  return os.str();
}

constexpr std::int64_t kSecondMs = 1000;
constexpr const char* kCanaryColor = "#e8590c";
constexpr const char* kBaselineColor = "#1c7ed6";
constexpr const char* kThresholdColor = "#c92a2a";
constexpr const char* kBatchColor = "#495057";
constexpr const char* kRollbackColor = "#862e9c";
constexpr const char* kTextColor = "#212529";
constexpr const char* kGridColor = "#e9ecef";
constexpr double kLabelGap = 6;   // the least room between two labels on a row
constexpr double kEdge = 8;       // the margin kept clear at the chart's edges
constexpr double kSwatch = 22;    // the legend's line sample
constexpr double kMinPlotH = 60;  // the plot keeps at least this height

// Font sizes and row heights for the chart's size: a 600x300 chart in a mail client and an
// 800x400 one in Slack both read without zooming.
struct Style {
  double font = 12, tick_font = 11, title_font = 15, row = 18;
};

Style StyleFor(int width, int height) {
  const double base = width >= 700 && height >= 350 ? 13 : 12;
  return {base, base - 1, base + 3, base + 6};
}

// The text cut to fit `max_width` by the estimate, ending in an ellipsis when cut.
std::string Fit(const std::string& text, double font_size, double max_width) {
  if (EstimateTextWidth(text, font_size) <= max_width) return text;
  std::string out = text;
  while (!out.empty() && EstimateTextWidth(out + "…", font_size) > max_width) {
    out.pop_back();
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  }
  return out + "…";
}

// The time the chart shows: from shortly before the first batch start to shortly after the
// rollback; without those, the timeline's events; without those, the snapshot's range.
std::pair<std::int64_t, std::int64_t> ChartWindow(const Incident& in) {
  std::int64_t first = 0, last = 0;
  auto see = [&](std::int64_t t) {
    if (t <= 0) return;
    first = first == 0 ? t : std::min(first, t);
    last = std::max(last, t);
  };
  for (const auto& m : in.batch_starts) see(m.at_ms);
  see(in.started_at_ms);
  see(in.completed_at_ms);
  if (in.batch_starts.empty() || in.started_at_ms <= 0) {
    for (const auto& t : in.timeline) see(t.at_ms);
  }
  if (first == 0) {
    see(in.snapshot.start_ms);
    see(in.snapshot.end_ms);
    for (const auto& x : in.snapshot.series) {
      for (const auto& p : x.points) see(p.at_ms);
    }
  }
  const std::int64_t pad = std::max<std::int64_t>((last - first) / 10, 15 * kSecondMs);
  return {first - pad, last + pad};
}

// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
double NiceStep(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double f : {1.0, 2.0, 2.5, 5.0}) {
    if (raw <= f * p * (1 + 1e-9)) return f * p;
  }
  return 10 * p;
}

// A marker line and its label: a batch start or the rollback.
struct Marker {
  std::int64_t at_ms = 0;
  bool rollback = false;
  std::uint32_t batch = 0;  // 0-based
  double x = 0;             // of the line
  bool labelled = true;     // false: a batch named by the label of the run it belongs to
  std::string text;
  double x0 = 0, x1 = 0;    // of the label's box
  bool end_anchor = false;  // the label ends at the line (its left) instead of starting there
  int row = 0;
};

struct LegendItem {
  std::string text;
  std::string cls;
  const char* color = kTextColor;
  double stroke_width = 2;
  std::string dash;
  double x = 0;
  int row = 0;
};

// The layout: the ranges, the plot's box, the ticks, the markers and the legend, all placed
// before anything is written.
struct ChartLayout {
  Style style;
  int width = 0, height = 0;
  std::int64_t t0 = 0, t1 = 0;
  double lo = 0, hi = 1, y_step = 1;
  double left = 0, right = 0, top = 0, bottom = 0, pw = 0, ph = 0;
  std::vector<std::int64_t> x_ticks;
  bool tick_seconds = true;
  std::vector<Marker> markers;
  int marker_rows = 0;
  std::vector<LegendItem> legend;
  int legend_rows = 0;

  double X(std::int64_t t) const {
    return left + pw * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
  }
  double Y(double v) const { return top + ph * (1.0 - (v - lo) / (hi - lo)); }
  double MarkerRowY(int row) const { return style.title_font + 14 + style.row * (row + 1); }
};

bool Visible(const ChartLayout& l, const SnapshotPoint& p) {
  return std::isfinite(p.value) && p.at_ms >= l.t0 && p.at_ms <= l.t1;
}

// Values from zero (or below) through the threshold and every point in the window, with a
// little headroom, rounded out to whole ticks.
void LayoutValues(ChartLayout& l, const Snapshot& s) {
  double min = std::numeric_limits<double>::infinity(), max = -min;
  for (const auto& x : s.series) {
    for (const auto& p : x.points) {
      if (!Visible(l, p)) continue;
      min = std::min(min, p.value);
      max = std::max(max, p.value);
    }
  }
  if (s.threshold && std::isfinite(*s.threshold)) {
    min = std::min(min, *s.threshold);
    max = std::max(max, *s.threshold);
  }
  double lo = std::isfinite(min) ? std::min(min, 0.0) : 0.0;
  double hi = std::isfinite(max) ? max : 1.0;
  if (hi <= lo) hi = lo + 1;
  hi += (hi - lo) * 0.08;
  l.y_step = NiceStep((hi - lo) / 4);
  l.lo = std::floor(lo / l.y_step) * l.y_step;
  l.hi = std::ceil(hi / l.y_step) * l.y_step;
}

std::string TickTime(std::int64_t ms, bool seconds) {
  const std::string t = ClockTime(ms);
  return seconds ? t : t.substr(0, 5);
}

// Round times as far apart as their labels need.
void LayoutTimeTicks(ChartLayout& l) {
  static constexpr std::int64_t kSteps[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                                            600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
  const double label_w = EstimateTextWidth("00:00:00", l.style.tick_font) + 2 * kLabelGap;
  const auto room = static_cast<std::int64_t>(std::max(1.0, std::floor(l.pw / label_w)));
  std::int64_t step = kSteps[std::size(kSteps) - 1] * kSecondMs;
  for (const auto s : kSteps) {
    const std::int64_t ms = s * kSecondMs;
    const std::int64_t first = (l.t0 + ms - 1) / ms, last = l.t1 / ms;
    if (last - first + 1 <= room) {
      step = ms;
      break;
    }
  }
  l.tick_seconds = step < 60 * kSecondMs;
  const double half = EstimateTextWidth(TickTime(l.t0, l.tick_seconds), l.style.tick_font) / 2;
  for (std::int64_t t = (l.t0 + step - 1) / step * step; t <= l.t1; t += step) {
    // A label that would pass the chart's edge is left out.
    if (l.X(t) - half >= kEdge / 2 && l.X(t) + half <= l.width - kEdge / 2) l.x_ticks.push_back(t);
  }
}

// Names a run of batches (0-based): "batch 2", "batches 1–4", "batches 1, 3".
std::string BatchesText(const std::vector<std::uint32_t>& batches) {
  if (batches.size() == 1) return "batch " + std::to_string(batches[0] + 1);
  const bool consecutive = batches.back() - batches.front() + 1 == batches.size();
  if (consecutive && batches.size() > 2) {
    return "batches " + std::to_string(batches.front() + 1) + "–" +
           std::to_string(batches.back() + 1);
  }
  std::vector<std::string> names;
  for (const auto b : batches) names.push_back(std::to_string(b + 1));
  return "batches " + Join(names, ", ");
}

// A run of batch starts within `merge` pixels of the run's first shares one label.
void GroupLabels(std::vector<Marker>& markers, double merge) {
  std::optional<std::size_t> lead;
  std::vector<std::uint32_t> run;
  auto close = [&] {
    if (lead) markers[*lead].text = BatchesText(run);
    lead.reset();
    run.clear();
  };
  for (std::size_t i = 0; i < markers.size(); ++i) {
    Marker& m = markers[i];
    if (m.rollback) {
      close();
      m.labelled = true;
      m.text = "rollback";
    } else if (lead && m.x - markers[*lead].x <= merge) {
      m.labelled = false;
      run.push_back(m.batch);
    } else {
      close();
      lead = i;
      run.push_back(m.batch);
      m.labelled = true;
    }
  }
  close();
}

// Each label goes on the first row where it keeps kLabelGap from every label already there:
// right of its line, else left of it; a label never passes the chart's edges. Returns the
// rows used.
int PlaceLabels(std::vector<Marker>& markers, double width, double font) {
  std::vector<std::vector<std::pair<double, double>>> rows;
  auto fits = [&](std::size_t row, double x0, double x1) {
    if (x0 < kEdge || x1 > width - kEdge) return false;
    if (row >= rows.size()) return true;
    return std::none_of(rows[row].begin(), rows[row].end(), [&](const auto& b) {
      return x0 < b.second + kLabelGap && b.first < x1 + kLabelGap;
    });
  };
  for (auto& m : markers) {
    if (!m.labelled) continue;
    const double w = EstimateTextWidth(m.text, font);
    // A run's label (its lines to the right) prefers the left of its first line.
    const bool left_first = m.text.starts_with("batches");
    std::size_t row = 0;
    for (;; ++row) {
      const bool right = fits(row, m.x + 4, m.x + 4 + w);
      const bool left = fits(row, m.x - 4 - w, m.x - 4);
      if (right || left) {
        m.end_anchor = left && (left_first || !right);
        m.x0 = m.end_anchor ? m.x - 4 - w : m.x + 4;
        break;
      }
      if (row > markers.size()) {  // wider than the chart: on a row of its own
        m.x0 = std::clamp(m.x + 4, kEdge, std::max(kEdge, width - kEdge - w));
        m.end_anchor = false;
        break;
      }
    }
    m.x1 = m.x0 + w;
    m.row = static_cast<int>(row);
    if (rows.size() <= row) rows.resize(row + 1);
    rows[row].emplace_back(m.x0, m.x1);
  }
  return static_cast<int>(rows.size());
}

// The labels on at most two rows (three on a chart 350 px high or more): when they need more,
// runs of close batch starts share a label, over ever wider runs.
void PlaceMarkerLabels(ChartLayout& l) {
  for (auto& m : l.markers) m.x = l.X(m.at_ms);
  const int max_rows = l.height >= 350 ? 3 : 2;
  for (const double merge : {0.0, 24.0, 48.0, 96.0, 192.0, 1e9}) {
    GroupLabels(l.markers, merge);
    l.marker_rows = PlaceLabels(l.markers, l.width, l.style.font);
    if (l.marker_rows <= max_rows) return;
  }
}

bool Shown(const ChartLayout& l, const SnapshotSeries& x) {
  return std::any_of(x.points.begin(), x.points.end(),
                     [&](const SnapshotPoint& p) { return Visible(l, p); });
}

// Names of the first three series with a point in the window, then how many more.
std::string HostList(const ChartLayout& l, const Snapshot& s, SeriesRole role) {
  std::vector<std::string> names;
  for (const auto& x : s.series) {
    if (x.role == role && Shown(l, x)) names.push_back(SeriesName(x));
  }
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 3; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 3) out += ", +" + std::to_string(names.size() - 3);
  return out;
}

// The legend, left to right under the axis, wrapped into rows.
void LayoutLegend(ChartLayout& l, const Incident& in) {
  const Snapshot& s = in.snapshot;
  if (const auto hosts = HostList(l, s, SeriesRole::kCanary); !hosts.empty()) {
    const std::string version = in.version.empty() ? "" : " " + in.version;
    l.legend.push_back({"canary" + version + ": " + hosts, "legend canary", kCanaryColor, 3, ""});
  }
  if (const auto hosts = HostList(l, s, SeriesRole::kBaseline); !hosts.empty()) {
    const std::string stable = in.target_version.empty() ? "" : " " + in.target_version;
    l.legend.push_back(
        {"baseline" + stable + ": " + hosts, "legend baseline", kBaselineColor, 2, ""});
  }
  if (s.threshold && std::isfinite(*s.threshold)) {
    l.legend.push_back(
        {"threshold " + Num(*s.threshold), "legend threshold", kThresholdColor, 2, "6,4"});
  }
  // Rows from the left edge, each then centred under the chart.
  const double max_text = l.width - 2 * kEdge - kSwatch - 6;
  double x = kEdge;
  int row = 0;
  std::vector<double> row_end;
  for (auto& item : l.legend) {
    item.text = Fit(item.text, l.style.font, max_text);
    const double w = kSwatch + 6 + EstimateTextWidth(item.text, l.style.font);
    if (x > kEdge && x + w > l.width - kEdge) {
      x = kEdge;
      ++row;
    }
    item.x = x;
    item.row = row;
    if (row_end.size() <= static_cast<std::size_t>(row)) row_end.push_back(0);
    row_end[row] = x + w;
    x += w + 3 * kLabelGap;
  }
  for (auto& item : l.legend) item.x += (l.width - kEdge - row_end[item.row]) / 2 - kEdge / 2;
  l.legend_rows = l.legend.empty() ? 0 : row + 1;
}

std::vector<Marker> MarkersOf(const Incident& in, std::int64_t t0, std::int64_t t1) {
  std::vector<Marker> out;
  for (const auto& m : in.batch_starts) {
    if (m.at_ms >= t0 && m.at_ms <= t1) {
      Marker batch;
      batch.at_ms = m.at_ms;
      batch.batch = m.batch;
      out.push_back(batch);
    }
  }
  if (in.started_at_ms >= t0 && in.started_at_ms <= t1 && in.started_at_ms > 0) {
    Marker rollback;
    rollback.at_ms = in.started_at_ms;
    rollback.rollback = true;
    out.push_back(rollback);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Marker& a, const Marker& b) { return a.at_ms < b.at_ms; });
  return out;
}

std::string YTick(double v, double step) { return Num(std::abs(v) < step * 1e-6 ? 0.0 : v); }

std::vector<double> YTicks(const ChartLayout& l) {
  std::vector<double> out;
  const auto n = static_cast<int>(std::lround((l.hi - l.lo) / l.y_step));
  for (int i = 0; i <= n; ++i) out.push_back(l.lo + l.y_step * i);
  return out;
}

ChartLayout Layout(const Incident& in, int width, int height) {
  ChartLayout l;
  l.style = StyleFor(width, height);
  l.width = width;
  l.height = height;
  std::tie(l.t0, l.t1) = ChartWindow(in);
  if (l.t1 <= l.t0) l.t1 = l.t0 + kSecondMs;
  LayoutValues(l, in.snapshot);
  double tick_w = 0;
  for (const double v : YTicks(l)) {
    tick_w = std::max(tick_w, EstimateTextWidth(YTick(v, l.y_step), l.style.tick_font));
  }
  l.left = kEdge + l.style.font + 8 + tick_w + 6;  // the y label, its gap, the ticks
  l.right = kEdge + 8;
  l.pw = std::max(40.0, width - l.left - l.right);
  LayoutTimeTicks(l);
  l.markers = MarkersOf(in, l.t0, l.t1);
  PlaceMarkerLabels(l);
  LayoutLegend(l, in);
  l.top = l.MarkerRowY(std::max(l.marker_rows, 1) - 1) + 8;
  // Below the plot: the tick row, the axis label, the legend rows.
  l.bottom = 2 * l.style.row + l.legend_rows * l.style.row + kEdge;
  l.ph = std::max(kMinPlotH, height - l.top - l.bottom);
  return l;
}

void WriteHeader(std::ostringstream& svg, const Incident& in, const ChartLayout& l) {
  const Snapshot& s = in.snapshot;
  svg << R"(<?xml version="1.0" encoding="UTF-8"?>)"
      << "\n";
  svg << R"(<svg xmlns="http://www.w3.org/2000/svg" width=")" << l.width << R"(" height=")"
      << l.height << R"(" viewBox="0 0 )" << l.width << " " << l.height
      << R"(" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size=")"
      << F(l.style.font) << R"(" fill=")" << kTextColor << R"(">)"
      << "\n";
  svg << R"(<rect x="0" y="0" width=")" << l.width << R"(" height=")" << l.height
      << R"(" fill="#ffffff"/>)"
      << "\n";
  const std::string title = in.app + " " + in.env + ": " +
                            (s.metric.empty() ? std::string("metric") : s.metric) + " (" +
                            in.version + " → " + in.target_version + ")";
  svg << R"(<text class="title" x=")" << F(l.width / 2.0) << R"(" y=")" << F(l.style.title_font + 6)
      << R"(" text-anchor="middle" font-size=")" << F(l.style.title_font)
      << R"(" font-weight="bold">)"
      << XmlEscape(Fit(title, l.style.title_font * 1.1, l.width - 2 * kEdge)) << "</text>\n";
}

// The plot's box (carrying the window it shows), grid lines, axes, ticks and axis labels.
void WriteAxes(std::ostringstream& svg, const ChartLayout& l, const Snapshot& s) {
  const double bottom = l.top + l.ph;
  svg << R"(<rect class="plot" x=")" << F(l.left) << R"(" y=")" << F(l.top) << R"(" width=")"
      << F(l.pw) << R"(" height=")" << F(l.ph) << R"(" fill="#ffffff" data-start-ms=")" << l.t0
      << R"(" data-end-ms=")" << l.t1 << R"("/>)"
      << "\n";
  for (const double v : YTicks(l)) {
    svg << R"(<line class="grid" x1=")" << F(l.left) << R"(" y1=")" << F(l.Y(v)) << R"(" x2=")"
        << F(l.left + l.pw) << R"(" y2=")" << F(l.Y(v)) << R"(" stroke=")" << kGridColor
        << R"(" stroke-width="1"/>)";
    svg << R"(<text class="y-tick" x=")" << F(l.left - 6) << R"(" y=")"
        << F(l.Y(v) + l.style.tick_font * 0.35) << R"(" text-anchor="end" font-size=")"
        << F(l.style.tick_font) << R"(">)" << XmlEscape(YTick(v, l.y_step)) << "</text>\n";
  }
  svg << R"(<g class="axes" stroke="#343a40" stroke-width="1.5">)";
  svg << R"(<line x1=")" << F(l.left) << R"(" y1=")" << F(l.top) << R"(" x2=")" << F(l.left)
      << R"(" y2=")" << F(bottom) << R"("/>)";
  svg << R"(<line x1=")" << F(l.left) << R"(" y1=")" << F(bottom) << R"(" x2=")" << F(l.left + l.pw)
      << R"(" y2=")" << F(bottom) << R"("/>)";
  svg << "</g>\n";
  for (const auto t : l.x_ticks) {
    svg << R"(<text class="x-tick" x=")" << F(l.X(t)) << R"(" y=")" << F(bottom + l.style.row - 2)
        << R"(" text-anchor="middle" font-size=")" << F(l.style.tick_font) << R"(">)"
        << TickTime(t, l.tick_seconds) << "</text>\n";
  }
  svg << R"(<text class="x-label" x=")" << F(l.left + l.pw / 2) << R"(" y=")"
      << F(bottom + 2 * l.style.row - 3) << R"(" text-anchor="middle">time (UTC)</text>)"
      << "\n";
  const double cy = l.top + l.ph / 2, lx = kEdge + l.style.font * 0.8;
  svg << R"(<text class="y-label" x=")" << F(lx) << R"(" y=")" << F(cy)
      << R"(" text-anchor="middle" transform="rotate(-90 )" << F(lx) << " " << F(cy) << ")\">"
      << XmlEscape(Fit(s.metric.empty() ? std::string("value") : s.metric, l.style.font, l.ph))
      << "</text>\n";
}

// A label with a white halo, so that a marker line crossing it does not hide it.
void WriteHaloText(std::ostringstream& svg, const std::string& cls, double x, double y,
                   std::string_view anchor, const char* color, bool bold, const std::string& text) {
  svg << R"(<text class=")" << cls << R"(" x=")" << F(x) << R"(" y=")" << F(y)
      << R"(" text-anchor=")" << anchor << R"(" fill=")" << color << R"(")"
      << (bold ? R"( font-weight="bold")" : "")
      << R"( stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">)"
      << XmlEscape(text) << "</text>\n";
}

// The batch starts and the rollback: a line down through the plot, the label on its row.
void WriteMarkers(std::ostringstream& svg, const ChartLayout& l) {
  const double line_top = l.MarkerRowY(0) - l.style.font;
  for (const auto& m : l.markers) {
    const char* color = m.rollback ? kRollbackColor : kBatchColor;
    svg << R"(<line class=")" << (m.rollback ? "rollback" : "batch-start") << R"(" x1=")" << F(m.x)
        << R"(" y1=")" << F(line_top) << R"(" x2=")" << F(m.x) << R"(" y2=")" << F(l.top + l.ph)
        << R"(" stroke=")" << color << R"(" stroke-width=")" << (m.rollback ? "2" : "1.5") << R"(")"
        << (m.rollback ? "" : R"( stroke-dasharray="4,3")") << "/>\n";
    if (!m.labelled) continue;
    WriteHaloText(svg, m.rollback ? "rollback-label" : "batch-label", m.end_anchor ? m.x1 : m.x0,
                  l.MarkerRowY(m.row) - 3, m.end_anchor ? "end" : "start", color, m.rollback,
                  m.text);
  }
}

// The threshold, and the note when the snapshot is unavailable.
void WriteThreshold(std::ostringstream& svg, const ChartLayout& l, const Snapshot& s) {
  if (s.threshold && std::isfinite(*s.threshold)) {
    svg << R"(<line class="threshold" x1=")" << F(l.left) << R"(" y1=")" << F(l.Y(*s.threshold))
        << R"(" x2=")" << F(l.left + l.pw) << R"(" y2=")" << F(l.Y(*s.threshold)) << R"(" stroke=")"
        << kThresholdColor << R"(" stroke-width="2" stroke-dasharray="6,4"/>)"
        << "\n";
  }
  if (!s.available) {
    const std::string note = "snapshot unavailable: " + s.unavailable_reason;
    WriteHaloText(svg, "unavailable", l.left + l.pw / 2, l.top + l.ph / 2, "middle", "#868e96",
                  false, Fit(note, l.style.font, l.pw - 2 * kLabelGap));
  }
}

// One polyline per run of finite points in the window: the baseline's under the canary's.
void WriteSeries(std::ostringstream& svg, const ChartLayout& l, const Snapshot& s) {
  for (const auto role : {SeriesRole::kBaseline, SeriesRole::kCanary}) {
    const bool canary = role == SeriesRole::kCanary;
    for (const auto& x : s.series) {
      if (x.role != role) continue;
      std::string pts;
      auto flush = [&] {
        if (!pts.empty()) {
          svg << R"(<polyline class="series )" << (canary ? "canary" : "baseline")
              << R"(" data-series=")" << XmlEscape(SeriesName(x)) << R"(" fill="none" stroke=")"
              << (canary ? kCanaryColor : kBaselineColor) << R"(" stroke-width=")"
              << (canary ? "3" : "2") << R"(" stroke-opacity=")" << (canary ? "1" : "0.8")
              << R"(" stroke-linejoin="round" stroke-linecap="round" points=")" << pts << R"("/>)"
              << "\n";
        }
        pts.clear();
      };
      for (const auto& p : x.points) {
        if (!Visible(l, p)) {
          flush();
          continue;
        }
        if (!pts.empty()) pts += ' ';
        pts += F(l.X(p.at_ms)) + "," + F(l.Y(p.value));
      }
      flush();
    }
  }
}

void WriteLegend(std::ostringstream& svg, const ChartLayout& l) {
  const double first = l.top + l.ph + 3 * l.style.row - 3;
  for (const auto& item : l.legend) {
    const double y = first + item.row * l.style.row;
    svg << R"(<line class="swatch" x1=")" << F(item.x) << R"(" y1=")" << F(y - l.style.font * 0.35)
        << R"(" x2=")" << F(item.x + kSwatch) << R"(" y2=")" << F(y - l.style.font * 0.35)
        << R"(" stroke=")" << item.color << R"(" stroke-width=")" << F(item.stroke_width) << R"(")"
        << (item.dash.empty() ? "" : R"( stroke-dasharray=")" + item.dash + "\"") << "/>";
    svg << R"(<text class=")" << item.cls << R"(" x=")" << F(item.x + kSwatch + 6) << R"(" y=")"
        << F(y) << R"(">)" << XmlEscape(item.text) << "</text>\n";
  }
}

}  // namespace

double EstimateTextWidth(std::string_view text, double font_size) {
  std::size_t chars = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;  // UTF-8 lead bytes
  }
  return 0.6 * font_size * static_cast<double>(chars);
}

std::string RenderChartSvg(const Incident& in, int width, int height) {
  const ChartLayout layout = Layout(in, width, height);
  std::ostringstream svg;
  WriteHeader(svg, in, layout);
  WriteAxes(svg, layout, in.snapshot);
  WriteSeries(svg, layout, in.snapshot);
  WriteThreshold(svg, layout, in.snapshot);
  WriteMarkers(svg, layout);
  WriteLegend(svg, layout);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace sluice::rollback
