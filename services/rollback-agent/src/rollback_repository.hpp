#pragma once

// The rollback-agent's SQL: the deployment projection, the timeline and deploy log, rollbacks
// (unique per deployment and generation), triggers with their decisions, fences, incidents.
// Every function runs inside the caller's transaction.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "incident.hpp"
#include "rollback_domain.hpp"

namespace sluice::rollback {

struct RollbackRow {
  std::string rollback_id;
  std::string deployment_id;
  RollbackPlan plan;
  std::string trigger_kind;
  std::string trigger_event_id;
  std::string trigger_actor;
  nlohmann::json evidence = nlohmann::json::array();  // [Evidence as JSON]
  std::string status = "reverting";  // reverting | waiting_retry | succeeded | failed
  RevertProgress progress;
  std::optional<std::int64_t> retry_at_ms;
  std::optional<std::int64_t> timeout_at_ms;
  std::int64_t fence_token = 0;
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> finished_at_ms;

  bool Open() const { return status == "reverting" || status == "waiting_retry"; }
};

struct TriggerRow {
  std::int64_t id = 0;
  std::string deployment_id;
  std::string event_id;
  std::string kind;
  std::string actor;
  std::string decision;  // act | record
  std::string reason;
  std::string detail;
  std::string rollback_id;
  std::int64_t received_at_ms = 0;
};

struct IncidentRow {
  std::string incident_id;
  std::string rollback_id;
  std::string deployment_id;
  std::string status;  // pending | written
  std::string summary;
  std::optional<nlohmann::json> report;
  std::int64_t created_at_ms = 0;
};

nlohmann::json ProgressToJson(const RevertProgress& p);
RevertProgress ProgressFromJson(const nlohmann::json& j);

class RollbackRepository {
 public:
  // The deployment's view, locked FOR UPDATE; nullopt when no event of it was seen.
  static std::optional<DeploymentView> LockDeployment(pqxx::work& tx, const std::string& id);
  // The view, creating an empty one (not planned) when none exists; locked FOR UPDATE.
  static DeploymentView LockOrCreateDeployment(pqxx::work& tx, const std::string& id,
                                               std::int64_t now_ms);
  static void SaveDeployment(pqxx::work& tx, const DeploymentView& view, std::int64_t now_ms);
  // The other deployments of the view's app and env planned before it (for an operator's
  // target), and whether one was planned after it.
  static std::vector<EarlierRelease> EarlierReleases(pqxx::work& tx, const DeploymentView& view);
  static bool Superseded(pqxx::work& tx, const DeploymentView& view);

  // False when the event id is already in the timeline.
  static bool AppendTimeline(pqxx::work& tx, const std::string& deployment_id,
                             const std::string& event_id, const TimelineEntry& entry);
  static std::vector<TimelineEntry> Timeline(pqxx::work& tx, const std::string& deployment_id);
  static void AppendInstance(pqxx::work& tx, const std::string& deployment_id,
                             const DeployLogEntry& entry);
  static std::vector<DeployLogEntry> DeployLog(pqxx::work& tx, const std::string& deployment_id);

  // Raises the deployment's fence to `token`; false when a higher token already wrote (the
  // caller's lease is stale and it must not act).
  static bool AdvanceFence(pqxx::work& tx, const std::string& deployment_id, std::int64_t token,
                           std::int64_t now_ms);

  // Inserts the rollback; false when one already exists for (deployment, from_generation).
  static bool InsertRollback(pqxx::work& tx, const RollbackRow& row);
  static std::optional<RollbackRow> LockRollback(pqxx::work& tx, const std::string& rollback_id);
  static void UpdateRollback(pqxx::work& tx, const RollbackRow& row);
  // Open rollbacks whose retry or timeout is due, locked FOR UPDATE SKIP LOCKED.
  static std::vector<RollbackRow> LockDueRollbacks(pqxx::work& tx, std::int64_t now_ms, int limit);
  static std::vector<RollbackRow> ListRollbacks(pqxx::work& tx, const std::string& deployment_id);
  static std::optional<RollbackRow> GetRollback(pqxx::work& tx, const std::string& rollback_id);

  static void InsertTrigger(pqxx::work& tx, const TriggerRow& row);
  static std::vector<TriggerRow> ListTriggers(pqxx::work& tx, const std::string& deployment_id);

  static void InsertPendingIncident(pqxx::work& tx, const std::string& incident_id,
                                    const std::string& rollback_id,
                                    const std::string& deployment_id, std::int64_t now_ms);
  static std::vector<IncidentRow> PendingIncidents(pqxx::work& tx, int limit);
  // Locks the incident if it is still pending.
  static std::optional<IncidentRow> LockPendingIncident(pqxx::work& tx,
                                                        const std::string& incident_id);
  static void WriteIncident(pqxx::work& tx, const std::string& incident_id,
                            const std::string& summary, const nlohmann::json& report,
                            std::int64_t now_ms);
  static void CountIncidentAttempt(pqxx::work& tx, const std::string& incident_id);
  static std::optional<IncidentRow> GetIncident(pqxx::work& tx, const std::string& incident_id);
  static std::vector<IncidentRow> ListIncidents(pqxx::work& tx, const std::string& deployment_id);
};

}  // namespace sluice::rollback
