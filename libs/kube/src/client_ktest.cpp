// sluice::kube against the local Kubernetes control plane (scripts/kube.sh; `make kube`):
// real kube-apiserver, controllers and scheduler, KWOK's fake kubelets. Each test works in a
// namespace of its own, deleted afterwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sluice/kube/client.hpp>
#include <sluice/kube/rollout_status.hpp>
#include <thread>

namespace sluice::kube {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::filesystem::path VarDir() {
  if (const auto v = ProcessEnv("SLUICE_VAR_DIR"); v && !v->empty()) return *v;
  return std::filesystem::path(SLUICE_SOURCE_DIR) / "var";
}

Json DeploymentManifest(const std::string& name, int replicas, const std::string& image,
                        const Json& extra_pod_labels = Json::object(), int deadline_s = 600) {
  Json labels = {{"app", name}};
  labels.update(extra_pod_labels);
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec",
           {{"replicas", replicas},
            {"progressDeadlineSeconds", deadline_s},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", image}}})}}}}}}}};
}

class KubeClientKTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto kubeconfig = VarDir() / "local" / "kubeconfig";
    if (!std::filesystem::exists(kubeconfig)) {
      GTEST_FAIL() << kubeconfig << " is missing: the local control plane is not up "
                   << "(make kube, or bash scripts/kube.sh up)";
    }
    ClientOptions o;
    o.identity = "sluice-test-admin";
    admin_ = std::make_unique<Client>(LoadKubeconfig(kubeconfig), o);
    ns_ = "sluice-kube-ktest-" + std::to_string(::getpid()) + "-" +
          std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
    try {
      admin_->Create(kNamespaces, "", {{"metadata", {{"name", ns_}}}});
    } catch (const ApiError& e) {
      ns_.clear();
      GTEST_FAIL() << "the local control plane does not answer (make kube, or bash scripts/kube.sh "
                   << "up): " << e.what();
    }
  }
  void TearDown() override {
    if (admin_ && !ns_.empty()) admin_->DeleteIfExists(kNamespaces, "", ns_);
  }

  // Polls the Deployment until `done` says so, or fails after `timeout`.
  RolloutStatus WaitDeployment(const std::string& name,
                               const std::function<bool(const RolloutStatus&)>& done,
                               std::chrono::seconds timeout = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    ListOptions pods;
    pods.label_selector = "app=" + name;
    for (;;) {
      RolloutStatus s =
          InterpretDeployment(admin_->Get(kDeployments, ns_, name), admin_->List(kPods, ns_, pods));
      if (done(s)) return s;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << name << " still " << RolloutPhaseName(s.phase) << " (" << s.reason
                      << "): " << s.message;
        return s;
      }
      std::this_thread::sleep_for(300ms);
    }
  }

  std::unique_ptr<Client> admin_;
  std::string ns_;
};

TEST_F(KubeClientKTest, CreateGetPatchListApplyDelete) {
  Json created =
      admin_->Create(kDeployments, ns_, DeploymentManifest("web", 1, "example.com/web:1"));
  EXPECT_EQ(created["metadata"]["namespace"], ns_);
  EXPECT_EQ(admin_->Get(kDeployments, ns_, "web")["spec"]["replicas"], 1);

  admin_->Patch(kDeployments, ns_, "web", PatchType::kStrategicMerge,
                {{"spec",
                  {{"template",
                    {{"spec",
                      {{"containers",
                        Json::array({{{"name", "app"}, {"image", "example.com/web:2"}}})}}}}}}}});
  admin_->Patch(kDeployments, ns_, "web", PatchType::kMerge,
                {{"metadata", {{"annotations", {{"sluice.io/deployment-id", "d-1"}}}}}});
  admin_->Patch(kDeployments, ns_, "web", PatchType::kJson,
                Json::parse(R"([{"op":"replace","path":"/spec/replicas","value":2}])"));
  const Json got = admin_->Get(kDeployments, ns_, "web");
  // Strategic merge matched the container by name: still one container, new image.
  ASSERT_EQ(got["spec"]["template"]["spec"]["containers"].size(), 1U);
  EXPECT_EQ(got["spec"]["template"]["spec"]["containers"][0]["image"], "example.com/web:2");
  EXPECT_EQ(got["metadata"]["annotations"]["sluice.io/deployment-id"], "d-1");
  EXPECT_EQ(got["spec"]["replicas"], 2);

  // Server-side apply creates, then updates, the same object.
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "web"}, {"labels", {{"app", "web"}}}}},
              {"spec", {{"selector", {{"app", "web"}}}, {"ports", Json::array({{{"port", 80}}})}}}};
  admin_->Apply(kServices, ns_, svc);
  svc["spec"]["selector"]["sluice.io/track"] = "stable";
  EXPECT_EQ(admin_->Apply(kServices, ns_, svc)["spec"]["selector"]["sluice.io/track"], "stable");

  ListOptions by_label;
  by_label.label_selector = "app=web";
  const Json list = admin_->List(kDeployments, ns_, by_label);
  ASSERT_EQ(list["items"].size(), 1U);
  EXPECT_FALSE(list["metadata"]["resourceVersion"].get<std::string>().empty());
  by_label.label_selector = "app=other";
  EXPECT_TRUE(admin_->List(kDeployments, ns_, by_label)["items"].empty());

  admin_->Delete(kDeployments, ns_, "web");
  EXPECT_EQ(admin_->GetIfExists(kDeployments, ns_, "web"), std::nullopt);
  EXPECT_FALSE(admin_->DeleteIfExists(kDeployments, ns_, "web"));
  try {
    admin_->Get(kDeployments, ns_, "web");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kNotFound);
  }
}

