#include "batch_runner.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <sluice/core/testing/manual_clock.hpp>
#include <stdexcept>

#include "fake_driver.hpp"

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;
using core::testing::ManualClock;
using testing::FakeDriver;

// Records the waits and moves the manual clock instead of sleeping.
class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(ManualClock& clock) : clock_(clock) {}
  void SleepFor(std::chrono::milliseconds d, const std::function<bool()>&) override {
    std::lock_guard lock(mu_);
    sleeps_.push_back(d);
    clock_.Advance(d);
  }
  std::vector<std::chrono::milliseconds> Sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

 private:
  ManualClock& clock_;
  mutable std::mutex mu_;
  std::vector<std::chrono::milliseconds> sleeps_;
};

BatchCommand Command(int hosts, BatchPolicy policy = {}) {
  BatchCommand c;
  c.deployment_id = core::DeploymentId("d-1");
  c.batch_index = core::BatchIndex(2);
  c.generation = core::Generation(7);
  c.artifact = {"2.0.0", "http://artifacts/app-2.0.0.tar.gz", std::string(64, 'a')};
  for (int i = 1; i <= hosts; ++i) {
    HostTarget h;
    h.host = "h" + std::to_string(i);
    h.address = "10.0.0." + std::to_string(i);
    h.agent_endpoint = "http://10.0.0." + std::to_string(i) + ":7070";
    c.hosts.push_back(h);
  }
  c.policy = policy;
  return c;
}

HostOutcome Unreachable() {
  return HostOutcome::Failure(OutcomeKind::kUnreachable, true, "", "connection refused");
}
HostOutcome BadChecksum() {
  return HostOutcome::Failure(OutcomeKind::kFailed, false, "checksum_mismatch", "sha256 differs");
}

std::vector<std::string> Names(const std::vector<HostResult>& results) {
  std::vector<std::string> names;
  for (const auto& r : results) names.push_back(r.host.host);
  return names;
}

class BatchRunnerTest : public ::testing::Test {
 protected:
  BatchResult Run(const BatchCommand& command,
                  const std::map<std::string, InstanceRecord>& prior = {}) {
    BatchHooks hooks;
    hooks.on_host_started = [this](const HostTarget& h, std::uint32_t attempt) {
      std::lock_guard lock(mu_);
      started_.push_back(h.host + "#" + std::to_string(attempt));
    };
    hooks.on_host_results = [this](const std::vector<HostResult>& group) {
      EXPECT_FALSE(group.empty());
      std::lock_guard lock(mu_);
      reported_.insert(reported_.end(), group.begin(), group.end());
    };
    hooks.cancelled = [this] { return cancelled_.load(); };
    BatchRunner runner({driver_, clock_, sleeper_});
    return runner.Run(command, hooks, prior);
  }

  ManualClock clock_;
  FakeSleeper sleeper_{clock_};
  FakeDriver driver_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::vector<std::string> started_;
  std::vector<HostResult> reported_;
};

TEST_F(BatchRunnerTest, EveryHostSucceedsAndIsReportedOnce) {
  BatchPolicy policy;
  policy.host_timeout = 90s;
  const auto result = Run(Command(3, policy));
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  EXPECT_TRUE(result.reason.empty());
  EXPECT_EQ(result.succeeded_hosts, (std::vector<std::string>{"h1", "h2", "h3"}));
  EXPECT_TRUE(result.failed_hosts.empty());
  EXPECT_TRUE(result.not_started_hosts.empty());
  EXPECT_EQ(started_, (std::vector<std::string>{"h1#1", "h2#1", "h3#1"}));
  ASSERT_EQ(reported_.size(), 3u);
  for (const auto& r : reported_) {
    EXPECT_TRUE(r.outcome.Succeeded());
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_FALSE(r.resumed);
    EXPECT_EQ(r.finished_at, clock_.Now());
  }
  const auto calls = driver_.Calls();
  ASSERT_EQ(calls.size(), 3u);
  for (const auto& c : calls) {
    EXPECT_EQ(c.op, "deploy");
    EXPECT_EQ(c.version, "2.0.0");
    EXPECT_EQ(c.generation, 7u);
    EXPECT_EQ(c.deadline, clock_.Monotonic() + 90s);
  }
  EXPECT_TRUE(sleeper_.Sleeps().empty());
}

TEST_F(BatchRunnerTest, EmptyBatchSucceedsWithoutCalls) {
  const auto result = Run(Command(0));
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  EXPECT_TRUE(driver_.Calls().empty());
}

