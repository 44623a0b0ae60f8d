#pragma once

// release-intake's consumer of the public inbound topic (sluice.intake.v1): each record is
// decoded (intake.hpp), its token (or, on a mapped principal's own topic, the principal's
// role) checked and its request carried out by the same functions as
// the HTTP API (intake_actions.hpp), and answered on the results topic, all in the transaction
// that records its submission id in the inbox (eventbus::InboxRecordHandler). A retried record
// is answered again with the stored answer; a malformed one is dead-lettered (and answered
// when its id is readable).

#include <functional>
#include <sluice/core/clock.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/kafka/consumer.hpp>
#include <sluice/pg/database.hpp>
#include <string>

#include "intake.hpp"
#include "intake_actions.hpp"

namespace sluice::release_intake {

// The inbox consumer name of the inbound topic.
inline constexpr std::string_view kIntakeConsumer = "release-intake.intake";

struct IntakeDeps {
  const core::Clock& clock;
  std::string results_topic;
  // An operator command's check at the rollout-planner (ReleaseIntakeApi::CheckAtPlanner),
  // made before the record's transaction; empty: the planner is taken as unreachable.
  std::function<PlannerCheck(const std::string& deployment_id)> planner;
  // The mapped principals (SLUICE_INTAKE_KAFKA_PRINCIPALS): a record read from a principal's
  // own topic carries its authority (PrincipalAuthority), not a token.
  std::vector<KafkaPrincipal> principals = {};
};

// What one record of the inbound topic does (decoded, an operator command checked at the
// planner; the steps run in its transaction).
eventbus::InboxRecord IntakeRecord(const kafka::ConsumedMessage& message, const IntakeDeps& deps);

// The kafka::Handler of the inbound topic.
kafka::Handler IntakeHandler(pg::Database& db, IntakeDeps deps);

// Housekeeping (service::App::Retain): forgets at most `limit` answers given before `before`.
// Kept as long as the inbox records, so a retried submission is answered the same while it is
// still known as a duplicate.
int64_t DeleteIntakeAnswersBefore(pqxx::work& tx, core::SystemTime before, int64_t limit);

}  // namespace sluice::release_intake
