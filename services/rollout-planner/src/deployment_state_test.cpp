#include "deployment_state.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <random>

namespace sluice::rollout_planner {
namespace {

using core::Generation;
using std::chrono::minutes;

const core::SystemTime kT0 = core::FromUnixMillis(1'700'000'000'000);

Host H(const std::string& name) {
  Host h;
  h.name = name;
  h.address = name + ".internal";
  h.agent_endpoint = "http://" + name + ":7070";
  return h;
}

Batch MakeBatch(std::uint32_t index, std::vector<Host> hosts, std::vector<Gate> gates = {},
                bool analysis = false) {
  Batch b;
  b.index = index;
  b.hosts = std::move(hosts);
  b.gates_before = std::move(gates);
  b.analysis_template = analysis ? "default" : "";
  b.max_parallel = 2;
  b.failure_tolerance = 1;
  b.host_timeout = minutes(5);
  return b;
}

const Gate kTimedPause{Gate::Kind::kPause, minutes(2)};
const Gate kOpenPause{Gate::Kind::kPause, std::nullopt};
const Gate kApproval{Gate::Kind::kApproval, std::nullopt};

// B0: no gate; B1: timed pause, approval, open pause, then analysis; B2: no gate.
Deployment Canary() {
  return NewDeployment(
      core::DeploymentId("dep-1"),
      {MakeBatch(0, {H("a")}), MakeBatch(1, {H("b")}, {kTimedPause, kApproval, kOpenPause}, true),
       MakeBatch(2, {H("c"), H("d")})});
}

// The same, where an analysis failure is reverted by the rollback-agent (the app+env had
// another stable release when the deployment started).
Deployment CanaryAwaitingRollback() {
  auto d = Canary();
  d.await_rollback = minutes(10);
  return d;
}

Deployment BlueGreen() {
  auto b = MakeBatch(0, {H("g1"), H("g2")});
  b.traffic_switch_url = "https://lb/switch";
  return NewDeployment(core::DeploymentId("dep-bg"), {b});
}

Operator Op(OperatorAction a) { return Operator{a, "alice@example.com"}; }

// Applies inputs that must all be accepted.
Deployment Drive(Deployment d, const std::vector<Input>& inputs) {
  for (const auto& in : inputs) {
    auto t = Next(d, in, kT0);
    EXPECT_FALSE(t.ignored.has_value()) << "setup input ignored: " << ToString(*t.ignored);
    d = std::move(t.next);
  }
  return d;
}

Input FireCurrentTimer(const Deployment& d) { return TimerFired{d.timer_key.value_or("none")}; }

template <class T>
std::vector<T> All(const std::vector<Command>& commands) {
  std::vector<T> out;
  for (const auto& c : commands) {
    if (const auto* x = std::get_if<T>(&c)) out.push_back(*x);
  }
  return out;
}

// --- The transition table -------------------------------------------------------------------

struct NamedState {
  const char* name;
  std::function<Deployment()> make;
};

std::vector<NamedState> States() {
  const auto g1 = Generation(1);
  return {
      {"pending", [] { return Canary(); }},
      {"b0_in_flight", [] { return Drive(Canary(), {Start{}}); }},
      {"timed_gate",
       [=] {
         return Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
       }},
      {"approval_gate",
       [=] {
         auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d)});
       }},
      {"open_gate",
       [=] {
         auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE)});
       }},
      {"b1_in_flight",
       [=] {
         auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                          Op(OperatorCommand::VERB_RESUME)});
       }},
      {"analysing",
       [=] {
         auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                          Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g1}});
       }},
      {"held_in_flight",
       [] {
         return Drive(Canary(), {Start{}, Op(OperatorCommand::VERB_PAUSE)});
       }},
      {"held",
       [=] {
         return Drive(Canary(), {Start{}, Op(OperatorCommand::VERB_PAUSE), BatchSucceeded{0, g1}});
       }},
      {"switching",
       [=] {
         return Drive(BlueGreen(), {Start{}, BatchSucceeded{0, g1}});
       }},
      {"succeeded",
       [=] {
         auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                          Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g1},
                          AnalysisPassed{1, g1}, BatchSucceeded{2, g1}});
       }},
      {"failed",
       [=] {
         return Drive(Canary(), {Start{}, BatchFailed{0, g1}});
       }},
      {"aborted",
       [] {
         return Drive(Canary(), {Start{}, Op(OperatorCommand::VERB_ABORT)});
       }},
      {"rolling_back",
       [] {
         return Drive(Canary(), {Start{}, RollbackStarted{Generation(2)}});
       }},
      {"rolled_back",
       [] {
         return Drive(Canary(), {Start{}, RollbackStarted{Generation(2)},
                                 RollbackCompleted{Generation(2), true}});
       }},
      {"timed_gate_held",
       [=] {
         return Drive(Canary(), {Start{}, BatchSucceeded{0, g1}, Op(OperatorCommand::VERB_PAUSE)});
       }},
      {"analysing_rollback_expected",
       [=] {
         auto d = Drive(CanaryAwaitingRollback(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                          Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g1}});
       }},
      {"awaiting_rollback",
       [=] {
         auto d = Drive(CanaryAwaitingRollback(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(
             d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                 Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g1}, AnalysisFailed{1, g1}});
       }},
  };
}

// The inputs of the table's columns, made against the state they are applied to.
std::vector<Input> Columns(const Deployment& d) {
  const auto g = d.generation;
  const auto b = d.current_batch;
  const auto stale = Generation(g.Value() == 0 ? 99 : g.Value() - 1);
  return {
      Start{},                                     // 0
      BatchSucceeded{b, g},                        // 1
      BatchFailed{b, g},                           // 2
      BatchSucceeded{b, stale},                    // 3
      BatchSucceeded{b + 1, g},                    // 4
      FireCurrentTimer(d),                         // 5
      TimerFired{"pause/b9/g9/gen9"},              // 6
      AnalysisPassed{b, g},                        // 7
      AnalysisFailed{b, g},                        // 8
      TrafficSwitched{g, true},                    // 9
      Op(OperatorCommand::VERB_PROMOTE),           // 10
      Op(OperatorCommand::VERB_PAUSE),             // 11
      Op(OperatorCommand::VERB_RESUME),            // 12
      Op(OperatorCommand::VERB_ABORT),             // 13
      Op(OperatorCommand::VERB_APPROVE),           // 14
      RollbackStarted{Generation(g.Value() + 1)},  // 15
      RollbackStarted{g},                          // 16
      RollbackCompleted{g, true},                  // 17
  };
}

