// The planner's scheduled work: the due timers (pauses), the stalled queues, and the
// traffic-switch hooks. Each database step is its own transaction; a hook is called with none
// open.
#include <sluice/core/logging.hpp>
#include <sluice/http/client.hpp>
#include <sluice/pg/timers.hpp>

#include "adapters/traffic_switch_hook.hpp"
#include "rollout_planner_component.hpp"

namespace sluice::rollout_planner {
namespace {

using nlohmann::json;

}  // namespace

int Planner::FireDueTimers() {
  int fired = 0;
  while (fired < options_.timer_batch) {
    const bool any = deps_.db.WithTransaction([&](pqxx::work& tx) {
      const auto timers = pg::ClaimDueTimers(tx, deps_.clock.Now(), 1);
      if (timers.empty()) return false;
      const auto& timer = timers.front();
      pg::CompleteTimer(tx, timer.id);
      if (timer.kind != kTimerKindPause || timer.payload_json.empty()) return true;
      const auto payload = json::parse(timer.payload_json);
      const auto id = payload.at("deployment_id").get<std::string>();
      Scope s{tx, {}};
      if (auto row = PlannerRepository::LoadDeployment(tx, id, true)) {
        Apply(s, *row, TimerFired{payload.at("key").get<std::string>()}, "timer", "");
      }
      FillFreedSlots(s);
      return true;
    });
    if (!any) break;
    ++fired;
  }
  return fired;
}

int Planner::StartStalledQueues() {
  const auto stalled = deps_.db.WithTransaction(
      [&](pqxx::work& tx) { return PlannerRepository::StalledQueues(tx, 20); });
  int started = 0;
  for (const auto& queue : stalled) {
    const std::string& app = queue.first;  // not a structured binding: the lambda captures it
    const std::string& env = queue.second;
    deps_.db.WithTransaction([&](pqxx::work& tx) {
      Scope s{tx, {}};
      TryStartNext(s, app, env);
      FillFreedSlots(s);
    });
    ++started;
  }
  return started;
}

int Planner::SwitchTrafficOnce() {
  const auto claimed = deps_.db.WithTransaction([&](pqxx::work& tx) {
    return PlannerRepository::ClaimTrafficSwitches(tx, deps_.clock.Now(),
                                                   options_.traffic_switch_timeout * 3, 10);
  });
  for (const auto& sw : claimed) {
    const auto target = LoadSwitchTarget(sw);
    const auto result = CallTrafficSwitchHook(
        {sw.url, sw.deployment_id, sw.generation, target.app, target.env, target.version},
        options_.traffic_switch_timeout);
    FinishTrafficSwitch(sw, result.success, result.error);
    Log()->info("traffic switch of deployment {} ({}): {}", sw.deployment_id,
                http::RedactUrl(sw.url), result.success ? "ok" : result.error);
  }
  return static_cast<int>(claimed.size());
}

Planner::SwitchTarget Planner::LoadSwitchTarget(const TrafficSwitchRow& sw) {
  SwitchTarget target;
  deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (auto row = PlannerRepository::LoadDeployment(tx, sw.deployment_id, false)) {
      target = {row->ctx.app, row->ctx.env, row->ctx.version};
    }
  });
  return target;
}

// Retried until it succeeds or the attempts are used up; then the outcome is the state
// machine's input.
void Planner::FinishTrafficSwitch(const TrafficSwitchRow& sw, bool success,
                                  const std::string& error) {
  const bool give_up = success || sw.attempts + 1 >= options_.traffic_switch_attempts;
  deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (!give_up) {
      PlannerRepository::RetryTrafficSwitch(
          tx, sw, deps_.clock.Now() + options_.traffic_switch_retry, error);
      return;
    }
    PlannerRepository::DeleteTrafficSwitch(tx, sw);
    Scope s{tx, {}};
    if (auto row = PlannerRepository::LoadDeployment(tx, sw.deployment_id, true)) {
      Apply(s, *row, TrafficSwitched{core::Generation(sw.generation), success}, "traffic-switch",
            "");
    }
    FillFreedSlots(s);
  });
}

}  // namespace sluice::rollout_planner
