#include "deployment_state.hpp"

#include <utility>

namespace sluice::rollout_planner {
namespace {

Emit MakeEmit(EventKind kind, std::uint32_t batch) {
  Emit e;
  e.kind = kind;
  e.batch = batch;
  return e;
}
Emit Paused(std::uint32_t batch, PauseReason reason,
            std::optional<std::chrono::milliseconds> duration = std::nullopt) {
  Emit e = MakeEmit(EventKind::kDeploymentPaused, batch);
  e.pause_reason = reason;
  e.pause_duration = duration;
  return e;
}
Emit Resumed(std::uint32_t batch, const std::string& actor) {
  Emit e = MakeEmit(EventKind::kDeploymentResumed, batch);
  e.actor = actor;
  return e;
}
Emit Failed(std::uint32_t batch, FailureReason reason) {
  Emit e = MakeEmit(EventKind::kDeploymentFailed, batch);
  e.failure_reason = reason;
  return e;
}

class Machine {
 public:
  Machine(const Deployment& d, core::SystemTime now) : d_(d), now_(now) {}

  // Next() puts the untouched deployment back into an ignoring transition.
  static Transition Ignore(IgnoreReason r) { return Transition{Deployment{}, {}, r}; }
  Transition Done() { return Transition{std::move(d_), std::move(commands_), std::nullopt}; }

  Transition On(const Start&) {
    if (d_.status != Status::kPending) return Ignore(IgnoreReason::kAlreadyStarted);
    d_.started_at = now_;
    Push(MakeEmit(EventKind::kDeploymentPlanned, 0));
    if (d_.batches.empty()) return Fail(FailureReason::kNoTargets);
    d_.status = Status::kRunning;
    d_.current_batch = 0;
    d_.gate_index = 0;
    Advance();
    return Done();
  }

  Transition On(const BatchSucceeded& in) {
    if (auto r = CheckOutcome(in.generation, in.batch, Phase::kBatchInFlight,
                              IgnoreReason::kNotAwaitingBatch)) {
      return Ignore(*r);
    }
    if (!Current().analysis_template.empty()) {
      Push(RequestAnalysis{d_.current_batch, d_.generation, in.hosts, in.baseline_hosts,
                           in.switched_at});
      d_.phase = Phase::kAnalysing;
      return Done();
    }
    AfterBatch();
    return Done();
  }

  Transition On(const BatchFailed& in) {
    if (auto r = CheckOutcome(in.generation, in.batch, Phase::kBatchInFlight,
                              IgnoreReason::kNotAwaitingBatch)) {
      return Ignore(*r);
    }
    return Fail(FailureReason::kBatchFailed);
  }

  Transition On(const AnalysisPassed& in) {
    if (auto r = CheckOutcome(in.generation, in.batch, Phase::kAnalysing,
                              IgnoreReason::kNotAwaitingAnalysis)) {
      return Ignore(*r);
    }
    AfterBatch();
    return Done();
  }

  Transition On(const AnalysisFailed& in) {
    if (auto r = CheckOutcome(in.generation, in.batch, Phase::kAnalysing,
                              IgnoreReason::kNotAwaitingAnalysis)) {
      return Ignore(*r);
    }
    if (!d_.await_rollback) return Fail(FailureReason::kAnalysisFailed);
    // The rollback-agent reverts this batch: the deployment keeps its app+env (rolling_back)
    // until the revert is done, so no newer deployment starts on hosts still being reverted.
    // People are told of the failure now; RollbackStarted need not have arrived.
    CancelTimerIfAny();
    d_.status = Status::kRollingBack;
    d_.phase = Phase::kDone;
    d_.failure_reason = FailureReason::kAnalysisFailed;
    d_.operator_hold = false;
    d_.pause_reason.reset();
    d_.timer_key = RollbackWaitTimerKey(d_.generation);
    d_.timer_due_at = now_ + *d_.await_rollback;
    Push(ScheduleTimer{*d_.timer_key, *d_.timer_due_at});
    Push(Failed(d_.current_batch, FailureReason::kAnalysisFailed));
    return Done();
  }

  Transition On(const TrafficSwitched& in) {
    if (auto r = CheckOutcome(in.generation, d_.current_batch, Phase::kSwitchingTraffic,
                              IgnoreReason::kNotSwitchingTraffic)) {
      return Ignore(*r);
    }
    if (!in.success) return Fail(FailureReason::kTrafficSwitchFailed);
    CompleteBatch();
    return Done();
  }