const char* const kColumnNames[] = {"start",
                                    "batch_succeeded",
                                    "batch_failed",
                                    "batch_succeeded_stale_gen",
                                    "batch_succeeded_wrong_batch",
                                    "timer_current",
                                    "timer_unknown",
                                    "analysis_passed",
                                    "analysis_failed",
                                    "traffic_switched",
                                    "promote",
                                    "pause",
                                    "resume",
                                    "abort",
                                    "approve",
                                    "rollback_started",
                                    "rollback_started_stale",
                                    "rollback_completed"};

// Expected outcome per column: "status/phase" when accepted, "!reason" when ignored.
const std::map<std::string, std::vector<std::string>>& Table() {
  static const std::map<std::string, std::vector<std::string>> kTable = {
      {"pending",
       {"running/batch_in_flight", "!not_started", "!not_started", "!not_started", "!not_started",
        "!not_started", "!not_started", "!not_started", "!not_started", "!not_started",
        "!not_started", "!not_started", "!not_started", "aborted/done", "!not_started",
        "rolling_back/done", "!stale_generation", "!not_rolling_back"}},
      {"b0_in_flight",
       {"!already_started", "paused/at_gate", "failed/done", "!stale_generation", "!wrong_batch",
        "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis", "!not_awaiting_analysis",
        "!not_switching_traffic", "!nothing_to_promote", "paused/batch_in_flight", "!not_paused",
        "aborted/done", "!no_approval_pending", "rolling_back/done", "!stale_generation",
        "!not_rolling_back"}},
      {"timed_gate",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "paused/at_gate", "!unknown_timer", "!not_awaiting_analysis",
        "!not_awaiting_analysis", "!not_switching_traffic", "paused/at_gate", "paused/at_gate",
        "paused/at_gate", "aborted/done", "!no_approval_pending", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      {"approval_gate",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis",
        "!not_awaiting_analysis", "!not_switching_traffic", "!approval_required", "paused/at_gate",
        "!approval_required", "aborted/done", "paused/at_gate", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      {"open_gate",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis",
        "!not_awaiting_analysis", "!not_switching_traffic", "running/batch_in_flight",
        "paused/at_gate", "running/batch_in_flight", "aborted/done", "!no_approval_pending",
        "rolling_back/done", "!stale_generation", "!not_rolling_back"}},
      {"b1_in_flight",
       {"!already_started", "running/analysing", "failed/done", "!stale_generation", "!wrong_batch",
        "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis", "!not_awaiting_analysis",
        "!not_switching_traffic", "!nothing_to_promote", "paused/batch_in_flight", "!not_paused",
        "aborted/done", "!no_approval_pending", "rolling_back/done", "!stale_generation",
        "!not_rolling_back"}},
      {"analysing",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "!unknown_timer", "!unknown_timer", "running/batch_in_flight",
        "failed/done", "!not_switching_traffic", "!nothing_to_promote", "paused/analysing",
        "!not_paused", "aborted/done", "!no_approval_pending", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      {"held_in_flight",
       {"!already_started", "paused/held", "failed/done", "!stale_generation", "!wrong_batch",
        "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis", "!not_awaiting_analysis",
        "!not_switching_traffic", "running/batch_in_flight", "!already_paused",
        "running/batch_in_flight", "aborted/done", "!no_approval_pending", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      {"held",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis",
        "!not_awaiting_analysis", "!not_switching_traffic", "paused/at_gate", "!already_paused",
        "paused/at_gate", "aborted/done", "!no_approval_pending", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      {"switching",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "!unknown_timer", "!unknown_timer", "!not_awaiting_analysis",
        "!not_awaiting_analysis", "succeeded/done", "!nothing_to_promote",
        "paused/switching_traffic", "!not_paused", "aborted/done", "!no_approval_pending",
        "rolling_back/done", "!stale_generation", "!not_rolling_back"}},
      {"succeeded",
       {"!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "rolling_back/done", "!stale_generation", "!not_rolling_back"}},
      {"failed",
       {"!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "rolling_back/done", "!stale_generation", "!not_rolling_back"}},
      {"aborted",
       {"!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "rolling_back/done", "!stale_generation", "!not_rolling_back"}},
      {"rolling_back",
       {"!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back",
        "!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back",
        "!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back",
        "!already_rolling_back", "!already_rolling_back", "rolled_back/done"}},
      {"rolled_back",
       {"!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "!finished", "!finished", "!finished", "!finished", "!finished", "!finished",
        "!finished", "!finished", "!finished", "!finished"}},
      {"timed_gate_held",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "paused/held", "!unknown_timer", "!not_awaiting_analysis",
        "!not_awaiting_analysis", "!not_switching_traffic", "paused/at_gate", "!already_paused",
        "paused/at_gate", "aborted/done", "!no_approval_pending", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      // As "analysing", but the failure keeps the app+env until the rollback is done.
      {"analysing_rollback_expected",
       {"!already_started", "!not_awaiting_batch", "!not_awaiting_batch", "!stale_generation",
        "!not_awaiting_batch", "!unknown_timer", "!unknown_timer", "running/batch_in_flight",
        "rolling_back/done", "!not_switching_traffic", "!nothing_to_promote", "paused/analysing",
        "!not_paused", "aborted/done", "!no_approval_pending", "rolling_back/done",
        "!stale_generation", "!not_rolling_back"}},
      // Failed, waiting for RollbackStarted: only the rollback, its wait's timer and abort move it.
      {"awaiting_rollback",
       {"!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back", "!rolling_back",
        "failed/done", "!unknown_timer", "!rolling_back", "!rolling_back", "!rolling_back",
        "!rolling_back", "!rolling_back", "!rolling_back", "aborted/done", "!rolling_back",
        "rolling_back/done", "!stale_generation", "rolled_back/done"}},
  };
  return kTable;
}

std::string Outcome(const Transition& t) {
  if (t.ignored) return "!" + std::string(ToString(*t.ignored));
  return std::string(ToString(t.next.status)) + "/" + std::string(ToString(t.next.phase));
}

TEST(DeploymentStateTest, TransitionTable) {
  const auto states = States();
  ASSERT_EQ(states.size(), Table().size());
  for (const auto& state : states) {
    const Deployment d = state.make();
    const auto& expected = Table().at(state.name);
    const auto inputs = Columns(d);
    ASSERT_EQ(expected.size(), inputs.size()) << state.name;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      SCOPED_TRACE(std::string(state.name) + " x " + kColumnNames[i]);
      const auto t = Next(d, inputs[i], kT0 + minutes(1));
      EXPECT_EQ(Outcome(t), expected[i]);
      if (t.ignored) {
        EXPECT_EQ(t.next, d) << "an ignored input must leave the deployment as it was";
        EXPECT_TRUE(t.commands.empty());
      }
      if (d.rollback_started || t.next.rollback_started) {
        EXPECT_TRUE(All<RequestBatch>(t.commands).empty());
      }
    }
  }
}

TEST(DeploymentStateTest, StatesHaveTheirExpectedShape) {
  const std::map<std::string, std::string> shapes = {
      {"pending", "pending/not_started"},
      {"b0_in_flight", "running/batch_in_flight"},
      {"timed_gate", "paused/at_gate"},
      {"approval_gate", "paused/at_gate"},
      {"open_gate", "paused/at_gate"},
      {"b1_in_flight", "running/batch_in_flight"},
      {"analysing", "running/analysing"},
      {"held_in_flight", "paused/batch_in_flight"},
      {"held", "paused/held"},
      {"switching", "running/switching_traffic"},
      {"succeeded", "succeeded/done"},
      {"failed", "failed/done"},
      {"aborted", "aborted/done"},
      {"rolling_back", "rolling_back/done"},
      {"rolled_back", "rolled_back/done"},
      {"timed_gate_held", "paused/at_gate"},
      {"analysing_rollback_expected", "running/analysing"},
      {"awaiting_rollback", "rolling_back/done"},
  };
  for (const auto& s : States()) {
    const auto d = s.make();
    EXPECT_EQ(std::string(ToString(d.status)) + "/" + std::string(ToString(d.phase)),
              shapes.at(s.name))
        << s.name;
  }
}

// --- Commands of the main paths ---------------------------------------------------------------

TEST(DeploymentStateTest, StartPlansAndRequestsTheFirstBatch) {
  const auto t = Next(Canary(), Start{}, kT0);
  ASSERT_FALSE(t.ignored);
  ASSERT_EQ(t.commands.size(), 2u);
  EXPECT_EQ(std::get<Emit>(t.commands[0]).kind, EventKind::kDeploymentPlanned);
  const auto rb = std::get<RequestBatch>(t.commands[1]);
  EXPECT_EQ(rb, (RequestBatch{0, Generation(1), {H("a")}, 2, 1, minutes(5)}));
  EXPECT_EQ(t.next.started_at, kT0);
  EXPECT_EQ(t.next.status, Status::kRunning);
}

TEST(DeploymentStateTest, StartWithNoBatchFails) {
  const auto t = Next(NewDeployment(core::DeploymentId("d"), {}), Start{}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kNoTargets);
  ASSERT_EQ(All<Emit>(t.commands).size(), 2u);
  EXPECT_EQ(All<Emit>(t.commands)[1].failure_reason, FailureReason::kNoTargets);
  EXPECT_TRUE(All<RequestBatch>(t.commands).empty());
}

TEST(DeploymentStateTest, TimedPauseSchedulesADurableTimer) {
  const auto d = Drive(Canary(), {Start{}});
  const auto now = kT0 + minutes(3);
  const auto t = Next(d, BatchSucceeded{0, Generation(1)}, now);
  const auto key = PauseTimerKey(1, 0, Generation(1));
  EXPECT_EQ(key, "pause/b1/g0/gen1");
  ASSERT_EQ(t.commands.size(), 2u);
  EXPECT_EQ(std::get<ScheduleTimer>(t.commands[0]), (ScheduleTimer{key, now + minutes(2)}));
  const auto paused = std::get<Emit>(t.commands[1]);
  EXPECT_EQ(paused.kind, EventKind::kDeploymentPaused);
  EXPECT_EQ(paused.batch, 1u);
  EXPECT_EQ(paused.pause_reason, PauseReason::kPauseStep);
  EXPECT_EQ(paused.pause_duration, minutes(2));
  EXPECT_EQ(t.next.timer_key, key);
  EXPECT_EQ(t.next.timer_due_at, now + minutes(2));
  EXPECT_EQ(t.next.pause_reason, PauseReason::kPauseStep);
  EXPECT_EQ(PauseEndsAt(t.next), now + minutes(2));
  EXPECT_EQ(PauseEndsAt(d), std::nullopt);  // running

  // The timer fires: resumed, then the approval gate pauses again (no timer).
  const auto fired = Next(t.next, TimerFired{key}, now + minutes(2));
  EXPECT_EQ(PauseEndsAt(fired.next), std::nullopt);  // an approval has no end
  ASSERT_EQ(fired.commands.size(), 2u);
  EXPECT_EQ(std::get<Emit>(fired.commands[0]).kind, EventKind::kDeploymentResumed);
  const auto approval = std::get<Emit>(fired.commands[1]);
  EXPECT_EQ(approval.pause_reason, PauseReason::kApprovalRequired);
  EXPECT_EQ(fired.next.timer_key, std::nullopt);
  EXPECT_TRUE(All<CancelTimer>(fired.commands).empty());  // a fired timer needs no cancel
}

TEST(DeploymentStateTest, PromoteOrResumeCancelsThePendingTimer) {
  const auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, Generation(1)}});
  for (auto action : {OperatorCommand::VERB_PROMOTE, OperatorCommand::VERB_RESUME}) {
    const auto t = Next(d, Op(action), kT0);
    ASSERT_FALSE(t.ignored);
    EXPECT_EQ(All<CancelTimer>(t.commands), (std::vector<CancelTimer>{{*d.timer_key}}));
    const auto resumed = All<Emit>(t.commands).at(0);
    EXPECT_EQ(resumed.kind, EventKind::kDeploymentResumed);
    EXPECT_EQ(resumed.actor, "alice@example.com");
    // The cancelled timer firing late changes nothing.
    EXPECT_EQ(Next(t.next, TimerFired{*d.timer_key}, kT0).ignored, IgnoreReason::kUnknownTimer);
  }
}

TEST(DeploymentStateTest, AbortAndRollbackCancelThePendingTimer) {
  const auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, Generation(1)}});
  const auto aborted = Next(d, Op(OperatorCommand::VERB_ABORT), kT0 + minutes(1));
  EXPECT_EQ(All<CancelTimer>(aborted.commands).size(), 1u);
  EXPECT_EQ(aborted.next.failure_reason, FailureReason::kAborted);
  EXPECT_EQ(aborted.next.finished_at, kT0 + minutes(1));
  EXPECT_EQ(All<Emit>(aborted.commands).at(0).failure_reason, FailureReason::kAborted);

  const auto rb = Next(d, RollbackStarted{Generation(5)}, kT0);
  EXPECT_EQ(All<CancelTimer>(rb.commands).size(), 1u);
  EXPECT_EQ(rb.next.generation, Generation(5));
  EXPECT_TRUE(rb.next.rollback_started);
  EXPECT_EQ(rb.next.timer_key, std::nullopt);
}

TEST(DeploymentStateTest, HappyPathCommandSequence) {
  auto d = Canary();
  std::vector<std::string> log;
  auto step = [&](const Input& in, core::SystemTime now) {
    auto t = Next(d, in, now);
    ASSERT_FALSE(t.ignored) << ToString(*t.ignored);
    for (const auto& c : t.commands) {
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, RequestBatch>)
              log.push_back("batch " + std::to_string(x.index));
            if constexpr (std::is_same_v<T, RequestAnalysis>)
              log.push_back("analysis " + std::to_string(x.index));
            if constexpr (std::is_same_v<T, ScheduleTimer>) log.push_back("timer");
            if constexpr (std::is_same_v<T, CancelTimer>) log.push_back("cancel");
            if constexpr (std::is_same_v<T, MarkStable>) log.push_back("stable");
            if constexpr (std::is_same_v<T, RevokeStable>) log.push_back("revoke_stable");
            if constexpr (std::is_same_v<T, RequestBakeWatch>) log.push_back("bake_watch");
            if constexpr (std::is_same_v<T, SwitchTraffic>) log.push_back("switch");
            if constexpr (std::is_same_v<T, Emit>) log.push_back(std::string(ToString(x.kind)));
          },
          c);
    }
    d = t.next;
  };
  const auto g = Generation(1);
  step(Start{}, kT0);
  step(BatchSucceeded{0, g}, kT0 + minutes(1));
  step(TimerFired{PauseTimerKey(1, 0, g)}, kT0 + minutes(3));
  step(Op(OperatorCommand::VERB_APPROVE), kT0 + minutes(4));
  step(Op(OperatorCommand::VERB_RESUME), kT0 + minutes(5));
  step(BatchSucceeded{1, g}, kT0 + minutes(6));
  step(AnalysisPassed{1, g}, kT0 + minutes(7));
  step(BatchSucceeded{2, g}, kT0 + minutes(8));
  EXPECT_EQ(
      log, (std::vector<std::string>{
               "deployment_planned", "batch 0", "timer", "deployment_paused", "deployment_resumed",
               "deployment_paused", "deployment_resumed", "deployment_paused", "deployment_resumed",
               "batch 1", "analysis 1", "batch 2", "stable", "deployment_succeeded"}));
  EXPECT_EQ(d.status, Status::kSucceeded);
  EXPECT_EQ(d.finished_at, kT0 + minutes(8));
}

TEST(DeploymentStateTest, FailuresNameTheirReason) {
  const auto g = Generation(1);
  auto t = Next(Drive(Canary(), {Start{}}), BatchFailed{0, g}, kT0);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kBatchFailed);
  EXPECT_EQ(All<Emit>(t.commands).at(0).failure_reason, FailureReason::kBatchFailed);

  auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g}});
  d = Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g}});
  t = Next(d, AnalysisFailed{1, g}, kT0);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kAnalysisFailed);
  EXPECT_EQ(Next(d, AnalysisPassed{0, g}, kT0).ignored, IgnoreReason::kWrongBatch);
  EXPECT_EQ(Next(d, AnalysisPassed{1, Generation(2)}, kT0).ignored, IgnoreReason::kStaleGeneration);

  const auto bg = Drive(BlueGreen(), {Start{}, BatchSucceeded{0, g}});
  t = Next(bg, TrafficSwitched{g, false}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kTrafficSwitchFailed);
}

