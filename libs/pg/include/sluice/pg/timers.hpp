#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::pg {

// A durable timer: a row with a due time, so a restarted service resumes its pauses,
// analysis intervals and timeouts where it stopped.
struct Timer {
  int64_t id;
  std::string key;
  std::string kind;
  core::SystemTime due_at;   // microsecond precision
  std::string payload_json;  // empty when none was given
};

// Creates the timer, or moves the one with this key to the new kind / due time / payload.
// payload_json must be valid JSON or empty.
void ScheduleTimer(pqxx::work& tx, std::string_view key, std::string_view kind,
                   core::SystemTime due_at, std::string_view payload_json);

// Deletes the timer with this key; false when there was none.
bool CancelTimer(pqxx::work& tx, std::string_view key);

// Up to `limit` timers with due_at <= now, oldest first, locked FOR UPDATE SKIP LOCKED for
// this transaction: concurrent claimers get disjoint sets. Fire, then CompleteTimer (or
// ScheduleTimer again) in the same transaction.
std::vector<Timer> ClaimDueTimers(pqxx::work& tx, core::SystemTime now, int limit);

// Deletes a fired timer.
void CompleteTimer(pqxx::work& tx, int64_t id);

}  // namespace sluice::pg
