#pragma once

// The deployments the watcher follows: the shared projection (libs/projection), stored as JSON
// in deployment_projection, with two facts of the watcher's own beside it (when it first heard
// of the deployment; until when alerts about it still match). Every function runs inside the
// caller's transaction.

#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/projection/deployment.hpp>
#include <string>
#include <vector>

#include "alerts.hpp"

namespace sluice::watcher {

// The stored projection, locked FOR UPDATE; nullopt when the deployment is new.
std::optional<projection::Deployment> LockDeployment(pqxx::work& tx,
                                                     const std::string& deployment_id);
// Stores the projection (first seen now when new).
void SaveDeployment(pqxx::work& tx, const projection::Deployment& d, core::SystemTime now);
// Moves active_until later (never earlier).
void ExtendActiveUntil(pqxx::work& tx, const std::string& deployment_id,
                       core::SystemTime active_until, core::SystemTime now);
// Deployments of app/env, or the one with this id, as the alert matcher sees them.
std::vector<WatchedDeployment> DeploymentsFor(pqxx::work& tx, const std::string& app,
                                              const std::string& env,
                                              const std::string& deployment_id);
// Whether the watcher heard of a deployment of the app+env after this one.
bool NewerDeploymentPlanned(pqxx::work& tx, const std::string& app, const std::string& env,
                            const std::string& deployment_id);

}  // namespace sluice::watcher
