#pragma once

// What a notice says, as a plain value built from a domain event: the pure core of the notifier.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/signed_link.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/projection/deployment.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::notifier {

inline constexpr std::string_view kServiceName = "notifier";

// The events worth telling a person about. The names are the `events:` values of routing rules
// and the template file names.
enum class EventKind {
  kDeploymentStarted,
  kBatchSucceeded,
  kDeploymentPaused,
  kAnalysisFailed,
  kRollbackStarted,
  kRollbackCompleted,
  kIncidentReported,
  kDeploymentSucceeded,
  kDeploymentFailed,
};

// "deployment_started", "batch_succeeded", ...
std::string_view EventKindName(EventKind kind);
std::optional<EventKind> ParseEventKind(std::string_view name);
const std::vector<EventKind>& AllEventKinds();

enum class Severity { kInfo, kWarning, kCritical };
std::string_view SeverityName(Severity s);  // "info", "warning", "critical"
std::optional<Severity> ParseSeverity(std::string_view name);

// What a notice names about its deployment: most events carry only the deployment id, so the
// names come from the stored projection of the deployment (libs/projection), with the event's
// own fields on top.
struct DeploymentContext {
  std::string app;
  std::string env;
  std::string release_id;
  std::string version;
  std::string stable_version;
  bool operator==(const DeploymentContext&) const = default;
};

// The context of the stored projection: a rollback's target is the version a notice calls
// the previous one.
DeploymentContext ContextOf(const projection::Deployment& deployment);

// The context with the fields `envelope` carries on top (they win, the others are kept), for
// the one notice of that event; nullopt when the event carries none.
std::optional<DeploymentContext> UpdateContext(const events::v1::Envelope& envelope,
                                               const DeploymentContext& current);

struct Notification {
  std::string event_id;
  EventKind kind = EventKind::kDeploymentStarted;
  Severity severity = Severity::kInfo;
  core::SystemTime occurred_at{};
  std::string app;
  std::string env;
  std::string deployment_id;
  std::string release_id;
  std::string version;
  std::string previous_version;  // the last stable version (what a rollback returns to)
  std::optional<std::uint32_t> batch;
  std::vector<std::string> hosts;  // affected / touched hosts
  std::string reason;              // a named reason constant ("threshold_breached", ...)
  std::string detail;              // free text from the event (message, summary)
  std::string metric;
  std::string query;
  std::string comparator;
  std::optional<double> threshold;
  std::optional<double> observed;
  std::vector<double> series;  // recent values, oldest first
  std::string console_url;
  std::string report_url;
  std::string chart_url;
  // Notices about the same incident share this key; a second one within the dedupe window is
  // suppressed. Empty: only the event id de-duplicates.
  std::string incident_key;

  bool operator==(const Notification&) const = default;
};

struct BuildOptions {
  std::string console_base_url = "http://127.0.0.1:8080/console";
  // SLUICE_LINK_KEYS (the same keys as release-intake's): when set, the console, report and
  // chart links are signed (core/signed_link.hpp) with the first key and open without an API
  // token until the event's time + link_ttl (SLUICE_LINK_TTL).
  std::vector<core::LinkKey> link_keys{};
  std::chrono::seconds link_ttl{std::chrono::hours(24 * 7)};
};

// The notice for an event, or nullopt for an event no person needs to hear about.
std::optional<Notification> BuildNotification(const events::v1::Envelope& envelope,
                                              const DeploymentContext& context,
                                              const BuildOptions& options);

// ▁▂▃▄▅▆▇█ scaled between the series' min and max (a flat series is all ▄); "" when empty.
// At most `max_points` (the most recent).
std::string Sparkline(const std::vector<double>& values, std::size_t max_points = 30);

// "a, b, c +2 more" showing at most `max_shown` hosts.
std::string FormatHosts(const std::vector<std::string>& hosts, std::size_t max_shown = 5);

// For people: whole numbers as such (12, 1500000), others to four significant digits (0.05,
// 0.4648), rounded to a whole number from 1000 up; NaN and infinities as "nan", "inf", "-inf".
std::string FormatNumber(double v);

// The stored form of a notice (delivery rows keep it, so a restart can still render it).
nlohmann::json ToJson(const Notification& n);
Notification NotificationFromJson(const nlohmann::json& j);  // throws nlohmann::json::exception

}  // namespace sluice::notifier
