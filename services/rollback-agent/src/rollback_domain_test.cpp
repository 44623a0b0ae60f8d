#include "rollback_domain.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/envelope.hpp>

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

// Builds a deployment's event stream with a manual clock.
class Events {
 public:
  v1::Envelope New() {
    auto e = events::NewEnvelope("rollout-planner", clock_);
    e.set_deployment_id("d1");
    clock_.Advance(1s);
    return e;
  }
  v1::Envelope Planned(const std::string& stable = "v2", const std::string& policy = "") {
    auto e = New();
    auto* p = e.mutable_deployment_planned();
    p->set_deployment_id("d1");
    p->set_release_id("r3");
    p->set_app("demo-app");
    p->set_env("production");
    p->set_version("v3");
    p->set_stable_release_id(stable.empty() ? "" : "r2");
    p->set_stable_version(stable);
    events::SetPolicy(*p, events::ParseCanaryFailurePolicy(policy));
    p->set_generation(1);
    for (std::uint32_t b = 0; b < 3; ++b) {
      auto* pb = p->add_batches();
      pb->set_index(b);
      pb->add_targets()->set_host("h" + std::to_string(2 * b + 1));
      pb->add_targets()->set_host("h" + std::to_string(2 * b + 2));
    }
    return e;
  }
  v1::Envelope Requested(std::uint32_t batch, std::uint64_t generation = 1) {
    auto e = New();
    auto* p = e.mutable_batch_requested();
    p->set_deployment_id("d1");
    p->set_batch_index(batch);
    p->set_generation(generation);
    p->add_targets()->set_host("h" + std::to_string(2 * batch + 1));
    p->add_targets()->set_host("h" + std::to_string(2 * batch + 2));
    return e;
  }
  v1::Envelope Instance(std::uint32_t batch, const std::string& host, v1::InstanceStatus status,
                        const std::string& version, const std::string& error = "") {
    auto e = New();
    e.set_source("executor");
    auto* p = e.mutable_instance_updated();
    p->set_deployment_id("d1");
    p->set_batch_index(batch);
    p->set_host(host);
    p->set_status(status);
    p->set_version(version);
    p->set_error_message(error);
    return e;
  }
  v1::Envelope Succeeded(std::uint32_t batch) {
    auto e = New();
    auto* p = e.mutable_batch_succeeded();
    p->set_deployment_id("d1");
    p->set_batch_index(batch);
    p->set_generation(1);
    p->add_hosts("h" + std::to_string(2 * batch + 1));
    p->add_hosts("h" + std::to_string(2 * batch + 2));
    return e;
  }
  v1::Envelope DeploymentSucceeded() {
    auto e = New();
    e.mutable_deployment_succeeded()->set_deployment_id("d1");
    return e;
  }
  v1::Envelope DeploymentFailed() {
    auto e = New();
    e.mutable_deployment_failed()->set_deployment_id("d1");
    return e;
  }
  std::int64_t Now() const { return core::ToUnixMillis(clock_.Now()); }

 private:
  core::testing::ManualClock clock_;
};

class DecideTest : public ::testing::Test {
 protected:
  void Apply(const v1::Envelope& e) { ASSERT_TRUE(projection::Apply(view_, e, events_.Now())); }
  // Batches [0, n) requested and deployed with v3; `succeeded` of them succeeded.
  void Deploy(int n, int succeeded, const std::string& stable = "v2",
              const std::string& policy = "") {
    Apply(events_.Planned(stable, policy));
    for (int b = 0; b < n; ++b) {
      const auto batch = static_cast<std::uint32_t>(b);
      Apply(events_.Requested(batch));
      for (int i = 1; i <= 2; ++i) {
        Apply(events_.Instance(batch, "h" + std::to_string(2 * b + i),
                               v1::INSTANCE_STATUS_SUCCEEDED, "v3"));
      }
      if (b < succeeded) Apply(events_.Succeeded(batch));
    }
  }
  static AnalysisFailedTrigger Analysis(std::vector<std::string> affected, std::uint32_t batch = 1,
                                        bool bake = false, std::uint64_t generation = 1) {
    AnalysisFailedTrigger t;
    t.analysis_id = "a1";
    t.batch = batch;
    t.bake_watch = bake;
    t.generation = generation;
    t.affected_instances = std::move(affected);
    return t;
  }
  static AlertTrigger Alert(std::vector<std::string> affected = {}, bool resolved = false) {
    AlertTrigger t;
    t.alert_id = "al1";
    t.alert_name = "HighErrorRate";
    t.affected_instances = std::move(affected);
    t.resolved = resolved;
    return t;
  }
  static OperatorTrigger Operator(std::optional<std::string> target = std::nullopt) {
    OperatorTrigger t;
    t.actor = "alice";
    t.reason = "bad release";
    t.target_release_id = std::move(target);
    return t;
  }