TEST(DeploymentStateTest, BlueGreenSwitchesTrafficThenMarksStable) {
  const auto g = Generation(1);
  auto t = Next(Drive(BlueGreen(), {Start{}}), BatchSucceeded{0, g}, kT0);
  EXPECT_EQ(All<SwitchTraffic>(t.commands), (std::vector<SwitchTraffic>{{"https://lb/switch", g}}));
  EXPECT_TRUE(All<MarkStable>(t.commands).empty());
  t = Next(t.next, TrafficSwitched{g, true}, kT0);
  EXPECT_EQ(All<MarkStable>(t.commands).size(), 1u);
  EXPECT_EQ(t.next.status, Status::kSucceeded);
}

TEST(DeploymentStateTest, RollbackOfASucceededDeployment) {
  const auto g = Generation(1);
  auto d = Drive(BlueGreen(), {Start{}, BatchSucceeded{0, g}, TrafficSwitched{g, true}});
  ASSERT_EQ(d.status, Status::kSucceeded);
  d = Drive(d, {RollbackStarted{Generation(2)}});
  EXPECT_EQ(d.status, Status::kRollingBack);
  EXPECT_EQ(Next(d, RollbackCompleted{Generation(1), true}, kT0).ignored,
            IgnoreReason::kStaleGeneration);
  const auto t = Next(d, RollbackCompleted{Generation(2), true}, kT0 + minutes(9));
  EXPECT_EQ(t.next.status, Status::kRolledBack);
  EXPECT_EQ(t.next.finished_at, kT0 + minutes(9));
  EXPECT_EQ(All<Emit>(t.commands).at(0).failure_reason, FailureReason::kRolledBack);
  // The release is not the stable one any more.
  EXPECT_EQ(All<RevokeStable>(t.commands).size(), 1u);
}

