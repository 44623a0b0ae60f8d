// The workload operations against the local Kubernetes control plane (scripts/kube.sh; `make
// kube`): a real kube-apiserver and Deployment controller, KWOK's fake kubelets. Each test works
// in a namespace of its own, deleted afterwards; every write the operations make is counted at
// the transport, so "no second patch" is checked on the wire, not inferred.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <sluice/kube/client.hpp>
#include <sluice/kube/rollout_status.hpp>
#include <thread>

#include "adapters/kubernetes_workload.hpp"

namespace sluice::executor::kube_workload {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kOld = "example.com/web:1";
const std::string kNew = "example.com/web@sha256:" + std::string(64, 'b');

std::filesystem::path VarDir() {
  if (const auto v = kube::ProcessEnv("SLUICE_VAR_DIR"); v && !v->empty()) return *v;
  return std::filesystem::path(SLUICE_SOURCE_DIR) / "var";
}

CommandFence Fence(std::uint64_t gen) { return CommandFence{"d-1", core::Generation{gen}}; }

class KubernetesWorkloadKTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto kubeconfig = VarDir() / "local" / "kubeconfig";
    if (!std::filesystem::exists(kubeconfig)) {
      GTEST_FAIL() << kubeconfig << " is missing: the local control plane is not up "
                   << "(make kube, or bash scripts/kube.sh up)";
    }
    kube::ClientOptions o;
    o.identity = "executor";
    o.transport = [this](const http::ClientRequest& r) {
      if (r.method != "GET") ++writes_;
      return http::Send(r);
    };
    client_ = std::make_unique<kube::Client>(kube::LoadKubeconfig(kubeconfig), o);
    WorkloadOptions wo;
    wo.poll_interval = 300ms;
    workload_ = std::make_unique<KubernetesWorkload>(*client_, core::SystemClock::Instance(), wo);
    ns_ = "sluice-kw-ktest-" + std::to_string(::getpid()) + "-" +
          std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
    try {
      client_->Create(kube::kNamespaces, "", {{"metadata", {{"name", ns_}}}});
    } catch (const kube::ApiError& e) {
      ns_.clear();
      GTEST_FAIL() << "the local control plane does not answer (make kube, or bash "
                   << "scripts/kube.sh up): " << e.what();
    }
    ref_ = {ns_, "web", "app"};
  }
  void TearDown() override {
    if (client_ && !ns_.empty()) client_->DeleteIfExists(kube::kNamespaces, "", ns_);
  }

  // The stable: 4 replicas of kOld, waited for until Ready.
  void CreateStable(int deadline_s = 600) {
    const Json labels = {{"app", "web"}};
    client_->Create(
        kube::kDeployments, ns_,
        {{"apiVersion", "apps/v1"},
         {"kind", "Deployment"},
         {"metadata", {{"name", "web"}, {"labels", labels}}},
         {"spec",
          {{"replicas", 4},
           {"progressDeadlineSeconds", deadline_s},
           {"selector", {{"matchLabels", labels}}},
           {"template",
            {{"metadata", {{"labels", labels}}},
             {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", kOld}}})}}}}}}}});
    const HostOutcome ready = workload_->WaitRollout(ns_, "web", "app=web", Soon());
    ASSERT_TRUE(ready.Succeeded()) << ready.message;
  }

  static Deadline Soon() { return core::SystemClock::Instance().Monotonic() + 90s; }

  Json Get(const std::string& name) { return client_->Get(kube::kDeployments, ns_, name); }

  // The Ready pods of `selector` and their images.
  std::vector<std::string> ReadyImages(const std::string& selector) {
    kube::ListOptions lo;
    lo.label_selector = selector;
    std::vector<std::string> images;
    const Json pods = client_->List(kube::kPods, ns_, lo);
    for (const auto& pod : pods["items"]) {
      if (pod.contains(Json::json_pointer("/metadata/deletionTimestamp"))) continue;
      if (!kube::PodNotReadyReason(pod).empty()) continue;
      images.push_back(pod["spec"]["containers"][0]["image"]);
    }
    return images;
  }

  // Deletion is in the background: the object goes once its finalizers ran.
  bool GoneSoon(const std::string& name) {
    for (int i = 0; i < 100; ++i) {
      if (!client_->GetIfExists(kube::kDeployments, ns_, name)) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }

  // An object's resourceVersion once two reads half a second apart agree.
  std::string SettledVersion(const std::string& name) {
    std::string last = Get(name)["metadata"]["resourceVersion"];
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(500ms);
      std::string now = Get(name)["metadata"]["resourceVersion"];
      if (now == last) return now;
      last = std::move(now);
    }
    ADD_FAILURE() << name << " keeps changing";
    return last;
  }

  std::atomic<int> writes_{0};
  std::unique_ptr<kube::Client> client_;
  std::unique_ptr<KubernetesWorkload> workload_;
  std::string ns_;
  WorkloadRef ref_;
};

TEST_F(KubernetesWorkloadKTest, CanaryAt25PercentThenPromotedAt100) {
  CreateStable();
  const HostOutcome step = workload_->CanaryStep(ref_, kNew, 25, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  const Json canary = Get("web-canary");
  EXPECT_EQ(canary["spec"]["replicas"], 1);
  EXPECT_EQ(canary["metadata"]["annotations"]["sluice.io/generation"], "1");
  EXPECT_EQ(canary["metadata"]["annotations"]["sluice.io/release"], kNew);
  EXPECT_EQ(Get("web")["spec"]["replicas"], 3);
  EXPECT_EQ(ReadyImages("app=web,sluice.io/track=canary"), std::vector<std::string>{kNew});
  EXPECT_EQ(ReadyImages("app=web,sluice.io/track!=canary"), std::vector<std::string>(3, kOld));
  EXPECT_EQ(step.instances.size(), 1u);
  EXPECT_EQ(step.baseline_instances.size(), 3u);  // the stable pods beside the canary

  const HostOutcome full = workload_->CanaryStep(ref_, kNew, 100, Fence(1), Soon());
  ASSERT_TRUE(full.Succeeded()) << full.message;
  const Json stable = Get("web");
  EXPECT_EQ(stable["spec"]["replicas"], 4);
  EXPECT_EQ(ContainerImage(stable, "app"), kNew);
  EXPECT_EQ(stable["metadata"]["annotations"]["sluice.io/release"], kNew);
  EXPECT_TRUE(GoneSoon("web-canary"));
  EXPECT_EQ(ReadyImages("app=web,sluice.io/track!=canary"), std::vector<std::string>(4, kNew));
  EXPECT_TRUE(full.baseline_instances.empty());  // promoted: no stable pods of the release before
}

TEST_F(KubernetesWorkloadKTest, ARepeatedStepWritesNothing) {
  CreateStable();
  ASSERT_TRUE(workload_->CanaryStep(ref_, kNew, 25, Fence(1), Soon()).Succeeded());
  // The controllers may still write status just after the rollout is complete (that moves
  // resourceVersion too): take the versions once they hold still.
  const std::string stable_rv = SettledVersion("web");
  const std::string canary_rv = SettledVersion("web-canary");
  writes_ = 0;
  // As after a crash between the writes and the report: the same command again.
  const HostOutcome again = workload_->CanaryStep(ref_, kNew, 25, Fence(1), Soon());
  ASSERT_TRUE(again.Succeeded()) << again.message;
  EXPECT_EQ(writes_.load(), 0);
  EXPECT_EQ(Get("web")["metadata"]["resourceVersion"], stable_rv);
  EXPECT_EQ(Get("web-canary")["metadata"]["resourceVersion"], canary_rv);
}

TEST_F(KubernetesWorkloadKTest, AStuckCanaryFailsNamingItsPod) {
  CreateStable(/*deadline_s=*/5);
  // The stable paused with a template whose pods KWOK never makes Ready: its own pods stay as
  // they are, the canary copies the template and gets stuck.
  client_->Patch(
      kube::kDeployments, ns_, "web", kube::PatchType::kStrategicMerge,
      {{"spec",
        {{"paused", true},
         {"template", {{"metadata", {{"labels", {{"kwok-test/never-ready", "yes"}}}}}}}}}});
  const HostOutcome step = workload_->CanaryStep(ref_, kNew, 25, Fence(1), Soon());
  ASSERT_EQ(step.kind, OutcomeKind::kFailed) << step.message;
  EXPECT_EQ(step.reason, reason::kProgressDeadline);
  EXPECT_THAT(step.message, HasSubstr("not ready: web-canary-"));
  EXPECT_THAT(step.message, HasSubstr("no container started"));
}

TEST_F(KubernetesWorkloadKTest, TheCallersDeadlineEndsAWaitNamingThePods) {
  CreateStable();
  client_->Patch(
      kube::kDeployments, ns_, "web", kube::PatchType::kStrategicMerge,
      {{"spec",
        {{"paused", true},
         {"template", {{"metadata", {{"labels", {{"kwok-test/never-ready", "yes"}}}}}}}}}});
  // The progress deadline (600 s) is far: the caller's ends the wait.
  const HostOutcome step = workload_->CanaryStep(ref_, kNew, 25, Fence(1),
                                                 core::SystemClock::Instance().Monotonic() + 3s);
  ASSERT_EQ(step.kind, OutcomeKind::kTimedOut) << step.message;
  EXPECT_EQ(step.reason, reason::kDeadline);
  EXPECT_THAT(step.message, HasSubstr("deployment " + ns_ + "/web-canary"));
  EXPECT_THAT(step.message, HasSubstr("not ready: web-canary-"));
  EXPECT_THAT(step.message, HasSubstr("at the deadline"));
}

TEST_F(KubernetesWorkloadKTest, ANewerGenerationOnTheObjectMeansHandsOff) {
  CreateStable();
  ASSERT_TRUE(workload_->CanaryStep(ref_, kNew, 25, Fence(5), Soon()).Succeeded());
  writes_ = 0;
  const HostOutcome late = workload_->CanaryStep(ref_, kNew, 50, Fence(4), Soon());
  EXPECT_EQ(late.kind, OutcomeKind::kStale) << late.message;
  EXPECT_EQ(late.reason, reason::kStaleGeneration);
  EXPECT_THAT(late.message,
              HasSubstr("carries generation 5 of deployment d-1, newer than this command's 4"));
  EXPECT_EQ(writes_.load(), 0);
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 1);
}

TEST_F(KubernetesWorkloadKTest, BatchRevertScalesTheCanaryToZeroAndGivesTheStableItsReplicas) {
  CreateStable();
  ASSERT_TRUE(workload_->CanaryStep(ref_, kNew, 50, Fence(1), Soon()).Succeeded());
  EXPECT_EQ(Get("web")["spec"]["replicas"], 2);
  const HostOutcome back = workload_->Revert(ref_, RevertScope::kBatch, "", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 0);
  EXPECT_EQ(Get("web")["spec"]["replicas"], 4);
  EXPECT_EQ(ReadyImages("app=web,sluice.io/track!=canary"), std::vector<std::string>(4, kOld));
  // The forward command of the old generation arrives late: hands off.
  EXPECT_EQ(workload_->CanaryStep(ref_, kNew, 50, Fence(1), Soon()).kind, OutcomeKind::kStale);
}

TEST_F(KubernetesWorkloadKTest, ARevertOfAnOlderDeploymentLeavesTheNewerOnesWork) {
  CreateStable();
  ASSERT_TRUE(workload_->CanaryStep(ref_, kNew, 25, Fence(1), Soon()).Succeeded());
  // Deployment d-2 takes the workload over with a step of its own.
  const CommandFence other{"d-2", core::Generation{1}};
  const HostOutcome step = workload_->CanaryStep(ref_, kNew, 50, other, Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  writes_ = 0;
  const HostOutcome back = workload_->Revert(ref_, RevertScope::kBatch, "", Fence(2), Soon());
  EXPECT_EQ(back.kind, OutcomeKind::kFailed) << back.message;
  EXPECT_EQ(back.reason, "host_owned_by_newer_deployment");
  EXPECT_EQ(writes_.load(), 0);
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 2);
}

TEST_F(KubernetesWorkloadKTest, FullRevertPutsTheStableBackOnThePreviousImage) {
  CreateStable();
  ASSERT_TRUE(workload_->CanaryStep(ref_, kNew, 25, Fence(1), Soon()).Succeeded());
  ASSERT_TRUE(workload_->CanaryStep(ref_, kNew, 100, Fence(1), Soon()).Succeeded());
  const HostOutcome back = workload_->Revert(ref_, RevertScope::kFull, kOld, Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  const Json stable = Get("web");
  EXPECT_EQ(ContainerImage(stable, "app"), kOld);
  EXPECT_EQ(stable["spec"]["replicas"], 4);
  EXPECT_EQ(stable["metadata"]["annotations"]["sluice.io/generation"], "2");
  EXPECT_TRUE(GoneSoon("web-canary"));
  EXPECT_EQ(ReadyImages("app=web,sluice.io/track!=canary"), std::vector<std::string>(4, kOld));
}

TEST_F(KubernetesWorkloadKTest, StatefulSetPartitionIsLoweredBatchByBatch) {
  const Json labels = {{"app", "db"}};
  client_->Create(
      kube::kStatefulSets, ns_,
      {{"apiVersion", "apps/v1"},
       {"kind", "StatefulSet"},
       {"metadata", {{"name", "db"}}},
       {"spec",
        {{"replicas", 4},
         {"serviceName", "db"},
         {"selector", {{"matchLabels", labels}}},
         {"template",
          {{"metadata", {{"labels", labels}}},
           {"spec", {{"containers", Json::array({{{"name", "db"}, {"image", kOld}}})}}}}}}}});
  const WorkloadRef db{ns_, "db", "db"};
  // The first revision everywhere: a step of the image it already runs at 100%.
  ASSERT_TRUE(workload_->StatefulSetStep(db, kOld, 100, Fence(1), Soon()).Succeeded());

  const HostOutcome batch = workload_->StatefulSetStep(db, kNew, 25, Fence(2), Soon());
  ASSERT_TRUE(batch.Succeeded()) << batch.message;
  const Json sts = client_->Get(kube::kStatefulSets, ns_, "db");
  EXPECT_EQ(Partition(sts), 3);
  const auto pod_image = [&](int ordinal) {
    return client_
        ->Get(kube::kPods, ns_, "db-" + std::to_string(ordinal))["spec"]["containers"][0]["image"]
        .get<std::string>();
  };
  EXPECT_EQ(pod_image(3), kNew);
  EXPECT_EQ(pod_image(2), kOld);
  EXPECT_EQ(pod_image(0), kOld);

  // A repeat writes nothing.
  writes_ = 0;
  ASSERT_TRUE(workload_->StatefulSetStep(db, kNew, 25, Fence(2), Soon()).Succeeded());
  EXPECT_EQ(writes_.load(), 0);

  const HostOutcome all = workload_->StatefulSetStep(db, kNew, 100, Fence(2), Soon());
  ASSERT_TRUE(all.Succeeded()) << all.message;
  EXPECT_EQ(Partition(client_->Get(kube::kStatefulSets, ns_, "db")), 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pod_image(i), kNew) << "db-" << i;
  // A late batch of an older generation: hands off.
  EXPECT_EQ(workload_->StatefulSetStep(db, kNew, 25, Fence(1), Soon()).kind, OutcomeKind::kStale);
}

}  // namespace
}  // namespace sluice::executor::kube_workload
