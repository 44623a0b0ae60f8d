// A transition carried out: the state machine's commands (timers, traffic switches, the stable
// release, events through the outbox), the saved row and its timeline entry, all in the
// caller's transaction.
#include <nlohmann/json.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/pg/timers.hpp>

#include "rollout_planner_component.hpp"

namespace sluice::rollout_planner {
namespace {

using nlohmann::json;

}  // namespace

void Planner::Apply(Scope& s, DeploymentRow& row, const Input& in, const std::string& actor,
                    const std::string& event_id) {
  const auto now = deps_.clock.Now();
  const Status before = row.state.status;
  Transition t = Next(row.state, in, now);
  const auto kind = InputKind(in);
  if (t.ignored) {
    Record(s, row.ctx.deployment_id,
           {now, kind, InputDetail(in), actor, false, std::string(ToString(*t.ignored))}, event_id);
    Log()->info("deployment {}: {} ignored ({})", row.ctx.deployment_id, kind,
                ToString(*t.ignored));
    if (inputs_ != nullptr) inputs_->Add({{"kind", kind}, {"outcome", "ignored"}}).Increment();
    return;
  }
  for (const auto& c : t.commands) CarryOut(s, row, t.next, c);
  row.state = std::move(t.next);
  PlannerRepository::SaveDeployment(s.tx, row, now);
  Record(s, row.ctx.deployment_id, {now, kind, InputDetail(in), actor, true, ""}, event_id);
  Log()->info("deployment {}: {} -> {} / {}", row.ctx.deployment_id, kind,
              ToString(row.state.status), ToString(row.state.phase));
  if (inputs_ != nullptr) inputs_->Add({{"kind", kind}, {"outcome", "applied"}}).Increment();
  if (!IsFinal(before) && IsFinal(row.state.status)) {
    s.freed.emplace_back(row.ctx.app, row.ctx.env);
  }
}

void Planner::CarryOut(Scope& s, const DeploymentRow& row, const Deployment& next,
                       const Command& c) {
  const auto& id = row.ctx.deployment_id;
  if (const auto* st = std::get_if<ScheduleTimer>(&c)) {
    const json payload = {{"deployment_id", id}, {"key", st->key}};
    pg::ScheduleTimer(s.tx, TimerRowKey(id, st->key), kTimerKindPause, st->due_at, payload.dump());
    return;
  }
  if (const auto* ct = std::get_if<CancelTimer>(&c)) {
    pg::CancelTimer(s.tx, TimerRowKey(id, ct->key));
    return;
  }
  if (const auto* sw = std::get_if<SwitchTraffic>(&c)) {
    PlannerRepository::InsertTrafficSwitch(s.tx, id, sw->generation.Value(), sw->url,
                                           deps_.clock.Now());
    return;
  }
  if (std::holds_alternative<MarkStable>(c)) {
    // Blue-green: the group just deployed and switched to is the live one from now on.
    std::string live_group;
    if (row.ctx.strategy == StrategyType::kBlueGreen && !next.batches.empty() &&
        !next.batches.back().hosts.empty()) {
      live_group = next.batches.back().hosts.front().group;
    }
    PlannerRepository::UpsertStable(s.tx, row.ctx, deps_.clock.Now(), live_group);
    return;
  }
  if (std::holds_alternative<RevokeStable>(c)) {
    RecordStableRevoked(s, row);
    return;
  }
  if (auto e = EventFor(c, row.ctx, next, deps_.clock)) eventbus::Publish(s.tx, std::move(*e));
}

// The deployment that made the stable release rolled it back: the one before is stable again,
// or none is.
void Planner::RecordStableRevoked(Scope& s, const DeploymentRow& row) {
  const auto& id = row.ctx.deployment_id;
  const auto now = deps_.clock.Now();
  const auto revoked = PlannerRepository::RevokeStable(s.tx, row.ctx, now);
  using Kind = StableRevocation::Kind;
  if (revoked.kind == Kind::kNotStable) return;
  const std::string detail =
      revoked.kind == Kind::kRestored
          ? "release " + revoked.restored->release_id + " (" + revoked.restored->version +
                ") is the stable release of " + row.ctx.app + " in " + row.ctx.env + " again"
          : "no release of " + row.ctx.app + " in " + row.ctx.env + " is stable any more";
  Record(s, id, {now, "stable_restored", detail, std::string(kServiceName), true, ""}, "");
  Log()->info("deployment {} rolled back: {}", id, detail);
}

void Planner::FailNeverStarted(Scope& s, DeploymentRow& row, std::string_view reason,
                               const std::string& detail, const std::string& event_id) {
  const auto now = deps_.clock.Now();
  row.queued = false;
  row.state.status = Status::kFailed;
  row.state.phase = Phase::kDone;
  row.state.finished_at = now;
  row.failure_reason = std::string(reason);
  row.failure_detail = detail;
  PlannerRepository::SaveDeployment(s.tx, row, now);
  Record(s, row.ctx.deployment_id, {now, "failed", detail, "", true, std::string(reason)},
         event_id);
  eventbus::Publish(s.tx, NeverStartedFailure(row.ctx, reason, detail, deps_.clock));
  Log()->warn("deployment {} failed before starting: {}: {}", row.ctx.deployment_id, reason,
              detail);
}

void Planner::Record(Scope& s, const std::string& deployment_id, TimelineEntry entry,
                     const std::string& event_id) {
  PlannerRepository::AddTimeline(s.tx, deployment_id, entry, event_id);
}

}  // namespace sluice::rollout_planner
