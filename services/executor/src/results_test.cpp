#include "results.hpp"

#include <gtest/gtest.h>

namespace sluice::executor {
namespace {

Command Deploy() {
  Command c;
  c.id = 9;
  c.deployment_id = core::DeploymentId("d-1");
  c.batch_index = core::BatchIndex(1);
  c.generation = core::Generation(3);
  c.artifact = {"2.0.0", "http://a/x.tar.gz", std::string(64, 'b')};
  for (const char* h : {"web-1", "web-2"}) {
    HostTarget t;
    t.host = h;
    t.address = std::string("10.0.0.") + h[4];
    c.targets.push_back(t);
  }
  return c;
}

HostResult Result(const std::string& host, HostOutcome outcome, std::uint32_t attempts = 1) {
  HostResult r;
  r.host.host = host;
  r.host.address = "10.0.0.1";
  r.outcome = std::move(outcome);
  r.attempts = attempts;
  r.finished_at = core::FromUnixMillis(1'700'000'000'000);
  return r;
}

TEST(ResultsTest, StartedRecordIsInFlight) {
  Command c = Deploy();
  auto r = StartedRecord(c, c.targets[0], 2, 1000);
  EXPECT_EQ(r.status, events::v1::INSTANCE_STATUS_DEPLOYING);
  EXPECT_EQ(r.attempts, 2u);
  EXPECT_EQ(r.version, "2.0.0");
  EXPECT_EQ(r.batch_index.Value(), 1u);
  EXPECT_EQ(r.ip, "10.0.0.1");
  c.operation = BatchOperation::kRevert;
  c.host_batches["web-1"] = 4;
  r = StartedRecord(c, c.targets[0], 1, 1000);
  EXPECT_EQ(r.status, events::v1::INSTANCE_STATUS_REVERTING);
  EXPECT_EQ(r.batch_index.Value(), 4u);  // the host's earlier batch
}

TEST(ResultsTest, ResultRecordCarriesOutcome) {
  const Command c = Deploy();
  auto ok = ResultRecord(c, Result("web-1", HostOutcome::Success("2.0.0")), 5);
  EXPECT_EQ(ok.status, events::v1::INSTANCE_STATUS_SUCCEEDED);
  EXPECT_EQ(ok.deployed_at_ms, 1'700'000'000'000);
  EXPECT_EQ(ok.health, HostHealth::kHealthy);
  EXPECT_TRUE(ok.error_message.empty());

  auto bad = ResultRecord(
      c,
      Result("web-2",
             HostOutcome::Failure(OutcomeKind::kFailed, false, "checksum_mismatch", "sha differs"),
             3),
      5);
  EXPECT_EQ(bad.status, events::v1::INSTANCE_STATUS_FAILED);
  EXPECT_FALSE(bad.deployed_at_ms.has_value());
  EXPECT_EQ(bad.error_message, "checksum_mismatch: sha differs");
  EXPECT_EQ(bad.attempts, 3u);

  const auto u = InstanceUpdate(bad);
  EXPECT_EQ(u.status(), events::v1::INSTANCE_STATUS_FAILED);
  EXPECT_EQ(u.host(), "web-2");
  EXPECT_EQ(u.version(), "2.0.0");
  EXPECT_FALSE(u.has_deployed_at());
  EXPECT_EQ(InstanceUpdate(ok).deployed_at().seconds(), 1'700'000'000);
  EXPECT_EQ(InstanceUpdate(ok).health_status(), events::v1::HEALTH_STATUS_HEALTHY);
}

TEST(ResultsTest, SucceededBatchPublishesBatchSucceeded) {
  BatchResult r;
  r.status = BatchStatus::kSucceeded;
  r.succeeded_hosts = {"web-1", "web-2"};
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  ASSERT_TRUE(e.has_batch_succeeded());
  EXPECT_EQ(e.deployment_id(), "d-1");
  EXPECT_EQ(e.batch_succeeded().generation(), 3u);
  EXPECT_EQ(e.batch_succeeded().batch_index(), 1u);
  EXPECT_EQ(e.batch_succeeded().hosts_size(), 2);
  EXPECT_EQ(CompletionOf(r, false).result, kResultSucceeded);
}

// An analysis of the batch reads data from when its last host switched on: the latest success.
TEST(ResultsTest, BatchSucceededSaysWhenTheLastHostSwitched) {
  BatchResult r;
  r.status = BatchStatus::kSucceeded;
  r.succeeded_hosts = {"web-1", "web-2", "web-3"};
  r.results.push_back(Result("web-1", HostOutcome::Success("2.0.0")));
  r.results.push_back(Result("web-2", HostOutcome::Success("2.0.0")));
  r.results.back().finished_at = core::FromUnixMillis(1'700'000'042'500);
  r.results.push_back(Result("web-3", HostOutcome::Success("2.0.0")));
  r.results.back().finished_at = core::FromUnixMillis(1'700'000'030'000);
  r.results.back().resumed = true;  // its recorded success, from an earlier run
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  ASSERT_TRUE(e.batch_succeeded().has_switched_at());
  EXPECT_EQ(e.batch_succeeded().switched_at().seconds(), 1'700'000'042);
  EXPECT_EQ(e.batch_succeeded().switched_at().nanos(), 500'000'000);

  BatchResult none;  // no host result to say when: left unset
  none.status = BatchStatus::kSucceeded;
  none.succeeded_hosts = {"web-1"};
  events::v1::Envelope unset;
  ASSERT_TRUE(FillClosingEvent(Deploy(), none, unset));
  EXPECT_FALSE(unset.batch_succeeded().has_switched_at());
}

TEST(ResultsTest, AKubernetesTargetsPodsFollowTheTargetsInBatchSucceeded) {
  BatchResult r;
  r.status = BatchStatus::kSucceeded;
  r.succeeded_hosts = {"vm-1", "shop-web"};
  r.results.push_back(Result("vm-1", HostOutcome::Success("2.0.0")));
  HostOutcome k = HostOutcome::Success("2.0.0");
  k.instances = {"web-canary-7d9f-abcde", "web-canary-7d9f-fghij"};
  r.results.push_back(Result("shop-web", k));
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  ASSERT_TRUE(e.has_batch_succeeded());
  const auto& hosts = e.batch_succeeded().hosts();
  EXPECT_EQ(std::vector<std::string>(hosts.begin(), hosts.end()),
            (std::vector<std::string>{"vm-1", "shop-web", "web-canary-7d9f-abcde",
                                      "web-canary-7d9f-fghij"}));
  EXPECT_EQ(e.batch_succeeded().baseline_hosts_size(), 0);
}

// The stable pods beside the canary go apart, as the analysis's baseline.
TEST(ResultsTest, AKubernetesTargetsStablePodsAreTheBaselineOfBatchSucceeded) {
  BatchResult r;
  r.status = BatchStatus::kSucceeded;
  r.succeeded_hosts = {"shop-web"};
  HostOutcome k = HostOutcome::Success("2.0.0");
  k.instances = {"web-canary-7d9f-abcde"};
  k.baseline_instances = {"web-5c8b-aaaaa", "web-5c8b-bbbbb", "web-5c8b-ccccc"};
  r.results.push_back(Result("shop-web", k));
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  ASSERT_TRUE(e.has_batch_succeeded());
  const auto& hosts = e.batch_succeeded().hosts();
  EXPECT_EQ(std::vector<std::string>(hosts.begin(), hosts.end()),
            (std::vector<std::string>{"shop-web", "web-canary-7d9f-abcde"}));
  const auto& baseline = e.batch_succeeded().baseline_hosts();
  EXPECT_EQ(std::vector<std::string>(baseline.begin(), baseline.end()),
            (std::vector<std::string>{"web-5c8b-aaaaa", "web-5c8b-bbbbb", "web-5c8b-ccccc"}));
}

TEST(ResultsTest, FailedBatchNamesHostsAndTheSharedReason) {
  BatchResult r;
  r.status = BatchStatus::kFailed;
  r.results = {
      Result("web-2", HostOutcome::Failure(OutcomeKind::kFailed, false, "checksum_mismatch", "x"))};
  r.succeeded_hosts = {"web-1"};
  r.failed_hosts = {"web-2"};
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  ASSERT_TRUE(e.has_batch_failed());
  EXPECT_EQ(e.batch_failed().failed_hosts(0), "web-2");
  EXPECT_EQ(e.batch_failed().reason_code(), events::v1::REASON_CHECKSUM_MISMATCH);
  EXPECT_EQ(events::ReasonText(e.batch_failed()), "checksum_mismatch");

  r.results.push_back(
      Result("web-3", HostOutcome::Failure(OutcomeKind::kTimedOut, true, "timed_out", "slow")));
  EXPECT_EQ(CompletionOf(r, false).reason, kReasonHostFailures);  // reasons differ
}

TEST(ResultsTest, AStuckKubernetesTargetsPodsFollowTheTargetsInBatchFailed) {
  BatchResult r;
  r.status = BatchStatus::kFailed;
  HostOutcome stuck = HostOutcome::Failure(OutcomeKind::kFailed, false,
                                           "progress_deadline_exceeded", "deployment shop/web");
  stuck.pods_not_ready = {{"web-canary-7f-aaaaa", "Pending", "Unschedulable", "0/3 nodes fit"},
                          {"web-canary-7f-bbbbb", "Pending", "ImagePullBackOff", "back-off"}};
  r.results = {Result("shop-web", stuck)};
  r.failed_hosts = {"shop-web"};
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  ASSERT_TRUE(e.has_batch_failed());
  const auto& p = e.batch_failed();
  EXPECT_EQ(std::vector<std::string>(p.failed_hosts().begin(), p.failed_hosts().end()),
            (std::vector<std::string>{"shop-web", "web-canary-7f-aaaaa", "web-canary-7f-bbbbb"}));
  ASSERT_EQ(p.pods_not_ready_size(), 2);
  EXPECT_EQ(p.pods_not_ready(0).target(), "shop-web");
  EXPECT_EQ(p.pods_not_ready(0).name(), "web-canary-7f-aaaaa");
  EXPECT_EQ(p.pods_not_ready(0).phase(), "Pending");
  EXPECT_EQ(p.pods_not_ready(0).reason(), "Unschedulable");
  EXPECT_EQ(p.pods_not_ready(0).detail(), "0/3 nodes fit");
  EXPECT_EQ(p.pods_not_ready(1).reason(), "ImagePullBackOff");
}

TEST(ResultsTest, CancelledBatchPublishesNothingAndStaleFails) {
  BatchResult r;
  r.status = BatchStatus::kCancelled;
  events::v1::Envelope e;
  EXPECT_FALSE(FillClosingEvent(Deploy(), r, e));
  EXPECT_EQ(CompletionOf(r, false).result, kResultCancelled);
  r.status = BatchStatus::kStale;
  ASSERT_TRUE(FillClosingEvent(Deploy(), r, e));
  EXPECT_EQ(e.batch_failed().reason_code(), events::v1::REASON_STALE_GENERATION);
}

TEST(ResultsTest, RevertCompletedCountsUnresolvedAsFailed) {
  Command c = Deploy();
  c.operation = BatchOperation::kRevert;
  c.rollback_id = "rb-1";
  c.artifact = {"1.0.0", "", ""};
  c.unresolved.push_back({"web-9", "unknown_host", "never seen"});
  BatchResult r;
  r.status = BatchStatus::kSucceeded;
  r.succeeded_hosts = {"web-1"};
  r.failed_hosts = {"web-2"};
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(c, r, e));
  ASSERT_TRUE(e.has_revert_completed());
  const auto& p = e.revert_completed();
  EXPECT_EQ(p.rollback_id(), "rb-1");
  EXPECT_EQ(p.target_version(), "1.0.0");
  EXPECT_EQ(p.reverted_hosts_size(), 1);
  ASSERT_EQ(p.failed_hosts_size(), 2);
  EXPECT_EQ(p.failed_hosts(1), "web-9");
  EXPECT_EQ(CompletionOf(r, true).result, kResultFailed);

  const auto u = UnresolvedRecord(c, c.unresolved[0], 7);
  EXPECT_EQ(u.status, events::v1::INSTANCE_STATUS_FAILED);
  EXPECT_EQ(u.error_message, "unknown_host: never seen");
}

}  // namespace
}  // namespace sluice::executor
