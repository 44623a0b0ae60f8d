#pragma once

// Runs one command (a deploy batch or a revert) over a TargetDriver: bounded parallelism,
// a deadline per attempt, bounded retries with exponential backoff for retryable outcomes,
// a failure tolerance, cancellation when a newer generation arrives, and resumption from the
// records of an earlier run. No I/O of its own: the driver, the clock and the sleeper are
// injected, and every host result goes to a callback (the component writes the
// InstanceDeploymentRecord and the InstanceDeploymentUpdated event there).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "instance_record.hpp"
#include "target_driver.hpp"

namespace sluice::executor {

enum class BatchOperation { kDeploy, kRevert };
std::string_view ToString(BatchOperation op);

struct RetryPolicy {
  std::uint32_t max_attempts = 3;  // per host and run, the first attempt included; 0 means 1
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{30'000};
  double multiplier = 2.0;
};

struct BatchPolicy {
  std::uint32_t max_parallel = 1;       // hosts in flight at once; 0 means 1
  std::uint32_t failure_tolerance = 0;  // the batch fails when more hosts than this fail
  std::chrono::milliseconds host_timeout{300'000};  // deadline of one attempt on one host
  RetryPolicy retry;
};

struct BatchCommand {
  core::DeploymentId deployment_id;
  core::BatchIndex batch_index{0};
  core::Generation generation{0};
  BatchOperation operation = BatchOperation::kDeploy;
  ArtifactRef artifact;  // kRevert uses only artifact.version, the version to go back to
  std::vector<HostTarget> hosts;
  BatchPolicy policy;
};

struct HostResult {
  HostTarget host;
  HostOutcome outcome;
  std::uint32_t attempts = 0;  // driver calls made for this host, earlier runs included
  core::SystemTime finished_at{};
  // Taken from the record of an earlier run (kept as it was, or confirmed by the host's
  // status) rather than from a deploy or revert call of this run.
  bool resumed = false;
};

enum class BatchStatus {
  kSucceeded,  // every host ran, at most failure_tolerance failed
  kFailed,     // more than failure_tolerance hosts failed; the rest were not started
  kCancelled,  // a newer generation arrived; hosts not started were left alone
  kStale,      // a host refused the command as stale (it has seen a newer generation)
};
std::string_view ToString(BatchStatus s);

// BatchResult.reason: named so the planner and the notifier can key on them.
inline constexpr std::string_view kReasonHostFailures =
    events::Name(events::v1::REASON_HOST_FAILURES_EXCEEDED_TOLERANCE);
inline constexpr std::string_view kReasonCancelled =
    events::Name(events::v1::REASON_SUPERSEDED_BY_NEWER_GENERATION);
inline constexpr std::string_view kReasonStaleGeneration =
    events::Name(events::v1::REASON_STALE_GENERATION);
inline constexpr std::string_view kReasonDriverError =
    events::Name(events::v1::REASON_DRIVER_ERROR);
inline constexpr std::string_view kReasonRecordedFailure =
    events::Name(events::v1::REASON_RECORDED_FAILURE);

struct BatchResult {
  BatchStatus status = BatchStatus::kSucceeded;
  std::string reason;               // empty when succeeded
  std::vector<HostResult> results;  // in the order the hosts finished
  // Host names in command order.
  std::vector<std::string> succeeded_hosts;
  std::vector<std::string> failed_hosts;
  std::vector<std::string> not_started_hosts;
};

// Waits between attempts. Injected so unit tests do not sleep.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Returns after `d`, or earlier once `interrupted()` is true (checked now and then).
  virtual void SleepFor(std::chrono::milliseconds d, const std::function<bool()>& interrupted) = 0;
};

// Real sleeping in slices of at most 50 ms, so a cancellation is noticed quickly.
class SystemSleeper final : public Sleeper {
 public:
  void SleepFor(std::chrono::milliseconds d, const std::function<bool()>& interrupted) override;
};

struct BatchHooks {
  // Before each driver call (attempt counts from 1, earlier runs included): the component
  // marks the record deploying / reverting.
  std::function<void(const HostTarget&, std::uint32_t attempt)> on_host_started;
  // Every host that finished in this run (not the records kept from an earlier run) is handed
  // over once, in a call with the other hosts that finished while the previous call ran (at
  // least one), so that the component can record them in one transaction. Calls are
  // serialised; the workers do not wait for them. An exception stops the batch and is rethrown
  // by Run.
  std::function<void(const std::vector<HostResult>&)> on_host_results;
  // True once a newer generation of the deployment has arrived: start no new host, make no
  // further retry.
  std::function<bool()> cancelled;
};

// What a restarted executor does with a host whose record of this command is not terminal.
enum class ResumeAction {
  kKeepRecord,     // the record is terminal: its result stands, nothing is called
  kRecordSuccess,  // the host already runs the target version and is healthy: record success
  kRedeploy,       // anything else: run the command on the host (the driver is idempotent)
};
std::string_view ToString(ResumeAction a);
ResumeAction ResumeDecision(const InstanceRecord& record, const HostState& actual);

// The wait before attempt `failed_attempts + 1`: initial_backoff * multiplier^(failed_attempts
// - 1), capped at max_backoff. No jitter: hosts of a batch do not share a server to stampede.
std::chrono::milliseconds BackoffDelay(const RetryPolicy& policy, std::uint32_t failed_attempts);
// Whether to try again after `attempts_made` calls ended in `outcome`.
bool ShouldRetry(const HostOutcome& outcome, std::uint32_t attempts_made,
                 const RetryPolicy& policy);

struct BatchRunnerDeps {
  TargetDriver& driver;
  const core::Clock& clock;
  Sleeper& sleeper;
};

class BatchRunner {
 public:
  explicit BatchRunner(BatchRunnerDeps deps) : deps_(deps) {}

  // Runs the command. `prior` holds the records of an earlier run of the same command
  // (same deployment, batch and generation), keyed by host: terminal ones are kept, the
  // others are resolved with the host's status (ResumeDecision). Blocks until every started
  // host has finished.
  BatchResult Run(const BatchCommand& command, const BatchHooks& hooks,
                  const std::map<std::string, InstanceRecord>& prior = {}) const;

 private:
  BatchRunnerDeps deps_;
};

}  // namespace sluice::executor
