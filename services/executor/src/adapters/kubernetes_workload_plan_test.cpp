#include "adapters/kubernetes_workload_plan.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>

namespace sluice::executor::kube_workload {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

Json Stable(int replicas = 4) {
  return Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                 "resourceVersion": "42", "uid": "u-1"},
    "spec": {
      "replicas": )" +
                     std::to_string(replicas) +
                     R"(,
      "progressDeadlineSeconds": 60,
      "selector": {"matchLabels": {"app": "web"}},
      "template": {
        "metadata": {"labels": {"app": "web", "tier": "front"}},
        "spec": {"containers": [{"name": "sidecar", "image": "envoy:1"},
                                {"name": "app", "image": "shop/web:1.0"}]}}}})");
}

CommandFence Fence(std::uint64_t gen, std::string id = "d-1") {
  return CommandFence{std::move(id), core::Generation{gen}};
}

Json WithFence(Json object, const std::string& id, const std::string& gen) {
  object["metadata"]["annotations"] = {{"sluice.io/deployment-id", id},
                                       {"sluice.io/generation", gen}};
  return object;
}

TEST(PlanCanaryReplicas, RoundsTheShareUpAndKeepsCapacity) {
  struct Case {
    std::int64_t total;
    double percent;
    std::int64_t canary;
  };
  for (const Case& c : {Case{4, 5, 1}, Case{4, 25, 1}, Case{4, 50, 2}, Case{4, 100, 4},
                        Case{100, 5, 5}, Case{100, 25, 25}, Case{100, 100, 100}, Case{100, 0.5, 1},
                        Case{100, 33.3, 34}, Case{3, 10, 1}, Case{4, 0, 0}}) {
    const ReplicaSplit s = PlanCanaryReplicas(c.total, c.percent, /*surge=*/false);
    EXPECT_EQ(s.canary, c.canary) << c.percent << "% of " << c.total;
    EXPECT_EQ(s.stable, c.total - c.canary) << c.percent << "% of " << c.total;
  }
}

TEST(PlanCanaryReplicas, SurgeKeepsEveryStableReplica) {
  const ReplicaSplit s = PlanCanaryReplicas(4, 25, /*surge=*/true);
  EXPECT_EQ(s.canary, 1);
  EXPECT_EQ(s.stable, 4);
  EXPECT_EQ(PlanCanaryReplicas(100, 5, true).stable, 100);
}

TEST(PlanCanaryReplicas, ZeroReplicasAndBadInput) {
  EXPECT_EQ(PlanCanaryReplicas(0, 25, false).canary, 0);
  EXPECT_THROW(PlanCanaryReplicas(4, 101, false), std::invalid_argument);
  EXPECT_THROW(PlanCanaryReplicas(4, -1, false), std::invalid_argument);
  EXPECT_THROW(PlanCanaryReplicas(-1, 25, false), std::invalid_argument);
}

TEST(ReleaseImage, PinsTheDigestInPlaceOfTheTag) {
  EXPECT_EQ(ReleaseImage("shop/web:2.0", ""), "shop/web:2.0");
  EXPECT_EQ(ReleaseImage("shop/web:2.0", kDigest), "shop/web@" + kDigest);
  EXPECT_EQ(ReleaseImage("registry:5000/shop/web", kDigest), "registry:5000/shop/web@" + kDigest);
  EXPECT_EQ(ReleaseImage("registry:5000/web:3@sha256:old", kDigest),
            "registry:5000/web@" + kDigest);
  EXPECT_THROW(ReleaseImage("shop/web", "sha256:abc"), std::invalid_argument);
  EXPECT_THROW(ReleaseImage("shop/web", "md5:" + std::string(64, 'a')), std::invalid_argument);
  EXPECT_THROW(ReleaseImage("", kDigest), std::invalid_argument);
}

TEST(DecideFence, NewerGenerationOfTheSameDeploymentIsHandsOff) {
  EXPECT_EQ(DecideFence(Stable(), Fence(3)), FenceDecision::kProceed);  // no annotations
  EXPECT_EQ(DecideFence(WithFence(Stable(), "d-1", "3"), Fence(3)), FenceDecision::kProceed);
  EXPECT_EQ(DecideFence(WithFence(Stable(), "d-1", "2"), Fence(3)), FenceDecision::kProceed);
  EXPECT_EQ(DecideFence(WithFence(Stable(), "d-1", "4"), Fence(3)), FenceDecision::kStale);
  // Generations count per deployment: another deployment's is not compared.
  EXPECT_EQ(DecideFence(WithFence(Stable(), "d-2", "9"), Fence(3)), FenceDecision::kProceed);
  EXPECT_EQ(DecideFence(WithFence(Stable(), "d-1", "4x"), Fence(3)), FenceDecision::kProceed);
}

