#pragma once

// The Alertmanager webhook receiver's pure part: reading the payload (version "4", read
// leniently), matching an alert to an active deployment, and the evidence an AlertRaised
// carries. No I/O.

#include <sluice/v1/common.pb.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/rfc3339.hpp>
#include <sluice/events/vocabulary.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::watcher {

// Why an alert was not raised (alerts.reason) and the webhook's result counters.
inline constexpr std::string_view kReasonNoActiveDeployment =
    events::Name(events::v1::REASON_NO_ACTIVE_DEPLOYMENT);
inline constexpr std::string_view kReasonOwnEvent = events::Name(events::v1::REASON_OWN_EVENT);
inline constexpr std::string_view kReasonResolved = events::Name(events::v1::REASON_RESOLVED);
inline constexpr std::string_view kReasonMissingLabels =
    events::Name(events::v1::REASON_MISSING_APP_ENV_LABELS);

// A payload the receiver cannot use; `field` names the offending JSON field.
class PayloadError : public std::runtime_error {
 public:
  PayloadError(std::string field, std::string message)
      : std::runtime_error(message), field_(std::move(field)) {}
  const std::string& Field() const { return field_; }

 private:
  std::string field_;
};

struct Alert {
  std::string status;  // "firing" or "resolved"
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  core::SystemTime starts_at{};
  std::string generator_url;
  std::string fingerprint;  // Alertmanager's, else derived from the sorted labels
};

// An alert of the batch that was left out: its index in `alerts`, the field at fault
// ("alerts[3].labels.foo") and why.
struct RejectedAlert {
  std::size_t index = 0;
  std::string field;
  std::string reason;
};

struct AlertPayload {
  std::string version;
  std::string status;
  std::string receiver;
  std::vector<Alert> alerts;
  std::vector<RejectedAlert> rejected;
};

// Reads an Alertmanager webhook body. Unknown fields are ignored; common labels and
// annotations are merged under each alert's own. Labels and annotations are strings (null
// ones are dropped); no string may hold a NUL (PostgreSQL cannot store it).
// An alert that is not an object, has a bad status or startsAt, a label or annotation that is
// not a string, or a NUL anywhere is left out and listed in `rejected`; the others are kept.
// Throws PayloadError naming the field when the batch itself is unusable: not an object,
// `alerts` missing or not an array, or a bad common label or annotation (which every alert
// would carry).
AlertPayload ParseAlertmanagerPayload(const nlohmann::json& body);

// RFC 3339 ("2026-11-25T10:00:00.123456789Z", "...+08:00"): the one reader of the project.
using core::ParseRfc3339;

// A stable fingerprint of a label set (16 hex digits), for alerts that carry none.
std::string LabelsFingerprint(const std::map<std::string, std::string>& labels);

// A deployment as the alert matcher sees it (from the shared projection, deployment_projection).
struct WatchedDeployment {
  std::string deployment_id;
  std::string app;
  std::string env;
  std::string version;
  std::string release_id;
  std::string status;  // running paused succeeded failed rolling_back rolled_back (projection)
  core::SystemTime started_at{};
  std::optional<core::SystemTime> active_until;
};

// Alerts about a deployment count while it runs (pending, running, paused) and, once it
// succeeded, until active_until (success + the alert window, or the bake watch's end).
bool IsActive(const WatchedDeployment& d, core::SystemTime now);

// The label values an alert is matched on: app, env, version, and the deployment id from the
// label `deployment_id` or `deployment`.
struct AlertKey {
  std::string app;
  std::string env;
  std::string version;
  std::string deployment_id;
};
AlertKey KeyOf(const Alert& alert);

// The active deployment the alert is about: same app and env, and the same version and/or
// deployment id when the alert names them; the most recently started of several.
std::optional<WatchedDeployment> MatchAlert(const Alert& alert,
                                            const std::vector<WatchedDeployment>& candidates,
                                            core::SystemTime now);

// The evidence of an AlertRaised: metric = alertname; query from the `query` annotation or
// the generatorURL's expression; observed / threshold from the `value` / `threshold`
// annotations when numeric (NaN otherwise); severity from the `severity` label; affected
// instances from instance_name, else instance, else host; message from summary, else
// description.
v1::Evidence AlertEvidence(const Alert& alert);

// Decodes %XX and '+' of a URL query component.
std::string UrlDecode(std::string_view s);

// The `g0.expr` (or `expr`) parameter of a Prometheus generatorURL; "" when none.
std::string ExprFromGeneratorUrl(std::string_view url);

}  // namespace sluice::watcher
