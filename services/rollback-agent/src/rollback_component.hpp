#pragma once

// The rollback-agent's plumbing: the Kafka handler (projection, timeline, triggers, revert
// results) inside the consumer's transaction, the worker pass (revert retries and timeouts,
// incident reports), the metric history behind a narrow interface, and the read API.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/server.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "incident.hpp"
#include "rollback_domain.hpp"
#include "rollback_repository.hpp"

namespace sluice::rollback {

inline constexpr std::string_view kServiceName = "rollback-agent";

// Where the incident snapshot comes from (Prometheus or VictoriaMetrics query_range).
class MetricHistory {
 public:
  virtual ~MetricHistory() = default;
  // Throws std::exception whose what() says why the history cannot be had.
  virtual std::vector<SnapshotSeries> QueryRange(const std::string& query, std::int64_t start_ms,
                                                 std::int64_t end_ms,
                                                 std::chrono::milliseconds step) = 0;
};

struct PrometheusHistoryOptions {
  std::string base_url = "http://127.0.0.1:19090";
  std::string authorization;  // never logged
  std::chrono::milliseconds timeout{5000};
};
std::unique_ptr<MetricHistory> MakePrometheusHistory(const PrometheusHistoryOptions& options);

class AgentMetrics {
 public:
  explicit AgentMetrics(::prometheus::Registry& registry);
  void Trigger(std::string_view kind, std::string_view decision, std::string_view reason);
  void Completed(bool success);
  void Incident(bool snapshot_available);

 private:
  ::prometheus::Family<::prometheus::Counter>& triggers_;
  ::prometheus::Family<::prometheus::Counter>& completed_;
  ::prometheus::Family<::prometheus::Counter>& incidents_;
};

struct AgentOptions {
  RevertPolicy revert;
  std::string public_url = "http://127.0.0.1:8080";  // incident links: <url>/v1/incidents/<id>
  std::string owner = "rollback-agent";              // lease owner id of this process
  std::chrono::milliseconds lock_ttl{30000};
  std::chrono::milliseconds lock_wait{2000};          // wait for another holder before going ahead
  std::chrono::milliseconds snapshot_before{300000};  // snapshot starts this long before planning
  int batch_limit = 20;
};

struct AgentDeps {
  pg::Database& db;
  const core::Clock& clock;
  lock::LeaseLock* locks;  // null: no Redis lease (the unique row still decides)
  MetricHistory& history;
  AgentMetrics* metrics;  // may be null
};

class RollbackAgent {
 public:
  RollbackAgent(AgentDeps deps, AgentOptions options);

  // One consumed event, inside the consumer's transaction (its id is in the inbox already).
  void Handle(pqxx::work& tx, const events::v1::Envelope& envelope);

  // The worker's pass: due revert retries and timed-out reverts, then pending incident
  // reports. Returns how many rows it handled. Must not throw for one bad row.
  int RunDue();
  int WriteIncidents();

 private:
  void OnTrigger(pqxx::work& tx, const events::v1::Envelope& envelope, const Trigger& trigger,
                 const std::string& actor, const nlohmann::json& evidence);
  void OnRevertCompleted(pqxx::work& tx, const events::v1::Envelope& envelope);
  void Complete(pqxx::work& tx, RollbackRow& row, bool success);
  void SendRevert(pqxx::work& tx, const RollbackRow& row);
  std::optional<lock::Lease> AcquireLease(const std::string& deployment_id);
  void ReleaseLease(const std::optional<lock::Lease>& lease);
  bool WriteIncident(const std::string& incident_id, const std::string& rollback_id);

  AgentDeps deps_;
  AgentOptions options_;
};

// GET /v1/incidents?deployment_id=, /v1/incidents/{id} (JSON, or Markdown with
// Accept: text/markdown or ?format=markdown), /v1/incidents/{id}/chart.svg,
// GET /v1/rollbacks?deployment_id=.
void MountRollbackApi(http::Server& server, pg::Database& db);

}  // namespace sluice::rollback