  Events events_;
  DeploymentView view_;
};

// ---- projection ---------------------------------------------------------------------------

TEST_F(DecideTest, ProjectionFollowsThePlannerAndTheExecutor) {
  Deploy(2, 1);
  EXPECT_TRUE(view_.planned);
  EXPECT_EQ(view_.app, "demo-app");
  EXPECT_EQ(view_.stable_version, "v2");
  EXPECT_EQ(view_.generation, 1u);
  ASSERT_EQ(view_.batches.size(), 3u);
  EXPECT_EQ(view_.batches[0].state, BatchState::kSucceeded);
  EXPECT_EQ(view_.batches[1].state, BatchState::kRequested);
  EXPECT_EQ(view_.batches[2].state, BatchState::kPlanned);
  EXPECT_THAT(view_.DeployedHosts(), ElementsAre("h1", "h2", "h3", "h4"));
  EXPECT_EQ(view_.hosts.at("h3").version, "v3");
  EXPECT_FALSE(view_.FullRollout());
  Apply(events_.Succeeded(1));
  Apply(events_.Requested(2));
  Apply(events_.Succeeded(2));
  EXPECT_TRUE(view_.FullRollout());
}

TEST_F(DecideTest, ProjectionSurvivesJson) {
  Deploy(2, 1, "v2", "revert-all");
  view_.rollback = RollbackPhase::kDone;
  const auto back = projection::FromJson(projection::ToJson(view_));
  EXPECT_EQ(projection::ToJson(back), projection::ToJson(view_));
  EXPECT_EQ(back.on_canary_failure, v1::CANARY_FAILURE_POLICY_REVERT_ALL);
  EXPECT_EQ(back.rollback, RollbackPhase::kDone);
  EXPECT_EQ(back.batches[1].hosts, (std::vector<std::string>{"h3", "h4"}));
}

TEST_F(DecideTest, DeploymentSucceededMeansFullRollout) {
  Deploy(1, 1);
  Apply(events_.DeploymentSucceeded());
  EXPECT_TRUE(view_.FullRollout());
  EXPECT_EQ(view_.status, projection::Status::kSucceeded);
}

TEST_F(DecideTest, RevertCompletedPutsHostsOnTheTarget) {
  Deploy(2, 1);
  auto e = events_.New();
  auto* p = e.mutable_revert_completed();
  p->set_generation(2);
  p->add_reverted_hosts("h3");
  p->add_failed_hosts("h4");
  p->set_target_version("v2");
  Apply(e);
  EXPECT_EQ(view_.hosts.at("h3").version, "v2");
  EXPECT_EQ(view_.hosts.at("h3").status, "reverted");
  EXPECT_EQ(view_.hosts.at("h4").version, "v3");
  EXPECT_EQ(view_.generation, 2u);
}

TEST_F(DecideTest, UnrelatedEventsAreNotKept) {
  auto e = events_.New();
  e.mutable_analysis_passed()->set_deployment_id("d1");
  EXPECT_FALSE(projection::Apply(view_, e, 0));
}

// ---- canary, revert-batch -----------------------------------------------------------------

TEST_F(DecideTest, CanaryRevertBatchRevertsOnlyTheNamedBatch) {
  Deploy(2, 2);
  const auto d = DecideRollback(view_, Analysis({"h3"}));
  ASSERT_TRUE(d.Acts());
  const auto& p = d.Plan();
  EXPECT_EQ(p.scope, Scope::kBatches);
  EXPECT_THAT(p.batches, ElementsAre(1u));
  EXPECT_THAT(p.hosts, ElementsAre("h3", "h4"));
  EXPECT_EQ(p.target_version, "v2");
  EXPECT_EQ(p.target_release_id, "r2");
  EXPECT_EQ(p.final_status, FinalStatus::kFailed);
  EXPECT_EQ(p.from_generation, 1u);
  EXPECT_EQ(p.new_generation, 2u);
}

