#include <chrono>
#include <sluice/pg/timers.hpp>
#include <string>

namespace sluice::pg {
namespace {

// Times travel as microseconds since the epoch: exact both ways (timestamptz has microseconds).
constexpr const char* kScheduleSql =
    "INSERT INTO timers (key, kind, due_at, payload, created_at) "
    "VALUES ($1, $2, to_timestamp(0) + $3::bigint * interval '1 microsecond', $4::jsonb, now()) "
    "ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, "
    "payload = excluded.payload, claimed_until = NULL";
constexpr const char* kCancelSql = "DELETE FROM timers WHERE key = $1";
constexpr const char* kClaimSql =
    "SELECT id, key, kind, (extract(epoch FROM due_at) * 1000000)::bigint, "
    "coalesce(payload::text, '') FROM timers "
    "WHERE due_at <= to_timestamp(0) + $1::bigint * interval '1 microsecond' "
    "AND (claimed_until IS NULL "
    "OR claimed_until <= to_timestamp(0) + $1::bigint * interval '1 microsecond') "
    "ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* kCompleteSql = "DELETE FROM timers WHERE id = $1";

int64_t ToMicros(core::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

void ScheduleTimer(pqxx::work& tx, std::string_view key, std::string_view kind,
                   core::SystemTime due_at, std::string_view payload_json) {
  const std::string payload(payload_json);
  tx.exec_params(kScheduleSql, std::string(key), std::string(kind), ToMicros(due_at),
                 payload.empty() ? nullptr : payload.c_str());
}

bool CancelTimer(pqxx::work& tx, std::string_view key) {
  return tx.exec_params(kCancelSql, std::string(key)).affected_rows() > 0;
}

std::vector<Timer> ClaimDueTimers(pqxx::work& tx, core::SystemTime now, int limit) {
  std::vector<Timer> timers;
  for (const auto& row : tx.exec_params(kClaimSql, ToMicros(now), limit)) {
    timers.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                      core::SystemTime(std::chrono::duration_cast<core::SystemTime::duration>(
                          std::chrono::microseconds(row[3].as<int64_t>()))),
                      row[4].as<std::string>()});
  }
  return timers;
}

void CompleteTimer(pqxx::work& tx, int64_t id) { tx.exec_params(kCompleteSql, id); }

}  // namespace sluice::pg