TEST(OwnedByAnother, TheLastDeploymentToWriteOwnsTheObject) {
  EXPECT_FALSE(OwnedByAnother(Stable(), Fence(1)));
  EXPECT_FALSE(OwnedByAnother(WithFence(Stable(), "d-1", "9"), Fence(1)));
  EXPECT_TRUE(OwnedByAnother(WithFence(Stable(), "d-2", "1"), Fence(1)));
}

TEST(BuildCanary, CopiesTheStableWithTheTrackLabelTheImageAndTheFence) {
  const WorkloadRef ref{"shop", "web", "app"};
  const std::string image = "shop/web@" + kDigest;
  const Json c = BuildCanary(Stable(), ref, image, 1, 4, Fence(7), image);
  EXPECT_EQ(c["metadata"]["name"], "web-canary");
  EXPECT_EQ(c["metadata"]["namespace"], "shop");
  EXPECT_FALSE(c["metadata"].contains("resourceVersion"));
  EXPECT_FALSE(c["metadata"].contains("uid"));
  EXPECT_EQ(c["metadata"]["labels"]["sluice.io/track"], "canary");
  EXPECT_EQ(c["metadata"]["annotations"], (Json{{"sluice.io/deployment-id", "d-1"},
                                                {"sluice.io/generation", "7"},
                                                {"sluice.io/release", image},
                                                {"sluice.io/total-replicas", "4"}}));
  EXPECT_EQ(c["spec"]["replicas"], 1);
  EXPECT_EQ(c["spec"]["progressDeadlineSeconds"], 60);
  EXPECT_EQ(c["spec"]["selector"],
            (Json{{"matchLabels", {{"app", "web"}, {"sluice.io/track", "canary"}}}}));
  EXPECT_EQ(c["spec"]["template"]["metadata"]["labels"],
            (Json{{"app", "web"}, {"tier", "front"}, {"sluice.io/track", "canary"}}));
  EXPECT_EQ(ContainerImage(c, "app"), image);
  EXPECT_EQ(ContainerImage(c, "sidecar"), "envoy:1");  // the other container is untouched
}

TEST(BuildCanary, RefusesAStableWithoutTheContainerOrMatchLabels) {
  EXPECT_THROW(BuildCanary(Stable(), {"shop", "web", "nope"}, "x:1", 1, 4, Fence(1), "x:1"),
               std::invalid_argument);
  Json s = Stable();
  s["spec"]["selector"] = {{"matchExpressions", Json::array()}};
  EXPECT_THROW(BuildCanary(s, {"shop", "web", "app"}, "x:1", 1, 4, Fence(1), "x:1"),
               std::invalid_argument);
}

TEST(WorkloadPatch, CarriesOnlyWhatIsAskedFor) {
  const Json ann = FenceAnnotations(Fence(2), "shop/web:2");
  EXPECT_EQ(WorkloadPatch("app", "shop/web:2", 4, ann),
            Json::parse(R"({"spec": {"replicas": 4, "template": {"spec": {"containers":
                 [{"name": "app", "image": "shop/web:2"}]}}},
               "metadata": {"annotations": {"sluice.io/deployment-id": "d-1",
                 "sluice.io/generation": "2", "sluice.io/release": "shop/web:2"}}})"));
  EXPECT_EQ(WorkloadPatch("app", "", 3, Json::object()), (Json{{"spec", {{"replicas", 3}}}}));
}

TEST(IsAsWanted, ComparesImageReplicasAndAnnotations) {
  const Json ann = FenceAnnotations(Fence(2), "shop/web:2");
  Json s = Stable();
  EXPECT_FALSE(IsAsWanted(s, "app", "shop/web:2", 4, ann));
  s.merge_patch(WorkloadPatch("app", "shop/web:2", 4, ann));  // a merge patch replaces the list
  EXPECT_TRUE(IsAsWanted(s, "app", "shop/web:2", 4, ann));
  EXPECT_FALSE(IsAsWanted(s, "app", "shop/web:2", 3, ann));
  EXPECT_FALSE(IsAsWanted(s, "app", "shop/web:3", 4, ann));
  EXPECT_FALSE(IsAsWanted(s, "app", "shop/web:2", 4, FenceAnnotations(Fence(3), "shop/web:2")));
  EXPECT_TRUE(IsAsWanted(s, "app", "", -1, Json::object()));
}

TEST(PlanPartition, TheHighestOrdinalsTakeTheBatch) {
  EXPECT_EQ(PlanPartition(4, 25), 3);
  EXPECT_EQ(PlanPartition(4, 5), 3);
  EXPECT_EQ(PlanPartition(4, 100), 0);
  EXPECT_EQ(PlanPartition(100, 5), 95);
  EXPECT_EQ(PlanPartition(100, 25), 75);
  EXPECT_EQ(PlanPartition(100, 100), 0);
  EXPECT_EQ(PlanPartition(4, 0), 4);
}

