#pragma once

// The executor's read API.

#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>

namespace sluice::executor {

// GET /v1/deployments/{id}/instances and GET /v1/deployments/{id}/commands.
void MountExecutorApi(http::Server& server, pg::Database& db);

}  // namespace sluice::executor