TEST_F(BatchRunnerTest, RetriesRetryableOutcomesWithExponentialBackoff) {
  BatchPolicy policy;
  policy.retry = {4, 100ms, 10s, 2.0};
  policy.host_timeout = 5s;
  driver_.Script(
      "h1", {Unreachable(), HostOutcome::Failure(OutcomeKind::kTimedOut, true, "", "timeout")});
  const auto start = clock_.Monotonic();
  const auto result = Run(Command(1, policy));
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  EXPECT_EQ(sleeper_.Sleeps(), (std::vector<std::chrono::milliseconds>{100ms, 200ms}));
  EXPECT_EQ(started_, (std::vector<std::string>{"h1#1", "h1#2", "h1#3"}));
  ASSERT_EQ(reported_.size(), 1u);
  EXPECT_EQ(reported_[0].attempts, 3u);
  // Each attempt gets its own deadline, counted from when it starts.
  const auto calls = driver_.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].deadline, start + 5s);
  EXPECT_EQ(calls[1].deadline, start + 100ms + 5s);
  EXPECT_EQ(calls[2].deadline, start + 300ms + 5s);
}

TEST_F(BatchRunnerTest, GivesUpAfterMaxAttempts) {
  BatchPolicy policy;
  policy.retry = {3, 1s, 10s, 3.0};
  driver_.Script("h1", {Unreachable(), Unreachable(), Unreachable(), Unreachable()});
  const auto result = Run(Command(1, policy));
  EXPECT_EQ(result.status, BatchStatus::kFailed);
  EXPECT_EQ(result.reason, kReasonHostFailures);
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h1"}));
  EXPECT_EQ(driver_.CallsOf("h1").size(), 3u);
  EXPECT_EQ(sleeper_.Sleeps(), (std::vector<std::chrono::milliseconds>{1s, 3s}));
  ASSERT_EQ(reported_.size(), 1u);
  EXPECT_EQ(reported_[0].outcome.kind, OutcomeKind::kUnreachable);
  EXPECT_EQ(reported_[0].attempts, 3u);
}

TEST_F(BatchRunnerTest, DoesNotRetryNonRetryableOutcomes) {
  BatchPolicy policy;
  policy.retry.max_attempts = 5;
  driver_.Script("h1", {BadChecksum()});
  const auto result = Run(Command(1, policy));
  EXPECT_EQ(result.status, BatchStatus::kFailed);
  EXPECT_EQ(driver_.CallsOf("h1").size(), 1u);
  EXPECT_TRUE(sleeper_.Sleeps().empty());
  ASSERT_EQ(reported_.size(), 1u);
  EXPECT_EQ(reported_[0].outcome.reason, "checksum_mismatch");
}

TEST(BackoffTest, GrowsGeometricallyAndIsCapped) {
  const RetryPolicy p{10, 500ms, 3s, 2.0};
  EXPECT_EQ(BackoffDelay(p, 0), 0ms);
  EXPECT_EQ(BackoffDelay(p, 1), 500ms);
  EXPECT_EQ(BackoffDelay(p, 2), 1000ms);
  EXPECT_EQ(BackoffDelay(p, 3), 2000ms);
  EXPECT_EQ(BackoffDelay(p, 4), 3000ms);
  EXPECT_EQ(BackoffDelay(p, 40), 3000ms);
  const RetryPolicy flat{10, 500ms, 3s, 0.5};  // a multiplier below 1 does not shrink the wait
  EXPECT_EQ(BackoffDelay(flat, 3), 500ms);
}

TEST(BackoffTest, ShouldRetryOnlyRetryableFailuresWithinTheBound) {
  const RetryPolicy p{3, 1s, 1s, 2.0};
  EXPECT_FALSE(ShouldRetry(HostOutcome::Success("1"), 1, p));
  EXPECT_FALSE(ShouldRetry(BadChecksum(), 1, p));
  EXPECT_TRUE(ShouldRetry(Unreachable(), 1, p));
  EXPECT_TRUE(ShouldRetry(Unreachable(), 2, p));
  EXPECT_FALSE(ShouldRetry(Unreachable(), 3, p));
  const RetryPolicy zero{0, 1s, 1s, 2.0};  // 0 attempts still means one
  EXPECT_FALSE(ShouldRetry(Unreachable(), 1, zero));
}

