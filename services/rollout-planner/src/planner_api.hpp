#pragma once

// The rollout-planner's read API: GET /v1/deployments (?app= &env= &status= &limit=),
// GET /v1/deployments/{id} (with batches and timeline),
// GET /v1/apps/{app}/environments/{env}/stable. Each request reads in its own transaction.

#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>

namespace sluice::rollout_planner {

void MountPlannerApi(http::Server& server, pg::Database& db);

}  // namespace sluice::rollout_planner
