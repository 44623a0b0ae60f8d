#pragma once

// The rollout-planner's plumbing: the event handler that feeds the state machine and carries
// out its commands in the same transaction, the sweep that fires durable timers and starts
// queued deployments, the traffic-switch worker and the read API (rollout_planner_app.hpp wires
// them into the service skeleton).

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/server.hpp>
#include <sluice/lock/lease_lock.hpp>
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

}  // namespace sluice::rollout_planner
