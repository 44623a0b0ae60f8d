// The `kubernetes` TargetDriver against the local control plane (scripts/kube.sh; `make kube`):
// a real kube-apiserver, Deployment / StatefulSet controllers and RBAC, KWOK's fake kubelets,
// the Gateway API CRDs (kube.sh crds). Each test works in a namespace of its own; every write is
// counted at the transport, so "no second patch" is checked on the wire and on the objects'
// metadata.generation (which moves only when a spec is written).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sluice/kube/client.hpp>
#include <sluice/kube/resource.hpp>
#include <thread>

#include "adapters/kubernetes_driver.hpp"
#include "adapters/kubernetes_workload_plan.hpp"
#include "results.hpp"

namespace sluice::executor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace kw = kube_workload;

const std::string kOld = "example.com/web:1";
const std::string kDigest = "sha256:" + std::string(64, 'b');
const std::string kNew = "example.com/web@" + kDigest;
const ArtifactRef kRelease{"2.0.0", "example.com/web:2.0.0", kDigest, "image", "", ""};

std::filesystem::path VarDir() {
  if (const auto v = kube::ProcessEnv("SLUICE_VAR_DIR"); v && !v->empty()) return *v;
  return std::filesystem::path(SLUICE_SOURCE_DIR) / "var";
}

CommandFence Fence(std::uint64_t gen) { return CommandFence{"d-1", core::Generation{gen}}; }

Deadline Soon() { return core::SystemClock::Instance().Monotonic() + 90s; }

// The output and exit status of a shell command.
std::pair<std::string, int> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {"popen failed", -1};
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  const int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

class KubernetesDriverKTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kubeconfig_ = VarDir() / "local" / "kubeconfig";
    if (!std::filesystem::exists(kubeconfig_)) {
      GTEST_FAIL() << kubeconfig_ << " is missing: the local control plane is not up "
                   << "(make kube, or bash scripts/kube.sh up)";
    }
    kube::ClientOptions o;
    o.identity = "sluice-test-admin";
    admin_ = std::make_unique<kube::Client>(kube::LoadKubeconfig(kubeconfig_), o);
    ns_ = "sluice-kd-ktest-" + std::to_string(::getpid()) + "-" +
          std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
    try {
      admin_->Create(kube::kNamespaces, "", {{"metadata", {{"name", ns_}}}});
    } catch (const kube::ApiError& e) {
      ns_.clear();
      GTEST_FAIL() << "the local control plane does not answer (make kube): " << e.what();
    }
    driver_ = MakeDriver(kubeconfig_);
  }
  void TearDown() override {
    if (admin_ && !ns_.empty()) admin_->DeleteIfExists(kube::kNamespaces, "", ns_);
  }

  // A driver whose cluster "local" is `kubeconfig`, its writes counted (and, with `before_put`,
  // something done just before each PUT reaches the server).
  std::unique_ptr<KubernetesDriver> MakeDriver(
      const std::filesystem::path& kubeconfig,
      std::function<void(const http::ClientRequest&)> before_put = nullptr) {
    KubernetesDriverConfig c;
    c.clusters = LoadClusters({{"local", false, kubeconfig.string(), ""}});
    c.workload.poll_interval = 300ms;
    c.client.transport = [this, before_put](const http::ClientRequest& r) {
      if (r.method != "GET") {
        ++writes_;
        if (r.method == "PUT") ++puts_;
      }
      if (r.method == "PUT" && before_put) before_put(r);
      return http::Send(r);
    };
    return std::make_unique<KubernetesDriver>(std::move(c), core::SystemClock::Instance());
  }

  HostTarget Target(std::string rollout = "", std::uint32_t weight = 25) {
    HostTarget t;
    t.host = "shop-web";
    t.driver = std::string(kDriverKubernetes);
    KubernetesTarget k;
    k.cluster = "local";
    k.ns = ns_;
    k.name = "web";
    k.container = "app";
    k.rollout = std::move(rollout);
    k.weight_percent = weight;
    t.kubernetes = k;
    return t;
  }

  Json Deployment(const std::string& name, int replicas, const std::string& image,
                  int deadline_s = 600, const Json& template_annotations = Json::object()) {
    const Json labels = {{"app", "web"}};
    return {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", name}, {"labels", labels}}},
            {"spec",
             {{"replicas", replicas},
              {"progressDeadlineSeconds", deadline_s},
              {"selector", {{"matchLabels", labels}}},
              {"template",
               {{"metadata", {{"labels", labels}, {"annotations", template_annotations}}},
                {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", image}}})}}}}}}}};
  }

  // The stable: 4 replicas of kOld, waited for until Ready.
  void CreateStable(int deadline_s = 600, const Json& template_annotations = Json::object()) {
    admin_->Create(kube::kDeployments, ns_,
                   Deployment("web", 4, kOld, deadline_s, template_annotations));
    WaitReady("web");
  }

  void WaitReady(const std::string& name) {
    kube::Client& c = *admin_;
    kw::KubernetesWorkload w(c, core::SystemClock::Instance(), {});
    const HostOutcome ready = w.WaitRollout(ns_, name, "app=web", Soon());
    ASSERT_TRUE(ready.Succeeded()) << ready.message;
  }

  void CreateService(const std::string& name, const Json& selector) {
    admin_->Create(kube::kServices, ns_,
                   {{"apiVersion", "v1"},
                    {"kind", "Service"},
                    {"metadata", {{"name", name}}},
                    {"spec",
                     {{"selector", selector},
                      {"ports", Json::array({{{"port", 80}, {"targetPort", 8080}}})}}}});
  }

  void CreateRoute() {
    admin_->Create(
        kube::kHttpRoutes, ns_,
        {{"apiVersion", "gateway.networking.k8s.io/v1"},
         {"kind", "HTTPRoute"},
         {"metadata", {{"name", "web"}}},
         {"spec",
          {{"parentRefs", Json::array({{{"name", "gw"}}})},
           {"rules", Json::array({{{"backendRefs",
                                    Json::array({{{"name", "web-stable"}, {"port", 80}}})}}})}}}});
  }

  Json Get(const std::string& name) { return admin_->Get(kube::kDeployments, ns_, name); }

  std::vector<std::string> PodNames(const std::string& selector) {
    kube::ListOptions lo;
    lo.label_selector = selector;
    return kw::PodNames(admin_->List(kube::kPods, ns_, lo));
  }

  bool GoneSoon(const std::string& name) {
    for (int i = 0; i < 100; ++i) {
      if (!admin_->GetIfExists(kube::kDeployments, ns_, name)) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }

  std::filesystem::path kubeconfig_;
  std::atomic<int> writes_{0};
  std::atomic<int> puts_{0};
  std::unique_ptr<kube::Client> admin_;
  std::unique_ptr<KubernetesDriver> driver_;
  std::string ns_;
};

TEST_F(KubernetesDriverKTest, AReplicaCanaryReportsItsPodsAndPromotesByDigest) {
  CreateStable();
  const HostOutcome step = driver_->Deploy(Target("", 25), kRelease, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  EXPECT_EQ(step.version, "2.0.0");
  // The canary's pods, as {{instances}} selects them.
  EXPECT_EQ(step.instances, PodNames("app=web,sluice.io/track=canary"));
  ASSERT_EQ(step.instances.size(), 1u);
  EXPECT_THAT(step.instances[0], StartsWith("web-canary-"));
  EXPECT_EQ(kw::ContainerImage(Get("web-canary"), "app"), kNew);  // by digest
  EXPECT_EQ(Get("web")["spec"]["replicas"], 3);

  const HostOutcome full = driver_->Deploy(Target("", 100), kRelease, Fence(1), Soon());
  ASSERT_TRUE(full.Succeeded()) << full.message;
  EXPECT_EQ(full.instances.size(), 4u);
  const Json stable = Get("web");
  EXPECT_EQ(kw::ContainerImage(stable, "app"), kNew);
  EXPECT_EQ(kw::Annotation(stable, kw::kAnnotationPreviousImage), kOld);
  EXPECT_TRUE(GoneSoon("web-canary"));
}

TEST_F(KubernetesDriverKTest, ATargetOnAnUnconfiguredClusterOrWithoutAnImageIsRefused) {
  HostTarget t = Target();
  t.kubernetes->cluster = "elsewhere";
  HostOutcome o = driver_->Deploy(t, kRelease, Fence(1), Soon());
  EXPECT_EQ(o.reason, kube_reason::kUnknownCluster);
  EXPECT_THAT(o.message, HasSubstr("cluster \"elsewhere\" is not configured; known: local"));
  ArtifactRef tarball = kRelease;
  tarball.kind = "tarball";
  o = driver_->Deploy(Target(), tarball, Fence(1), Soon());
  EXPECT_EQ(o.reason, kube_reason::kNotAnImage);
  o = driver_->Deploy(Target("", 0), kRelease, Fence(1), Soon());
  EXPECT_EQ(o.reason, kube_reason::kNoWeight);
  EXPECT_EQ(writes_.load(), 0);
}

TEST_F(KubernetesDriverKTest, TrafficWeightsFollowTheShareAndABatchRevertLowersThem) {
  CreateStable();
  CreateService("web-stable", {{"app", "web"}});
  CreateService("web-canary", {{"app", "web"}, {"sluice.io/track", "canary"}});
  CreateRoute();
  HostTarget t = Target("", 5);
  t.kubernetes->route = "web";
  t.kubernetes->stable_service = "web-stable";
  t.kubernetes->canary_service = "web-canary";
  const HostOutcome step = driver_->Deploy(t, kRelease, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  // 5% of the traffic on one canary pod of four: weights, not replica counts, decide.
  Json route = admin_->Get(kube::kHttpRoutes, ns_, "web");
  EXPECT_EQ(kw::CanaryWeight(route, "web-canary"), 5);
  EXPECT_EQ(route["spec"]["rules"][0]["backendRefs"][0]["weight"], 95);
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 1);

  t.kubernetes->weight_percent = 50;
  ASSERT_TRUE(driver_->Deploy(t, kRelease, Fence(1), Soon()).Succeeded());
  EXPECT_EQ(kw::CanaryWeight(admin_->Get(kube::kHttpRoutes, ns_, "web"), "web-canary"), 50);
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 2);

  // Batch scope: back to the share of the batch before.
  t.kubernetes->weight_percent = 5;
  const HostOutcome back = driver_->Revert(t, "1.0.0", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  EXPECT_EQ(kw::CanaryWeight(admin_->Get(kube::kHttpRoutes, ns_, "web"), "web-canary"), 5);
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 1);
  EXPECT_EQ(Get("web")["spec"]["replicas"], 3);
  // And to none of it.
  t.kubernetes->weight_percent = 0;
  ASSERT_TRUE(driver_->Revert(t, "1.0.0", Fence(3), Soon()).Succeeded());
  EXPECT_EQ(kw::CanaryWeight(admin_->Get(kube::kHttpRoutes, ns_, "web"), "web-canary"), 0);
  EXPECT_EQ(Get("web-canary")["spec"]["replicas"], 0);
  EXPECT_EQ(Get("web")["spec"]["replicas"], 4);
}

TEST_F(KubernetesDriverKTest, AConflictingWriterMakesTheRouteWriteReReadAndRetry) {
  CreateStable();
  CreateService("web-stable", {{"app", "web"}});
  CreateService("web-canary", {{"app", "web"}, {"sluice.io/track", "canary"}});
  CreateRoute();
  // Just before the driver's first PUT of the route lands, someone else writes it: the PUT
  // carries a stale resourceVersion and the real API server answers 409.
  std::atomic<bool> raced{false};
  auto driver = MakeDriver(kubeconfig_, [&](const http::ClientRequest& r) {
    if (r.url.find("/httproutes/web") == std::string::npos || raced.exchange(true)) return;
    admin_->Patch(kube::kHttpRoutes, ns_, "web", kube::PatchType::kMerge,
                  {{"metadata", {{"labels", {{"owner", "someone-else"}}}}}});
  });
  HostTarget t = Target("", 25);
  t.kubernetes->route = "web";
  t.kubernetes->stable_service = "web-stable";
  t.kubernetes->canary_service = "web-canary";
  const HostOutcome step = driver->Deploy(t, kRelease, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  EXPECT_TRUE(raced.load());
  EXPECT_EQ(puts_.load(), 2);  // the conflicting PUT and the one after the re-read
  const Json route = admin_->Get(kube::kHttpRoutes, ns_, "web");
  EXPECT_EQ(kw::CanaryWeight(route, "web-canary"), 25);
  EXPECT_EQ(route["metadata"]["labels"]["owner"], "someone-else");  // their write kept
}

TEST_F(KubernetesDriverKTest, AStuckRolloutFailsTheTargetNamingThePodAndWhy) {
  CreateStable(/*deadline_s=*/5);
  admin_->Patch(
      kube::kDeployments, ns_, "web", kube::PatchType::kStrategicMerge,
      {{"spec",
        {{"paused", true},
         {"template", {{"metadata", {{"labels", {{"kwok-test/never-ready", "yes"}}}}}}}}}});
  const HostOutcome step = driver_->Deploy(Target("", 25), kRelease, Fence(1), Soon());
  ASSERT_EQ(step.kind, OutcomeKind::kFailed) << step.message;
  EXPECT_FALSE(step.retryable);
  EXPECT_EQ(step.reason, kw::reason::kProgressDeadline);
  EXPECT_THAT(step.message, HasSubstr("not ready: web-canary-"));
  EXPECT_THAT(step.message, HasSubstr("no container started"));
}

TEST_F(KubernetesDriverKTest, AStuckRolloutFailsTheBatchNamingThePodsAndWhatToDo) {
  CreateStable(/*deadline_s=*/5);
  // The canary copies the stable's template: a nodeSelector no node matches keeps its pods
  // Pending, Unschedulable (the real scheduler says so), until the progress deadline.
  admin_->Patch(
      kube::kDeployments, ns_, "web", kube::PatchType::kStrategicMerge,
      {{"spec",
        {{"paused", true},
         {"template", {{"spec", {{"nodeSelector", {{"sluice-test/no-such", "node"}}}}}}}}}});
  const HostTarget target = Target("", 50);
  const HostOutcome step = driver_->Deploy(target, kRelease, Fence(1), Soon());
  ASSERT_EQ(step.kind, OutcomeKind::kFailed) << step.message;
  EXPECT_EQ(step.reason, kw::reason::kProgressDeadline);
  const std::vector<std::string> pods = PodNames("app=web,sluice.io/track=canary");
  ASSERT_EQ(pods.size(), 2U);
  EXPECT_THAT(step.message, HasSubstr("what to do: " + pods[0] + ", " + pods[1] +
                                      " (Unschedulable): no node takes the pod"));
  EXPECT_THAT(step.message, HasSubstr("kubectl -n " + ns_ + " describe pod " + pods[0]));

  // What the executor publishes for it: the target, then its pods, each with why.
  Command command;
  command.deployment_id = core::DeploymentId("d-1");
  command.batch_index = core::BatchIndex(1);
  command.generation = core::Generation(1);
  command.targets = {target};
  BatchResult result;
  result.status = BatchStatus::kFailed;
  result.results = {HostResult{target, step, 1, {}, false}};
  result.failed_hosts = {target.host};
  events::v1::Envelope e;
  ASSERT_TRUE(FillClosingEvent(command, result, e));
  ASSERT_TRUE(e.has_batch_failed());
  const auto& failed = e.batch_failed();
  EXPECT_THAT(failed.failed_hosts(), ElementsAre(target.host, pods[0], pods[1]));
  EXPECT_EQ(failed.reason_code(), events::v1::REASON_PROGRESS_DEADLINE_EXCEEDED);
  ASSERT_EQ(failed.pods_not_ready_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(failed.pods_not_ready(i).target(), target.host);
    EXPECT_EQ(failed.pods_not_ready(i).name(), pods[static_cast<std::size_t>(i)]);
    EXPECT_EQ(failed.pods_not_ready(i).phase(), "Pending");
    EXPECT_EQ(failed.pods_not_ready(i).reason(), "Unschedulable");
    EXPECT_THAT(failed.pods_not_ready(i).detail(), HasSubstr("node(s) didn't match"));
  }
}

TEST_F(KubernetesDriverKTest, AnIdentityWithoutRightsGetsTheRbacRuleToAdd) {
  CreateStable();
  auto denied = MakeDriver(VarDir() / "local" / "kubeconfig-sluice-test");
  const HostOutcome o = denied->Deploy(Target(), kRelease, Fence(1), Soon());
  ASSERT_EQ(o.kind, OutcomeKind::kFailed) << o.message;
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(o.reason, kw::reason::kApi);
  EXPECT_THAT(o.message, HasSubstr("executor may not get deployments.apps in namespace " + ns_ +
                                   ": add a Role rule {apiGroups: [apps], resources: "
                                   "[deployments], verbs: [get]}"));
}

TEST_F(KubernetesDriverKTest, AFullRevertPutsThePreviousImageBackAndWaits) {
  CreateStable();
  ASSERT_TRUE(driver_->Deploy(Target("", 50), kRelease, Fence(1), Soon()).Succeeded());
  ASSERT_TRUE(driver_->Deploy(Target("", 100), kRelease, Fence(1), Soon()).Succeeded());
  ASSERT_EQ(kw::ContainerImage(Get("web"), "app"), kNew);
  // Full scope: nothing of the release stays; the image before comes from the stable itself.
  const HostOutcome back = driver_->Revert(Target("", 0), "1.0.0", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  EXPECT_EQ(back.version, "1.0.0");
  const Json stable = Get("web");
  EXPECT_EQ(kw::ContainerImage(stable, "app"), kOld);
  EXPECT_EQ(stable["spec"]["replicas"], 4);
  EXPECT_EQ(stable["status"]["updatedReplicas"], 4);
  EXPECT_EQ(stable["status"]["readyReplicas"], 4);
}

TEST_F(KubernetesDriverKTest, ABatchRevertAfterThePromotionPutsTheReleaseBackToItsShare) {
  CreateStable();
  ASSERT_TRUE(driver_->Deploy(Target("", 25), kRelease, Fence(1), Soon()).Succeeded());
  ASSERT_TRUE(driver_->Deploy(Target("", 100), kRelease, Fence(1), Soon()).Succeeded());
  ASSERT_FALSE(admin_->GetIfExists(kube::kDeployments, ns_, "web-canary"));
  ASSERT_EQ(kw::ContainerImage(Get("web"), "app"), kNew);
  // Batch scope of the last batch (25 -> 100): the release falls back to the 25% it had before
  // it, like the VM hosts of that batch going back while the earlier batches' keep it.
  const HostOutcome back = driver_->Revert(Target("", 25), "1.0.0", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  EXPECT_EQ(back.version, "1.0.0");
  const Json stable = Get("web");
  EXPECT_EQ(kw::ContainerImage(stable, "app"), kOld);
  EXPECT_EQ(stable["spec"]["replicas"], 3);
  EXPECT_EQ(stable["status"]["updatedReplicas"], 3);
  EXPECT_EQ(stable["status"]["readyReplicas"], 3);
  const Json canary = Get("web-canary");
  EXPECT_EQ(kw::ContainerImage(canary, "app"), kNew);
  EXPECT_EQ(canary["spec"]["replicas"], 1);
  EXPECT_EQ(canary["status"]["readyReplicas"], 1);
  EXPECT_EQ(PodNames("app=web,sluice.io/track=canary").size(), 1U);

  // A repeat (the executor restarted mid-revert) writes nothing.
  const int writes = writes_.load();
  ASSERT_TRUE(driver_->Revert(Target("", 25), "1.0.0", Fence(2), Soon()).Succeeded());
  EXPECT_EQ(writes_.load(), writes);
  // The whole deployment after it: no trace of the release.
  ASSERT_TRUE(driver_->Revert(Target("", 0), "1.0.0", Fence(3), Soon()).Succeeded());
  EXPECT_TRUE(GoneSoon("web-canary") || Get("web-canary")["spec"]["replicas"] == 0);
  EXPECT_EQ(kw::ContainerImage(Get("web"), "app"), kOld);
  EXPECT_EQ(Get("web")["spec"]["replicas"], 4);
}

TEST_F(KubernetesDriverKTest, RollingUsesTheDeploymentsOwnUpdateAndRevertsIt) {
  CreateStable();
  const HostOutcome step = driver_->Deploy(Target("rolling", 25), kRelease, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  EXPECT_EQ(kw::ContainerImage(Get("web"), "app"), kNew);
  EXPECT_EQ(step.instances.size(), 4u);
  EXPECT_FALSE(admin_->GetIfExists(kube::kDeployments, ns_, "web-canary"));
  // The next batch has nothing left to write.
  writes_ = 0;
  ASSERT_TRUE(driver_->Deploy(Target("rolling", 50), kRelease, Fence(1), Soon()).Succeeded());
  EXPECT_EQ(writes_.load(), 0);
  const HostOutcome back = driver_->Revert(Target("rolling", 0), "1.0.0", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  EXPECT_EQ(kw::ContainerImage(Get("web"), "app"), kOld);
  // The same revert again (the executor restarted before recording it): nothing to write, and
  // above all not the release back.
  writes_ = 0;
  ASSERT_TRUE(driver_->Revert(Target("rolling", 0), "1.0.0", Fence(2), Soon()).Succeeded());
  EXPECT_EQ(writes_.load(), 0);
  EXPECT_EQ(kw::ContainerImage(Get("web"), "app"), kOld);
}

TEST_F(KubernetesDriverKTest, BlueGreenSwitchesTheServiceOnceTheNewPodsAreReady) {
  CreateStable();
  CreateService("web", {{"app", "web"}});
  HostTarget t = Target("blue_green", 50);
  t.kubernetes->service = "web";
  const HostOutcome step = driver_->Deploy(t, kRelease, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  EXPECT_EQ(step.instances, PodNames("app=web,sluice.io/track=green"));
  EXPECT_EQ(step.instances.size(), 4u);
  Json svc = admin_->Get(kube::kServices, ns_, "web");
  EXPECT_EQ(svc["spec"]["selector"], (Json{{"app", "web"}, {"sluice.io/track", "green"}}));
  EXPECT_EQ(kw::ContainerImage(Get("web"), "app"), kOld);  // blue untouched

  // Revert: the Service back on blue, green gone.
  t.kubernetes->weight_percent = 0;
  const HostOutcome back = driver_->Revert(t, "1.0.0", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  svc = admin_->Get(kube::kServices, ns_, "web");
  EXPECT_EQ(svc["spec"]["selector"], (Json{{"app", "web"}}));
  EXPECT_TRUE(GoneSoon("web-green"));

  // Promotion: blue takes the release, the Service goes back to it, green goes.
  t.kubernetes->weight_percent = 100;
  const HostOutcome full = driver_->Deploy(t, kRelease, Fence(3), Soon());
  ASSERT_TRUE(full.Succeeded()) << full.message;
  EXPECT_EQ(kw::ContainerImage(Get("web"), "app"), kNew);
  EXPECT_EQ(admin_->Get(kube::kServices, ns_, "web")["spec"]["selector"], (Json{{"app", "web"}}));
  EXPECT_TRUE(GoneSoon("web-green"));
}

TEST_F(KubernetesDriverKTest, AStatefulSetReportsItsUpdatedPods) {
  const Json labels = {{"app", "db"}};
  admin_->Create(
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
  // As a stable StatefulSet is: every pod Ready on one revision. (Patched before the controller's
  // first sync, the new template would be its current revision too, and every pod "updated".)
  const auto settled = [&] {
    const Json st = admin_->Get(kube::kStatefulSets, ns_, "db").value("status", Json::object());
    return st.value("readyReplicas", 0) == 4 && !st.value("currentRevision", "").empty() &&
           st.value("currentRevision", "") == st.value("updateRevision", "");
  };
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!settled() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(settled()) << "the StatefulSet never settled";
  HostTarget t = Target("", 50);
  t.kubernetes->kind = "StatefulSet";
  t.kubernetes->name = "db";
  t.kubernetes->container = "db";
  const HostOutcome step = driver_->Deploy(t, kRelease, Fence(1), Soon());
  ASSERT_TRUE(step.Succeeded()) << step.message;
  EXPECT_THAT(step.instances, ElementsAre("db-2", "db-3"));
  EXPECT_EQ(kw::Partition(admin_->Get(kube::kStatefulSets, ns_, "db")), 2);
  // Reverted (any scope: a partition cannot give back a share), then the same revert again
  // (the executor restarted before recording it): the image before stays, nothing written.
  t.kubernetes->weight_percent = 0;
  const HostOutcome back = driver_->Revert(t, "1.0.0", Fence(2), Soon());
  ASSERT_TRUE(back.Succeeded()) << back.message;
  EXPECT_EQ(kw::ContainerImage(admin_->Get(kube::kStatefulSets, ns_, "db"), "db"), kOld);
  writes_ = 0;
  ASSERT_TRUE(driver_->Revert(t, "1.0.0", Fence(2), Soon()).Succeeded());
  EXPECT_EQ(writes_.load(), 0);
  EXPECT_EQ(kw::ContainerImage(admin_->Get(kube::kStatefulSets, ns_, "db"), "db"), kOld);
}

// The executor killed (-9) while it waits for a canary: the next run reads the objects, finds
// its writes there, writes nothing and waits for the same rollout to finish.
TEST_F(KubernetesDriverKTest, AKilledRunIsResumedWithoutASecondWrite) {
  // Pods become Ready 8 s after they are bound: the first run is still waiting when killed.
  CreateStable(600, {{"kwok-test/ready-delay", "8s"}});
  std::fflush(nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto driver = MakeDriver(kubeconfig_);
    driver->Deploy(Target("", 50), kRelease, Fence(1), Soon());
    ::_exit(0);
  }
  // Kill it once both writes of the step are in (canary created, stable scaled down).
  bool written = false;
  for (int i = 0; i < 100 && !written; ++i) {
    const auto canary = admin_->GetIfExists(kube::kDeployments, ns_, "web-canary");
    written = canary && Get("web")["spec"]["replicas"] == 2;
    if (!written) std::this_thread::sleep_for(100ms);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(written) << "the first run did not write in time";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the first run ended before it was killed";
  ASSERT_LT(Get("web-canary").value(Json::json_pointer("/status/readyReplicas"), 0), 2)
      << "the canary was ready before the kill: nothing was mid-rollout";
  const auto stable_gen = Get("web")["metadata"]["generation"];
  const auto canary_gen = Get("web-canary")["metadata"]["generation"];

  writes_ = 0;
  const HostOutcome resumed = driver_->Deploy(Target("", 50), kRelease, Fence(1), Soon());
  ASSERT_TRUE(resumed.Succeeded()) << resumed.message;
  EXPECT_EQ(writes_.load(), 0);
  EXPECT_EQ(Get("web")["metadata"]["generation"], stable_gen);
  EXPECT_EQ(Get("web-canary")["metadata"]["generation"], canary_gen);
  EXPECT_EQ(canary_gen, 1);
  EXPECT_EQ(resumed.instances.size(), 2u);
}

// The executor chart's RBAC, rendered and applied, allows exactly kDriverRbacRules: every verb
// listed and none other, asked of the API server as the chart's service account.
TEST_F(KubernetesDriverKTest, TheChartsRbacGrantsExactlyTheDriversRules) {
  const std::string kube_sh = "bash " + std::string(SLUICE_SOURCE_DIR) + "/scripts/kube.sh";
  const std::string release = "kdt";
  const auto [rendered, rc] =
      Shell(kube_sh + " helm template " + release + " " + std::string(SLUICE_SOURCE_DIR) +
            "/charts/executor -n " + ns_ + " --show-only templates/rbac.yaml --show-only " +
            "templates/serviceaccount.yaml --set 'rbac.namespaces={" + ns_ + "}' | " + kube_sh +
            " kubectl apply -n " + ns_ + " -f -");
  ASSERT_EQ(rc, 0) << rendered;
  const std::string sa = "system:serviceaccount:" + ns_ + ":" + release + "-executor";
  for (const auto& rule : kube::kDriverRbacRules) {
    const std::string resource =
        std::string(rule.resource) + (rule.group.empty() ? "" : "." + std::string(rule.group));
    for (const auto& [verb, name] : kube::kVerbNames) {
      const auto [answer, code] = Shell(kube_sh + " kubectl auth can-i " + std::string(name) + " " +
                                        resource + " -n " + ns_ + " --as " + sa);
      const bool allowed = (rule.verbs & verb) != 0;
      EXPECT_EQ(answer.substr(0, 3), allowed ? "yes" : "no\n")
          << name << " " << resource << " as " << sa << ": " << answer;
    }
  }
  // Nothing outside the namespaces it was given.
  const auto [elsewhere, code] =
      Shell(kube_sh + " kubectl auth can-i patch deployments.apps -n default --as " + sa);
  EXPECT_EQ(elsewhere.substr(0, 2), "no") << elsewhere;
}

}  // namespace
}  // namespace sluice::executor
