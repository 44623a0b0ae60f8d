#include "incident.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <sstream>

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

// The plot area and the ranges it shows: time over every finite point, values from zero (or
// below) through the threshold with 10% headroom.
struct ChartFrame {
  double left = 60, right = 20, top = 36, bottom = 44;
  double pw = 0, ph = 0;
  std::int64_t t0 = 0, t1 = 0;
  double lo = 0, hi = 1;

  ChartFrame(const Snapshot& s, int width, int height)
      : pw(width - left - right), ph(height - top - bottom), t0(s.start_ms), t1(s.end_ms) {
    double min = std::numeric_limits<double>::infinity(), max = -min;
    for (const auto& x : s.series) {
      for (const auto& p : x.points) {
        if (!std::isfinite(p.value)) continue;
        min = std::min(min, p.value);
        max = std::max(max, p.value);
        if (t0 == 0 || p.at_ms < t0) t0 = p.at_ms;
        t1 = std::max(t1, p.at_ms);
      }
    }
    if (s.threshold && std::isfinite(*s.threshold)) {
      min = std::min(min, *s.threshold);
      max = std::max(max, *s.threshold);
    }
    if (std::isfinite(min)) {
      lo = min;
      hi = max;
    }
    lo = std::min(lo, 0.0);
    if (hi <= lo) hi = lo + 1;
    hi += (hi - lo) * 0.1;
    if (t1 <= t0) t1 = t0 + 1000;
  }
  double X(std::int64_t t) const {
    return left + pw * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
  }
  double Y(double v) const { return top + ph * (1.0 - (v - lo) / (hi - lo)); }
};

void WriteHeader(std::ostringstream& svg, const Incident& in, int width, int height) {
  const Snapshot& s = in.snapshot;
  svg << R"(<?xml version="1.0" encoding="UTF-8"?>)"
      << "\n";
  svg << R"(<svg xmlns="http://www.w3.org/2000/svg" width=")" << width << R"(" height=")" << height
      << R"(" viewBox="0 0 )" << width << " " << height
      << R"(" font-family="sans-serif" font-size="11">)"
      << "\n";
  svg << R"(<rect x="0" y="0" width=")" << width << R"(" height=")" << height
      << R"(" fill="#ffffff"/>)"
      << "\n";
  const std::string title = in.app + " " + in.env + ": " +
                            (s.metric.empty() ? std::string("metric") : s.metric) + " (" +
                            in.version + " → " + in.target_version + ")";
  svg << R"(<text class="title" x=")" << width / 2
      << R"(" y="20" text-anchor="middle" font-size="14">)" << XmlEscape(title) << "</text>\n";
}

// Axes, ticks and labels.
void WriteAxes(std::ostringstream& svg, const ChartFrame& f, const Snapshot& s, int height) {
  svg << R"(<g class="axes" stroke="#333333" stroke-width="1">)";
  svg << R"(<line x1=")" << F(f.left) << R"(" y1=")" << F(f.top) << R"(" x2=")" << F(f.left)
      << R"(" y2=")" << F(f.top + f.ph) << R"("/>)";
  svg << R"(<line x1=")" << F(f.left) << R"(" y1=")" << F(f.top + f.ph) << R"(" x2=")"
      << F(f.left + f.pw) << R"(" y2=")" << F(f.top + f.ph) << R"("/>)";
  svg << "</g>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = f.lo + (f.hi - f.lo) * i / 4.0;
    svg << R"(<text class="y-tick" x=")" << F(f.left - 6) << R"(" y=")" << F(f.Y(v) + 4)
        << R"(" text-anchor="end">)" << XmlEscape(Num(v)) << "</text>\n";
    const std::int64_t t = f.t0 + (f.t1 - f.t0) * i / 4;
    svg << R"(<text class="x-tick" x=")" << F(f.X(t)) << R"(" y=")" << F(f.top + f.ph + 16)
        << R"(" text-anchor="middle">)" << ClockTime(t) << "</text>\n";
  }
  svg << R"(<text class="x-label" x=")" << F(f.left + f.pw / 2) << R"(" y=")" << height - 6
      << R"(" text-anchor="middle">time (UTC)</text>)"
      << "\n";
  svg << R"(<text class="y-label" x="14" y=")" << F(f.top + f.ph / 2)
      << R"(" text-anchor="middle" transform="rotate(-90 14 )" << F(f.top + f.ph / 2) << ")\">"
      << XmlEscape(s.metric.empty() ? std::string("value") : s.metric) << "</text>\n";
}