// Canary() with a bake watch after 100%.
Deployment CanaryWithBake() {
  auto d = Canary();
  d.bake_watch = BakeWatchPlan{"bake", minutes(5)};
  return d;
}

// Drives a canary through every batch; `last` is the transition of the last batch's success.
Transition ToTheEnd(Deployment d) {
  const auto g = Generation(1);
  d = Drive(d, {Start{}, BatchSucceeded{0, g}});
  d = Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g}, AnalysisPassed{1, g}});
  return Next(d, BatchSucceeded{2, g}, kT0 + minutes(8));
}

TEST(DeploymentStateTest, BakeWatchIsRequestedOnceEveryBatchIsDone) {
  const auto t = ToTheEnd(CanaryWithBake());
  ASSERT_FALSE(t.ignored);
  // The deployment succeeded (and its release is stable) while the bake watch runs.
  EXPECT_EQ(t.next.status, Status::kSucceeded);
  ASSERT_EQ(t.commands.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<MarkStable>(t.commands[0]));
  EXPECT_EQ(std::get<Emit>(t.commands[1]).kind, EventKind::kDeploymentSucceeded);
  EXPECT_EQ(std::get<RequestBakeWatch>(t.commands[2]),
            (RequestBakeWatch{2, Generation(1), BakeWatchPlan{"bake", minutes(5)}}));

  // Without a bake watch in the environment: no request.
  EXPECT_TRUE(All<RequestBakeWatch>(ToTheEnd(Canary()).commands).empty());

  // Blue-green: after the traffic switch, not before.
  auto bg = BlueGreen();
  bg.bake_watch = BakeWatchPlan{"default", minutes(1)};
  const auto g = Generation(1);
  auto switching = Next(Drive(bg, {Start{}}), BatchSucceeded{0, g}, kT0);
  EXPECT_TRUE(All<RequestBakeWatch>(switching.commands).empty());
  const auto done = Next(switching.next, TrafficSwitched{g, true}, kT0);
  EXPECT_EQ(All<RequestBakeWatch>(done.commands).size(), 1u);

  // A failed deployment is not watched.
  auto d = Drive(CanaryWithBake(), {Start{}});
  EXPECT_TRUE(All<RequestBakeWatch>(Next(d, BatchFailed{0, g}, kT0).commands).empty());
}