  Transition On(const TimerFired& in) {
    if (d_.status == Status::kPending) return Ignore(IgnoreReason::kNotStarted);
    if (d_.status == Status::kRollingBack) {
      if (d_.rollback_started || d_.timer_key != in.key) {
        return Ignore(IgnoreReason::kUnknownTimer);
      }
      // No rollback came (the rollback-agent found nothing to revert, or is not running): the
      // failure announced at the analysis is final and the app+env is free again.
      d_.timer_key.reset();
      d_.timer_due_at.reset();
      d_.status = Status::kFailed;
      d_.finished_at = now_;
      return Done();
    }
    if (d_.phase != Phase::kAtGate || d_.timer_key != in.key) {
      return Ignore(IgnoreReason::kUnknownTimer);
    }
    d_.timer_key.reset();  // it fired: nothing to cancel
    d_.timer_due_at.reset();
    PassGate("");
    return Done();
  }

  Transition On(const Operator& in) {
    if (in.action == OperatorCommand::VERB_ABORT) {
      return Fail(FailureReason::kAborted);
    }
    if (d_.status == Status::kPending) return Ignore(IgnoreReason::kNotStarted);
    switch (in.action) {
      case OperatorCommand::VERB_PAUSE:
        if (d_.operator_hold) return Ignore(IgnoreReason::kAlreadyPaused);
        d_.operator_hold = true;
        d_.status = Status::kPaused;
        d_.pause_reason = PauseReason::kOperator;
        Push(Paused(d_.current_batch, PauseReason::kOperator));
        return Done();
      case OperatorCommand::VERB_RESUME:
        if (d_.operator_hold) {
          d_.operator_hold = false;
          if (d_.phase == Phase::kAtGate) {
            if (CurrentGate().kind == Gate::Kind::kApproval) {
              d_.pause_reason = PauseReason::kApprovalRequired;  // still waits for approval
              return Done();
            }
            PassGate(in.actor);  // a pause gate: resuming passes it too
            return Done();
          }
          Release(in.actor);
          return Done();
        }
        if (d_.phase != Phase::kAtGate) return Ignore(IgnoreReason::kNotPaused);
        if (CurrentGate().kind == Gate::Kind::kApproval) {
          return Ignore(IgnoreReason::kApprovalRequired);
        }
        PassGate(in.actor);
        return Done();
      case OperatorCommand::VERB_APPROVE:
        if (d_.phase != Phase::kAtGate || CurrentGate().kind != Gate::Kind::kApproval) {
          return Ignore(IgnoreReason::kNoApprovalPending);
        }
        PassGate(in.actor);
        return Done();
      case OperatorCommand::VERB_PROMOTE:
        if (d_.phase == Phase::kAtGate) {
          if (CurrentGate().kind == Gate::Kind::kApproval) {
            // Promote skips waits, never approvals: only `approve` passes this gate. An
            // operator hold is lifted as resume lifts it; the approval is still awaited.
            if (!d_.operator_hold) return Ignore(IgnoreReason::kApprovalRequired);
            d_.operator_hold = false;
            d_.pause_reason = PauseReason::kApprovalRequired;
            return Done();
          }
          d_.operator_hold = false;
          PassGate(in.actor);
          return Done();
        }
        if (d_.operator_hold) {
          d_.operator_hold = false;
          Release(in.actor);
          return Done();
        }
        return Ignore(IgnoreReason::kNothingToPromote);
      default:  // abort is handled above; InputFor maps no other verb
        break;
    }
    return Ignore(IgnoreReason::kFinished);
  }

  Transition On(const RollbackStarted& in) {
    if (in.generation <= d_.generation) return Ignore(IgnoreReason::kStaleGeneration);
    CancelTimerIfAny();
    d_.generation = in.generation;
    d_.status = Status::kRollingBack;
    d_.phase = Phase::kDone;
    d_.rollback_started = true;
    d_.operator_hold = false;
    d_.pause_reason.reset();
    d_.finished_at.reset();
    return Done();
  }

