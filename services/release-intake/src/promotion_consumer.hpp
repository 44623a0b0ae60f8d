#pragma once

// release-intake's consumer of the rollout-planner's, the metric-watcher's and the
// rollback-agent's events, for environments and promotion (promotion.hpp): it keeps
// env_deployments (what became of each deployment: succeeded, failed, its bake watch passed)
// and, when a release passed an environment, requests its deployment into every environment
// with `promotion: auto` from it, as the actor "sluice:promotion" (audited). Each event is
// handled once (eventbus::TransactionalHandler's inbox, consumer "release-intake-promotion"), and
// each deployment's promotions are requested once (env_deployments.promoted, and an
// Idempotency-Key per release and environment).

#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <string>
#include <vector>

namespace sluice::release_intake {

inline constexpr std::string_view kPromotionConsumer = "release-intake-promotion";

// The events it acts on (the others are passed over without a transaction).
bool IsPromotionEvent(const events::v1::Envelope& e);
// One event, inside its inbox transaction.
void HandlePromotionEvent(pqxx::work& tx, const events::v1::Envelope& e, const core::Clock& clock);

}  // namespace sluice::release_intake
