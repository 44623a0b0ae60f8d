#include <chrono>
#include <limits>
#include <sluice/pg/inbox.hpp>
#include <sluice/pg/retention.hpp>
#include <string>

namespace sluice::pg {
namespace {

constexpr const char* kRecordSql =
    "INSERT INTO inbox (consumer, event_id, received_at) VALUES ($1, $2, now()) "
    "ON CONFLICT (consumer, event_id) DO NOTHING";

// At most $2 rows a call: a purge of a large backlog holds no long lock (retention.hpp).
constexpr const char* kDeleteBeforeSql =
    "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM inbox "
    "WHERE received_at < to_timestamp(0) + $1::bigint * interval '1 microsecond' LIMIT $2))";

}  // namespace

int64_t DeleteInboxBefore(pqxx::work& tx, core::SystemTime received_before) {
  return DeleteInboxBefore(tx, received_before, std::numeric_limits<int64_t>::max());
}

int64_t DeleteInboxBefore(pqxx::work& tx, core::SystemTime received_before, int64_t limit) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(received_before.time_since_epoch())
          .count();
  return static_cast<int64_t>(tx.exec_params(kDeleteBeforeSql, micros, limit).affected_rows());
}

bool RecordInbox(pqxx::work& tx, std::string_view consumer, std::string_view event_id) {
  const auto result = tx.exec_params(kRecordSql, std::string(consumer), std::string(event_id));
  return result.affected_rows() == 1;
}

}  // namespace sluice::pg
