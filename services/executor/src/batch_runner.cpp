#include "batch_runner.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace sluice::executor {

std::string_view ToString(BatchOperation op) {
  return op == BatchOperation::kRevert ? "revert" : "deploy";
}

std::string_view ToString(BatchStatus s) {
  switch (s) {
    case BatchStatus::kSucceeded:
      return "succeeded";
    case BatchStatus::kFailed:
      return "failed";
    case BatchStatus::kCancelled:
      return "cancelled";
    case BatchStatus::kStale:
      return "stale";
  }
  return "failed";
}

std::string_view ToString(ResumeAction a) {
  switch (a) {
    case ResumeAction::kKeepRecord:
      return "keep_record";
    case ResumeAction::kRecordSuccess:
      return "record_success";
    case ResumeAction::kRedeploy:
      return "redeploy";
  }
  return "redeploy";
}

ResumeAction ResumeDecision(const InstanceRecord& record, const HostState& actual) {
  if (IsTerminal(record.status)) return ResumeAction::kKeepRecord;
  if (actual.reachable && !record.version.empty() && actual.current == record.version &&
      actual.health == HostHealth::kHealthy) {
    return ResumeAction::kRecordSuccess;
  }
  return ResumeAction::kRedeploy;
}

std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, std::uint32_t failed_attempts) {
  if (failed_attempts == 0) return std::chrono::milliseconds(0);
  const double base = static_cast<double>(policy.initial_backoff.count());
  const double factor = std::pow(std::max(policy.multiplier, 1.0), failed_attempts - 1);
  const double cap = static_cast<double>(policy.max_backoff.count());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(base * factor, cap)));
}

bool ShouldRetry(const HostOutcome& outcome, std::uint32_t attempts_made,
                 const RetryPolicy& policy) {
  if (outcome.Succeeded() || !outcome.retryable) return false;
  return attempts_made < std::max<std::uint32_t>(policy.max_attempts, 1);
}

void SystemSleeper::SleepFor(std::chrono::milliseconds d,
                             const std::function<bool()>& interrupted) {
  constexpr std::chrono::milliseconds kSlice{50};
  const auto until = std::chrono::steady_clock::now() + d;
  while (!(interrupted && interrupted())) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, kSlice));
  }
}

namespace {

bool IsCancelled(const BatchHooks& hooks) { return hooks.cancelled && hooks.cancelled(); }

HostOutcome OutcomeFromRecord(const InstanceRecord& record) {
  if (record.status == events::v1::INSTANCE_STATUS_FAILED) {
    return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonRecordedFailure),
                                record.error_message);
  }
  return HostOutcome::Success(record.version, record.health);
}

// The state shared by the workers of one Run.
struct RunState {
  std::mutex mu;
  std::size_t next = 0;                 // guarded by mu: index of the next host to start
  std::uint32_t failures = 0;           // guarded by mu
  bool stale = false;                   // guarded by mu
  bool cancel_stopped_work = false;     // guarded by mu
  bool stop = false;                    // guarded by mu
  std::vector<HostResult> results;      // guarded by mu
  std::vector<std::optional<bool>> ok;  // guarded by mu: per host index, set when finished
  std::exception_ptr error;             // guarded by mu: first exception of a callback

  std::mutex report_mu;
  std::vector<HostResult> unreported;  // guarded by report_mu: waiting for on_host_results
  bool reporting = false;              // guarded by report_mu: a worker is calling it
};

class Worker {
 public:
  Worker(const BatchRunnerDeps& deps, const BatchCommand& command, const BatchHooks& hooks,
         const std::map<std::string, InstanceRecord>& prior, RunState& state)
      : deps_(deps), command_(command), hooks_(hooks), prior_(prior), state_(state) {}

  void Loop() {
    for (;;) {
      std::size_t index = 0;
      {
        std::lock_guard lock(state_.mu);
        if (state_.stop || state_.next >= command_.hosts.size()) return;
        if (IsCancelled(hooks_)) {
          state_.stop = true;
          state_.cancel_stopped_work = true;
          return;
        }
        index = state_.next++;
      }
      bool notify = true;
      HostResult result = RunHost(command_.hosts[index], notify);
      Finish(index, std::move(result), notify);
    }
  }

 private:
  HostResult RunHost(const HostTarget& host, bool& notify) {
    HostResult result;
    result.host = host;
    const auto it = prior_.find(host.host);
    if (it != prior_.end()) {
      const InstanceRecord& record = it->second;
      result.attempts = record.attempts;
      HostState actual;
      if (!IsTerminal(record.status)) actual = SafeStatus(host);
      switch (ResumeDecision(record, actual)) {
        case ResumeAction::kKeepRecord:
          notify = false;
          result.outcome = OutcomeFromRecord(record);
          result.resumed = true;
          result.finished_at = record.deployed_at_ms ? core::FromUnixMillis(*record.deployed_at_ms)
                                                     : core::FromUnixMillis(record.updated_at_ms);
          return result;
        case ResumeAction::kRecordSuccess:
          result.outcome = HostOutcome::Success(actual.current, actual.health);
          result.resumed = true;
          result.finished_at = deps_.clock.Now();
          return result;
        case ResumeAction::kRedeploy:
          break;
      }
    }

    const RetryPolicy& retry = command_.policy.retry;
    for (std::uint32_t n = 1;; ++n) {
      ++result.attempts;
      if (hooks_.on_host_started) hooks_.on_host_started(host, result.attempts);
      result.outcome = Call(host);
      if (!ShouldRetry(result.outcome, n, retry)) break;
      if (StopRetrying()) break;
      deps_.sleeper.SleepFor(BackoffDelay(retry, n), hooks_.cancelled);
      if (StopRetrying()) break;
    }
    result.finished_at = deps_.clock.Now();
    return result;
  }

