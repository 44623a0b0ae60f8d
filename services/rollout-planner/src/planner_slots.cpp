// One active deployment per app+env: when a slot is free (no active deployment, or one just
// reached a final status), the oldest queued deployment of that app+env starts. The Redis lease
// only keeps replicas from doing the same start twice; Postgres's unique index decides.
#include <sluice/core/logging.hpp>

#include "rollout_planner_component.hpp"

namespace sluice::rollout_planner {

void Planner::TryStartNext(Scope& s, const std::string& app, const std::string& env) {
  if (const auto active = PlannerRepository::ActiveDeployment(s.tx, app, env)) return;
  // The lease only keeps replicas from doing the same start twice; the unique index on the
  // active deployment of app+env is the authority.
  std::optional<lock::Lease> lease;
  if (deps_.lease != nullptr) {
    try {
      lease = deps_.lease->TryAcquire(app + ":" + env, owner_, options_.lease_ttl);
      if (!lease) {
        Log()->debug("{}/{}: another replica holds the slot lease; the sweep retries", app, env);
        return;
      }
    } catch (const std::exception& e) {
      Log()->warn("{}/{}: slot lease unavailable ({}); Postgres alone decides", app, env, e.what());
    }
  }
  const auto next_id = PlannerRepository::OldestQueued(s.tx, app, env);
  if (next_id) {
    if (auto row = PlannerRepository::LoadDeployment(s.tx, *next_id, true)) {
      row->queued = false;
      if (lease) row->slot_token = lease->token.Value();
      // The baseline is what runs when the deployment starts, not when it was requested.
      if (const auto stable = PlannerRepository::LoadStable(s.tx, app, env)) {
        row->ctx.stable_release_id = stable->release_id;
        row->ctx.stable_version = stable->version;
      }
      row->state.await_rollback = AwaitRollbackFor(row->ctx, options_.rollback_wait);
      Apply(s, *row, Start{}, "", "");
    }
  }
  if (lease) {
    try {
      deps_.lease->Release(*lease);
    } catch (const std::exception&) {
      // It expires on its own.
    }
  }
}

void Planner::FillFreedSlots(Scope& s) {
  while (!s.freed.empty()) {
    const auto [app, env] = s.freed.back();
    s.freed.pop_back();
    TryStartNext(s, app, env);
  }
}

}  // namespace sluice::rollout_planner
