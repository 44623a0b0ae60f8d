#pragma once

// The rollback-agent's read API.

#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>

namespace sluice::rollback {

// GET /v1/incidents?deployment_id=, /v1/incidents/{id} (JSON, or Markdown with
// Accept: text/markdown or ?format=markdown), /v1/incidents/{id}/chart.svg,
// GET /v1/rollbacks?deployment_id=.
void MountRollbackApi(http::Server& server, pg::Database& db);

}  // namespace sluice::rollback