TEST_F(BatchRunnerTest, StopsStartingHostsOnceFailuresExceedTolerance) {
  BatchPolicy policy;
  policy.failure_tolerance = 1;
  driver_.Script("h1", {BadChecksum()});
  driver_.Script("h3", {BadChecksum()});
  const auto result = Run(Command(5, policy));
  EXPECT_EQ(result.status, BatchStatus::kFailed);
  EXPECT_EQ(result.reason, kReasonHostFailures);
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h1", "h3"}));
  EXPECT_EQ(result.succeeded_hosts, (std::vector<std::string>{"h2"}));
  EXPECT_EQ(result.not_started_hosts, (std::vector<std::string>{"h4", "h5"}));
  EXPECT_TRUE(driver_.CallsOf("h4").empty());
  EXPECT_TRUE(driver_.CallsOf("h5").empty());
  EXPECT_EQ(Names(result.results), (std::vector<std::string>{"h1", "h2", "h3"}));
}

TEST_F(BatchRunnerTest, FailuresWithinToleranceStillSucceed) {
  BatchPolicy policy;
  policy.failure_tolerance = 1;
  driver_.Script("h2", {HostOutcome::Failure(OutcomeKind::kUnhealthy, false, "health_check_failed",
                                             "503 from /healthz")});
  const auto result = Run(Command(3, policy));
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h2"}));
  EXPECT_EQ(result.succeeded_hosts, (std::vector<std::string>{"h1", "h3"}));
  EXPECT_EQ(driver_.Calls().size(), 3u);
}

TEST_F(BatchRunnerTest, CancellationStopsNewHosts) {
  driver_.OnCall([this](const testing::DriverCall& c) {
    if (c.host == "h2") cancelled_ = true;
  });
  const auto result = Run(Command(4));
  EXPECT_EQ(result.status, BatchStatus::kCancelled);
  EXPECT_EQ(result.reason, kReasonCancelled);
  EXPECT_EQ(result.succeeded_hosts, (std::vector<std::string>{"h1", "h2"}));
  EXPECT_EQ(result.not_started_hosts, (std::vector<std::string>{"h3", "h4"}));
  EXPECT_EQ(driver_.Calls().size(), 2u);
}

TEST_F(BatchRunnerTest, CancellationStopsRetries) {
  BatchPolicy policy;
  policy.retry.max_attempts = 5;
  driver_.Script("h1", {Unreachable(), Unreachable()});
  driver_.OnCall([this](const testing::DriverCall&) { cancelled_ = true; });
  const auto result = Run(Command(2, policy));
  EXPECT_EQ(result.status, BatchStatus::kCancelled);
  EXPECT_EQ(driver_.CallsOf("h1").size(), 1u);
  EXPECT_TRUE(sleeper_.Sleeps().empty());
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h1"}));
  EXPECT_EQ(result.not_started_hosts, (std::vector<std::string>{"h2"}));
}

TEST_F(BatchRunnerTest, StaleRefusalEndsTheBatch) {
  BatchPolicy policy;
  policy.failure_tolerance = 10;
  driver_.Script("h2", {HostOutcome::Failure(OutcomeKind::kStale, false, "stale_generation",
                                             "agent has seen generation 9")});
  const auto result = Run(Command(4, policy));
  EXPECT_EQ(result.status, BatchStatus::kStale);
  EXPECT_EQ(result.reason, kReasonStaleGeneration);
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h2"}));
  EXPECT_EQ(result.not_started_hosts, (std::vector<std::string>{"h3", "h4"}));
}

TEST_F(BatchRunnerTest, RevertCallsRevertWithTheTargetVersion) {
  auto command = Command(2);
  command.operation = BatchOperation::kRevert;
  command.artifact = {"1.9.0", "", ""};
  const auto result = Run(command);
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  for (const auto& c : driver_.Calls()) {
    EXPECT_EQ(c.op, "revert");
    EXPECT_EQ(c.version, "1.9.0");
    EXPECT_EQ(c.generation, 7u);
  }
}

TEST_F(BatchRunnerTest, DriverExceptionIsAFailedHost) {
  class Throwing final : public TargetDriver {
   public:
    HostOutcome Deploy(const HostTarget&, const ArtifactRef&, const CommandFence&,
                       Deadline) override {
      throw std::runtime_error("boom");
    }
    HostOutcome Revert(const HostTarget&, std::string, const CommandFence&, Deadline) override {
      throw std::runtime_error("boom");
    }
    HostState Status(const HostTarget&, Deadline) override { return {}; }
  } throwing;
  BatchRunner runner({throwing, clock_, sleeper_});
  const auto result = runner.Run(Command(1), {});
  EXPECT_EQ(result.status, BatchStatus::kFailed);
  ASSERT_EQ(result.results.size(), 1u);
  EXPECT_EQ(result.results[0].outcome.reason, kReasonDriverError);
  EXPECT_EQ(result.results[0].outcome.message, "boom");
}

