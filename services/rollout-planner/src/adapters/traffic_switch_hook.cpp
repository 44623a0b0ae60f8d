#include "adapters/traffic_switch_hook.hpp"

#include <nlohmann/json.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/errors.hpp>

namespace sluice::rollout_planner {

TrafficSwitchResult CallTrafficSwitchHook(const TrafficSwitchCall& call,
                                          std::chrono::milliseconds timeout) {
  TrafficSwitchResult out;
  try {
    http::ClientRequest req;
    req.method = "POST";
    req.url = call.url;
    req.headers = {{"Content-Type", "application/json"}};
    req.body = nlohmann::json{{"deployment_id", call.deployment_id},
                              {"generation", call.generation},
                              {"app", call.app},
                              {"env", call.env},
                              {"version", call.version}}
                   .dump();
    req.timeout = timeout;
    const auto res = http::Send(req);
    out.success = res.status >= 200 && res.status < 300;
    if (!out.success) out.error = "HTTP " + std::to_string(res.status);
  } catch (const http::HttpError& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace sluice::rollout_planner