TEST(DeploymentStateTest, BakeBreachRollsBackTheSucceededDeployment) {
  const auto end = ToTheEnd(CanaryWithBake());
  auto d = Drive(end.next, {RollbackStarted{Generation(2)}});
  EXPECT_EQ(d.status, Status::kRollingBack);
  const auto t = Next(d, RollbackCompleted{Generation(2), true, false}, kT0 + minutes(20));
  EXPECT_EQ(t.next.status, Status::kRolledBack);
  EXPECT_EQ(All<RevokeStable>(t.commands).size(), 1u);
  EXPECT_TRUE(All<RequestBakeWatch>(t.commands).empty());
}

TEST(DeploymentStateTest, RollbackCompletedWithFinalStatusFailedEndsFailed) {
  const auto g = Generation(1);
  // The canary's analysis failed first: the reason stays analysis_failed.
  auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g}});
  d = Drive(
      d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE), Op(OperatorCommand::VERB_RESUME),
          BatchSucceeded{1, g}, AnalysisFailed{1, g}, RollbackStarted{Generation(2)}});
  auto t = Next(d, RollbackCompleted{Generation(2), true, true}, kT0 + minutes(30));
  ASSERT_FALSE(t.ignored);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kAnalysisFailed);
  EXPECT_EQ(t.next.finished_at, kT0 + minutes(30));
  // DeploymentFailed went out when the analysis failed: it is not sent a second time.
  EXPECT_TRUE(All<Emit>(t.commands).empty());
  EXPECT_EQ(All<RevokeStable>(t.commands).size(), 1u);

  // The rollback started before the planner heard of the failure: analysis_failed.
  d = Drive(Canary(), {Start{}, RollbackStarted{Generation(2)}});
  t = Next(d, RollbackCompleted{Generation(2), true, true}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kAnalysisFailed);
  ASSERT_EQ(All<Emit>(t.commands).size(), 1u);  // not announced yet: DeploymentFailed now
  EXPECT_EQ(All<Emit>(t.commands)[0].kind, EventKind::kDeploymentFailed);
  EXPECT_EQ(All<Emit>(t.commands)[0].failure_reason, FailureReason::kAnalysisFailed);

  // A batch failure keeps its own reason.
  d = Drive(Canary(), {Start{}, BatchFailed{0, g}, RollbackStarted{Generation(2)}});
  t = Next(d, RollbackCompleted{Generation(2), true, true}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kBatchFailed);

  // A failed rollback is rollback_failed whatever the final status says.
  d = Drive(Canary(), {Start{}, RollbackStarted{Generation(2)}});
  t = Next(d, RollbackCompleted{Generation(2), false, true}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kRollbackFailed);
  EXPECT_EQ(All<RevokeStable>(t.commands).size(), 1u);

  // Not rolling back: ignored, nothing revoked.
  t = Next(Drive(Canary(), {Start{}}), RollbackCompleted{g, true, true}, kT0);
  EXPECT_EQ(t.ignored, IgnoreReason::kNotRollingBack);
  EXPECT_TRUE(t.commands.empty());
}

TEST(DeploymentStateTest, FailedRollbackCanBeRetriedButNeverGoesForward) {
  auto d = Drive(Canary(), {Start{}, RollbackStarted{Generation(2)}});
  auto t = Next(d, RollbackCompleted{Generation(2), false}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kRollbackFailed);
  d = Drive(t.next, {RollbackStarted{Generation(3)}});
  EXPECT_EQ(d.status, Status::kRollingBack);
  EXPECT_EQ(d.generation, Generation(3));
}

TEST(DeploymentStateTest, OperatorPauseHoldsAtTheNextBatchBoundary) {
  const auto g = Generation(1);
  auto d = Drive(Canary(), {Start{}});
  auto t = Next(d, Op(OperatorCommand::VERB_PAUSE), kT0);
  EXPECT_EQ(All<Emit>(t.commands).at(0).pause_reason, PauseReason::kOperator);
  EXPECT_TRUE(t.next.operator_hold);
  // The batch in flight still finishes; the next one waits.
  t = Next(t.next, BatchSucceeded{0, g}, kT0);
  EXPECT_TRUE(t.commands.empty());
  EXPECT_EQ(t.next.phase, Phase::kHeld);
  EXPECT_EQ(t.next.current_batch, 1u);
  // Resume: the first gate of batch 1 (the timed pause) starts now.
  t = Next(t.next, Op(OperatorCommand::VERB_RESUME), kT0 + minutes(10));
  EXPECT_EQ(All<ScheduleTimer>(t.commands),
            (std::vector<ScheduleTimer>{{PauseTimerKey(1, 0, g), kT0 + minutes(12)}}));
  EXPECT_EQ(PauseEndsAt(t.next), kT0 + minutes(12));
  // Paused by an operator at the timed gate: it no longer ends by itself.
  t = Next(t.next, Op(OperatorCommand::VERB_PAUSE), kT0 + minutes(11));
  EXPECT_EQ(PauseEndsAt(t.next), std::nullopt);
}

TEST(DeploymentStateTest, ResumeAtAHeldApprovalGateStillWaitsForApproval) {
  auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, Generation(1)}});
  d = Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_PAUSE)});
  ASSERT_EQ(d.phase, Phase::kAtGate);
  auto t = Next(d, Op(OperatorCommand::VERB_RESUME), kT0);
  ASSERT_FALSE(t.ignored);
  EXPECT_FALSE(t.next.operator_hold);
  EXPECT_EQ(t.next.pause_reason, PauseReason::kApprovalRequired);
  EXPECT_EQ(Next(t.next, Op(OperatorCommand::VERB_RESUME), kT0).ignored,
            IgnoreReason::kApprovalRequired);
}