// Batch starts, the threshold, and the note when the snapshot is unavailable.
void WriteMarks(std::ostringstream& svg, const ChartFrame& f, const Incident& in) {
  const Snapshot& s = in.snapshot;
  for (const auto& m : in.batch_starts) {
    if (m.at_ms < f.t0 || m.at_ms > f.t1) continue;
    svg << R"(<line class="batch-start" x1=")" << F(f.X(m.at_ms)) << R"(" y1=")" << F(f.top)
        << R"(" x2=")" << F(f.X(m.at_ms)) << R"(" y2=")" << F(f.top + f.ph)
        << R"(" stroke="#888888" stroke-width="1"/>)";
    svg << R"(<text class="batch-label" x=")" << F(f.X(m.at_ms) + 3) << R"(" y=")" << F(f.top + 10)
        << R"(" fill="#555555">batch )" << m.batch + 1 << "</text>\n";
  }
  if (s.threshold && std::isfinite(*s.threshold)) {
    svg << R"(<line class="threshold" x1=")" << F(f.left) << R"(" y1=")" << F(f.Y(*s.threshold))
        << R"(" x2=")" << F(f.left + f.pw) << R"(" y2=")" << F(f.Y(*s.threshold))
        << R"(" stroke="#d62728" stroke-width="1" stroke-dasharray="6,4"/>)";
    svg << R"(<text class="threshold-label" x=")" << F(f.left + f.pw - 4) << R"(" y=")"
        << F(f.Y(*s.threshold) - 4) << R"(" text-anchor="end" fill="#d62728">threshold )"
        << XmlEscape(Num(*s.threshold)) << "</text>\n";
  }
  if (!s.available) {
    svg << R"(<text class="unavailable" x=")" << F(f.left + f.pw / 2) << R"(" y=")"
        << F(f.top + f.ph / 2) << R"(" text-anchor="middle" fill="#999999">)"
        << XmlEscape("snapshot unavailable: " + s.unavailable_reason) << "</text>\n";
  }
}

// Series: one polyline per run of finite points, and a legend line each.
void WriteSeries(std::ostringstream& svg, const ChartFrame& f, const Snapshot& s) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                  "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  std::size_t color = 0;
  for (const auto& x : s.series) {
    const char* stroke = kColors[color++ % (sizeof kColors / sizeof kColors[0])];
    std::string pts;
    auto flush = [&] {
      if (!pts.empty()) {
        svg << R"(<polyline class="series" fill="none" stroke=")" << stroke
            << R"(" stroke-width="1.5" points=")" << pts << R"("/>)"
            << "\n";
      }
      pts.clear();
    };
    for (const auto& p : x.points) {
      if (!std::isfinite(p.value)) {
        flush();
        continue;
      }
      if (!pts.empty()) pts += ' ';
      pts += F(f.X(p.at_ms)) + "," + F(f.Y(p.value));
    }
    flush();
    svg << R"(<text class="legend" x=")" << F(f.left + 6) << R"(" y=")"
        << F(f.top + 12 + 12 * static_cast<double>(color)) << R"(" fill=")" << stroke << R"(">)"
        << XmlEscape(SeriesName(x)) << "</text>\n";
  }
}

}  // namespace

std::string RenderChartSvg(const Incident& in, int width, int height) {
  const ChartFrame frame(in.snapshot, width, height);
  std::ostringstream svg;
  WriteHeader(svg, in, width, height);
  WriteAxes(svg, frame, in.snapshot, height);
  WriteMarks(svg, frame, in);
  WriteSeries(svg, frame, in.snapshot);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace sluice::rollback