TEST_F(BatchRunnerTest, CallbackErrorStopsTheBatchAndIsRethrown) {
  BatchHooks hooks;
  hooks.on_host_results = [](const std::vector<HostResult>&) {
    throw std::runtime_error("db down");
  };
  BatchRunner runner({driver_, clock_, sleeper_});
  EXPECT_THROW(runner.Run(Command(3), hooks), std::runtime_error);
  EXPECT_EQ(driver_.Calls().size(), 1u);
}

TEST_F(BatchRunnerTest, RunsUpToMaxParallelHostsAtOnce) {
  BatchPolicy policy;
  policy.max_parallel = 3;
  driver_.HoldUntilInFlight(3);
  const auto result = Run(Command(7, policy));
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  EXPECT_EQ(result.succeeded_hosts.size(), 7u);
  EXPECT_EQ(driver_.MaxInFlight(), 3);
  EXPECT_EQ(reported_.size(), 7u);
}

// Results finishing while an earlier one is being recorded are handed over together; however
// they are grouped, each host is reported exactly once.
TEST_F(BatchRunnerTest, ParallelResultsAreEachReportedExactlyOnce) {
  BatchPolicy policy;
  policy.max_parallel = 4;
  driver_.HoldUntilInFlight(4);
  const auto result = Run(Command(12, policy));
  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  std::map<std::string, int> seen;
  for (const auto& r : reported_) ++seen[r.host.host];
  EXPECT_EQ(seen.size(), 12u);
  for (const auto& [host, n] : seen) EXPECT_EQ(n, 1) << host;
}

TEST_F(BatchRunnerTest, ParallelBatchWithFailuresReportsEveryStartedHost) {
  BatchPolicy policy;
  policy.max_parallel = 4;
  policy.failure_tolerance = 0;
  driver_.Script("h1", {BadChecksum()});
  const auto result = Run(Command(8, policy));
  EXPECT_EQ(result.status, BatchStatus::kFailed);
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h1"}));
  // Hosts already in flight finish; the others are not started. Every host is accounted for.
  EXPECT_EQ(
      result.succeeded_hosts.size() + result.failed_hosts.size() + result.not_started_hosts.size(),
      8u);
  EXPECT_EQ(result.results.size(), driver_.Calls().size());
  EXPECT_EQ(reported_.size(), result.results.size());
}

InstanceRecord Record(const std::string& host, InstanceStatus status, std::uint32_t attempts = 1) {
  InstanceRecord r;
  r.deployment_id = core::DeploymentId("d-1");
  r.batch_index = core::BatchIndex(2);
  r.host = host;
  r.status = status;
  r.version = "2.0.0";
  r.generation = core::Generation(7);
  r.attempts = attempts;
  r.updated_at_ms = 1'700'000'000'000;
  return r;
}

HostState Actual(std::string current, HostHealth health, bool reachable = true) {
  HostState s;
  s.reachable = reachable;
  s.current = std::move(current);
  s.health = health;
  return s;
}

TEST(ResumeDecisionTest, TerminalRecordsAreKept) {
  for (auto st : {events::v1::INSTANCE_STATUS_SUCCEEDED, events::v1::INSTANCE_STATUS_FAILED,
                  events::v1::INSTANCE_STATUS_REVERTED}) {
    EXPECT_EQ(ResumeDecision(Record("h", st), Actual("1.0.0", HostHealth::kUnhealthy)),
              ResumeAction::kKeepRecord);
  }
}

TEST(ResumeDecisionTest, HostAlreadyOnTargetAndHealthyIsRecordedWithoutRedeploy) {
  for (auto st : {events::v1::INSTANCE_STATUS_PENDING, events::v1::INSTANCE_STATUS_DEPLOYING,
                  events::v1::INSTANCE_STATUS_REVERTING}) {
    EXPECT_EQ(ResumeDecision(Record("h", st), Actual("2.0.0", HostHealth::kHealthy)),
              ResumeAction::kRecordSuccess);
  }
}

TEST(ResumeDecisionTest, AnythingElseIsRedeployed) {
  const auto deploying = Record("h", events::v1::INSTANCE_STATUS_DEPLOYING);
  EXPECT_EQ(ResumeDecision(deploying, Actual("1.0.0", HostHealth::kHealthy)),
            ResumeAction::kRedeploy);
  EXPECT_EQ(ResumeDecision(deploying, Actual("2.0.0", HostHealth::kUnhealthy)),
            ResumeAction::kRedeploy);
  EXPECT_EQ(ResumeDecision(deploying, Actual("2.0.0", HostHealth::kUnknown)),
            ResumeAction::kRedeploy);
  EXPECT_EQ(ResumeDecision(deploying, Actual("2.0.0", HostHealth::kHealthy, false)),
            ResumeAction::kRedeploy);
  auto no_version = deploying;
  no_version.version.clear();
  EXPECT_EQ(ResumeDecision(no_version, Actual("", HostHealth::kHealthy)), ResumeAction::kRedeploy);
}