// --- approval gates: only approve passes them ----------------------------------------------

// policy.approval: required puts an approval gate before the first batch; an approval step puts
// one between batches (after other gates, or alone).
struct ApprovalGateCase {
  const char* name;
  std::function<Deployment()> reach;  // the deployment waiting at the approval gate
};

std::vector<ApprovalGateCase> ApprovalGates() {
  const auto g1 = Generation(1);
  return {
      {"policy_before_first_batch",
       [] {
         return Drive(NewDeployment(core::DeploymentId("dep-p"),
                                    {MakeBatch(0, {H("a")}, {kApproval}), MakeBatch(1, {H("b")})}),
                      {Start{}});
       }},
      {"step_between_batches",
       [=] {
         return Drive(NewDeployment(core::DeploymentId("dep-s"),
                                    {MakeBatch(0, {H("a")}), MakeBatch(1, {H("b")}, {kApproval})}),
                      {Start{}, BatchSucceeded{0, g1}});
       }},
      {"step_after_a_timed_pause",
       [=] {
         auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, g1}});
         return Drive(d, {FireCurrentTimer(d)});
       }},
      {"step_reached_by_promoting_a_pause",
       [=] {
         return Drive(Canary(),
                      {Start{}, BatchSucceeded{0, g1}, Op(OperatorCommand::VERB_PROMOTE)});
       }},
      {"policy_and_step_together",
       [] {
         return Drive(NewDeployment(core::DeploymentId("dep-ps"),
                                    {MakeBatch(0, {H("a")}, {kApproval, kApproval})}),
                      {Start{}});
       }},
  };
}

bool AtApprovalGate(const Deployment& d) {
  return d.phase == Phase::kAtGate && d.status == Status::kPaused &&
         d.batches.at(d.current_batch).gates_before.at(d.gate_index).kind ==
             Gate::Kind::kApproval &&
         d.pause_reason.has_value();
}

TEST(DeploymentStateTest, NoOperatorVerbButApprovePassesAnApprovalGate) {
  // promote and resume (the verbs that move a paused deployment on; the API has no skip or
  // retry), alone or after the operator's own pause, in every order up to three verbs deep.
  const std::vector<OperatorAction> verbs = {
      OperatorCommand::VERB_PROMOTE, OperatorCommand::VERB_RESUME, OperatorCommand::VERB_PAUSE};
  for (const auto& gate : ApprovalGates()) {
    const Deployment at = gate.reach();
    ASSERT_TRUE(AtApprovalGate(at)) << gate.name;
    std::vector<std::vector<OperatorAction>> sequences;
    for (auto a : verbs) {
      sequences.push_back({a});
      for (auto b : verbs) {
        sequences.push_back({a, b});
        for (auto c : verbs) sequences.push_back({a, b, c});
      }
    }
    for (const auto& seq : sequences) {
      Deployment d = at;
      std::string trace = gate.name;
      for (auto verb : seq) {
        trace += std::string(" ") + std::string(events::Name(verb));
        const auto t = Next(d, Operator{verb, "deployer@example.com"}, kT0 + minutes(1));
        EXPECT_TRUE(All<RequestBatch>(t.commands).empty()) << trace;
        EXPECT_TRUE(All<Emit>(t.commands).empty() ||
                    All<Emit>(t.commands).front().kind == EventKind::kDeploymentPaused)
            << trace << ": no DeploymentResumed past an approval gate";
        if ((verb == OperatorCommand::VERB_PROMOTE || verb == OperatorCommand::VERB_RESUME) &&
            !d.operator_hold) {
          EXPECT_EQ(t.ignored, IgnoreReason::kApprovalRequired) << trace;
        }
        d = t.next;
        ASSERT_TRUE(AtApprovalGate(d)) << trace;
        EXPECT_EQ(d.gate_index, at.gate_index) << trace;
        EXPECT_EQ(d.current_batch, at.current_batch) << trace;
      }
      // A timer cannot pass it either (an approval gate has none).
      EXPECT_EQ(Next(d, TimerFired{PauseTimerKey(d.current_batch, d.gate_index, d.generation)}, kT0)
                    .ignored,
                IgnoreReason::kUnknownTimer)
          << trace;
      // Approve does (recorded by release-intake only for a user with the approver role).
      const auto approved = Next(d, Op(OperatorCommand::VERB_APPROVE), kT0 + minutes(2));
      ASSERT_FALSE(approved.ignored) << trace;
      EXPECT_TRUE(approved.next.gate_index > at.gate_index ||
                  approved.next.current_batch > at.current_batch || approved.next.operator_hold)
          << trace;
    }
  }
}

TEST(DeploymentStateTest, PromoteStillSkipsPauseGates) {
  auto d = Drive(Canary(), {Start{}, BatchSucceeded{0, Generation(1)}});
  ASSERT_EQ(d.gate_index, 0u);  // the timed pause
  auto t = Next(d, Op(OperatorCommand::VERB_PROMOTE), kT0);
  ASSERT_FALSE(t.ignored);
  EXPECT_EQ(t.next.gate_index, 1u);  // at the approval, which promote does not pass
  EXPECT_EQ(Next(t.next, Op(OperatorCommand::VERB_PROMOTE), kT0).ignored,
            IgnoreReason::kApprovalRequired);
  d = Drive(t.next, {Op(OperatorCommand::VERB_APPROVE)});
  EXPECT_EQ(d.gate_index, 2u);  // the open pause: promote passes it
  t = Next(d, Op(OperatorCommand::VERB_PROMOTE), kT0);
  ASSERT_FALSE(t.ignored);
  EXPECT_EQ(t.next.phase, Phase::kBatchInFlight);
  EXPECT_EQ(All<RequestBatch>(t.commands).size(), 1u);
}

// --- a failed analysis keeps the app+env until its rollback is done ---------------------------

Deployment AnalysingBatch1(Deployment d) {
  const auto g = Generation(1);
  d = Drive(d, {Start{}, BatchSucceeded{0, g}});
  return Drive(d, {FireCurrentTimer(d), Op(OperatorCommand::VERB_APPROVE),
                   Op(OperatorCommand::VERB_RESUME), BatchSucceeded{1, g}});
}

