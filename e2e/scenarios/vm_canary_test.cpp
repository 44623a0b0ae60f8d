// A release rolled out in canary batches to real hosts (network namespaces, or loopback ports
// where namespaces cannot be made), through the real planner, executor and release-intake,
// Kafka, PostgreSQL and Redis. Was test/e2e/vm_canary_e2e.sh.

#include "fixture.hpp"

namespace sluice::e2e {
namespace {

using nlohmann::json;
using PC = events::v1::Envelope::PayloadCase;

class VmCanary : public Fixture {
 protected:
  // Six hosts on 1.0.0 (and the spec's steps 5% -> 25% -> 100%, a short health deadline so a
  // sick host fails its batch fast).
  WhenSteps OnOneZero() {
    return Given()
        .Hosts(6)
        .Artifacts({"1.0.0", "2.0.0", "3.0.0", "4.0.0"})
        .Spec({{"timeout: 20s}", "timeout: 5s}"}})
        .Services({kPlanner, kExecutor, kIntake})
        .Watching({"sluice.deployments.v1", "sluice.executions.v1"})
        .When()
        .SpecApplied()
        .ReleaseSubmitted("1.0.0")
        .DeploymentRequested()
        .Then()
        .DeploymentEventually("succeeded", 120s)
        .HostsRun("1.0.0")
        .When();
  }
};

TEST_F(VmCanary, RollsOutInCanaryBatchesAndRefusesWhatIsWrong) {
  // 1. v2 in canary batches of 1 / 1 / 4 hosts.
  OnOneZero()
      .ReleaseSubmitted("2.0.0")
      .DeploymentRequested()
      .Then()
      .DeploymentEventually("succeeded", 180s)
      .Batches([](const json& b) {
        ASSERT_EQ(b.size(), 3u);
        EXPECT_EQ(b[0]["hosts"].size(), 1u);
        EXPECT_EQ(b[1]["hosts"].size(), 1u);
        EXPECT_EQ(b[2]["hosts"].size(), 4u);
        for (const auto& batch : b) EXPECT_EQ(batch["status"], "succeeded");
      })
      .HostsRun("2.0.0")
      .RecordsMatchHosts()
      .StableVersion("2.0.0")
      .EventSeen("sluice.deployments.v1", PC::kDeploymentPlanned)
      .EventSeen("sluice.executions.v1", PC::kBatchSucceeded)
      // 2. a release whose sha256 does not match its artifact: the agent refuses it, batch 1
      // fails, the deployment fails, nothing changes on the host.
      .When()
      .ReleaseSubmitted("2.9.9", std::string(64, '0'), "3.0.0")
      .DeploymentRequested()
      .Then()
      .DeploymentEventually("failed", 120s)
      .InstancesMention("checksum_mismatch")
      .EventSeen("sluice.executions.v1", PC::kBatchFailed)
      .HostsRun("2.0.0")
      // 3. host-2 fails its health check during v3: its batch (tolerance 0) and the deployment
      // fail, batch 3 never starts.
      .When()
      .HostUnhealthy(2)
      .ReleaseSubmitted("3.0.0")
      .DeploymentRequested()
      .Then()
      .DeploymentEventually("failed", 180s)
      .Deployment([](const json& d) {
        ASSERT_EQ(d["batches"].size(), 3u);
        EXPECT_EQ(d["batches"][0]["status"], "succeeded");
        EXPECT_EQ(d["batches"][1]["status"], "failed");
        EXPECT_EQ(d["batches"][2]["status"], "pending");
        EXPECT_EQ(d.value("failure_reason", ""), "batch_failed");
      })
      .HostsRun({"3.0.0", "3.0.0", "2.0.0", "2.0.0", "2.0.0", "2.0.0"})
      .When()
      .HostUnhealthy(2, false);
}

TEST_F(VmCanary, SurvivesTheExecutorAndThePlannerKilledMidDeployment) {
  OnOneZero()
      .ReleaseSubmitted("4.0.0")
      .DeploymentRequested()
      .BatchStarted(1)
      .Killed(kExecutor)
      .Restarted(kExecutor)
      .BatchStarted(2)
      .Killed(kPlanner)
      .Restarted(kPlanner)
      .Then()
      .DeploymentEventually("succeeded", 180s)
      .HostsRun("4.0.0")
      .RecordsMatchHosts()
      .EachHostRestartedOnce("4.0.0");  // no host deployed twice
}

}  // namespace
}  // namespace sluice::e2e