TEST(PartitionPatch, SetsTheStrategyThePartitionAndTheImage) {
  EXPECT_EQ(PartitionPatch("db", "db:2", 3, Json::object()),
            Json::parse(R"({"spec": {"updateStrategy": {"type": "RollingUpdate",
                 "rollingUpdate": {"partition": 3}}, "template": {"spec": {"containers":
                 [{"name": "db", "image": "db:2"}]}}}})"));
  EXPECT_EQ(Partition(Json::parse(R"({"spec": {}})")), 0);
  EXPECT_EQ(Partition(Json::parse(
                R"({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}})")),
            2);
}

TEST(SelectorString, JoinsMatchLabels) {
  EXPECT_EQ(SelectorString(Stable()), "app=web");
  const WorkloadRef ref{"shop", "web", "app"};
  EXPECT_EQ(SelectorString(BuildCanary(Stable(), ref, "x:1", 1, 4, Fence(1), "x:1")),
            "app=web,sluice.io/track=canary");
}

}  // namespace
}  // namespace sluice::executor::kube_workload

namespace sluice::executor::kube_workload {
namespace {

Json Recorded(const std::string& path) {
  std::ifstream in(path);
  return Json::parse(in);
}

// An HTTPRoute as the API returns it (defaults filled: kind Service, weight 1), two rules of
// which the first sends to the stable Service.
Json Route() { return Recorded(std::string(SLUICE_EXECUTOR_TESTDATA) + "/httproute.json"); }

TEST(RouteWeights, TheCanaryJoinsTheStablesRuleWithItsShare) {
  Json route = Route();
  EXPECT_TRUE(SetRouteWeights(route, "web-stable", "web-canary", RouteCanaryWeight(5)));
  const Json& refs = route["spec"]["rules"][0]["backendRefs"];
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0]["name"], "web-stable");
  EXPECT_EQ(refs[0]["weight"], 95);
  EXPECT_EQ(refs[1]["name"], "web-canary");
  EXPECT_EQ(refs[1]["weight"], 5);
  EXPECT_EQ(refs[1]["port"], 80);  // the stable's port
  // The other rule is not the stable's: left alone.
  EXPECT_EQ(route["spec"]["rules"][1]["backendRefs"].size(), 1u);
  EXPECT_EQ(CanaryWeight(route, "web-canary"), 5);
  // The same weights again: nothing to write.
  EXPECT_FALSE(SetRouteWeights(route, "web-stable", "web-canary", 5));
  EXPECT_TRUE(SetRouteWeights(route, "web-stable", "web-canary", 0));
  EXPECT_EQ(route["spec"]["rules"][0]["backendRefs"][0]["weight"], 100);
  EXPECT_EQ(CanaryWeight(route, "web-canary"), 0);
}

TEST(RouteWeights, ARouteWithoutTheStableServiceIsRefused) {
  Json route = Route();
  EXPECT_THROW(SetRouteWeights(route, "nope", "web-canary", 5), std::invalid_argument);
  EXPECT_EQ(route, Route());
}

TEST(RouteWeights, TheShareIsRoundedAndNeverZeroAboveZero) {
  EXPECT_EQ(RouteCanaryWeight(0), 0);
  EXPECT_EQ(RouteCanaryWeight(0.2), 1);
  EXPECT_EQ(RouteCanaryWeight(12.5), 13);
  EXPECT_EQ(RouteCanaryWeight(100), 100);
  EXPECT_THROW(RouteCanaryWeight(101), std::invalid_argument);
}

TEST(PodNames, OnlyTheUpdatedRevisionsPodsWhenAsked) {
  const Json pods =
      Recorded(std::string(SLUICE_KUBE_TESTDATA) + "/pods_statefulset_progressing.json");
  EXPECT_EQ(PodNames(pods), (std::vector<std::string>{"db-0", "db-1", "db-2"}));
  EXPECT_EQ(PodNames(pods, "db-69bcdf975d"), std::vector<std::string>{"db-2"});
  Json deleting = pods;
  deleting["items"][0]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  EXPECT_EQ(PodNames(deleting), (std::vector<std::string>{"db-1", "db-2"}));
}

TEST(BuildTrackCopy, BlueGreensCopyCarriesItsTrackAndAllReplicas) {
  const Json green = BuildTrackCopy(Stable(), {"shop", "web", "app"}, kGreenSuffix, kTrackGreen,
                                    "shop/web@" + kDigest, 4, 4, Fence(3), "r");
  EXPECT_EQ(green["metadata"]["name"], "web-green");
  EXPECT_EQ(green["spec"]["replicas"], 4);
  EXPECT_EQ(green["spec"]["selector"]["matchLabels"]["sluice.io/track"], "green");
  EXPECT_EQ(green["spec"]["template"]["metadata"]["labels"]["sluice.io/track"], "green");
  EXPECT_EQ(ContainerImage(green, "app"), "shop/web@" + kDigest);
  EXPECT_EQ(ContainerImage(green, "sidecar"), "envoy:1");
}

}  // namespace
}  // namespace sluice::executor::kube_workload
