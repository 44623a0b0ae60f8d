#pragma once

// The rollback-agent's events in: the deployment projection and timeline, rollback triggers
// (AnalysisFailed, AlertRaised, an operator's rollback) and the executor's revert results.
//
// DESIGN.md invariant 9: a trigger that may start a rollback takes its deployment's Redis lease
// first, with no transaction open; the decision and the rollback row are then written in the
// consumer's transaction, guarded by the unique (deployment, generation) row and the lease's
// fencing token (rollback_fences); the lease is given back after the commit.

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/events/envelope.hpp>
#include <string>

#include "adapters/deployment_lease.hpp"
#include "rollback_options.hpp"
#include "rollback_repository.hpp"

namespace sluice::rollback {

// A trigger as an event carries it: what it says, who sent it, its evidence (as stored).
struct TriggerEvent {
  Trigger trigger;
  std::string actor;
  nlohmann::json evidence = nlohmann::json::array();
};
// nullopt for an event that is no trigger (an operator command other than rollback included).
std::optional<TriggerEvent> TriggerOf(const ::sluice::v1::Envelope& e);

class RollbackHandler {
 public:
  RollbackHandler(AgentDeps deps, AgentOptions options);

  // One consumed event: the lease wait (for a trigger that may act) happens here, with no
  // transaction open; the returned step runs in the consumer's transaction (the event id goes
  // into the inbox beside it), while `envelope` lives, and holds the lease until it is dropped.
  eventbus::TransactionStep Prepare(const ::sluice::v1::Envelope& envelope) const;

 private:
  void Handle(pqxx::work& tx, const ::sluice::v1::Envelope& e,
              const std::optional<TriggerEvent>& trigger, const lock::Lease* lease) const;
  void Project(pqxx::work& tx, const ::sluice::v1::Envelope& e, std::int64_t at_ms,
               std::int64_t now_ms) const;
  void OnTrigger(pqxx::work& tx, const ::sluice::v1::Envelope& e, const TriggerEvent& trigger,
                 const lock::Lease* lease) const;
  void Record(pqxx::work& tx, TriggerRow& tr, std::string_view reason,
              const std::string& detail) const;
  void OnRevertCompleted(pqxx::work& tx, const ::sluice::v1::Envelope& e) const;

  AgentDeps deps_;
  AgentOptions options_;
  DeploymentLeases leases_;
};

}  // namespace sluice::rollback