TEST_F(KubeClientKTest, StaleResourceVersionConflictsAndUpdateWithRetrySucceeds) {
  admin_->Create(kDeployments, ns_, DeploymentManifest("web", 1, "example.com/web:1"));
  Json stale = admin_->Get(kDeployments, ns_, "web");
  admin_->Patch(kDeployments, ns_, "web", PatchType::kMerge,
                {{"metadata", {{"labels", {{"touched", "yes"}}}}}});
  stale["spec"]["replicas"] = 3;
  try {
    admin_->Update(kDeployments, ns_, stale);
    FAIL() << "a stale resourceVersion was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kConflict);
    EXPECT_EQ(e.HttpStatus(), 409);
    EXPECT_THAT(e.what(), HasSubstr("the object has been modified"));
  }

  // A writer that races the first try: UpdateWithRetry re-reads and lands the change.
  int tries = 0;
  const Json updated = admin_->UpdateWithRetry(kDeployments, ns_, "web", [&](Json& d) {
    if (++tries == 1) {
      admin_->Patch(kDeployments, ns_, "web", PatchType::kMerge,
                    {{"metadata", {{"labels", {{"racer", "won"}}}}}});
    }
    d["spec"]["replicas"] = 3;
    return true;
  });
  EXPECT_EQ(tries, 2);
  EXPECT_EQ(updated["spec"]["replicas"], 3);
  EXPECT_EQ(updated["metadata"]["labels"]["racer"], "won");  // the racer's write is kept
}

TEST_F(KubeClientKTest, InvalidObjectCarriesTheCauses) {
  admin_->Create(kDeployments, ns_, DeploymentManifest("web", 1, "example.com/web:1"));
  try {
    admin_->Patch(kDeployments, ns_, "web", PatchType::kMerge, {{"spec", {{"replicas", -1}}}});
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kInvalid);
    ASSERT_FALSE(e.Status().causes.empty());
    EXPECT_EQ(e.Status().causes[0].field, "spec.replicas");
    EXPECT_THAT(e.what(), HasSubstr("spec.replicas: Invalid value: -1"));
  }
  try {
    admin_->Create(kDeployments, ns_, DeploymentManifest("web", 1, "example.com/web:1"));
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kAlreadyExists);
  }
}

TEST_F(KubeClientKTest, ExecutorWithoutRoleGetsTheRbacRuleToAdd) {
  admin_->Create(kDeployments, ns_, DeploymentManifest("web", 1, "example.com/web:1"));
  ClientOptions o;
  o.identity = "executor";
  Client executor(LoadKubeconfig(VarDir() / "local" / "kubeconfig-executor"), o);
  try {
    executor.Patch(kDeployments, ns_, "web", PatchType::kStrategicMerge,
                   {{"spec", {{"replicas", 2}}}});
    FAIL() << "the executor has no role, yet its patch was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kForbidden);
    EXPECT_FALSE(e.IsRetryable());
    EXPECT_THAT(e.what(), HasSubstr("executor may not patch deployments.apps in namespace " + ns_ +
                                    ": add a Role rule {apiGroups: [apps], resources: "
                                    "[deployments], verbs: [patch]}"));
    EXPECT_THAT(e.what(), HasSubstr("User \"sluice-executor\" cannot patch"));
  }
  try {
    executor.List(kPods, ns_);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_THAT(e.what(), HasSubstr("executor may not list pods in namespace " + ns_ +
                                    ": add a Role rule {apiGroups: [\"\"], resources: [pods], "
                                    "verbs: [list]}"));
  }
}

TEST_F(KubeClientKTest, RotatedTokenFileIsReadAgain) {
  // A token file that starts wrong (401) and is then replaced by a valid token, as a projected
  // service-account token is swapped in place.
  const Credentials admin_creds = admin_->GetCredentials();
  ASSERT_FALSE(admin_creds.token.empty());
  const auto dir = std::filesystem::temp_directory_path() / ("kube-ktest-token-" + ns_);
  std::filesystem::create_directories(dir);
  const auto file = dir / "token";
  std::ofstream(file) << "not-a-valid-token\n";
  Credentials creds = admin_creds;
  creds.token.clear();
  creds.token_file = file.string();
  Client client(creds);
  try {
    client.Get(kNamespaces, "", ns_);
    FAIL() << "a bogus token was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kUnauthorized);
    EXPECT_THAT(e.what(), HasSubstr("refused the credentials (401)"));
  }
  std::ofstream(dir / "token.new") << admin_creds.token << "\n";
  std::filesystem::rename(dir / "token.new", file);
  EXPECT_EQ(client.Get(kNamespaces, "", ns_)["metadata"]["name"], ns_);
  std::filesystem::remove_all(dir);
}

