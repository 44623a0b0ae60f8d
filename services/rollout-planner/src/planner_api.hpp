#pragma once

// The rollout-planner's read API: GET /v1/deployments (?app= &env= &status= &since= &until=
// &limit= &cursor=; since/until bound created_at, durations counted back from `clock`),
// GET /v1/deployments/{id} (with batches and timeline),
// GET /v1/apps/{app}/environments/{env}/stable. Each request reads in its own transaction.

#include <sluice/core/clock.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>

namespace sluice::rollout_planner {

void MountPlannerApi(http::Server& server, pg::Database& db, const core::Clock& clock);

}  // namespace sluice::rollout_planner
