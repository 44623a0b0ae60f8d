#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <string_view>

namespace sluice::pg {

// Records that `consumer` handled `event_id`, inside the handler's transaction. Returns true
// the first time and false for a duplicate, in which case the handler does nothing (its
// state change already committed together with the first record).
bool RecordInbox(pqxx::work& tx, std::string_view consumer, std::string_view event_id);

// Forgets inbox records received before `received_before`; returns how many. Keep them
// longer than any redelivery can take (Kafka retention of the consumed topics).
int64_t DeleteInboxBefore(pqxx::work& tx, core::SystemTime received_before);

}  // namespace sluice::pg
