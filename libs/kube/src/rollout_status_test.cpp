// Rollout interpretation against objects recorded from the local control plane (testdata/,
// see libs/kube/README.md for how they were made); pod failure shapes KWOK cannot produce
// (image pulls, crashes, scheduling) are written out by hand below.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sluice/kube/rollout_status.hpp>

namespace sluice::kube {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;

json Recorded(const std::string& name) {
  std::ifstream in(std::string(SLUICE_KUBE_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << name;
  return json::parse(in);
}

TEST(DeploymentRollout, CompleteWhenEveryReplicaIsUpdatedAndAvailable) {
  const RolloutStatus s = InterpretDeployment(Recorded("deployment_complete.json"));
  EXPECT_EQ(s.phase, RolloutPhase::kComplete);
  EXPECT_EQ(s.reason, rollout_reason::kComplete);
  EXPECT_EQ(s.desired, 3);
  EXPECT_EQ(s.available, 3);
  EXPECT_EQ(s.message, "3 of 3 replicas updated and available");
  EXPECT_TRUE(s.pods_not_ready.empty());
}

TEST(DeploymentRollout, ProgressingNamesTheNewPodThatIsNotReady) {
  const RolloutStatus s = InterpretDeployment(Recorded("deployment_progressing.json"),
                                              Recorded("pods_progressing.json"));
  EXPECT_EQ(s.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(s.reason, rollout_reason::kUpdatingReplicas);
  EXPECT_EQ(s.message, "1 of 3 replicas updated");
  EXPECT_EQ(s.generation, 2);
  EXPECT_EQ(s.observed_generation, 2);
  ASSERT_EQ(s.pods_not_ready.size(), 1U);
  EXPECT_EQ(s.pods_not_ready[0].name, "web-7669f74fc6-6th6z");
  EXPECT_EQ(s.pods_not_ready[0].why, "Pending: scheduled on kwok-node-1, no container started");
}

TEST(DeploymentRollout, GenerationNotObservedIsProgressingWhateverTheCounts) {
  json d = Recorded("deployment_complete.json");
  d["metadata"]["generation"] = 2;  // the spec changed; the controller has not seen it
  const RolloutStatus s = InterpretDeployment(d);
  EXPECT_EQ(s.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(s.reason, rollout_reason::kGenerationNotObserved);
  EXPECT_THAT(s.message, HasSubstr("generation 2"));
}

TEST(DeploymentRollout, OldReplicasAndUnavailableUpdatedReplicasKeepItProgressing) {
  json d = Recorded("deployment_progressing.json");
  d["status"]["updatedReplicas"] = 3;  // all updated, one old still there
  EXPECT_EQ(InterpretDeployment(d).reason, rollout_reason::kTerminatingOldReplicas);
  d["status"]["replicas"] = 3;
  d["status"]["availableReplicas"] = 2;
  const RolloutStatus s = InterpretDeployment(d);
  EXPECT_EQ(s.reason, rollout_reason::kWaitingForAvailable);
  EXPECT_EQ(s.message, "2 of 3 updated replicas available");
  d["spec"]["paused"] = true;
  EXPECT_EQ(InterpretDeployment(d).reason, rollout_reason::kPaused);
}

TEST(DeploymentRollout, ProgressDeadlineExceededFailsNamingThePods) {
  const RolloutStatus s = InterpretDeployment(Recorded("deployment_deadline_exceeded.json"),
                                              Recorded("pods_deadline_exceeded.json"));
  EXPECT_EQ(s.phase, RolloutPhase::kFailed);
  EXPECT_EQ(s.reason, rollout_reason::kProgressDeadlineExceeded);
  EXPECT_THAT(s.pods_not_ready, ElementsAre(Field(&PodNotReady::name, "stuck-56fbf99984-qmmrb"),
                                            Field(&PodNotReady::name, "stuck-56fbf99984-z45xg")));
  EXPECT_THAT(s.message, HasSubstr("progress deadline exceeded (0 of 2 replicas available)"));
  EXPECT_THAT(s.message, HasSubstr("ReplicaSet \"stuck-56fbf99984\" has timed out progressing."));
  EXPECT_THAT(s.message, HasSubstr("not ready: stuck-56fbf99984-qmmrb (Pending: scheduled on "
                                   "kwok-node-0, no container started)"));
}

TEST(StatefulSetRollout, PartitionCompleteWhenTheReplicasAboveItAreUpdated) {
  const RolloutStatus s = InterpretStatefulSet(Recorded("statefulset_partition_done.json"));
  EXPECT_EQ(s.phase, RolloutPhase::kComplete);
  EXPECT_EQ(s.reason, rollout_reason::kPartitionComplete);
  EXPECT_EQ(s.partition, 2);
  EXPECT_EQ(s.message, "1 of 3 replicas updated (partition 2), all ready");
}

TEST(StatefulSetRollout, LoweredPartitionIsProgressingNamingThePod) {
  const RolloutStatus s = InterpretStatefulSet(Recorded("statefulset_partition_progressing.json"),
                                               Recorded("pods_statefulset_progressing.json"));
  EXPECT_EQ(s.phase, RolloutPhase::kProgressing);
  EXPECT_EQ(s.reason, rollout_reason::kUpdatingReplicas);
  EXPECT_EQ(s.partition, 1);
  EXPECT_EQ(s.message, "1 of 2 replicas updated (partition 1)");
  ASSERT_EQ(s.pods_not_ready.size(), 1U);
  EXPECT_EQ(s.pods_not_ready[0].name, "db-2");
}

TEST(StatefulSetRollout, ReadinessRevisionsGenerationAndOnDelete) {
  json sts = Recorded("statefulset_partition_progressing.json");
  sts["status"]["updatedReplicas"] = 2;  // the partition's pods are updated, one not ready
  EXPECT_EQ(InterpretStatefulSet(sts).reason, rollout_reason::kWaitingForReady);
  sts["status"]["readyReplicas"] = 3;
  EXPECT_EQ(InterpretStatefulSet(sts).phase, RolloutPhase::kComplete);

  sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 0;
  sts["status"]["updatedReplicas"] = 3;
  EXPECT_EQ(InterpretStatefulSet(sts).phase, RolloutPhase::kProgressing);  // revisions differ
  sts["status"]["currentRevision"] = sts["status"]["updateRevision"];
  EXPECT_EQ(InterpretStatefulSet(sts).reason, rollout_reason::kComplete);

  sts["metadata"]["generation"] = 4;
  EXPECT_EQ(InterpretStatefulSet(sts).reason, rollout_reason::kGenerationNotObserved);
  sts["spec"]["updateStrategy"] = {{"type", "OnDelete"}};
  EXPECT_EQ(InterpretStatefulSet(sts).reason, rollout_reason::kOnDelete);
}

json PodWithStatus(const std::string& name, json status) {
  return {{"metadata", {{"name", name}}}, {"spec", {{"nodeName", "n1"}}}, {"status", status}};
}

TEST(PodReasons, ContainerStatesConditionsAndPhases) {
  const json pull = PodWithStatus(
      "p-pull",
      {{"phase", "Pending"},
       {"conditions", {{{"type", "Ready"}, {"status", "False"}, {"reason", "ContainersNotReady"}}}},
       {"containerStatuses",
        {{{"name", "web"},
          {"ready", false},
          {"restartCount", 0},
          {"state",
           {{"waiting",
             {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image"}}}}}}}}});
  EXPECT_EQ(PodNotReadyReason(pull),
            "container web waiting: ImagePullBackOff: Back-off pulling image");

  const json crash = PodWithStatus(
      "p-crash",
      {{"phase", "Running"},
       {"initContainerStatuses",
        {{{"name", "migrate"}, {"state", {{"terminated", {{"exitCode", 0}}}}}}}},
       {"containerStatuses",
        {{{"name", "web"},
          {"ready", false},
          {"restartCount", 4},
          {"state", {{"terminated", {{"reason", "Error"}, {"exitCode", 2}}}}}},
         {{"name", "sidecar"}, {"ready", true}, {"state", {{"running", json::object()}}}}}}});
  EXPECT_EQ(PodNotReadyReason(crash),
            "container web terminated: Error (exit code 2), restarted 4 times");

  const json probe = PodWithStatus(
      "p-probe",
      {{"phase", "Running"},
       {"containerStatuses",
        {{{"name", "web"}, {"ready", false}, {"state", {{"running", json::object()}}}}}}});
  EXPECT_EQ(PodNotReadyReason(probe), "container web running, not ready (readiness probe)");

  const json unschedulable = PodWithStatus(
      "p-unsched", {{"phase", "Pending"},
                    {"conditions",
                     {{{"type", "PodScheduled"},
                       {"status", "False"},
                       {"message", "0/3 nodes are available: 3 Insufficient cpu."}}}}});
  EXPECT_EQ(PodNotReadyReason(unschedulable),
            "unschedulable: 0/3 nodes are available: 3 Insufficient cpu.");

  const json evicted = PodWithStatus(
      "p-evicted", {{"phase", "Failed"}, {"reason", "Evicted"}, {"message", "low memory"}});
  EXPECT_EQ(PodNotReadyReason(evicted), "phase Failed: Evicted: low memory");

  json terminating = pull;
  terminating["metadata"]["name"] = "p-going";
  terminating["metadata"]["deletionTimestamp"] = "2026-12-06T17:00:00Z";
  const json ready =
      PodWithStatus("p-ready", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}});
  EXPECT_EQ(PodNotReadyReason(ready), "");

  // A bare array works as well as a PodList; terminating and ready pods are left out; sorted.
  const auto list = PodsNotReady(json::array({unschedulable, ready, terminating, crash}));
  EXPECT_THAT(list, ElementsAre(Field(&PodNotReady::name, "p-crash"),
                                Field(&PodNotReady::name, "p-unsched")));
  EXPECT_EQ(list[0].phase, "Running");
  EXPECT_EQ(list[1].phase, "Pending");

  // The one word of each: the container's, past a finished init container; the condition's.
  EXPECT_EQ(PodNotReadyCode(pull), "ImagePullBackOff");
  EXPECT_EQ(PodNotReadyCode(crash), "Error");
  EXPECT_EQ(PodNotReadyCode(probe), "ContainersNotReady");
  EXPECT_EQ(PodNotReadyCode(evicted), "Evicted");
  json refused = unschedulable;
  refused["spec"].erase("nodeName");
  refused["status"]["conditions"][0]["reason"] = "Unschedulable";
  EXPECT_EQ(PodNotReadyCode(refused), "Unschedulable");
  EXPECT_EQ(PodNotReadyCode(PodWithStatus("p-new", {{"phase", "Pending"}})), "NotStarted");
}

}  // namespace
}  // namespace sluice::kube
