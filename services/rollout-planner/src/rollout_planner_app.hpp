#pragma once

// The rollout-planner on the service skeleton (libs/service): the planner on the consumer, its
// timer sweep and traffic-switch worker, the read API.

#include <sluice/core/clock.hpp>
#include <sluice/service/app.hpp>

#include "rollout_planner_config.hpp"

namespace sluice::rollout_planner {

// Adds the planner's parts to `app` (migrations and topics first); returns the planner.
Planner& AddPlanner(service::App& app, const PlannerConfig& config);
// service::Main's form of AddPlanner.
void Register(service::App& app, const PlannerConfig& config);

// The whole service in one object, for tests: Prepare() adds the parts (migrating the
// database), Start() starts them, Stop() or the destructor stops them in reverse.
class RolloutPlannerService {
 public:
  RolloutPlannerService(PlannerConfig config, const core::Clock& clock);

  void Prepare();
  void Start() { app_.StartAll(); }  // Prepare() first
  void Stop() { app_.StopAll(); }
  int Port() const { return app_.Port(); }
  Planner& GetPlanner() { return *planner_; }
  pg::Database& Db() { return app_.Database(); }

 private:
  PlannerConfig config_;
  service::App app_;  // after config_: its parts refer to it
  Planner* planner_ = nullptr;
};

}  // namespace sluice::rollout_planner
