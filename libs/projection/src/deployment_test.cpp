#include "sluice/projection/deployment.hpp"

#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>

namespace sluice::projection {
namespace {

namespace v1 = ::sluice::v1;
using namespace std::chrono_literals;

class ProjectionTest : public ::testing::Test {
 protected:
  v1::Envelope New() {
    auto e = events::NewEnvelope("rollout-planner", clock_);
    e.set_deployment_id("d1");
    clock_.Advance(1s);
    return e;
  }
  v1::Envelope Planned() {
    auto e = New();
    auto* p = e.mutable_deployment_planned();
    p->set_deployment_id("d1");
    p->set_release_id("r3");
    p->set_app("demo-app");
    p->set_env("production");
    p->set_version("v3");
    p->set_stable_release_id("r2");
    p->set_stable_version("v2");
    events::SetPolicy(*p, v1::CANARY_FAILURE_POLICY_REVERT_ALL);
    p->set_generation(1);
    for (std::uint32_t b = 0; b < 2; ++b) {
      auto* pb = p->add_batches();
      pb->set_index(b);
      pb->add_targets()->set_host("h" + std::to_string(b + 1));
    }
    return e;
  }
  v1::Envelope Requested(std::uint32_t batch, std::uint64_t generation) {
    auto e = New();
    auto* p = e.mutable_batch_requested();
    p->set_deployment_id("d1");
    p->set_batch_index(batch);
    p->set_generation(generation);
    p->set_app("demo-app");
    p->add_targets()->set_host("h" + std::to_string(batch + 1));
    return e;
  }
  void ApplyAll(const std::vector<v1::Envelope>& events) {
    for (const auto& e : events) ASSERT_TRUE(Apply(d_, e, 1000));
  }

