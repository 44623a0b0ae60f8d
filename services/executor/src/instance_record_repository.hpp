#pragma once

// The executor's SQL over instance_deployment_records. Every statement is a named constant in
// instance_record_repository.cpp. Functions take the caller's transaction, so a record and the
// outbox rows of its events commit together.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "instance_record.hpp"

namespace sluice::executor {

class InstanceRecordRepository {
 public:
  // Inserts or updates the row of (deployment, host, generation) and returns true when the
  // row changed. A terminal row (succeeded, failed, reverted) is never moved back to an
  // in-flight status: a late "deploying" write after the result changes nothing.
  // record.updated_at_ms is the write time.
  static bool Upsert(pqxx::work& tx, const InstanceRecord& record);
  // The same for many rows in one statement (at most one per host of a deployment and
  // generation); returns how many rows changed.
  static std::size_t UpsertAll(pqxx::work& tx, const std::vector<InstanceRecord>& records);

  static std::optional<InstanceRecord> Get(pqxx::work& tx, const core::DeploymentId& deployment,
                                           const std::string& host, core::Generation generation);
  // The rows of one command's batch, by host.
  static std::vector<InstanceRecord> ListBatch(pqxx::work& tx, const core::DeploymentId& deployment,
                                               core::BatchIndex batch, core::Generation generation);
  // Every row of a deployment, oldest generation first, then batch and host.
  static std::vector<InstanceRecord> ListDeployment(pqxx::work& tx,
                                                    const core::DeploymentId& deployment);
  // Rows still pending, deploying or reverting (what a restarted executor resumes), oldest
  // update first, at most `limit`.
  static std::vector<InstanceRecord> ListInFlight(pqxx::work& tx, int limit);
  // The highest generation recorded for a deployment: a command with a lower one is stale.
  static std::optional<std::uint64_t> HighestGeneration(pqxx::work& tx,
                                                        const core::DeploymentId& deployment);

  // Host ownership (executor_host_owners): a deploy that starts on a host makes its deployment
  // the host's owner; a revert is allowed only on hosts its own deployment owns (or that no
  // deployment does). Call under the host's lease, after its fence was raised.
  static void ClaimHost(pqxx::work& tx, const std::string& host,
                        const core::DeploymentId& deployment, core::Generation generation,
                        std::int64_t now_ms);
  static std::optional<core::DeploymentId> HostOwner(pqxx::work& tx, const std::string& host);
  // The deployment that owns `host` when it is another than `deployment` (the revert must be
  // refused there), nullopt when the revert may go ahead.
  static std::optional<core::DeploymentId> RevertRefusedBy(pqxx::work& tx, const std::string& host,
                                                           const core::DeploymentId& deployment);
};

}  // namespace sluice::executor
