#include "notifier_repository.hpp"

namespace sluice::notifier {
namespace {

constexpr const char* kLoadDeployment = R"sql(
  SELECT view FROM deployment_projection WHERE deployment_id = $1)sql";

constexpr const char* kSaveDeployment = R"sql(
  INSERT INTO deployment_projection (deployment_id, view, updated_at)
  VALUES ($1, $2::jsonb, to_timestamp($3::double precision / 1000))
  ON CONFLICT (deployment_id) DO UPDATE SET
    view = EXCLUDED.view, updated_at = EXCLUDED.updated_at)sql";

constexpr const char* kRecentIncident = R"sql(
  SELECT 1 FROM deliveries
  WHERE incident_key = $1 AND channel = $2 AND route = $3 AND status <> 'suppressed'
    AND created_at > to_timestamp($4::double precision / 1000)
  LIMIT 1)sql";

constexpr const char* kInsertDelivery = R"sql(
  INSERT INTO deliveries (notification_id, event_id, event_kind, deployment_id, route, channel,
                          channel_type, incident_key, notification, status, due_at, created_at,
                          updated_at, finished_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10,
          to_timestamp($11::double precision / 1000), to_timestamp($11::double precision / 1000),
          to_timestamp($11::double precision / 1000),
          CASE WHEN $10 = 'pending' THEN NULL ELSE to_timestamp($11::double precision / 1000) END)
  ON CONFLICT (event_id, channel, route) DO NOTHING
  RETURNING id)sql";

constexpr const char* kColumns = R"sql(
  id, notification_id, event_id, event_kind, deployment_id, route, channel, channel_type,
  incident_key, status, attempts, (extract(epoch FROM due_at) * 1000)::bigint, last_status_code,
  last_response, (extract(epoch FROM created_at) * 1000)::bigint,
  (extract(epoch FROM updated_at) * 1000)::bigint,
  (extract(epoch FROM finished_at) * 1000)::bigint, notification::text)sql";

constexpr const char* kClaimDue = R"sql(
  WHERE status = 'pending' AND due_at <= to_timestamp($1::double precision / 1000)
  ORDER BY due_at, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED)sql";

constexpr const char* kRecordAttempt = R"sql(
  UPDATE deliveries SET status = $2, attempts = $3, due_at = to_timestamp($4::double precision / 1000),
    last_status_code = NULLIF($5, 0), last_response = $6,
    updated_at = to_timestamp($7::double precision / 1000),
    finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE to_timestamp($7::double precision / 1000) END
  WHERE id = $1)sql";

constexpr const char* kPostpone = R"sql(
  UPDATE deliveries SET due_at = to_timestamp($2::double precision / 1000), last_response = $3,
    updated_at = to_timestamp($4::double precision / 1000)
  WHERE id = $1 AND status = 'pending')sql";

constexpr const char* kList = R"sql(
  WHERE ($1::text IS NULL OR event_id = $1) AND ($2::text IS NULL OR status = $2)
  ORDER BY id DESC
  LIMIT $3)sql";

const char* Nullable(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

std::string Select(const char* tail) {
  return std::string("SELECT ") + kColumns + " FROM deliveries " + tail;
}

DeliveryRow ReadRow(const pqxx::row& r) {
  DeliveryRow d;
  d.id = r[0].as<std::int64_t>();
  d.notification_id = r[1].as<std::string>();
  d.event_id = r[2].as<std::string>();
  d.event_kind = r[3].as<std::string>();
  d.deployment_id = r[4].as<std::string>();
  d.route = r[5].as<std::string>();
  d.channel = r[6].as<std::string>();
  d.channel_type = r[7].as<std::string>();
  d.incident_key = r[8].as<std::string>();
  d.status = r[9].as<std::string>();
  d.attempts = r[10].as<int>();
  d.due_at_ms = r[11].as<std::int64_t>();
  if (!r[12].is_null()) d.last_status_code = r[12].as<int>();
  d.last_response = r[13].as<std::string>();
  d.created_at_ms = r[14].as<std::int64_t>();
  d.updated_at_ms = r[15].as<std::int64_t>();
  if (!r[16].is_null()) d.finished_at_ms = r[16].as<std::int64_t>();
  d.notification = nlohmann::json::parse(r[17].as<std::string>());
  return d;
}

}  // namespace

