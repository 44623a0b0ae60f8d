#pragma once

// The rollback-agent's scheduled work: due revert retries and timed-out reverts (durable due
// times in the rollback rows), then pending incident reports. An incident is claimed (read as
// pending), its metric snapshot queried with no transaction open (DESIGN.md invariant 9), and
// written in a second transaction guarded by the row still being pending.

#include <optional>
#include <string>
#include <vector>

#include "incident.hpp"
#include "rollback_options.hpp"
#include "rollback_repository.hpp"

namespace sluice::rollback {

class RollbackWorker {
 public:
  RollbackWorker(AgentDeps deps, AgentOptions options);

  // Each returns how many rows it handled; neither throws for one bad row.
  int RunDue();
  int WriteIncidents();

 private:
  // What an incident report is made of, read in one short transaction.
  struct Gathered {
    RollbackRow row;
    DeploymentView view;
    std::vector<TimelineEntry> timeline;
    std::vector<DeployLogEntry> log;
  };
  void RetryRevert(pqxx::work& tx, RollbackRow& row, std::int64_t now_ms);
  bool WriteIncident(const std::string& incident_id, const std::string& rollback_id);
  Incident BuildIncident(const std::string& incident_id, const Gathered& gathered,
                         std::int64_t now_ms) const;
  // Queries the trigger's metric over the incident (network I/O: call it with no transaction).
  void TakeSnapshot(Incident& in, const RollbackRow& row, const DeploymentView& view,
                    std::int64_t now_ms);
  void TakeBaseline(Incident& in, const DeploymentView& view);
  bool Publish(const Incident& in, const Gathered& gathered);

  AgentDeps deps_;
  AgentOptions options_;
};

}  // namespace sluice::rollback
