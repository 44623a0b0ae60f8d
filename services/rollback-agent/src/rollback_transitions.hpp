#pragma once

// The writes that move a rollback on, each inside the caller's transaction and together with the
// events it causes (DESIGN.md invariant 2): started (RollbackStarted and the first
// RevertRequested), a revert attempt sent, completed (RollbackCompleted and the pending incident).
// Shared by the handler (triggers, revert results) and the worker (retries, timeouts). Every
// event the agent publishes is added to the deployment's timeline too.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>

#include "rollback_domain.hpp"
#include "rollback_metrics.hpp"
#include "rollback_repository.hpp"

namespace sluice::rollback {

// Publishes an event of this agent (through the outbox) and adds it to its deployment's timeline.
void PublishAndRecord(pqxx::work& tx, ::sluice::v1::Envelope e, std::int64_t now_ms);

// RollbackStarted and the first RevertRequested of a rollback row just inserted: they commit
// together with the row, so a crash cannot leave one without the other.
void PublishStarted(pqxx::work& tx, const core::Clock& clock, const RollbackRow& row,
                    const DeploymentView& view);

// A RevertRequested for the attempt in flight (its pending hosts and generation); the pending
// hosts that are Kubernetes targets of the deployment (`view`, from DeploymentPlanned) are also
// in kubernetes_targets, with their workloads.
void SendRevert(pqxx::work& tx, const core::Clock& clock, const RollbackRow& row,
                const DeploymentView& view);

// Marks the rollback succeeded or failed, updates the deployment's view, publishes
// RollbackCompleted and creates the pending incident the worker then writes.
void CompleteRollback(pqxx::work& tx, const core::Clock& clock, AgentMetrics* metrics,
                      RollbackRow& row, bool success);

}  // namespace sluice::rollback