  bool StopRetrying() {
    if (!IsCancelled(hooks_)) return false;
    std::lock_guard lock(state_.mu);
    state_.cancel_stopped_work = true;
    return true;
  }

  HostOutcome Call(const HostTarget& host) {
    const Deadline deadline = deps_.clock.Monotonic() + command_.policy.host_timeout;
    const CommandFence fence{command_.deployment_id.Value(), command_.generation};
    try {
      if (command_.operation == BatchOperation::kRevert) {
        return deps_.driver.Revert(host, command_.artifact.version, fence, deadline);
      }
      return deps_.driver.Deploy(host, command_.artifact, fence, deadline);
    } catch (const std::exception& e) {
      return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonDriverError),
                                  e.what());
    }
  }

  HostState SafeStatus(const HostTarget& host) {
    try {
      return deps_.driver.Status(host, deps_.clock.Monotonic() + command_.policy.host_timeout);
    } catch (const std::exception& e) {
      HostState s;
      s.error = e.what();
      return s;
    }
  }

  void Finish(std::size_t index, HostResult result, bool notify) {
    const bool ok = result.outcome.Succeeded();
    {
      std::lock_guard lock(state_.mu);
      state_.ok[index] = ok;
      if (!ok) {
        ++state_.failures;
        if (result.outcome.kind == OutcomeKind::kStale) {
          state_.stale = true;
          state_.stop = true;
        }
        if (state_.failures > command_.policy.failure_tolerance) state_.stop = true;
      }
    }
    if (notify && hooks_.on_host_results) Report(result);
    std::lock_guard lock(state_.mu);
    state_.results.push_back(std::move(result));
  }

  // Hands a result to on_host_results. The worker that finds no call in progress makes the
  // calls, each with every result reported meanwhile; the others go on with their next host.
  void Report(HostResult result) {
    std::vector<HostResult> group;
    {
      std::lock_guard lock(state_.report_mu);
      state_.unreported.push_back(std::move(result));
      if (state_.reporting) return;
      state_.reporting = true;
      group.swap(state_.unreported);
    }
    for (;;) {
      try {
        hooks_.on_host_results(group);
      } catch (...) {
        std::lock_guard lock(state_.mu);
        if (!state_.error) state_.error = std::current_exception();
        state_.stop = true;
      }
      group.clear();
      std::lock_guard lock(state_.report_mu);
      if (state_.unreported.empty()) {
        state_.reporting = false;
        return;
      }
      group.swap(state_.unreported);
    }
  }

  const BatchRunnerDeps& deps_;
  const BatchCommand& command_;
  const BatchHooks& hooks_;
  const std::map<std::string, InstanceRecord>& prior_;
  RunState& state_;
};

}  // namespace

BatchResult BatchRunner::Run(const BatchCommand& command, const BatchHooks& hooks,
                             const std::map<std::string, InstanceRecord>& prior) const {
  RunState state;
  state.ok.resize(command.hosts.size());

  const std::size_t workers = std::min<std::size_t>(
      std::max<std::uint32_t>(command.policy.max_parallel, 1), command.hosts.size());
  Worker worker(deps_, command, hooks, prior, state);
  if (workers <= 1) {
    worker.Loop();
  } else {
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) threads.emplace_back([&worker] { worker.Loop(); });
    for (auto& t : threads) t.join();
  }
  if (state.error) std::rethrow_exception(state.error);

  BatchResult out;
  out.results = std::move(state.results);
  for (std::size_t i = 0; i < command.hosts.size(); ++i) {
    const std::string& name = command.hosts[i].host;
    if (!state.ok[i].has_value()) {
      out.not_started_hosts.push_back(name);
    } else if (*state.ok[i]) {
      out.succeeded_hosts.push_back(name);
    } else {
      out.failed_hosts.push_back(name);
    }
  }
  if (state.stale) {
    out.status = BatchStatus::kStale;
    out.reason = kReasonStaleGeneration;
  } else if (state.cancel_stopped_work) {
    out.status = BatchStatus::kCancelled;
    out.reason = kReasonCancelled;
  } else if (state.failures > command.policy.failure_tolerance) {
    out.status = BatchStatus::kFailed;
    out.reason = kReasonHostFailures;
  } else {
    out.status = BatchStatus::kSucceeded;
  }
  return out;
}

}  // namespace sluice::executor
