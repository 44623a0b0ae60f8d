#include "rollout_planner_component.hpp"

#include <sluice/service/settings.hpp>

namespace sluice::rollout_planner {

std::shared_ptr<spdlog::logger> Log() {
  static const auto log = core::Logger("planner");
  return log;
}

Planner::Planner(PlannerDeps deps, PlannerOptions options)
    : deps_(deps), options_(std::move(options)), owner_(service::OwnerId(kServiceName)) {
  if (deps_.registry != nullptr) {
    inputs_ = &prometheus::BuildCounter()
                   .Name("sluice_planner_inputs_total")
                   .Help("Inputs to the deployment state machine by kind and outcome")
                   .Register(*deps_.registry);
  }
}

}  // namespace sluice::rollout_planner