  Transition On(const RollbackCompleted& in) {
    if (d_.status != Status::kRollingBack) return Ignore(IgnoreReason::kNotRollingBack);
    if (in.generation != d_.generation) return Ignore(IgnoreReason::kStaleGeneration);
    CancelTimerIfAny();  // the wait for RollbackStarted, when it never came before this
    // Whatever the outcome, the release is not a stable one any more.
    Push(RevokeStable{});
    if (!in.success) return Fail(FailureReason::kRollbackFailed);
    if (in.deployment_failed) {
      // The canary batch was reverted and the hosts before it keep the stable version: the
      // deployment failed (for the reason it failed with, when it had one already). When it had
      // failed already, DeploymentFailed went out then; people are not told twice.
      const bool announced = d_.failure_reason.has_value();
      const FailureReason reason = d_.failure_reason.value_or(FailureReason::kAnalysisFailed);
      d_.status = Status::kFailed;
      d_.failure_reason = reason;
      d_.finished_at = now_;
      if (!announced) Push(Failed(d_.current_batch, reason));
      return Done();
    }
    d_.status = Status::kRolledBack;
    d_.failure_reason = FailureReason::kRolledBack;
    d_.finished_at = now_;
    Push(Failed(d_.current_batch, FailureReason::kRolledBack));
    return Done();
  }

 private:
  const Batch& Current() const { return d_.batches.at(d_.current_batch); }
  const Gate& CurrentGate() const { return Current().gates_before.at(d_.gate_index); }

  void Push(Command c) { commands_.push_back(std::move(c)); }

  std::optional<IgnoreReason> CheckOutcome(core::Generation generation, std::uint32_t batch,
                                           Phase expected, IgnoreReason not_expected) const {
    if (d_.status == Status::kPending) return IgnoreReason::kNotStarted;
    if (generation != d_.generation) return IgnoreReason::kStaleGeneration;
    if (d_.phase != expected) return not_expected;
    if (batch != d_.current_batch) return IgnoreReason::kWrongBatch;
    return std::nullopt;
  }

  void CancelTimerIfAny() {
    if (d_.timer_key) Push(CancelTimer{*d_.timer_key});
    d_.timer_key.reset();
    d_.timer_due_at.reset();
  }

  // From the start of gate `gate_index` of the current batch: waits at the first gate, or
  // requests the batch when no gate is left.
  void Advance() {
    if (d_.operator_hold) {
      d_.phase = Phase::kHeld;
      d_.status = Status::kPaused;
      d_.pause_reason = PauseReason::kOperator;
      return;
    }
    const Batch& b = Current();
    if (d_.gate_index < b.gates_before.size()) {
      const Gate& g = b.gates_before[d_.gate_index];
      d_.phase = Phase::kAtGate;
      d_.status = Status::kPaused;
      Emit e = MakeEmit(EventKind::kDeploymentPaused, d_.current_batch);
      if (g.kind == Gate::Kind::kApproval) {
        d_.pause_reason = PauseReason::kApprovalRequired;
      } else {
        d_.pause_reason = PauseReason::kPauseStep;
        e.pause_duration = g.duration;
        if (g.duration) {
          d_.timer_key = PauseTimerKey(d_.current_batch, d_.gate_index, d_.generation);
          d_.timer_due_at = now_ + *g.duration;
          Push(ScheduleTimer{*d_.timer_key, *d_.timer_due_at});
        }
      }
      e.pause_reason = d_.pause_reason;
      Push(std::move(e));
      return;
    }
    d_.phase = Phase::kBatchInFlight;
    d_.status = Status::kRunning;
    d_.pause_reason.reset();
    Push(RequestBatch{d_.current_batch, d_.generation, b.hosts, b.max_parallel, b.failure_tolerance,
                      b.host_timeout});
  }

  // The gate in hand is passed (timer, resume, approve or promote).
  void PassGate(const std::string& actor) {
    CancelTimerIfAny();
    ++d_.gate_index;
    if (!d_.operator_hold) {
      Push(Resumed(d_.current_batch, actor));
    }
    Advance();
  }

  // An operator hold is lifted (resume or promote) outside a gate.
  void Release(const std::string& actor) {
    Push(Resumed(d_.current_batch, actor));
    if (d_.phase == Phase::kHeld) {
      Advance();
      return;
    }
    d_.status = Status::kRunning;  // a batch, analysis or switch is in hand
    d_.pause_reason.reset();
  }

  void AfterBatch() {
    if (Current().traffic_switch_url) {
      Push(SwitchTraffic{*Current().traffic_switch_url, d_.generation});
      d_.phase = Phase::kSwitchingTraffic;
      return;
    }
    CompleteBatch();
  }

