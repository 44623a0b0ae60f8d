#pragma once

// The notifier's SQL (schema "notifier" by default): deployment context and deliveries.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <string>
#include <vector>

#include "notification.hpp"

namespace sluice::notifier {

inline constexpr std::string_view kStatusPending = "pending";
inline constexpr std::string_view kStatusDelivered = "delivered";
inline constexpr std::string_view kStatusFailed = "failed";
inline constexpr std::string_view kStatusSuppressed = "suppressed";

struct DeliveryRow {
  std::int64_t id = 0;
  std::string notification_id;
  std::string event_id;
  std::string event_kind;
  std::string deployment_id;
  std::string route;
  std::string channel;
  std::string channel_type;
  std::string incident_key;
  std::string status;
  int attempts = 0;
  std::int64_t due_at_ms = 0;
  std::optional<int> last_status_code;
  std::string last_response;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> finished_at_ms;
  nlohmann::json notification;
};

// The stored projection of a deployment (an empty one for an unknown or empty id).
projection::Deployment LoadDeployment(pqxx::work& tx, const std::string& deployment_id);
void SaveDeployment(pqxx::work& tx, const std::string& deployment_id,
                    const projection::Deployment& d, core::SystemTime now);

// True when a delivery for the same incident, route and channel that was not itself suppressed
// was created after `since` (suppressed notices do not extend the window: a long incident is
// told again once per window).
bool RecentIncidentDelivery(pqxx::work& tx, const std::string& incident_key,
                            const std::string& channel, const std::string& route,
                            core::SystemTime since);

struct NewDelivery {
  std::string notification_id;
  const Notification* notification = nullptr;
  std::string route;
  std::string channel;
  std::string channel_type;
  std::string_view status;  // pending or suppressed
  core::SystemTime now;
};
// Inserts the row; false when (event_id, channel, route) already has one (a redelivery).
bool InsertDelivery(pqxx::work& tx, const NewDelivery& d);

// Up to `limit` pending deliveries due at `now`, oldest due first, locked FOR UPDATE SKIP
// LOCKED for this transaction (replicas never claim the same row).
std::vector<DeliveryRow> ClaimDueDeliveries(pqxx::work& tx, core::SystemTime now, int limit);

// Records an attempt: new status (pending again with a later due time for a retry), attempts,
// the receiver's status code (0 = none) and a short response.
void RecordAttempt(pqxx::work& tx, std::int64_t id, std::string_view status, int attempts,
                   core::SystemTime due_at, int status_code, const std::string& response,
                   core::SystemTime now);
// Moves a pending delivery's due time without counting an attempt (rate limit).
void Postpone(pqxx::work& tx, std::int64_t id, core::SystemTime due_at, const std::string& why,
              core::SystemTime now);

// Newest first; filters are optional.
std::vector<DeliveryRow> ListDeliveries(pqxx::work& tx, const std::optional<std::string>& event_id,
                                        const std::optional<std::string>& status, int limit);

nlohmann::json ToJson(const DeliveryRow& row);

}  // namespace sluice::notifier
