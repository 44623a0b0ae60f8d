#include "adapters/alertmanager_receiver.hpp"

#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/errors.hpp>

#include "deployment_repository.hpp"
#include "run.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;

bool TokenMatches(const std::string& header, const std::string& token) {
  const std::string prefix = "Bearer ";
  if (token.empty() || header.size() != prefix.size() + token.size() ||
      header.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(header[prefix.size() + i] ^ token[i]);
  }
  return diff == 0;
}

AlertRow RowOf(const Alert& alert) {
  AlertRow row;
  row.fingerprint = alert.fingerprint;
  row.starts_at = alert.starts_at;
  const auto name = alert.labels.find("alertname");
  row.alert_name = name == alert.labels.end() ? "" : name->second;
  row.status = alert.status;
  row.labels = alert.labels;
  row.annotations = alert.annotations;
  return row;
}

// AlertRaised for the deployment the alert matched, in `tx`.
void PublishRaised(pqxx::work& tx, const core::Clock& clock, const Alert& alert,
                   const AlertRow& row, const WatchedDeployment& match) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(match.deployment_id);
  e.set_release_id(match.release_id);
  auto* p = e.mutable_alert_raised();
  p->set_alert_id(row.alert_id);
  p->set_fingerprint(row.fingerprint);
  p->set_deployment_id(match.deployment_id);
  p->set_release_id(match.release_id);
  p->set_alert_name(row.alert_name);
  *p->mutable_evidence() = AlertEvidence(alert);
  for (const auto& [k, v] : alert.labels) (*p->mutable_labels())[k] = v;
  p->set_app(match.app);
  p->set_env(match.env);
  p->set_version(match.version);
  p->set_resolved(false);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(alert.starts_at.time_since_epoch())
          .count();
  p->mutable_starts_at()->set_seconds(micros / 1000000);
  p->mutable_starts_at()->set_nanos(static_cast<std::int32_t>((micros % 1000000) * 1000));
  eventbus::Publish(tx, std::move(e));
}

// A firing alert seen for the first time (or not raised yet): raised when it names an active
// deployment, else recorded with why not.
std::string OnFiring(pqxx::work& tx, const core::Clock& clock, const Alert& alert, AlertRow& row,
                     core::SystemTime now) {
  const AlertKey key = KeyOf(alert);
  std::optional<WatchedDeployment> match;
  if ((!key.app.empty() && !key.env.empty()) || !key.deployment_id.empty()) {
    match = MatchAlert(alert, DeploymentsFor(tx, key.app, key.env, key.deployment_id), now);
  }
  std::string result = "recorded";
  if (match) {
    row.raised = true;
    row.alert_id = core::NewUuid();
    row.deployment_id = match->deployment_id;
    row.reason = "";
    PublishRaised(tx, clock, alert, row, *match);
    result = "raised";
  } else {
    row.reason = (key.app.empty() || key.env.empty()) && key.deployment_id.empty()
                     ? kReasonMissingLabels
                     : kReasonNoActiveDeployment;
  }
  UpdateAlert(tx, row, now);
  return result;
}

// One alert of the batch: "raised", "recorded" or "ignored"; `row` ends as stored.
std::string ReceiveOne(pqxx::work& tx, const core::Clock& clock, const Alert& alert, AlertRow& row,
                       core::SystemTime now) {
  if (alert.labels.count("sluice_event") > 0) {
    row.reason = kReasonOwnEvent;
    InsertAlert(tx, row, now);
    return "ignored";
  }
  const bool inserted = InsertAlert(tx, row, now);
  std::optional<AlertRow> existing;
  if (!inserted) existing = LockAlert(tx, row.fingerprint, row.starts_at);
  if (existing && existing->raised && alert.status == "firing") {
    row = *existing;
    return "ignored";  // the same firing again: raised once already
  }
  if (alert.status == "resolved") {
    if (existing) {
      row.raised = existing->raised;
      row.alert_id = existing->alert_id;
      row.deployment_id = existing->deployment_id;
    }
    row.reason = kReasonResolved;
    UpdateAlert(tx, row, now);
    return "recorded";
  }
  return OnFiring(tx, clock, alert, row, now);
}

// Parses the body; a batch with nothing usable is a 400 naming the first field at fault.
AlertPayload PayloadOf(const httplib::Request& req) {
  // NULs are sorted out per alert (one bad alert must not lose the batch).
  core::JsonLimits limits;
  limits.allow_nul = true;
  const auto body = http::ParseJsonBody(req, limits);
  AlertPayload payload;
  try {
    payload = ParseAlertmanagerPayload(body);
  } catch (const PayloadError& e) {
    throw http::BadRequest(e.Field(), e.what());
  }
  if (payload.alerts.empty() && !payload.rejected.empty()) {
    const auto& first = payload.rejected.front();
    throw http::BadRequest(first.field, first.reason);
  }
  return payload;
}

}  // namespace

json ReceiveAlerts(pqxx::work& tx, const AlertPayload& payload, const core::Clock& clock) {
  const auto now = clock.Now();
  int raised = 0, recorded = 0, ignored = 0;
  json results = json::array();
  for (const auto& alert : payload.alerts) {
    AlertRow row = RowOf(alert);
    const std::string result = ReceiveOne(tx, clock, alert, row, now);
    if (result == "raised") ++raised;
    if (result == "recorded") ++recorded;
    if (result == "ignored") ++ignored;
    results.push_back({{"fingerprint", row.fingerprint},
                       {"starts_at", core::FormatRfc3339(row.starts_at)},
                       {"alertname", row.alert_name},
                       {"status", alert.status},
                       {"result", result},
                       {"reason", row.reason},
                       {"deployment_id", row.deployment_id},
                       {"alert_id", row.alert_id}});
  }
  return {{"raised", raised}, {"recorded", recorded}, {"ignored", ignored}, {"alerts", results}};
}

void MountAlertmanagerReceiver(http::Server& server, AlertReceiverDeps deps) {
  server.Post(
      std::string(kAlertmanagerPath), [deps](const httplib::Request& req, httplib::Response& res) {
        if (!TokenMatches(req.get_header_value("Authorization"), deps.alert_token)) {
          throw http::Unauthorized("a valid Authorization: Bearer token is required");
        }
        const AlertPayload payload = PayloadOf(req);
        json result = deps.db.WithTransaction(
            [&](pqxx::work& tx) { return ReceiveAlerts(tx, payload, deps.clock); });
        json rejected = json::array();
        for (const auto& r : payload.rejected) {
          core::Logger("alerts")->warn("alert {} of an Alertmanager batch rejected: {}", r.index,
                                       r.reason);
          rejected.push_back({{"index", r.index}, {"field", r.field}, {"reason", r.reason}});
        }
        result["rejected"] = std::move(rejected);
        if (deps.metrics != nullptr) {
          for (const char* r : {"raised", "recorded", "ignored"}) {
            for (int i = 0; i < result.at(r).get<int>(); ++i) deps.metrics->CountAlert(r);
          }
        }
        http::WriteJson(res, 200, result);
      });
}

}  // namespace sluice::watcher
