// One release to a Kubernetes Deployment and VM hosts in one environment's spec, through the
// real release-intake, rollout-planner, executor, metric-watcher, rollback-agent and notifier:
// batches across both by weight, each canary batch judged on live metrics of the hosts' demo
// application and of the pods (KWOK runs no container: tools/kube-exporter exports the demo
// application's series per real pod name), a bad release rolled back on both.

#include "fixture.hpp"

namespace sluice::e2e {
namespace {

using nlohmann::json;
using PC = events::v1::Envelope::PayloadCase;

class MixedRollback : public Fixture {};

// The image the Deployment's container runs (the stable one: `web`).
std::string ImageOf(const json& d) {
  return d.value("/spec/template/spec/containers/0/image"_json_pointer, std::string());
}

TEST_F(MixedRollback, AGoodReleaseGoesToPodsAndHostsABadOneIsRolledBackOnBoth) {
  const std::string image = Fixture::kImageRepo;
  Given()
      .Hosts(6)
      .Artifacts({"1.0.0", "2.0.0", "3.0.0"})  // all three healthy on the hosts
      .Deployment(4, "1.0.0")
      .Spec({{"timeout: 20s}", "timeout: 5s}"}})
      .SpecKubernetes()
      // Both canary batches judged by "error_rate > 5% OR p95_latency > 500ms" over
      // instance_name=~"{{instances}}" (the hosts and the pods of the batch), then a bake watch
      // (at least the 20s window plus one 5s interval, or intake refuses the spec); a canary
      // failure reverts the whole deployment.
      .SpecAnalysis(
          "--window 20s --interval 5s --count 4 --inconclusive-limit 3 --bake 25s --pause 2s "
          "--on-canary-failure revert-all")
      .HostsScraped()
      .PodsScraped({"3.0.0"})  // the pods of 3.0.0 fail half their requests
      .Services({kPlanner, kExecutor, kWatcher, kRollbackAgent, kNotifier, kIntake})
      .Watching({"sluice.deployments.v1", "sluice.executions.v1"})
      .When()
      .SpecApplied()
      .ReleaseSubmitted("1.0.0")
      .DeploymentRequested()
      .Then()
      .DeploymentEventually("succeeded", 300s)
      .HostsRun("1.0.0")
      // 1. v2: out to both in canary batches 5% -> 25% -> 100%, judged, succeeds.
      .When()
      .ReleaseSubmitted("2.0.0")
      .DeploymentRequested()
      .Then()
      .DeploymentEventually("succeeded", 300s)
      .Batches([](const json& b) {
        ASSERT_EQ(b.size(), 3u) << b;
        EXPECT_EQ(b[0]["weight_percent"], 5);
        EXPECT_EQ(b[1]["weight_percent"], 25);
        EXPECT_EQ(b[2]["weight_percent"], 100);
        EXPECT_EQ(b[0]["hosts"].size(), 1u);
        EXPECT_EQ(b[1]["hosts"].size(), 1u);
        EXPECT_EQ(b[2]["hosts"].size(), 4u);
        for (const auto& batch : b) EXPECT_EQ(batch["status"], "succeeded") << batch;
      })
      .HostsRun("2.0.0")
      .Workload(Fixture::kWorkload,
                [&](const json& d) {
                  EXPECT_EQ(ImageOf(d), image + ":2.0.0");  // promoted at 100%
                  EXPECT_EQ(d["spec"]["replicas"], 4);
                })
      .Workload(std::string(Fixture::kWorkload) + "-canary",
                [](const json& d) {
                  EXPECT_TRUE(d.is_null() || d["spec"]["replicas"] == 0) << "canary left";
                })
      // The canary batches were judged on the canary pods' series too.
      .AnalysesMention(std::string(Fixture::kWorkload) + "-canary-")
      .StableVersion("2.0.0")
      // 2. v3: its canary pod fails half its requests; the first batch's analysis breaches and
      // the rollback-agent reverts the whole deployment: the hosts back on 2.0.0, the canary
      // Deployment scaled away, the stable image unchanged; an incident written.
      .When()
      .ReleaseSubmitted("3.0.0")
      .DeploymentRequested()
      .Then()
      .DeploymentEventually("rolled_back", 300s)
      .Deployment([](const json& d) {
        ASSERT_EQ(d["batches"].size(), 3u) << d;
        EXPECT_EQ(d["batches"][2]["status"], "pending") << d;  // caught before 100%
      })
      .AnalysesMention(std::string(Fixture::kWorkload) + "-canary-")
      .HostsRun("2.0.0")
      .Workload(Fixture::kWorkload,
                [&](const json& d) {
                  EXPECT_EQ(ImageOf(d), image + ":2.0.0");
                  EXPECT_EQ(d["spec"]["replicas"], 4);
                })
      .Workload(std::string(Fixture::kWorkload) + "-canary",
                [](const json& d) {
                  EXPECT_TRUE(d.is_null() || d["spec"]["replicas"] == 0)
                      << "the canary of 3.0.0 was not scaled away";
                })
      .IncidentRecorded()
      .EventSeen("sluice.executions.v1", PC::kRevertCompleted)
      .StableVersion("2.0.0");
}

}  // namespace
}  // namespace sluice::e2e