TEST(DeploymentStateTest, AnalysisFailureAwaitingARollbackHoldsTheSlot) {
  const auto d = AnalysingBatch1(CanaryAwaitingRollback());
  auto t = Next(d, AnalysisFailed{1, Generation(1)}, kT0 + minutes(5));
  ASSERT_FALSE(t.ignored);
  EXPECT_EQ(t.next.status, Status::kRollingBack);
  EXPECT_TRUE(HoldsSlot(t.next.status));
  EXPECT_FALSE(t.next.rollback_started);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kAnalysisFailed);
  EXPECT_FALSE(t.next.finished_at.has_value());
  // People are told now; the wait for RollbackStarted is bounded by a durable timer.
  ASSERT_EQ(All<Emit>(t.commands).size(), 1u);
  EXPECT_EQ(All<Emit>(t.commands)[0].kind, EventKind::kDeploymentFailed);
  EXPECT_EQ(All<Emit>(t.commands)[0].failure_reason, FailureReason::kAnalysisFailed);
  EXPECT_EQ(All<ScheduleTimer>(t.commands),
            (std::vector<ScheduleTimer>{
                {RollbackWaitTimerKey(Generation(1)), kT0 + minutes(5) + minutes(10)}}));

  // RollbackStarted: the rollback runs, still holding the slot; the wait's timer goes.
  auto started = Next(t.next, RollbackStarted{Generation(2)}, kT0 + minutes(6));
  ASSERT_FALSE(started.ignored);
  EXPECT_EQ(started.next.status, Status::kRollingBack);
  EXPECT_TRUE(started.next.rollback_started);
  EXPECT_EQ(started.next.generation, Generation(2));
  EXPECT_EQ(All<CancelTimer>(started.commands),
            (std::vector<CancelTimer>{{RollbackWaitTimerKey(Generation(1))}}));
  EXPECT_EQ(Next(started.next, TimerFired{RollbackWaitTimerKey(Generation(1))}, kT0).ignored,
            IgnoreReason::kRollingBack);

  // Its completion frees the slot: failed (revert-batch), told once.
  auto done = Next(started.next, RollbackCompleted{Generation(2), true, true}, kT0 + minutes(7));
  ASSERT_FALSE(done.ignored);
  EXPECT_EQ(done.next.status, Status::kFailed);
  EXPECT_FALSE(HoldsSlot(done.next.status));
  EXPECT_TRUE(All<Emit>(done.commands).empty());
  EXPECT_EQ(done.next.finished_at, kT0 + minutes(7));

  // Or rolled_back (revert-all).
  done = Next(started.next, RollbackCompleted{Generation(2), true, false}, kT0 + minutes(7));
  EXPECT_EQ(done.next.status, Status::kRolledBack);
}

TEST(DeploymentStateTest, RollbackCompletedNeedNotFollowRollbackStarted) {
  // The planner holds the slot on the analysis failure itself; should RollbackCompleted be the
  // first word of the rollback it hears, it still ends the wait.
  auto d = Drive(AnalysingBatch1(CanaryAwaitingRollback()), {AnalysisFailed{1, Generation(1)}});
  auto t = Next(d, RollbackCompleted{d.generation, true, true}, kT0 + minutes(3));
  ASSERT_FALSE(t.ignored);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(All<CancelTimer>(t.commands),
            (std::vector<CancelTimer>{{RollbackWaitTimerKey(Generation(1))}}));
}

TEST(DeploymentStateTest, NoRollbackWithinTheWaitMakesTheFailureFinal) {
  auto d = Drive(AnalysingBatch1(CanaryAwaitingRollback()), {AnalysisFailed{1, Generation(1)}});
  // Nothing but the rollback, its timer or an abort moves it.
  for (const Input& in : std::vector<Input>{
           Start{}, Op(OperatorCommand::VERB_PROMOTE), Op(OperatorCommand::VERB_RESUME),
           BatchSucceeded{1, Generation(1)}, TimerFired{"pause/b1/g0/gen1"}}) {
    EXPECT_TRUE(Next(d, in, kT0).ignored.has_value());
  }
  auto t = Next(d, FireCurrentTimer(d), kT0 + minutes(20));
  ASSERT_FALSE(t.ignored);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_EQ(t.next.failure_reason, FailureReason::kAnalysisFailed);
  EXPECT_EQ(t.next.finished_at, kT0 + minutes(20));
  EXPECT_FALSE(t.next.timer_key.has_value());
  EXPECT_TRUE(All<Emit>(t.commands).empty());  // told at the analysis already
  // An operator may give up waiting sooner.
  t = Next(d, Op(OperatorCommand::VERB_ABORT), kT0);
  EXPECT_EQ(t.next.status, Status::kAborted);
  EXPECT_EQ(All<CancelTimer>(t.commands).size(), 1u);
}

TEST(DeploymentStateTest, FailuresNoRollbackFollowsReleaseAtOnce) {
  const auto g = Generation(1);
  // No stable release to go back to (await_rollback unset): the analysis failure is final.
  auto t = Next(AnalysingBatch1(Canary()), AnalysisFailed{1, g}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_FALSE(HoldsSlot(t.next.status));
  // The rollback-agent does not revert a failed batch: final at once, rollback expected or not.
  t = Next(Drive(CanaryAwaitingRollback(), {Start{}}), BatchFailed{0, g}, kT0);
  EXPECT_EQ(t.next.status, Status::kFailed);
  EXPECT_FALSE(HoldsSlot(t.next.status));
}

TEST(DeploymentStateTest, PauseTimerKeysDifferPerGeneration) {
  EXPECT_NE(PauseTimerKey(1, 0, Generation(1)), PauseTimerKey(1, 0, Generation(2)));
  EXPECT_NE(PauseTimerKey(1, 0, Generation(1)), PauseTimerKey(1, 1, Generation(1)));
  EXPECT_NE(PauseTimerKey(1, 0, Generation(1)), PauseTimerKey(0, 1, Generation(1)));
}

TEST(DeploymentStateTest, ReasonNamesAreStable) {
  // The notifier and the rollback-agent key on these strings.
  EXPECT_EQ(ToString(PauseReason::kPauseStep), "pause_step");
  EXPECT_EQ(ToString(PauseReason::kApprovalRequired), "approval_required");
  EXPECT_EQ(ToString(PauseReason::kOperator), "operator");
  EXPECT_EQ(ToString(FailureReason::kBatchFailed), "batch_failed");
  EXPECT_EQ(ToString(FailureReason::kAnalysisFailed), "analysis_failed");
  EXPECT_EQ(ToString(FailureReason::kRolledBack), "rolled_back");
  EXPECT_EQ(ToString(Status::kRollingBack), "rolling_back");
  EXPECT_EQ(ToString(IgnoreReason::kStaleGeneration), "stale_generation");
  EXPECT_EQ(events::Name(OperatorCommand::VERB_APPROVE), "approve");
  EXPECT_EQ(ToString(EventKind::kDeploymentSucceeded), "deployment_succeeded");
}

// --- Invariants over random input sequences -------------------------------------------------

Input RandomInput(std::mt19937& rng, const Deployment& d) {
  const auto gen = [&] {
    const std::uint64_t v = d.generation.Value();
    switch (rng() % 4) {
      case 0:
        return Generation(v > 1 ? v - 1 : 0);
      case 1:
        return Generation(v + 1);
      default:
        return d.generation;
    }
  };
  const auto batch = [&] {
    return static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() % 4 : d.current_batch);
  };
  switch (rng() % 14) {
    case 0:
      return Start{};
    case 1:
    case 2:
      return BatchSucceeded{batch(), gen()};
    case 3:
      return BatchFailed{batch(), gen()};
    case 4:
      return rng() % 4 == 0 ? TimerFired{"pause/b0/g0/gen1"} : FireCurrentTimer(d);
    case 5:
      return AnalysisPassed{batch(), gen()};
    case 6:
      return AnalysisFailed{batch(), gen()};
    case 7:
      return TrafficSwitched{gen(), rng() % 2 == 0};
    case 8:
    case 9:
      return Op(static_cast<OperatorAction>(rng() % 5));
    case 10:
      return RollbackStarted{Generation(d.generation.Value() + rng() % 3)};
    case 11:
      return RollbackCompleted{gen(), rng() % 2 == 0, rng() % 2 == 0};
    default:
      return Op(rng() % 2 == 0 ? OperatorCommand::VERB_APPROVE : OperatorCommand::VERB_RESUME);
  }
}