  core::testing::ManualClock clock_;
  Deployment d_;
};

TEST_F(ProjectionTest, PlanAndBatchesMakeTheDeployment) {
  ApplyAll({Planned(), Requested(0, 1)});
  EXPECT_TRUE(d_.planned);
  EXPECT_EQ(d_.app, "demo-app");
  EXPECT_EQ(d_.stable_version, "v2");
  EXPECT_EQ(d_.on_canary_failure, v1::CANARY_FAILURE_POLICY_REVERT_ALL);
  ASSERT_EQ(d_.batches.size(), 2u);
  EXPECT_EQ(d_.batches[0].state, BatchState::kRequested);
  EXPECT_EQ(d_.batches[1].state, BatchState::kPlanned);
  EXPECT_EQ(d_.DeployedHosts(), (std::vector<std::string>{"h1"}));
  EXPECT_FALSE(d_.FullRollout());
}

TEST_F(ProjectionTest, RedeliveryLeavesTheProjectionAsTheFirstDeliveryDid) {
  const auto planned = Planned();
  const auto requested = Requested(0, 2);
  ApplyAll({planned, requested});
  const auto once = ToJson(d_);
  ApplyAll({planned, requested, planned});
  EXPECT_EQ(ToJson(d_), once);
}

TEST_F(ProjectionTest, AnOlderGenerationNeverLowersTheNewer) {
  ApplyAll({Planned(), Requested(0, 3), Requested(1, 2)});
  EXPECT_EQ(d_.generation, 3u);
}

TEST_F(ProjectionTest, OnlyThePlanSetsReleaseFactsOutright) {
  auto failed = New();
  failed.mutable_deployment_failed()->set_app("demo-app");
  failed.mutable_deployment_failed()->set_version("v3");
  failed.set_release_id("r3");
  ApplyAll({failed});  // before the plan: fills what is empty
  EXPECT_EQ(d_.app, "demo-app");
  EXPECT_EQ(d_.release_id, "r3");
  EXPECT_FALSE(d_.planned);
  auto other = New();
  other.mutable_analysis_requested()->set_app("someone-else");
  other.mutable_analysis_requested()->set_baseline_version("v1");
  ApplyAll({other});
  EXPECT_EQ(d_.app, "demo-app");
  EXPECT_EQ(d_.stable_version, "v1");
  ApplyAll({Planned()});
  EXPECT_EQ(d_.stable_version, "v2");
}

TEST_F(ProjectionTest, RollbackOutranksTheLifecycle) {
  ApplyAll({Planned(), Requested(0, 1)});
  auto started = New();
  started.mutable_rollback_started()->set_generation(2);
  started.mutable_rollback_started()->set_target_version("v1");
  auto failed = New();
  failed.mutable_deployment_failed();
  ApplyAll({started, failed});
  EXPECT_EQ(d_.status, Status::kRollingBack);
  EXPECT_EQ(d_.rollback_target_version, "v1");
  EXPECT_EQ(d_.generation, 2u);
  auto completed = New();
  completed.mutable_rollback_completed()->set_final_status(v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  ApplyAll({completed});
  EXPECT_EQ(d_.status, Status::kRolledBack);
  EXPECT_EQ(d_.rollback, RollbackPhase::kDone);
}

// The generation a rollback started at only rises: a retried or redelivered RollbackStarted of an
// older generation does not lower the line below which work is void, nor do later events.
TEST_F(ProjectionTest, TheRollbackGenerationIsTheHighestStarted) {
  ApplyAll({Planned(), Requested(0, 1)});
  EXPECT_EQ(d_.rollback_generation, 0u);
  auto second = New();
  second.mutable_rollback_started()->set_generation(3);
  auto first = New();
  first.mutable_rollback_started()->set_generation(2);
  auto reverted = New();
  reverted.mutable_revert_completed()->set_generation(5);
  ApplyAll({second, first, reverted});
  EXPECT_EQ(d_.rollback_generation, 3u);
  EXPECT_EQ(d_.generation, 5u);
  EXPECT_EQ(FromJson(ToJson(d_)).rollback_generation, 3u);
  EXPECT_EQ(FromJson(nlohmann::json::object()).rollback_generation, 0u);
}

TEST_F(ProjectionTest, ExecutorReportsTrackEachHost) {
  ApplyAll({Planned()});
  auto up = New();
  auto* p = up.mutable_instance_updated();
  p->set_host("h2");
  p->set_batch_index(1);
  p->set_status(v1::INSTANCE_STATUS_SUCCEEDED);
  p->set_version("v3");
  auto reverted = New();
  reverted.mutable_revert_completed()->add_reverted_hosts("h2");
  reverted.mutable_revert_completed()->set_target_version("v2");
  reverted.mutable_revert_completed()->set_generation(4);
  ApplyAll({up});
  EXPECT_EQ(d_.batches[1].state, BatchState::kRequested);
  EXPECT_EQ(d_.hosts.at("h2").version, "v3");
  ApplyAll({reverted});
  EXPECT_EQ(d_.hosts.at("h2").version, "v2");
  EXPECT_EQ(d_.hosts.at("h2").status, "reverted");
  EXPECT_EQ(d_.generation, 4u);
}

TEST_F(ProjectionTest, JsonRoundTripsAndUnrelatedEventsAreNotKept) {
  ApplyAll({Planned(), Requested(1, 1)});
  d_.rollback_target_version = "v1";
  EXPECT_EQ(ToJson(FromJson(ToJson(d_))), ToJson(d_));
  EXPECT_EQ(FromJson(nlohmann::json::object()).status, Status::kRunning);
  auto passed = New();
  passed.mutable_analysis_passed()->set_deployment_id("d1");
  EXPECT_FALSE(Apply(d_, passed, 0));
}

TEST_F(ProjectionTest, KubernetesTargetsAreKeptAndTheirPodsAreNoTargets) {
  auto planned = Planned();
  for (auto& pb : *planned.mutable_deployment_planned()->mutable_batches()) {
    auto* t = pb.add_targets();
    t->set_host("web-k8s");
    t->set_driver("kubernetes");
    t->mutable_kubernetes()->set_name("web");
    t->mutable_kubernetes()->set_namespace_("shop");
    t->mutable_kubernetes()->set_rollout(v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
  }
  auto ok = New();
  auto* s = ok.mutable_batch_succeeded();
  s->set_deployment_id("d1");
  s->set_batch_index(0);
  s->add_hosts("h1");
  s->add_hosts("web-canary-5d8f-x2k9q");  // a pod the executor reports
  ApplyAll({planned, Requested(0, 1), ok});
  EXPECT_EQ(d_.DeployedHosts(), (std::vector<std::string>{"h1", "web-k8s"}));
  const auto targets = d_.KubernetesTargets({"h1", "web-k8s"});
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].host(), "web-k8s");
  EXPECT_EQ(targets[0].driver(), "kubernetes");
  EXPECT_EQ(targets[0].kubernetes().name(), "web");
  // The stored form keeps them.
  const auto back = FromJson(ToJson(d_));
  EXPECT_EQ(back.KubernetesTargets({"web-k8s"}).at(0).kubernetes().namespace_(), "shop");
  EXPECT_EQ(ToJson(back), ToJson(d_));
}

TEST_F(ProjectionTest, PlannedWeightsGiveTheShareBeforeABatch) {
  auto planned = Planned();
  planned.mutable_deployment_planned()->mutable_batches(0)->set_weight_percent(25);
  planned.mutable_deployment_planned()->mutable_batches(1)->set_weight_percent(100);
  ApplyAll({planned});
  EXPECT_EQ(d_.WeightBefore(0), 0u);
  EXPECT_EQ(d_.WeightBefore(1), 25u);
  EXPECT_EQ(FromJson(ToJson(d_)).WeightBefore(1), 25u);
}

TEST_F(ProjectionTest, WithoutKubernetesTargetsReportedHostsJoinTheBatchAsBefore) {
  auto ok = New();
  auto* s = ok.mutable_batch_succeeded();
  s->set_batch_index(0);
  s->add_hosts("h9");
  ApplyAll({Planned(), Requested(0, 1), ok});
  EXPECT_EQ(d_.DeployedHosts(), (std::vector<std::string>{"h1", "h9"}));
  EXPECT_TRUE(d_.KubernetesTargets({"h1", "h9"}).empty());
}

}  // namespace
}  // namespace sluice::projection
