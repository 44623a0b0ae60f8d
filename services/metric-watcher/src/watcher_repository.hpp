#pragma once

// The metric-watcher's SQL: analysis runs with their rules' durable
// schedule, measurements, and received alerts. Every function runs inside the caller's
// transaction.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <string>
#include <vector>

#include "alerts.hpp"

namespace sluice::watcher {

// ---- analyses --------------------------------------------------------------------------------

struct AnalysisRow {
  std::string id;
  std::string deployment_id;
  std::uint32_t batch_index = 0;
  std::uint64_t generation = 0;
  std::string app, env, version, baseline_version, release_id, template_name;
  bool bake_watch = false;
  std::vector<std::string> instances, baseline_instances;
  std::string spec_yaml;  // deprecated in AnalysisRequested: kept for people, never parsed
  // AnalysisRequested.resolved_template in its JSON mapping ('' when the request had none).
  std::string resolved_template;
  std::string status;
  core::SystemTime started_at{};  // when the request arrived
  // When the batch's last host switched (AnalysisRequested.switched_at), if the request said.
  std::optional<core::SystemTime> switched_at;
  std::optional<core::SystemTime> ends_at;
  std::optional<core::SystemTime> next_due_at;
  std::optional<core::SystemTime> finished_at;
  std::string reason;
  nlohmann::json evidence = nlohmann::json::array();
  std::uint64_t claim_token = 0;  // set by ClaimDueAnalysis only
};

struct RuleRow {
  std::string analysis_id;
  std::string rule;
  std::string kind;  // "threshold" or "judge"
  nlohmann::json progress;
  std::string outcome;
  std::optional<core::SystemTime> next_due_at;
};

struct MeasurementRow {
  std::int64_t id = 0;
  std::string rule;
  core::SystemTime taken_at{};
  nlohmann::json queries;
  nlohmann::json values;
  std::string metric;
  std::optional<double> observed;
  std::optional<double> threshold;
  std::string comparator;
  std::vector<std::string> affected;
  std::string verdict;
  std::string message;
};

// The earliest time an analysis reads data from: when the batch's last host switched, as the
// executor recorded it; without that (a bake watch, an older planner) when the request arrived,
// which is after the switch.
inline core::SystemTime DataFrom(const AnalysisRow& a) {
  return a.switched_at.value_or(a.started_at);
}

// False when an analysis with this id exists already.
bool InsertAnalysis(pqxx::work& tx, const AnalysisRow& a);
void InsertRule(pqxx::work& tx, const RuleRow& r);
// Claims the Running analysis due first (next_due_at <= now; FOR UPDATE SKIP LOCKED, so
// workers and replicas share them): its next_due_at moves to now + lease and its claim token
// rises (returned in claim_token). Commit at once: nothing stays locked while it is measured.
std::optional<AnalysisRow> ClaimDueAnalysis(pqxx::work& tx, core::SystemTime now,
                                            std::chrono::milliseconds lease);
// Locks the claimed analysis FOR UPDATE when it is still Running under this claim token; false
// when it was cancelled, finished or claimed again since (a stale claimer writes nothing).
bool LockClaimed(pqxx::work& tx, const std::string& analysis_id, std::uint64_t claim_token);
std::optional<AnalysisRow> GetAnalysis(pqxx::work& tx, const std::string& id);
std::vector<AnalysisRow> ListAnalyses(pqxx::work& tx,
                                      const std::optional<std::string>& deployment_id, int limit);
std::vector<RuleRow> LoadRules(pqxx::work& tx, const std::string& analysis_id);
void UpdateRule(pqxx::work& tx, const RuleRow& r);
void SetNextDue(pqxx::work& tx, const std::string& analysis_id,
                std::optional<core::SystemTime> next_due_at);
void FinishAnalysis(pqxx::work& tx, const std::string& analysis_id, const std::string& status,
                    const std::string& reason, const nlohmann::json& evidence,
                    core::SystemTime now);
// Cancels the deployment's Running analyses of a generation below `generation` (all of them
// when generation is 0), recording `reason`. Returns how many.
int CancelAnalyses(pqxx::work& tx, const std::string& deployment_id, std::uint64_t generation,
                   const std::string& reason, core::SystemTime now);
// Cancels the Running bake watches of the app+env's other deployments: a newer deployment was
// planned, so they judge a release on its way out. Returns the ids cancelled.
std::vector<std::string> CancelSupersededBakeWatches(pqxx::work& tx, const std::string& app,
                                                     const std::string& env,
                                                     const std::string& newer_deployment_id,
                                                     const std::string& reason,
                                                     core::SystemTime now);
int CountRunning(pqxx::work& tx);

void InsertMeasurement(pqxx::work& tx, const std::string& analysis_id, const MeasurementRow& m);
// Oldest first; `rule` empty = every rule; `limit` newest rows.
std::vector<MeasurementRow> ListMeasurements(pqxx::work& tx, const std::string& analysis_id,
                                             const std::string& rule, int limit);

// ---- alerts ------------------------------------------------------------------------------

struct AlertRow {
  std::string fingerprint;
  core::SystemTime starts_at{};
  std::string alert_name;
  std::string deployment_id;
  std::string status;  // firing / resolved
  nlohmann::json labels;
  nlohmann::json annotations;
  bool raised = false;
  std::string alert_id;
  std::string reason;
};

// Inserts the alert unless (fingerprint, starts_at) is known; true when inserted. A concurrent
// insert of the same alert waits for the other transaction.
bool InsertAlert(pqxx::work& tx, const AlertRow& a, core::SystemTime now);
// The stored alert, locked FOR UPDATE.
std::optional<AlertRow> LockAlert(pqxx::work& tx, const std::string& fingerprint,
                                  core::SystemTime starts_at);
void UpdateAlert(pqxx::work& tx, const AlertRow& a, core::SystemTime now);

// A received alert as listed by GET /v1/alerts.
struct ListedAlert {
  AlertRow alert;
  core::SystemTime received_at{};
  core::SystemTime updated_at{};
};

// The newest `limit` alerts, optionally only those labelled app=`app` and/or matched to
// `deployment_id` (an empty filter matches everything); newest first.
std::vector<ListedAlert> ListAlerts(pqxx::work& tx, const std::string& app,
                                    const std::string& deployment_id, int limit);

}  // namespace sluice::watcher