TEST_F(KubeClientKTest, UnreachableServerIsARetryableTransportError) {
  Credentials creds = admin_->GetCredentials();
  creds.server = "https://127.0.0.1:1";  // nothing listens on port 1
  ClientOptions o;
  o.max_attempts = 1;
  Client client(creds, o);
  try {
    client.Get(kNamespaces, "", ns_);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kTransport);
    EXPECT_TRUE(e.IsRetryable());
  }
}

TEST_F(KubeClientKTest, ImageChangeRolloutCompletes) {
  admin_->Create(kDeployments, ns_, DeploymentManifest("web", 3, "example.com/web:1"));
  WaitDeployment("web", [](const RolloutStatus& s) { return s.phase == RolloutPhase::kComplete; });
  admin_->Patch(kDeployments, ns_, "web", PatchType::kStrategicMerge,
                {{"spec",
                  {{"template",
                    {{"spec",
                      {{"containers",
                        Json::array({{{"name", "app"}, {"image", "example.com/web:2"}}})}}}}}}}});
  const RolloutStatus s = WaitDeployment(
      "web", [](const RolloutStatus& st) { return st.phase != RolloutPhase::kProgressing; });
  EXPECT_EQ(s.phase, RolloutPhase::kComplete) << s.message;
  EXPECT_EQ(s.generation, 2);
  EXPECT_EQ(s.observed_generation, 2);
  EXPECT_EQ(s.updated, 3);
  EXPECT_EQ(s.available, 3);
  EXPECT_TRUE(s.pods_not_ready.empty());
}

TEST_F(KubeClientKTest, NeverReadyPodsHitTheProgressDeadlineAndAreNamed) {
  admin_->Create(kDeployments, ns_,
                 DeploymentManifest("stuck", 2, "example.com/stuck:1",
                                    {{"kwok-test/never-ready", "yes"}}, /*deadline_s=*/5));
  const RolloutStatus s = WaitDeployment(
      "stuck", [](const RolloutStatus& st) { return st.phase != RolloutPhase::kProgressing; }, 90s);
  ASSERT_EQ(s.phase, RolloutPhase::kFailed) << s.message;
  EXPECT_EQ(s.reason, rollout_reason::kProgressDeadlineExceeded);
  ASSERT_EQ(s.pods_not_ready.size(), 2U);
  EXPECT_THAT(s.pods_not_ready[0].name, ::testing::StartsWith("stuck-"));
  EXPECT_THAT(s.pods_not_ready[0].why, HasSubstr("no container started"));
  EXPECT_THAT(s.message, HasSubstr(s.pods_not_ready[0].name));
}

TEST_F(KubeClientKTest, StatefulSetPartitionRolloutProgressesBatchByBatch) {
  Json sts = {
      {"apiVersion", "apps/v1"},
      {"kind", "StatefulSet"},
      {"metadata", {{"name", "db"}}},
      {"spec",
       {{"replicas", 3},
        {"serviceName", "db"},
        {"selector", {{"matchLabels", {{"app", "db"}}}}},
        {"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 3}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "db"}}}}},
          {"spec",
           {{"containers", Json::array({{{"name", "db"}, {"image", "example.com/db:1"}}})}}}}}}}};
  admin_->Create(kStatefulSets, ns_, sts);
  ListOptions pods;
  pods.label_selector = "app=db";
  const auto wait = [&](std::int64_t want_updated) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      RolloutStatus s = InterpretStatefulSet(admin_->Get(kStatefulSets, ns_, "db"),
                                             admin_->List(kPods, ns_, pods));
      if (s.phase == RolloutPhase::kComplete && s.updated >= want_updated) return s;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "db: " << s.reason << ": " << s.message;
        return s;
      }
      std::this_thread::sleep_for(300ms);
    }
  };
  wait(3);  // the first revision everywhere
  admin_->Patch(
      kStatefulSets, ns_, "db", PatchType::kStrategicMerge,
      {{"spec",
        {{"updateStrategy", {{"rollingUpdate", {{"partition", 2}}}}},
         {"template",
          {{"spec",
            {{"containers", Json::array({{{"name", "db"}, {"image", "example.com/db:2"}}})}}}}}}}});
  RolloutStatus s = wait(1);
  EXPECT_EQ(s.reason, rollout_reason::kPartitionComplete);
  EXPECT_EQ(s.partition, 2);
  EXPECT_EQ(s.updated, 1);
  admin_->Patch(kStatefulSets, ns_, "db", PatchType::kMerge,
                {{"spec", {{"updateStrategy", {{"rollingUpdate", {{"partition", 0}}}}}}}});
  s = wait(3);
  EXPECT_EQ(s.reason, rollout_reason::kComplete);
  EXPECT_EQ(s.updated, 3);
}

}  // namespace
}  // namespace sluice::kube