  void CompleteBatch() {
    if (d_.current_batch + 1 == d_.batches.size()) {
      d_.status = Status::kSucceeded;
      d_.phase = Phase::kDone;
      d_.operator_hold = false;
      d_.pause_reason.reset();
      d_.finished_at = now_;
      Push(MarkStable{});
      Push(MakeEmit(EventKind::kDeploymentSucceeded, d_.current_batch));
      // The deployment stays succeeded while the bake watch runs; a breach is the
      // rollback-agent's to act on (RollbackStarted is accepted on a finished deployment).
      if (d_.bake_watch) Push(RequestBakeWatch{d_.current_batch, d_.generation, *d_.bake_watch});
      return;
    }
    ++d_.current_batch;
    d_.gate_index = 0;
    Advance();
  }

  Transition Fail(FailureReason reason) {
    CancelTimerIfAny();
    d_.status = reason == FailureReason::kAborted ? Status::kAborted : Status::kFailed;
    d_.phase = Phase::kDone;
    d_.failure_reason = reason;
    d_.operator_hold = false;
    d_.pause_reason.reset();
    d_.finished_at = now_;
    Push(Failed(d_.current_batch, reason));
    return Done();
  }

  Deployment d_;
  core::SystemTime now_;
  std::vector<Command> commands_;
};

}  // namespace

Deployment NewDeployment(core::DeploymentId id, std::vector<Batch> batches) {
  Deployment d;
  d.id = std::move(id);
  d.batches = std::move(batches);
  return d;
}

std::string RollbackWaitTimerKey(core::Generation generation) {
  return "rollback-wait/gen" + std::to_string(generation.Value());
}

bool HoldsSlot(Status s) {
  return s == Status::kRunning || s == Status::kPaused || s == Status::kRollingBack;
}

std::string PauseTimerKey(std::uint32_t batch, std::uint32_t gate, core::Generation generation) {
  return "pause/b" + std::to_string(batch) + "/g" + std::to_string(gate) + "/gen" +
         std::to_string(generation.Value());
}

bool IsFinal(Status s) {
  return s == Status::kSucceeded || s == Status::kFailed || s == Status::kRolledBack ||
         s == Status::kAborted;
}

Transition Next(const Deployment& deployment, const Input& input, core::SystemTime now) {
  const auto ignore = [&](IgnoreReason r) { return Transition{deployment, {}, r}; };
  const bool is_rollback_started = std::holds_alternative<RollbackStarted>(input);
  const bool is_rollback_completed = std::holds_alternative<RollbackCompleted>(input);

  // Gatekeeping by status, before any input-specific rule.
  if (deployment.status == Status::kRolledBack) return ignore(IgnoreReason::kFinished);
  if (deployment.status == Status::kRollingBack) {
    // A failed analysis waiting for its rollback takes the rollback's start or end, the timer
    // that bounds the wait, and an abort (an operator gives up waiting).
    const bool awaiting = !deployment.rollback_started;
    const bool is_timer = std::holds_alternative<TimerFired>(input);
    const auto* op = std::get_if<Operator>(&input);
    const bool is_abort = op != nullptr && op->action == OperatorCommand::VERB_ABORT;
    if (is_rollback_started && !awaiting) return ignore(IgnoreReason::kAlreadyRollingBack);
    if (!is_rollback_completed && !(awaiting && (is_rollback_started || is_timer || is_abort))) {
      return ignore(IgnoreReason::kRollingBack);
    }
  } else if (IsFinal(deployment.status) && !is_rollback_started) {
    // A finished deployment may still be rolled back (bake-period alert, operator); nothing
    // else moves it.
    return is_rollback_completed ? ignore(IgnoreReason::kNotRollingBack)
                                 : ignore(IgnoreReason::kFinished);
  }

  Machine m(deployment, now);
  Transition t = std::visit([&](const auto& in) { return m.On(in); }, input);
  if (t.ignored) t.next = deployment;
  return t;
}

std::string_view ToString(Status s) {
  switch (s) {
    case Status::kPending:
      return "pending";
    case Status::kRunning:
      return "running";
    case Status::kPaused:
      return "paused";
    case Status::kSucceeded:
      return "succeeded";
    case Status::kFailed:
      return "failed";
    case Status::kRollingBack:
      return "rolling_back";
    case Status::kRolledBack:
      return "rolled_back";
    case Status::kAborted:
      return "aborted";
  }
  return "unknown";
}

std::string_view ToString(Phase p) {
  switch (p) {
    case Phase::kNotStarted:
      return "not_started";
    case Phase::kAtGate:
      return "at_gate";
    case Phase::kHeld:
      return "held";
    case Phase::kBatchInFlight:
      return "batch_in_flight";
    case Phase::kAnalysing:
      return "analysing";
    case Phase::kSwitchingTraffic:
      return "switching_traffic";
    case Phase::kDone:
      return "done";
  }
  return "unknown";
}

events::v1::Reason ToProto(PauseReason r) {
  switch (r) {
    case PauseReason::kPauseStep:
      return events::v1::REASON_PAUSE_STEP;
    case PauseReason::kApprovalRequired:
      return events::v1::REASON_APPROVAL_REQUIRED;
    case PauseReason::kOperator:
      return events::v1::REASON_OPERATOR;
  }
  return events::v1::REASON_UNSPECIFIED;
}

std::optional<core::SystemTime> PauseEndsAt(const Deployment& d) {
  if (d.status != Status::kPaused || d.phase != Phase::kAtGate || d.operator_hold ||
      d.pause_reason != PauseReason::kPauseStep || !d.timer_key) {
    return std::nullopt;
  }
  return d.timer_due_at;
}

std::string_view ToString(PauseReason r) {
  const auto text = events::Name(ToProto(r));
  return text.empty() ? "unknown" : text;
}

events::v1::Reason ToProto(FailureReason r) {
  switch (r) {
    case FailureReason::kBatchFailed:
      return events::v1::REASON_BATCH_FAILED;
    case FailureReason::kAnalysisFailed:
      return events::v1::REASON_ANALYSIS_FAILED;
    case FailureReason::kTrafficSwitchFailed:
      return events::v1::REASON_TRAFFIC_SWITCH_FAILED;
    case FailureReason::kAborted:
      return events::v1::REASON_ABORTED;
    case FailureReason::kNoTargets:
      return events::v1::REASON_NO_TARGETS;
    case FailureReason::kRolledBack:
      return events::v1::REASON_ROLLED_BACK;
    case FailureReason::kRollbackFailed:
      return events::v1::REASON_ROLLBACK_FAILED;
  }
  return events::v1::REASON_UNSPECIFIED;
}

std::string_view ToString(FailureReason r) {
  const auto text = events::Name(ToProto(r));
  return text.empty() ? "unknown" : text;
}

std::string_view ToString(IgnoreReason r) {
  switch (r) {
    case IgnoreReason::kFinished:
      return "finished";
    case IgnoreReason::kRollingBack:
      return "rolling_back";
    case IgnoreReason::kAlreadyStarted:
      return "already_started";
    case IgnoreReason::kNotStarted:
      return "not_started";
    case IgnoreReason::kStaleGeneration:
      return events::Name(events::v1::REASON_STALE_GENERATION);
    case IgnoreReason::kWrongBatch:
      return "wrong_batch";
    case IgnoreReason::kNotAwaitingBatch:
      return "not_awaiting_batch";
    case IgnoreReason::kNotAwaitingAnalysis:
      return "not_awaiting_analysis";
    case IgnoreReason::kNotSwitchingTraffic:
      return "not_switching_traffic";
    case IgnoreReason::kUnknownTimer:
      return "unknown_timer";
    case IgnoreReason::kNoApprovalPending:
      return "no_approval_pending";
    case IgnoreReason::kApprovalRequired:
      return events::Name(events::v1::REASON_APPROVAL_REQUIRED);
    case IgnoreReason::kNotPaused:
      return "not_paused";
    case IgnoreReason::kAlreadyPaused:
      return "already_paused";
    case IgnoreReason::kNothingToPromote:
      return "nothing_to_promote";
    case IgnoreReason::kNotRollingBack:
      return "not_rolling_back";
    case IgnoreReason::kAlreadyRollingBack:
      return "already_rolling_back";
  }
  return "unknown";
}

std::string_view ToString(EventKind k) {
  switch (k) {
    case EventKind::kDeploymentPlanned:
      return "deployment_planned";
    case EventKind::kDeploymentPaused:
      return "deployment_paused";
    case EventKind::kDeploymentResumed:
      return "deployment_resumed";
    case EventKind::kDeploymentSucceeded:
      return "deployment_succeeded";
    case EventKind::kDeploymentFailed:
      return "deployment_failed";
  }
  return "unknown";
}

}  // namespace sluice::rollout_planner