TEST_F(DecideTest, CanaryRevertBatchWithSeveralNamedBatches) {
  Deploy(2, 2);
  const auto d = DecideRollback(view_, Alert({"h1", "h4"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().batches, ElementsAre(0u, 1u));
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2", "h3", "h4"));
  EXPECT_EQ(d.Plan().final_status, FinalStatus::kFailed);
}

TEST_F(DecideTest, CanaryReleaseWideEvidenceRevertsEveryDeployedBatch) {
  Deploy(2, 2);
  for (const auto& t : std::vector<Trigger>{Analysis({}), Alert({}), Alert({"elsewhere"})}) {
    const auto d = DecideRollback(view_, t);
    ASSERT_TRUE(d.Acts());
    EXPECT_THAT(d.Plan().batches, ElementsAre(0u, 1u));
    EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2", "h3", "h4"));
    EXPECT_EQ(d.Plan().final_status, FinalStatus::kFailed);
  }
}

TEST_F(DecideTest, HostsOfBatchesNeverRequestedAreLeftAlone) {
  Deploy(2, 1);
  // The evidence names a host of batch 3, which was never requested.
  const auto d = DecideRollback(view_, Analysis({"h5"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().batches, ElementsAre(0u, 1u));
  for (const auto& h : d.Plan().hosts) {
    EXPECT_NE(h, "h5");
    EXPECT_NE(h, "h6");
  }
}

TEST_F(DecideTest, HostsAlreadyOnTheStableVersionAreLeftAlone) {
  Deploy(2, 1);
  // h4's deploy failed and it stayed on v2.
  Apply(events_.Instance(1, "h4", v1::INSTANCE_STATUS_SUCCEEDED, "v2"));
  const auto d = DecideRollback(view_, Analysis({"h3", "h4"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h3"));
}

TEST_F(DecideTest, AFailedHostIsStillReverted) {
  Deploy(2, 1);
  Apply(events_.Instance(1, "h4", v1::INSTANCE_STATUS_FAILED, "v3", "health check failed"));
  const auto d = DecideRollback(view_, Analysis({"h4"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h3", "h4"));
}

// ---- canary, revert-all -------------------------------------------------------------------

TEST_F(DecideTest, CanaryRevertAllRevertsEveryDeployedBatchAndEndsRolledBack) {
  Deploy(2, 2, "v2", "revert-all");
  const auto d = DecideRollback(view_, Analysis({"h3"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_EQ(d.Plan().scope, Scope::kBatches);
  EXPECT_THAT(d.Plan().batches, ElementsAre(0u, 1u));
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2", "h3", "h4"));
  EXPECT_EQ(d.Plan().final_status, FinalStatus::kRolledBack);
}

// ---- full rollout -------------------------------------------------------------------------

TEST_F(DecideTest, BakeWatchBreachAfterFullRolloutRevertsEveryHost) {
  Deploy(3, 3);
  Apply(events_.DeploymentSucceeded());
  const auto d = DecideRollback(view_, Analysis({"h2"}, 2, /*bake=*/true));
  ASSERT_TRUE(d.Acts());
  EXPECT_EQ(d.Plan().scope, Scope::kDeployment);
  EXPECT_THAT(d.Plan().batches, ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2", "h3", "h4", "h5", "h6"));
  EXPECT_EQ(d.Plan().target_version, "v2");
  EXPECT_EQ(d.Plan().final_status, FinalStatus::kRolledBack);
}

TEST_F(DecideTest, AlertAfterFullRolloutRevertsEveryHostEvenWithRevertBatch) {
  Deploy(3, 3, "v2", "revert-batch");
  const auto d = DecideRollback(view_, Alert({"h1"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_EQ(d.Plan().scope, Scope::kDeployment);
  EXPECT_EQ(d.Plan().hosts.size(), 6u);
  EXPECT_EQ(d.Plan().final_status, FinalStatus::kRolledBack);
}

// ---- record-only --------------------------------------------------------------------------

TEST_F(DecideTest, UnknownDeploymentIsRecorded) {
  EXPECT_EQ(DecideRollback(std::optional<DeploymentView>{}, Alert()).Record().reason,
            kReasonUnknownDeployment);
  DeploymentView seen_but_not_planned;
  seen_but_not_planned.id = "d9";
  const auto d = DecideRollback(seen_but_not_planned, Analysis({"h1"}));
  ASSERT_FALSE(d.Acts());
  EXPECT_EQ(d.Record().reason, kReasonUnknownDeployment);
  EXPECT_EQ(DecideRollback(seen_but_not_planned, Operator()).Record().reason,
            kReasonUnknownDeployment);
}

TEST_F(DecideTest, RollbackInProgressIsRecordedForEveryTrigger) {
  Deploy(2, 2);
  view_.rollback = RollbackPhase::kActive;
  for (const auto& t : std::vector<Trigger>{Analysis({"h3"}), Alert(), Operator()}) {
    const auto d = DecideRollback(view_, t);
    ASSERT_FALSE(d.Acts());
    EXPECT_EQ(d.Record().reason, kReasonRollbackInProgress);
  }
}

TEST_F(DecideTest, AlreadyRolledBackIsRecordedForAutomaticTriggers) {
  Deploy(2, 2);
  view_.rollback = RollbackPhase::kDone;
  view_.generation = 2;
  EXPECT_EQ(DecideRollback(view_, Analysis({"h3"}, 1, false, 2)).Record().reason,
            kReasonAlreadyRolledBack);
  EXPECT_EQ(DecideRollback(view_, Alert({"h3"})).Record().reason, kReasonAlreadyRolledBack);
}

TEST_F(DecideTest, StaleAnalysisGenerationIsRecorded) {
  Deploy(2, 2);
  view_.generation = 3;
  const auto d = DecideRollback(view_, Analysis({"h3"}, 1, false, 2));
  ASSERT_FALSE(d.Acts());
  EXPECT_EQ(d.Record().reason, kReasonStaleGeneration);
  // Generation 0 means "not known": not stale.
  EXPECT_TRUE(DecideRollback(view_, Analysis({"h3"}, 1, false, 0)).Acts());
}

TEST_F(DecideTest, ResolvedAlertIsRecorded) {
  Deploy(2, 2);
  EXPECT_EQ(DecideRollback(view_, Alert({"h3"}, true)).Record().reason, kReasonAlertResolved);
}

TEST_F(DecideTest, SupersededDeploymentIsRecorded) {
  Deploy(3, 3);
  view_.superseded = true;
  EXPECT_EQ(DecideRollback(view_, Alert()).Record().reason, kReasonSuperseded);
}

TEST_F(DecideTest, NoStableReleaseIsRecorded) {
  Deploy(2, 2, /*stable=*/"");
  EXPECT_EQ(DecideRollback(view_, Analysis({"h3"})).Record().reason, kReasonNoStableRelease);
  EXPECT_EQ(DecideRollback(view_, Operator()).Record().reason, kReasonNoStableRelease);
}

TEST_F(DecideTest, NothingDeployedIsRecorded) {
  Apply(events_.Planned());
  EXPECT_EQ(DecideRollback(view_, Alert()).Record().reason, kReasonNothingDeployed);
  EXPECT_EQ(DecideRollback(view_, Operator()).Record().reason, kReasonNothingDeployed);
}

TEST_F(DecideTest, FailedDeploymentWithoutRollbackStillRollsBack) {
  // The planner fails the deployment on the same analysis; the hosts still run v3.
  Deploy(2, 2);
  Apply(events_.DeploymentFailed());
  EXPECT_EQ(view_.status, projection::Status::kFailed);
  const auto d = DecideRollback(view_, Analysis({"h3"}));
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h3", "h4"));
}

// ---- operator -----------------------------------------------------------------------------

TEST_F(DecideTest, OperatorRollbackDuringCanaryRevertsEveryDeployedHost) {
  Deploy(2, 1);
  const auto d = DecideRollback(view_, Operator());
  ASSERT_TRUE(d.Acts());
  EXPECT_EQ(d.Plan().scope, Scope::kDeployment);
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2", "h3", "h4"));
  EXPECT_EQ(d.Plan().target_version, "v2");
  EXPECT_EQ(d.Plan().final_status, FinalStatus::kRolledBack);
}

TEST_F(DecideTest, OperatorRollbackDuringAPause) {
  Deploy(1, 1);
  auto e = events_.New();
  e.mutable_deployment_paused()->set_deployment_id("d1");
  Apply(e);
  EXPECT_EQ(view_.status, projection::Status::kPaused);
  const auto d = DecideRollback(view_, Operator());
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2"));
}

TEST_F(DecideTest, OperatorRollbackToAChosenEarlierRelease) {
  Deploy(3, 3);
  view_.earlier_releases = {{"r1", "v1", false}, {"r2", "v2", false}, {"rX", "vX", true}};
  const auto d = DecideRollback(view_, Operator("r1"));
  ASSERT_TRUE(d.Acts());
  EXPECT_EQ(d.Plan().target_version, "v1");
  EXPECT_EQ(d.Plan().target_release_id, "r1");
  EXPECT_EQ(d.Plan().hosts.size(), 6u);
}

TEST_F(DecideTest, OperatorRollbackToAnUnknownOrFailedRelease) {
  Deploy(2, 2);
  view_.earlier_releases = {{"r2", "v2", false}, {"rX", "vX", true}};
  EXPECT_EQ(DecideRollback(view_, Operator("nope")).Record().reason, kReasonUnknownTargetRelease);
  EXPECT_EQ(DecideRollback(view_, Operator("r3")).Record().reason, kReasonUnknownTargetRelease);
  EXPECT_EQ(DecideRollback(view_, Operator("rX")).Record().reason, kReasonFailedTargetRelease);
}

TEST_F(DecideTest, OperatorRollbackAfterABatchRollbackRevertsTheRest) {
  // revert-batch reverted batch 2; batch 1 still runs v3: the operator takes it back too.
  Deploy(2, 2);
  Apply(events_.Instance(1, "h3", v1::INSTANCE_STATUS_REVERTED, "v2"));
  Apply(events_.Instance(1, "h4", v1::INSTANCE_STATUS_REVERTED, "v2"));
  view_.rollback = RollbackPhase::kDone;
  view_.generation = 2;
  const auto d = DecideRollback(view_, Operator());
  ASSERT_TRUE(d.Acts());
  EXPECT_THAT(d.Plan().hosts, ElementsAre("h1", "h2"));
  EXPECT_EQ(d.Plan().from_generation, 2u);
  EXPECT_EQ(d.Plan().new_generation, 3u);
}

TEST_F(DecideTest, OperatorRollbackWhenEveryHostIsBackIsRecorded) {
  Deploy(1, 1);
  Apply(events_.Instance(0, "h1", v1::INSTANCE_STATUS_REVERTED, "v2"));
  Apply(events_.Instance(0, "h2", v1::INSTANCE_STATUS_REVERTED, "v2"));
  view_.rollback = RollbackPhase::kDone;
  EXPECT_EQ(DecideRollback(view_, Operator()).Record().reason, kReasonAlreadyRolledBack);
}

TEST_F(DecideTest, OperatorWithAStaleGenerationIsRecorded) {
  Deploy(1, 1);
  view_.generation = 4;
  auto t = Operator();
  t.generation = 3;
  EXPECT_EQ(DecideRollback(view_, t).Record().reason, kReasonStaleGeneration);
  t.generation = 4;
  EXPECT_TRUE(DecideRollback(view_, t).Acts());
}

TEST_F(DecideTest, TriggerKinds) {
  EXPECT_EQ(TriggerKind(Analysis({})), "analysis_failed");
  EXPECT_EQ(TriggerKind(Alert()), "alert");
  EXPECT_EQ(TriggerKind(Operator()), "operator");
}

// The handler takes the deployment's lease only for a trigger that may act.
TEST_F(DecideTest, OnlyAResolvedAlertCanNeverStartARollback) {
  Deploy(2, 2);
  EXPECT_TRUE(MayStartRollback(Analysis({"h3"})));
  EXPECT_TRUE(MayStartRollback(Alert({"h3"})));
  EXPECT_TRUE(MayStartRollback(Operator()));
  EXPECT_TRUE(DecideRollback(view_, Alert({"h3"})).Acts());
  const Trigger resolved = Alert({"h3"}, true);
  EXPECT_FALSE(MayStartRollback(resolved));
  EXPECT_FALSE(DecideRollback(view_, resolved).Acts());
}

// ---- revert attempts ----------------------------------------------------------------------

RevertProgress Progress() {
  RevertProgress p;
  p.attempt = 1;
  p.attempt_generation = 2;
  p.hosts = {"h3", "h4"};
  p.pending = p.hosts;
  return p;
}

TEST(RevertTest, AllRevertedCompletesWithSuccess) {
  const auto next = OnRevertResult({}, Progress(), {"h3", "h4"}, {});
  EXPECT_EQ(next.kind, RevertNext::Kind::kComplete);
  EXPECT_TRUE(next.success);
  EXPECT_THAT(next.progress.reverted, ElementsAre("h3", "h4"));
  EXPECT_THAT(next.progress.failed, IsEmpty());
}

TEST(RevertTest, FailedHostsAreRetriedWithBackoffThenReported) {
  RevertPolicy policy;
  policy.max_attempts = 3;
  policy.backoff = 2s;
  auto next = OnRevertResult(policy, Progress(), {"h3"}, {"h4"});
  ASSERT_EQ(next.kind, RevertNext::Kind::kRetry);
  EXPECT_EQ(next.delay, 2s);
  EXPECT_EQ(next.progress.attempt, 2);
  EXPECT_EQ(next.progress.attempt_generation, 3u);
  EXPECT_THAT(next.progress.pending, ElementsAre("h4"));
  next = OnRevertResult(policy, next.progress, {}, {"h4"});
  ASSERT_EQ(next.kind, RevertNext::Kind::kRetry);
  EXPECT_EQ(next.delay, 4s);
  next = OnRevertResult(policy, next.progress, {}, {"h4"});
  ASSERT_EQ(next.kind, RevertNext::Kind::kComplete);
  EXPECT_FALSE(next.success);
  EXPECT_THAT(next.progress.reverted, ElementsAre("h3"));
  EXPECT_THAT(next.progress.failed, ElementsAre("h4"));
}

TEST(RevertTest, ARetryThatSucceedsCompletesWithSuccess) {
  auto next = OnRevertResult({}, Progress(), {"h3"}, {"h4"});
  next = OnRevertResult({}, next.progress, {"h4"}, {});
  EXPECT_EQ(next.kind, RevertNext::Kind::kComplete);
  EXPECT_TRUE(next.success);
  EXPECT_THAT(next.progress.reverted, ElementsAre("h3", "h4"));
}

TEST(RevertTest, HostsTheAnswerDoesNotNameCountAsFailed) {
  RevertPolicy policy;
  policy.max_attempts = 1;
  const auto next = OnRevertResult(policy, Progress(), {"h3"}, {});
  EXPECT_EQ(next.kind, RevertNext::Kind::kComplete);
  EXPECT_FALSE(next.success);
  EXPECT_THAT(next.progress.failed, ElementsAre("h4"));
}

TEST(RevertTest, TimeoutFailsThePendingHosts) {
  auto p = Progress();
  p.reverted = {"h3"};
  p.pending = {"h4"};
  const auto next = OnRevertTimeout(p);
  EXPECT_EQ(next.kind, RevertNext::Kind::kComplete);
  EXPECT_FALSE(next.success);
  EXPECT_THAT(next.progress.failed, ElementsAre("h4"));
  EXPECT_THAT(next.progress.pending, IsEmpty());
}

// ---- words --------------------------------------------------------------------------------

TEST(SummaryTest, TheSeedLine) {
  v1::Evidence e;
  e.set_metric("error_rate");
  e.set_observed(0.31);
  e.set_threshold(0.05);
  e.set_comparator(">");
  SummaryInput in{"demo-app", "production",    "v3",      "v2", {"h3", "h4"}, {},
                  {1},        Scope::kBatches, CauseOf(e)};
  EXPECT_EQ(Summary(in),
            "demo-app production: v3 rolled back to v2 on 2 hosts after error_rate 0.31 > 0.05 "
            "(batch 2)");
}

TEST(SummaryTest, FailedHostsAreNamed) {
  SummaryInput in{"demo-app",
                  "production",
                  "v3",
                  "v2",
                  {"h1"},
                  {"h2"},
                  {},
                  Scope::kDeployment,
                  "operator rollback by alice"};
  EXPECT_EQ(Summary(in),
            "demo-app production: rollback of v3 to v2 failed on 1 of 2 hosts (h2) after "
            "operator rollback by alice (whole deployment)");
}

TEST(SummaryTest, CauseFallsBackToTheMessage) {
  v1::Evidence e;
  e.set_metric("latency");
  e.set_comparator("judge");
  e.set_message("canary latency 40% above baseline");
  EXPECT_EQ(CauseOf(e), "canary latency 40% above baseline");
}

}  // namespace
}  // namespace sluice::rollback
