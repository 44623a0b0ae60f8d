// rollout-planner: the service skeleton (libs/service) with the planner's parts
// (src/rollout_planner_app.cpp). See README.md for topics, tables, config keys and endpoints.
#include <sluice/service/app.hpp>

#include "src/rollout_planner_app.hpp"

int main() {
  using namespace sluice::rollout_planner;
  return sluice::service::Main(kServiceName, &ParsePlannerConfig, &Register);
}
