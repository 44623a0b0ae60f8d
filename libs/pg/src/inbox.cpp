#include <chrono>
#include <sluice/pg/inbox.hpp>
#include <string>

namespace sluice::pg {
namespace {

constexpr const char* kRecordSql =
    "INSERT INTO inbox (consumer, event_id, received_at) VALUES ($1, $2, now()) "
    "ON CONFLICT (consumer, event_id) DO NOTHING";

constexpr const char* kDeleteBeforeSql =
    "DELETE FROM inbox WHERE received_at < to_timestamp(0) + $1::bigint * interval '1 microsecond'";

}  // namespace

int64_t DeleteInboxBefore(pqxx::work& tx, core::SystemTime received_before) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(received_before.time_since_epoch())
          .count();
  return static_cast<int64_t>(tx.exec_params(kDeleteBeforeSql, micros).affected_rows());
}

bool RecordInbox(pqxx::work& tx, std::string_view consumer, std::string_view event_id) {
  const auto result = tx.exec_params(kRecordSql, std::string(consumer), std::string(event_id));
  return result.affected_rows() == 1;
}

}  // namespace sluice::pg