projection::Deployment LoadDeployment(pqxx::work& tx, const std::string& deployment_id) {
  if (deployment_id.empty()) return {};
  const auto rows = tx.exec_params(kLoadDeployment, deployment_id);
  if (rows.empty()) return {};
  return projection::FromJson(nlohmann::json::parse(rows[0][0].as<std::string>()));
}

void SaveDeployment(pqxx::work& tx, const std::string& deployment_id,
                    const projection::Deployment& d, core::SystemTime now) {
  tx.exec_params0(kSaveDeployment, deployment_id, projection::ToJson(d).dump(),
                  core::ToUnixMillis(now));
}

bool RecentIncidentDelivery(pqxx::work& tx, const std::string& incident_key,
                            const std::string& channel, const std::string& route,
                            core::SystemTime since) {
  return !tx.exec_params(kRecentIncident, incident_key, channel, route, core::ToUnixMillis(since))
              .empty();
}

bool InsertDelivery(pqxx::work& tx, const NewDelivery& d) {
  const auto& n = *d.notification;
  const auto rows = tx.exec_params(kInsertDelivery, d.notification_id, n.event_id,
                                   std::string(EventKindName(n.kind)), n.deployment_id, d.route,
                                   d.channel, d.channel_type, n.incident_key, ToJson(n).dump(),
                                   std::string(d.status), core::ToUnixMillis(d.now));
  return !rows.empty();
}

std::vector<DeliveryRow> ClaimDueDeliveries(pqxx::work& tx, core::SystemTime now, int limit) {
  std::vector<DeliveryRow> out;
  for (const auto& r : tx.exec_params(Select(kClaimDue), core::ToUnixMillis(now), limit)) {
    out.push_back(ReadRow(r));
  }
  return out;
}

void RecordAttempt(pqxx::work& tx, std::int64_t id, std::string_view status, int attempts,
                   core::SystemTime due_at, int status_code, const std::string& response,
                   core::SystemTime now) {
  tx.exec_params0(kRecordAttempt, id, std::string(status), attempts, core::ToUnixMillis(due_at),
                  status_code, response, core::ToUnixMillis(now));
}

void Postpone(pqxx::work& tx, std::int64_t id, core::SystemTime due_at, const std::string& why,
              core::SystemTime now) {
  tx.exec_params0(kPostpone, id, core::ToUnixMillis(due_at), why, core::ToUnixMillis(now));
}

std::vector<DeliveryRow> ListDeliveries(pqxx::work& tx, const std::optional<std::string>& event_id,
                                        const std::optional<std::string>& status, int limit) {
  std::vector<DeliveryRow> out;
  for (const auto& r : tx.exec_params(Select(kList), Nullable(event_id), Nullable(status), limit)) {
    out.push_back(ReadRow(r));
  }
  return out;
}

nlohmann::json ToJson(const DeliveryRow& d) {
  nlohmann::json j = {{"id", d.id},
                      {"notification_id", d.notification_id},
                      {"event_id", d.event_id},
                      {"event_kind", d.event_kind},
                      {"deployment_id", d.deployment_id},
                      {"route", d.route},
                      {"channel", d.channel},
                      {"channel_type", d.channel_type},
                      {"status", d.status},
                      {"attempts", d.attempts},
                      {"due_at", core::FormatRfc3339(core::FromUnixMillis(d.due_at_ms))},
                      {"last_response", d.last_response},
                      {"created_at", core::FormatRfc3339(core::FromUnixMillis(d.created_at_ms))},
                      {"updated_at", core::FormatRfc3339(core::FromUnixMillis(d.updated_at_ms))}};
  j["last_status_code"] = d.last_status_code ? nlohmann::json(*d.last_status_code) : nullptr;
  j["finished_at"] =
      d.finished_at_ms
          ? nlohmann::json(core::FormatRfc3339(core::FromUnixMillis(*d.finished_at_ms)))
          : nlohmann::json(nullptr);
  if (!d.incident_key.empty()) j["incident_key"] = d.incident_key;
  return j;
}

}  // namespace sluice::notifier