TEST(DeploymentStateTest, InvariantsHoldOverRandomSequences) {
  int rollbacks_seen = 0;
  int successes_seen = 0;
  for (std::uint32_t seed = 1; seed <= 3000; ++seed) {
    std::mt19937 rng(seed);
    Deployment d = seed % 5 == 0 ? BlueGreen() : Canary();
    if (seed % 3 == 0) d.bake_watch = BakeWatchPlan{"default", minutes(5)};
    if (seed % 2 == 0) d.await_rollback = minutes(10);
    std::uint32_t expected_next_batch = 0;
    for (int i = 0; i < 60; ++i) {
      const auto in = RandomInput(rng, d);
      const auto t = Next(d, in, kT0 + minutes(i));
      if (t.ignored) {
        ASSERT_EQ(t.next, d);
        ASSERT_TRUE(t.commands.empty());
      }
      for (const auto& rb : All<RequestBatch>(t.commands)) {
        // Never after a rollback started, never from a finished state, one at a time, in order.
        ASSERT_FALSE(d.rollback_started) << "seed " << seed;
        ASSERT_FALSE(t.next.rollback_started) << "seed " << seed;
        ASSERT_FALSE(IsFinal(d.status)) << "seed " << seed;
        if (d.phase == Phase::kBatchInFlight) {  // only the batch's success frees the slot
          ASSERT_TRUE(std::holds_alternative<BatchSucceeded>(in)) << "seed " << seed;
        }
        ASSERT_EQ(rb.index, expected_next_batch) << "seed " << seed;
        ASSERT_EQ(rb.generation, d.generation);
        ++expected_next_batch;
      }
      // Generations never go down; once rolled back, nothing changes.
      ASSERT_GE(t.next.generation, d.generation);
      ASSERT_TRUE(d.status != Status::kRolledBack || t.ignored.has_value());
      ASSERT_TRUE(!d.rollback_started || t.next.rollback_started);
      // A paused deployment always knows why.
      ASSERT_EQ(t.next.status == Status::kPaused, t.next.pause_reason.has_value())
          << "seed " << seed << " step " << i;
      // A timer is held only while waiting at a timed pause gate, or for a rollback to start.
      ASSERT_TRUE(!t.next.timer_key || t.next.phase == Phase::kAtGate ||
                  (t.next.status == Status::kRollingBack && !t.next.rollback_started));
      // An analysis failure that the rollback-agent reverts keeps the app+env.
      if (std::holds_alternative<AnalysisFailed>(in) && !t.ignored && d.await_rollback) {
        ASSERT_TRUE(HoldsSlot(t.next.status)) << "seed " << seed;
      }
      // A rollback (started or awaited) lets the app+env go only with its completion, or,
      // before it started, with the wait's timer or an abort.
      if (d.status == Status::kRollingBack && !HoldsSlot(t.next.status)) {
        const bool completed = std::holds_alternative<RollbackCompleted>(in);
        const bool gave_up = !d.rollback_started && (std::holds_alternative<TimerFired>(in) ||
                                                     std::holds_alternative<Operator>(in));
        ASSERT_TRUE(completed || gave_up) << "seed " << seed << " step " << i;
      }
      if (t.next.status == Status::kSucceeded && d.status != Status::kSucceeded) {
        ++successes_seen;
        ASSERT_EQ(All<MarkStable>(t.commands).size(), 1u);
        ASSERT_EQ(All<RequestBakeWatch>(t.commands).size(), d.bake_watch ? 1u : 0u);
      } else {
        // The bake watch starts only with the success.
        ASSERT_TRUE(All<RequestBakeWatch>(t.commands).empty()) << "seed " << seed;
      }
      // A rollback's end always revokes the release's stable record, and only its end does.
      const bool rollback_ended = d.status == Status::kRollingBack && !t.ignored;
      ASSERT_EQ(All<RevokeStable>(t.commands).size(),
                rollback_ended && std::holds_alternative<RollbackCompleted>(in) ? 1u : 0u)
          << "seed " << seed;
      // An approval gate is passed only by approve.
      const bool at_approval =
          d.phase == Phase::kAtGate &&
          d.batches.at(d.current_batch).gates_before.at(d.gate_index).kind == Gate::Kind::kApproval;
      if (at_approval && !t.ignored &&
          (t.next.gate_index != d.gate_index || t.next.current_batch != d.current_batch)) {
        const auto* op = std::get_if<Operator>(&in);
        ASSERT_TRUE(op != nullptr && op->action == OperatorCommand::VERB_APPROVE)
            << "seed " << seed << " step " << i << ": " << ToString(t.next.phase);
      }
      if (t.next.rollback_started && !d.rollback_started) ++rollbacks_seen;
      d = t.next;
    }
  }
  // The random walk reaches the interesting places.
  EXPECT_GT(rollbacks_seen, 100);
  EXPECT_GT(successes_seen, 10);
}

}  // namespace
}  // namespace sluice::rollout_planner
