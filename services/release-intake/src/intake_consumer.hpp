#pragma once

// release-intake's consumer of the public inbound topic (sluice.intake.v1): each record is
// decoded (intake.hpp), its token checked and its request carried out by the same functions as
// the HTTP API (intake_actions.hpp), and answered on the results topic, all in the transaction
// that records its submission id in the inbox (eventbus::InboxRecordHandler). A retried record
// is answered again with the stored answer; a malformed one is dead-lettered (and answered
// when its id is readable).

#include <sluice/core/clock.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/kafka/consumer.hpp>
#include <sluice/pg/database.hpp>
#include <string>

namespace sluice::release_intake {

// The inbox consumer name of the inbound topic.
inline constexpr std::string_view kIntakeConsumer = "release-intake.intake";

// What one record of the inbound topic does (decoded; the steps run in its transaction).
eventbus::InboxRecord IntakeRecord(const kafka::ConsumedMessage& message, const core::Clock& clock,
                                   const std::string& results_topic);

// The kafka::Handler of the inbound topic.
kafka::Handler IntakeHandler(pg::Database& db, const core::Clock& clock, std::string results_topic);

}  // namespace sluice::release_intake
