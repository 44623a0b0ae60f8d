#include "notification.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <sluice/events/vocabulary.hpp>

namespace sluice::notifier {
namespace {

namespace v1 = events::v1;

struct KindName {
  EventKind kind;
  std::string_view name;
};

constexpr std::array<KindName, 9> kKindNames{{
    {EventKind::kDeploymentStarted, "deployment_started"},
    {EventKind::kBatchSucceeded, "batch_succeeded"},
    {EventKind::kDeploymentPaused, "deployment_paused"},
    {EventKind::kAnalysisFailed, "analysis_failed"},
    {EventKind::kRollbackStarted, "rollback_started"},
    {EventKind::kRollbackCompleted, "rollback_completed"},
    {EventKind::kIncidentReported, "incident_reported"},
    {EventKind::kDeploymentSucceeded, "deployment_succeeded"},
    {EventKind::kDeploymentFailed, "deployment_failed"},
}};

Severity FromProto(v1::Severity s, Severity fallback) {
  switch (s) {
    case v1::SEVERITY_INFO:
      return Severity::kInfo;
    case v1::SEVERITY_WARNING:
      return Severity::kWarning;
    case v1::SEVERITY_CRITICAL:
      return Severity::kCritical;
    default:
      return fallback;
  }
}

void ApplyEvidence(const v1::Evidence& e, Notification& n) {
  n.metric = e.metric();
  n.query = e.query();
  n.comparator = e.comparator();
  if (e.threshold() != 0.0 || e.observed() != 0.0 || !e.metric().empty()) {
    n.threshold = e.threshold();
    n.observed = e.observed();
  }
  n.series.clear();
  for (const auto& p : e.recent()) n.series.push_back(p.value());
  if (n.hosts.empty()) n.hosts.assign(e.affected_instances().begin(), e.affected_instances().end());
  if (n.detail.empty()) n.detail = e.message();
}

void Fill(std::string& field, const std::string& value) {
  if (!value.empty()) field = value;
}

core::SystemTime OccurredAt(const v1::Envelope& e) {
  const auto& ts = e.occurred_at();
  return core::SystemTime(std::chrono::duration_cast<core::SystemTime::duration>(
      std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
}

}  // namespace

std::string_view EventKindName(EventKind kind) {
  for (const auto& k : kKindNames) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

std::optional<EventKind> ParseEventKind(std::string_view name) {
  for (const auto& k : kKindNames) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

const std::vector<EventKind>& AllEventKinds() {
  static const std::vector<EventKind> kAll = [] {
    std::vector<EventKind> v;
    for (const auto& k : kKindNames) v.push_back(k.kind);
    return v;
  }();
  return kAll;
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

std::optional<Severity> ParseSeverity(std::string_view name) {
  if (name == "info") return Severity::kInfo;
  if (name == "warning") return Severity::kWarning;
  if (name == "critical") return Severity::kCritical;
  return std::nullopt;
}

DeploymentContext ContextOf(const projection::Deployment& d) {
  DeploymentContext c{d.app, d.env, d.release_id, d.version, d.stable_version};
  Fill(c.stable_version, d.rollback_target_version);
  return c;
}

std::optional<DeploymentContext> UpdateContext(const v1::Envelope& e,
                                               const DeploymentContext& current) {
  DeploymentContext c = current;
  Fill(c.release_id, e.release_id());
  switch (e.payload_case()) {
    case v1::Envelope::kDeploymentPlanned: {
      const auto& p = e.deployment_planned();
      Fill(c.app, p.app());
      Fill(c.env, p.env());
      Fill(c.release_id, p.release_id());
      Fill(c.version, p.version());
      Fill(c.stable_version, p.stable_version());
      return c;
    }
    case v1::Envelope::kBatchRequested: {
      const auto& p = e.batch_requested();
      Fill(c.app, p.app());
      Fill(c.env, p.env());
      Fill(c.version, p.artifact().version());
      return c;
    }
    case v1::Envelope::kAnalysisRequested: {
      const auto& p = e.analysis_requested();
      Fill(c.app, p.app());
      Fill(c.env, p.env());
      Fill(c.version, p.version());
      Fill(c.stable_version, p.baseline_version());
      return c;
    }
    case v1::Envelope::kRollbackStarted: {
      const auto& p = e.rollback_started();
      Fill(c.app, p.app());
      Fill(c.env, p.env());
      Fill(c.version, p.from_version());
      Fill(c.stable_version, p.target_version());
      return c;
    }
    case v1::Envelope::kIncidentReported: {
      Fill(c.app, e.incident_reported().app());
      Fill(c.env, e.incident_reported().env());
      return c;
    }
    case v1::Envelope::kDeploymentSucceeded: {
      const auto& p = e.deployment_succeeded();
      Fill(c.app, p.app());
      Fill(c.env, p.env());
      Fill(c.version, p.version());
      Fill(c.stable_version, p.previous_stable_version());
      return c;
    }
    case v1::Envelope::kDeploymentFailed: {
      const auto& p = e.deployment_failed();
      Fill(c.app, p.app());
      Fill(c.env, p.env());
      Fill(c.version, p.version());
      return c;
    }
    default:
      return std::nullopt;
  }
}

namespace {

// Each event's own part of a notification: its kind, severity, reason, hosts and evidence.

void FromDeploymentPlanned(const v1::DeploymentPlanned& p, Notification& n) {
  n.kind = EventKind::kDeploymentStarted;
  n.severity = Severity::kInfo;
  Fill(n.deployment_id, p.deployment_id());
  for (const auto& b : p.batches()) {
    for (const auto& t : b.targets()) n.hosts.push_back(t.host());
  }
}

void FromBatchSucceeded(const v1::BatchSucceeded& p, Notification& n) {
  n.kind = EventKind::kBatchSucceeded;
  n.severity = Severity::kInfo;
  Fill(n.deployment_id, p.deployment_id());
  n.batch = p.batch_index();
  n.hosts.assign(p.hosts().begin(), p.hosts().end());
}

void FromDeploymentPaused(const v1::DeploymentPaused& p, Notification& n) {
  n.kind = EventKind::kDeploymentPaused;
  n.reason = events::ReasonText(p);
  n.severity =
      events::ReasonOf(p) == v1::REASON_APPROVAL_REQUIRED ? Severity::kWarning : Severity::kInfo;
  Fill(n.deployment_id, p.deployment_id());
  n.batch = p.batch_index();
}

void FromAnalysisFailed(const v1::AnalysisFailed& p, Notification& n) {
  n.kind = EventKind::kAnalysisFailed;
  n.reason = events::ReasonText(p);
  Fill(n.deployment_id, p.deployment_id());
  Fill(n.release_id, p.release_id());
  n.batch = p.batch_index();
  n.severity = Severity::kCritical;
  if (p.evidence_size() > 0) {
    // The evidence that tells most: the most severe one, first of equals.
    int best = 0;
    for (int i = 1; i < p.evidence_size(); ++i) {
      if (p.evidence(i).severity() > p.evidence(best).severity()) best = i;
    }
    ApplyEvidence(p.evidence(best), n);
    n.severity = FromProto(p.evidence(best).severity(), Severity::kCritical);
  }
  n.incident_key = "analysis_failed:" + n.deployment_id + ":" + std::to_string(*n.batch) + ":" +
                   n.metric + (p.bake_watch() ? ":bake" : "");
}

void FromRollbackStarted(const v1::RollbackStarted& p, Notification& n) {
  n.kind = EventKind::kRollbackStarted;
  n.severity = Severity::kCritical;
  n.reason = events::TriggerText(p);
  Fill(n.deployment_id, p.deployment_id());
  n.hosts.assign(p.hosts().begin(), p.hosts().end());
  if (p.batches_size() > 0) n.batch = p.batches(0);
  if (p.has_evidence()) ApplyEvidence(p.evidence(), n);
  n.incident_key = "rollback_started:" + n.deployment_id + ":" + p.rollback_id();
}

void FromRollbackCompleted(const v1::RollbackCompleted& p, Notification& n) {
  n.kind = EventKind::kRollbackCompleted;
  n.severity = p.success() ? Severity::kWarning : Severity::kCritical;
  n.reason = events::Name(p.success() ? v1::REASON_ROLLED_BACK : v1::REASON_ROLLBACK_INCOMPLETE);
  Fill(n.deployment_id, p.deployment_id());
  Fill(n.previous_version, p.target_version());
  if (p.success()) {
    n.hosts.assign(p.reverted_hosts().begin(), p.reverted_hosts().end());
    n.detail = std::to_string(n.hosts.size()) + " host(s) back on " + p.target_version();
  } else {
    n.hosts.assign(p.failed_hosts().begin(), p.failed_hosts().end());
    n.detail = std::to_string(n.hosts.size()) + " host(s) NOT back on " + p.target_version();
  }
}

void FromIncidentReported(const v1::IncidentReported& p, Notification& n) {
  n.kind = EventKind::kIncidentReported;
  n.detail = p.summary();
  n.report_url = p.report_url();
  n.chart_url = p.chart_url();
  Fill(n.deployment_id, p.deployment_id());
  n.severity = Severity::kCritical;
  if (p.has_evidence()) {
    ApplyEvidence(p.evidence(), n);
    n.severity = FromProto(p.evidence().severity(), Severity::kCritical);
  }
  n.incident_key = "incident_reported:" + n.deployment_id + ":" + p.incident_id();
}

void FromDeploymentSucceeded(const v1::DeploymentSucceeded& p, Notification& n) {
  n.kind = EventKind::kDeploymentSucceeded;
  n.severity = Severity::kInfo;
  Fill(n.deployment_id, p.deployment_id());
}

void FromDeploymentFailed(const v1::DeploymentFailed& p, Notification& n) {
  n.kind = EventKind::kDeploymentFailed;
  n.severity = Severity::kCritical;
  n.reason = events::ReasonText(p);
  n.detail = p.detail();
  Fill(n.deployment_id, p.deployment_id());
}

// The event's own part; false for an event the notifier does not announce.
bool FromEvent(const v1::Envelope& e, Notification& n) {
  switch (e.payload_case()) {
    case v1::Envelope::kDeploymentPlanned:
      FromDeploymentPlanned(e.deployment_planned(), n);
      return true;
    case v1::Envelope::kBatchSucceeded:
      FromBatchSucceeded(e.batch_succeeded(), n);
      return true;
    case v1::Envelope::kDeploymentPaused:
      FromDeploymentPaused(e.deployment_paused(), n);
      return true;
    case v1::Envelope::kAnalysisFailed:
      FromAnalysisFailed(e.analysis_failed(), n);
      return true;
    case v1::Envelope::kRollbackStarted:
      FromRollbackStarted(e.rollback_started(), n);
      return true;
    case v1::Envelope::kRollbackCompleted:
      FromRollbackCompleted(e.rollback_completed(), n);
      return true;
    case v1::Envelope::kIncidentReported:
      FromIncidentReported(e.incident_reported(), n);
      return true;
    case v1::Envelope::kDeploymentSucceeded:
      FromDeploymentSucceeded(e.deployment_succeeded(), n);
      return true;
    case v1::Envelope::kDeploymentFailed:
      FromDeploymentFailed(e.deployment_failed(), n);
      return true;
    default:
      return false;
  }
}

// The console link of the deployment, and every link signed when link keys are set.
void AddLinks(const BuildOptions& options, Notification& n) {
  if (!n.deployment_id.empty()) {
    std::string base = options.console_base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    n.console_url = base + "/deployments/" + n.deployment_id;
  }
  if (!options.link_keys.empty()) {
    // Signed: a chat or mail reader has no API token. The expiry counts from the event's time,
    // so the same event always yields the same links.
    const auto expires =
        std::chrono::duration_cast<std::chrono::seconds>(n.occurred_at.time_since_epoch()).count() +
        options.link_ttl.count();
    const auto& key = options.link_keys.front();
    for (auto* url : {&n.console_url, &n.report_url, &n.chart_url}) {
      if (!url->empty() && url->find('?') == std::string::npos) {
        *url = core::SignUrl(key, *url, expires);
      }
    }
  }
}

}  // namespace

std::optional<Notification> BuildNotification(const v1::Envelope& e,
                                              const DeploymentContext& context,
                                              const BuildOptions& options) {
  // The event's own fields are applied on top of the remembered context.
  const DeploymentContext ctx = UpdateContext(e, context).value_or(context);
  Notification n;
  n.event_id = e.event_id();
  n.occurred_at = OccurredAt(e);
  n.app = ctx.app;
  n.env = ctx.env;
  n.release_id = ctx.release_id;
  n.version = ctx.version;
  n.previous_version = ctx.stable_version;
  n.deployment_id = e.deployment_id();
  if (!FromEvent(e, n)) return std::nullopt;
  AddLinks(options, n);
  return n;
}

std::string Sparkline(const std::vector<double>& values, std::size_t max_points) {
  static constexpr std::array<std::string_view, 8> kBars{"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::vector<double> v;
  const std::size_t start = values.size() > max_points ? values.size() - max_points : 0;
  for (std::size_t i = start; i < values.size(); ++i) {
    if (std::isfinite(values[i])) v.push_back(values[i]);
  }
  if (v.empty()) return "";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const double min = *lo;
  const double range = *hi - *lo;
  std::string out;
  for (double x : v) {
    std::size_t idx = 3;
    if (range > 0) {
      idx = static_cast<std::size_t>(std::lround((x - min) / range * 7.0));
      idx = std::min<std::size_t>(idx, 7);
    }
    out += kBars[idx];
  }
  return out;
}

std::string FormatHosts(const std::vector<std::string>& hosts, std::size_t max_shown) {
  std::string out;
  const std::size_t shown = std::min(hosts.size(), max_shown);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    out += hosts[i];
  }
  if (hosts.size() > shown) {
    if (shown > 0) out += " ";
    out += "+" + std::to_string(hosts.size() - shown) + " more";
  }
  return out;
}

std::string FormatNumber(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  if (std::trunc(v) == v && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // For people: four significant digits (0.4648, 0.0001235), whole numbers from 1000 up.
  if (std::fabs(v) >= 1000 && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

nlohmann::json ToJson(const Notification& n) {
  nlohmann::json j = {
      {"event_id", n.event_id},
      {"kind", EventKindName(n.kind)},
      {"severity", SeverityName(n.severity)},
      {"occurred_at_ms", core::ToUnixMillis(n.occurred_at)},
      {"app", n.app},
      {"env", n.env},
      {"deployment_id", n.deployment_id},
      {"release_id", n.release_id},
      {"version", n.version},
      {"previous_version", n.previous_version},
      {"hosts", n.hosts},
      {"reason", n.reason},
      {"detail", n.detail},
      {"metric", n.metric},
      {"query", n.query},
      {"comparator", n.comparator},
      {"series", n.series},
      {"console_url", n.console_url},
      {"report_url", n.report_url},
      {"chart_url", n.chart_url},
      {"incident_key", n.incident_key},
  };
  j["batch"] = n.batch ? nlohmann::json(*n.batch) : nlohmann::json(nullptr);
  j["threshold"] = n.threshold ? nlohmann::json(*n.threshold) : nlohmann::json(nullptr);
  j["observed"] = n.observed ? nlohmann::json(*n.observed) : nlohmann::json(nullptr);
  return j;
}

Notification NotificationFromJson(const nlohmann::json& j) {
  Notification n;
  n.event_id = j.at("event_id").get<std::string>();
  const auto kind = ParseEventKind(j.at("kind").get<std::string>());
  const auto severity = ParseSeverity(j.at("severity").get<std::string>());
  if (!kind || !severity) {
    throw nlohmann::json::other_error::create(501, "unknown kind or severity", &j);
  }
  n.kind = *kind;
  n.severity = *severity;
  n.occurred_at = core::FromUnixMillis(j.at("occurred_at_ms").get<std::int64_t>());
  n.app = j.at("app").get<std::string>();
  n.env = j.at("env").get<std::string>();
  n.deployment_id = j.at("deployment_id").get<std::string>();
  n.release_id = j.at("release_id").get<std::string>();
  n.version = j.at("version").get<std::string>();
  n.previous_version = j.at("previous_version").get<std::string>();
  n.hosts = j.at("hosts").get<std::vector<std::string>>();
  n.reason = j.at("reason").get<std::string>();
  n.detail = j.at("detail").get<std::string>();
  n.metric = j.at("metric").get<std::string>();
  n.query = j.at("query").get<std::string>();
  n.comparator = j.at("comparator").get<std::string>();
  n.series = j.at("series").get<std::vector<double>>();
  n.console_url = j.at("console_url").get<std::string>();
  n.report_url = j.at("report_url").get<std::string>();
  n.chart_url = j.at("chart_url").get<std::string>();
  n.incident_key = j.at("incident_key").get<std::string>();
  if (!j.at("batch").is_null()) n.batch = j.at("batch").get<std::uint32_t>();
  if (!j.at("threshold").is_null()) n.threshold = j.at("threshold").get<double>();
  if (!j.at("observed").is_null()) n.observed = j.at("observed").get<double>();
  return n;
}

}  // namespace sluice::notifier
