#pragma once

// The rollout-planner's Planner: its dependencies, options and the state one deployment's
// transaction carries. The work is split by role, each in its own file:
//   planner_handler.cpp      events in (Handle): requests, releases, specs, state-machine inputs
//   planner_transitions.cpp  a transition carried out: commands, row, timeline, outbox
//   planner_slots.cpp        one active deployment per app+env: starting the next queued one
//   planner_worker.cpp       scheduled work: due timers, stalled queues, traffic switches
//   planner_api.{hpp,cpp}    the read API (GET /v1/deployments ...)
//   adapters/traffic_switch_hook.{hpp,cpp}  the POST to a blue-green traffic-switch hook
// rollout_planner_app.cpp wires them into the service skeleton.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "planner_repository.hpp"

namespace sluice::rollout_planner {

// The planner's logger ("planner"), shared by the files of its roles.
std::shared_ptr<spdlog::logger> Log();

// pg timers of this kind fire a pause's TimerFired.
inline constexpr std::string_view kTimerKindPause = "pause";

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

 private:
  struct Request;
  // Why a requested deployment cannot start: a DeploymentFailed reason and its detail.
  struct NeverStarted {
    std::string_view reason;
    std::string detail;
  };
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

  // The steps of OnDeploymentRequested.
  DeploymentRow NewDeploymentRow(Scope& s, const Request& r) const;
  std::optional<NeverStarted> PlanFromSpec(Scope& s, const Request& r, DeploymentRow& row) const;
  void RecordRequested(Scope& s, const Request& r, const DeploymentRow& row,
                       const std::string& event_id);
  std::optional<NeverStarted> RejectedByConcurrency(Scope& s, const DeploymentRow& row) const;

  // The steps of OnInput: an input the state machine cannot take, and the rollback fences.
  void RecordUnmapped(Scope& s, const std::string& id, const events::v1::Envelope& e,
                      const std::string& why);
  bool RollbackRefused(Scope& s, DeploymentRow& row, const events::v1::Envelope& e,
                       const RollbackStarted& rs);

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
  void RecordStableRevoked(Scope& s, const DeploymentRow& row);

  // The steps of SwitchTrafficOnce, around the hook's call (made with no transaction open).
  struct SwitchTarget {
    std::string app, env, version;
  };
  SwitchTarget LoadSwitchTarget(const TrafficSwitchRow& sw);
  void FinishTrafficSwitch(const TrafficSwitchRow& sw, bool success, const std::string& error);

  PlannerDeps deps_;
  PlannerOptions options_;
  std::string owner_;  // this process, in the lease value
  prometheus::Family<prometheus::Counter>* inputs_ = nullptr;
};

}  // namespace sluice::rollout_planner
