#include "rollout_planner_app.hpp"

#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/lock/lease_lock.hpp>

#include "planner_api.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& RolloutPlannerMigrations();
}

namespace sluice::rollout_planner {

Planner& AddPlanner(service::App& app, const PlannerConfig& config) {
  auto& db = app.Database(generated::RolloutPlannerMigrations());
  if (config.ensure_topics) app.EnsureTopics(events::AllTopics());
  lock::LeaseLock* lease = nullptr;
  if (!config.shared.redis_url.empty()) {
    // Redis only avoids duplicate work: reported, never fatal for readiness.
    auto& redis = app.Redis("Redis unavailable: Postgres alone decides");
    lease = &app.Make<lock::LeaseLock>(redis, app.Clock(), config.planner.lease_prefix);
  }
  auto& planner =
      app.Make<Planner>(PlannerDeps{db, lease, app.Clock(), &app.Registry()}, config.planner);
  app.ConsumeEvents(
      [&planner](pqxx::work& tx, const events::v1::Envelope& e) { planner.Handle(tx, e); },
      &Planner::Handles);
  app.Every("timers", config.tick, [&planner] {
    try {
      planner.FireDueTimers();
      planner.StartStalledQueues();
    } catch (const std::exception& e) {
      core::Logger("planner")->warn("timer sweep failed (next round retries): {}", e.what());
    }
  });
  app.Every("traffic-switch", config.traffic_switch_poll, [&planner] {
    try {
      planner.SwitchTrafficOnce();
    } catch (const std::exception& e) {
      core::Logger("planner")->warn("traffic switch pass failed (next round retries): {}",
                                    e.what());
    }
  });
  MountPlannerApi(app.Http(), db, app.Clock());
  return planner;
}

void Register(service::App& app, const PlannerConfig& config) { AddPlanner(app, config); }

RolloutPlannerService::RolloutPlannerService(PlannerConfig config, const core::Clock& clock)
    : config_(std::move(config)), app_(config_.shared, clock) {}

void RolloutPlannerService::Prepare() {
  if (planner_ == nullptr) planner_ = &AddPlanner(app_, config_);
}

}  // namespace sluice::rollout_planner
