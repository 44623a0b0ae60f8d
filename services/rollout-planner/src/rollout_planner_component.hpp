#pragma once

// The rollout-planner's plumbing: the event handler that feeds the state machine and carries
// out its commands in the same transaction, the sweep that fires durable timers and starts
// queued deployments, the traffic-switch worker, the read API, and the service that wires them
// to Kafka, Postgres, Redis and HTTP.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/health.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/periodic_task.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/eventbus/outbox_metrics.hpp>
#include <sluice/http/server.hpp>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <utility>
#include <vector>

#include "planner_repository.hpp"

namespace sluice::rollout_planner {

struct PlannerDeps {
  pg::Database& db;
  lock::LeaseLock* lease;  // null: no Redis (Postgres alone keeps one deployment per app+env)
  const core::Clock& clock;
  prometheus::Registry* registry;  // null: no metrics
};

struct PlannerOptions {
  std::string lease_prefix = "sluice:planner:";  // the slot lease is <prefix><app>:<env>
  std::chrono::milliseconds lease_ttl{10000};
  int timer_batch = 100;  // timers fired per sweep at most
  std::chrono::milliseconds traffic_switch_timeout{10000};
  int traffic_switch_attempts = 3;
  std::chrono::milliseconds traffic_switch_retry{2000};
  // How long a deployment whose canary analysis failed keeps its app+env waiting for the
  // rollback-agent's RollbackStarted; then the failure is final and the next deployment starts.
  std::chrono::milliseconds rollback_wait{std::chrono::minutes(10)};
  // Only apps whose name starts with this are planned; the others' specs, releases and
  // requests are skipped (so are the events of their deployments, which then are unknown).
  // Empty: every app. Lets instances share a Kafka cluster without taking each other's work.
  std::string app_prefix;
};

// The planner's decisions wired to Postgres. Thread-safe: every call works in its own
// transaction (or the consumer's), with the deployment row locked FOR UPDATE.
class Planner {
 public:
  Planner(PlannerDeps deps, PlannerOptions options);

  // The events Handle acts on; the consumer passes over the rest of its topics (each host's
  // record on the executor's topic, the watcher's measurements) without a transaction.
  static bool Handles(const events::v1::Envelope& e);
  // Inside the consumer's transaction (the inbox already recorded the event id).
  void Handle(pqxx::work& tx, const events::v1::Envelope& e);

  // Fires the due timers, each in its own transaction; returns how many fired.
  int FireDueTimers();
  // Starts the queued deployments of app+env pairs with no active one (a start the lease
  // postponed, or a replica that died between the finish and the start).
  int StartStalledQueues();
  // Calls the due traffic-switch hooks (outside any transaction) and feeds the outcome back.
  int SwitchTrafficOnce();

  // GET /v1/deployments, /v1/deployments/{id}, /v1/apps/{app}/environments/{env}/stable.
  void MountApi(http::Server& server);

 private:
  struct Request;
  // What a transaction collects to do before it ends: app+env slots freed by a deployment
  // reaching a final status.
  struct Scope {
    pqxx::work& tx;
    std::vector<std::pair<std::string, std::string>> freed;
  };

  void OnDeploymentRequested(Scope& s, const Request& r, const std::string& event_id);
  void OnReleaseCreated(Scope& s, const events::v1::Envelope& e);
  void OnAppSpecApplied(Scope& s, const events::v1::Envelope& e);
  void OnInput(Scope& s, const events::v1::Envelope& e);

  // Runs the state machine on the row, carries out the commands, saves, records the timeline.
  void Apply(Scope& s, DeploymentRow& row, const Input& in, const std::string& actor,
             const std::string& event_id);
  void CarryOut(Scope& s, const DeploymentRow& row, const Deployment& next, const Command& c);
  void FailNeverStarted(Scope& s, DeploymentRow& row, std::string_view reason,
                        const std::string& detail, const std::string& event_id);
  // Starts the oldest queued deployment of app+env if none is active.
  void TryStartNext(Scope& s, const std::string& app, const std::string& env);
  // Works off s.freed until no slot is left to fill.
  void FillFreedSlots(Scope& s);
  bool Mine(const std::string& app) const { return app.rfind(options_.app_prefix, 0) == 0; }
  void Record(Scope& s, const std::string& deployment_id, TimelineEntry entry,
              const std::string& event_id);

  PlannerDeps deps_;
  PlannerOptions options_;
  std::string owner_;  // this process, in the lease value
  prometheus::Family<prometheus::Counter>* inputs_ = nullptr;
};

struct ServiceOptions {
  std::string http_addr = "127.0.0.1:8082";
  // Every API call but the probes must carry it as Bearer (http::RequireServiceToken); at least
  // 24 characters.
  std::string service_token;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::string group_id = "rollout-planner";
  std::string redis_url = "redis://127.0.0.1:16379/0";  // empty: no Redis
  std::chrono::milliseconds tick{200};                  // timer sweep
  std::chrono::milliseconds traffic_switch_poll{500};
  std::chrono::milliseconds startup_timeout{60000};
  bool ensure_topics = true;
  PlannerOptions planner;
};

// The whole service: migrations, outbox relay, consumer, timer sweep, traffic-switch worker,
// readiness probe and HTTP server, started in that order and stopped in reverse.
class RolloutPlannerService {
 public:
  RolloutPlannerService(ServiceOptions options, const core::Clock& clock);
  ~RolloutPlannerService();

  // Applies migrations (waiting for PostgreSQL up to startup_timeout) and creates the topics.
  void Prepare();
  void Start();  // Prepare() first
  void Stop();
  core::Lifecycle& Lifecycle() { return lifecycle_; }
  int Port() const { return server_->Port(); }
  Planner& GetPlanner() { return *planner_; }
  pg::Database& Db() { return db_; }

 private:
  void Probe();

  ServiceOptions options_;
  const core::Clock& clock_;
  pg::Database db_;
  std::shared_ptr<prometheus::Registry> registry_;
  core::Health health_;
  std::unique_ptr<lock::RedisClient> redis_;
  std::unique_ptr<lock::LeaseLock> lease_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<Planner> planner_;
  std::unique_ptr<eventbus::OutboxRelayComponent> relay_;
  std::unique_ptr<eventbus::OutboxMetrics> outbox_metrics_;
  std::unique_ptr<eventbus::ConsumerComponent> consumer_;
  std::unique_ptr<core::PeriodicTask> ticker_;
  std::unique_ptr<core::PeriodicTask> switcher_;
  std::unique_ptr<core::PeriodicTask> probe_;
  std::unique_ptr<http::Server> server_;
  core::Lifecycle lifecycle_;  // last: stops the components above before they go away
};

}  // namespace sluice::rollout_planner
