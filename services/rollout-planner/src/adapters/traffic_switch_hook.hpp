#pragma once

// A blue-green deployment's traffic-switch hook (the environment's `trafficSwitch.url`): one
// POST of the deployment, its generation, app, env and version as JSON. Called with no database
// transaction open (planner_worker.cpp).

#include <chrono>
#include <cstdint>
#include <string>

namespace sluice::rollout_planner {

struct TrafficSwitchCall {
  std::string url;
  std::string deployment_id;
  std::uint64_t generation = 0;
  std::string app;
  std::string env;
  std::string version;
};

struct TrafficSwitchResult {
  bool success = false;  // a 2xx answer
  std::string error;     // otherwise "HTTP <status>" or the transport error
};

TrafficSwitchResult CallTrafficSwitchHook(const TrafficSwitchCall& call,
                                          std::chrono::milliseconds timeout);

}  // namespace sluice::rollout_planner