TEST_F(BatchRunnerTest, ResumesFromRecordsAskingHostsForTheirState) {
  std::map<std::string, InstanceRecord> prior;
  prior["h1"] = Record("h1", events::v1::INSTANCE_STATUS_SUCCEEDED);
  prior["h1"].deployed_at_ms = 1'700'000'000'500;
  prior["h1"].health = HostHealth::kHealthy;
  prior["h2"] = Record("h2", events::v1::INSTANCE_STATUS_DEPLOYING, 1);
  prior["h3"] = Record("h3", events::v1::INSTANCE_STATUS_DEPLOYING, 2);
  prior["h4"] = Record("h4", events::v1::INSTANCE_STATUS_FAILED, 3);
  prior["h4"].error_message = "checksum mismatch";
  driver_.SetStatus("h2", Actual("2.0.0", HostHealth::kHealthy));
  driver_.SetStatus("h3", Actual("1.0.0", HostHealth::kHealthy));

  BatchPolicy policy;
  policy.failure_tolerance = 1;
  const auto result = Run(Command(5, policy), prior);

  EXPECT_EQ(result.status, BatchStatus::kSucceeded);
  EXPECT_TRUE(driver_.CallsOf("h1").empty());
  EXPECT_EQ(driver_.CallsOf("h2"), (std::vector<std::string>{"status"}));
  EXPECT_EQ(driver_.CallsOf("h3"), (std::vector<std::string>{"status", "deploy"}));
  EXPECT_TRUE(driver_.CallsOf("h4").empty());
  EXPECT_EQ(driver_.CallsOf("h5"), (std::vector<std::string>{"deploy"}));
  EXPECT_EQ(result.failed_hosts, (std::vector<std::string>{"h4"}));
  EXPECT_EQ(result.succeeded_hosts, (std::vector<std::string>{"h1", "h2", "h3", "h5"}));

  // Kept records are not reported again; the others are, with attempts counted on.
  std::map<std::string, HostResult> by_host;
  for (const auto& r : reported_) by_host[r.host.host] = r;
  EXPECT_EQ(by_host.size(), 3u);
  EXPECT_FALSE(by_host.contains("h1"));
  EXPECT_FALSE(by_host.contains("h4"));
  EXPECT_TRUE(by_host["h2"].resumed);
  EXPECT_EQ(by_host["h2"].attempts, 1u);
  EXPECT_EQ(by_host["h2"].outcome.version, "2.0.0");
  EXPECT_FALSE(by_host["h3"].resumed);
  EXPECT_EQ(by_host["h3"].attempts, 3u);
  EXPECT_EQ(started_, (std::vector<std::string>{"h3#3", "h5#1"}));

  for (const auto& r : result.results) {
    if (r.host.host == "h1") {
      EXPECT_TRUE(r.resumed);
      EXPECT_EQ(r.finished_at, core::FromUnixMillis(1'700'000'000'500));
    }
    if (r.host.host == "h4") {
      EXPECT_EQ(r.outcome.reason, kReasonRecordedFailure);
      EXPECT_EQ(r.outcome.message, "checksum mismatch");
    }
  }
}

TEST(InstanceStatusTest, RoundTripsAndKnowsTerminalStates) {
  for (auto s : {events::v1::INSTANCE_STATUS_PENDING, events::v1::INSTANCE_STATUS_DEPLOYING,
                 events::v1::INSTANCE_STATUS_SUCCEEDED, events::v1::INSTANCE_STATUS_FAILED,
                 events::v1::INSTANCE_STATUS_REVERTING, events::v1::INSTANCE_STATUS_REVERTED}) {
    EXPECT_EQ(ParseInstanceStatus(events::Name(s)), s);
  }
  EXPECT_THROW(ParseInstanceStatus("done"), std::invalid_argument);
  EXPECT_TRUE(IsTerminal(events::v1::INSTANCE_STATUS_FAILED));
  EXPECT_FALSE(IsTerminal(events::v1::INSTANCE_STATUS_REVERTING));
}

}  // namespace
}  // namespace sluice::executor
