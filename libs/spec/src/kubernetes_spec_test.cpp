#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/spec/delivery_spec.hpp"
#include "testing_specs.hpp"

namespace sluice::spec {
namespace {

// One environment `production` with one VM host (a1) when `with_hosts`, then `kubernetes`
// (indented by 4) and a canary strategy.
std::string WithKubernetes(const std::string& kubernetes, bool with_hosts = true) {
  std::string s =
      "app: shop\n"
      "environments:\n"
      "  production:\n";
  if (with_hosts) {
    s += "    targets:\n"
         "      web:\n"
         "        hosts: [{name: a1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}]\n";
  }
  return s + kubernetes +
         "    strategy:\n"
         "      type: canary\n"
         "      steps: [{weight: 25%}, {weight: 100%}]\n";
}

const std::string kWeb =
    "      - name: web-k8s\n"
    "        cluster: in-cluster\n"
    "        namespace: shop\n"
    "        kind: Deployment\n"
    "        workload: web\n"
    "        container: app\n";

TEST(KubernetesSpecTest, ParsesWorkloadsBesideHostGroups) {
  auto r = ParseDeliverySpec(testing::kEverySpec, "spec.yaml");
  ASSERT_TRUE(std::holds_alternative<DeliverySpec>(r)) << std::get<SpecError>(r).ToString();
  const auto& env = std::get<DeliverySpec>(r).environments.at(0);
  EXPECT_EQ(env.AllHosts().size(), 2u);
  ASSERT_EQ(env.kubernetes.size(), 2u);
  const auto& web = env.kubernetes[0];
  EXPECT_EQ(web.name, "web-k8s");
  EXPECT_EQ(web.cluster, "in-cluster");
  EXPECT_EQ(web.ns, "shop");
  EXPECT_EQ(web.kind, KubernetesKind::kDeployment);
  EXPECT_EQ(web.workload, "web");
  EXPECT_EQ(web.container, "app");
  EXPECT_EQ(web.rollout, KubernetesRollout::kReplicaCanary);
  EXPECT_TRUE(web.surge);
  ASSERT_TRUE(web.traffic.has_value());
  EXPECT_EQ(web.traffic->http_route, "web");
  EXPECT_EQ(web.traffic->stable_service, "web-stable");
  EXPECT_EQ(web.traffic->canary_service, "web-canary");
  const auto& db = env.kubernetes[1];
  EXPECT_EQ(db.kind, KubernetesKind::kStatefulSet);
  EXPECT_EQ(db.rollout, KubernetesRollout::kPartition);  // the default for a StatefulSet
  EXPECT_FALSE(db.surge);
  EXPECT_EQ(db.traffic, std::nullopt);
}

TEST(KubernetesSpecTest, AnEnvironmentMayHaveOnlyKubernetesTargets) {
  auto r = ParseDeliverySpec(WithKubernetes("    kubernetes:\n" + kWeb, false), "spec.yaml");
  ASSERT_TRUE(std::holds_alternative<DeliverySpec>(r)) << std::get<SpecError>(r).ToString();
  const auto& env = std::get<DeliverySpec>(r).environments.at(0);
  EXPECT_TRUE(env.targets.empty());
  ASSERT_EQ(env.kubernetes.size(), 1u);
  EXPECT_EQ(env.kubernetes[0].rollout, KubernetesRollout::kReplicaCanary);  // a Deployment's
}

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string path;
  std::string message;
};

std::vector<ErrorCase> ErrorCases() {
  const std::string k = "    kubernetes:\n";
  const std::string p = "environments.production";
  return {
      {"neither targets nor kubernetes",
       "app: shop\nenvironments:\n  production:\n    strategy: {type: all-at-once}\n",
       p + ".targets", "is required (VM host groups), unless kubernetes names workloads"},
      {"empty list", WithKubernetes(k + "      []\n"), p + ".kubernetes",
       "must be a non-empty list"},
      {"unknown key", WithKubernetes(k + kWeb + "        replicas: 3\n"),
       p + ".kubernetes[0].replicas", "unknown key"},
      {"missing cluster",
       WithKubernetes(k + "      - {name: w, namespace: shop, kind: Deployment, workload: web, "
                          "container: app}\n"),
       p + ".kubernetes[0].cluster", "is required"},
      {"bad kind",
       WithKubernetes(k + "      - {name: w, cluster: c, namespace: shop, kind: Pod, "
                          "workload: web, container: app}\n"),
       p + ".kubernetes[0].kind", "must be Deployment or StatefulSet, got Pod"},
      {"namespace not a DNS label",
       WithKubernetes(k + "      - {name: w, cluster: c, namespace: Shop_1, kind: Deployment, "
                          "workload: web, container: app}\n"),
       p + ".kubernetes[0].namespace", "must be a Kubernetes name"},
      {"partition on a Deployment", WithKubernetes(k + kWeb + "        rollout: partition\n"),
       p + ".kubernetes[0].rollout", "partition needs kind StatefulSet"},
      {"replica canary of a StatefulSet",
       WithKubernetes(k + "      - {name: w, cluster: c, namespace: shop, kind: StatefulSet, "
                          "workload: db, container: pg, rollout: replica-canary}\n"),
       p + ".kubernetes[0].rollout", "replica-canary needs kind Deployment"},
      {"unknown rollout", WithKubernetes(k + kWeb + "        rollout: ramp\n"),
       p + ".kubernetes[0].rollout",
       "must be replica-canary, partition, rolling or blue-green, got ramp"},
      {"surge without a replica canary",
       WithKubernetes(k + kWeb + "        rollout: rolling\n        surge: true\n"),
       p + ".kubernetes[0].surge", "only a replica-canary surges"},
      {"traffic without its canary service",
       WithKubernetes(k + kWeb + "        traffic: {httpRoute: web, stableService: web}\n"),
       p + ".kubernetes[0].traffic.canaryService", "is required"},
      {"traffic to one service",
       WithKubernetes(k + kWeb +
                      "        traffic: {httpRoute: web, stableService: w, canaryService: w}\n"),
       p + ".kubernetes[0].traffic.canaryService", "must differ from stableService"},
      {"blue-green without its service", WithKubernetes(k + kWeb + "        rollout: blue-green\n"),
       p + ".kubernetes[0].service", "is required"},
      {"service without blue-green", WithKubernetes(k + kWeb + "        service: web\n"),
       p + ".kubernetes[0].service", "only a blue-green rollout switches a Service"},
      {"a name taken by a VM host",
       WithKubernetes(k + "      - {name: a1, cluster: c, namespace: shop, kind: Deployment, "
                          "workload: web, container: app}\n"),
       p + ".kubernetes[0].name", "'a1' names another target or host of this environment"},
      {"a name twice", WithKubernetes(k + kWeb + kWeb), p + ".kubernetes[1].name",
       "'web-k8s' names another target or host"},
  };
}

TEST(KubernetesSpecTest, EveryErrorNamesItsPath) {
  for (const auto& c : ErrorCases()) {
    SCOPED_TRACE(c.name);
    auto r = ParseDeliverySpec(c.yaml, "spec.yaml");
    ASSERT_TRUE(std::holds_alternative<SpecError>(r)) << c.yaml;
    const auto& e = std::get<SpecError>(r);
    EXPECT_EQ(e.path, c.path) << e.ToString();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.ToString();
    EXPECT_GT(e.line, 0) << e.ToString();
  }
}

}  // namespace
}  // namespace sluice::spec
