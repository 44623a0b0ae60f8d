#include "command.hpp"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;

events::v1::BatchRequested Batch() {
  events::v1::BatchRequested b;
  b.set_deployment_id("d-1");
  b.set_batch_index(2);
  b.set_generation(5);
  b.mutable_artifact()->set_version("1.2.0");
  b.mutable_artifact()->set_url("http://a/app-1.2.0.tar.gz");
  b.mutable_artifact()->set_sha256(std::string(64, 'a'));
  for (const char* h : {"web-1", "web-2"}) {
    auto* t = b.add_targets();
    t->set_host(h);
    t->set_address(std::string("10.0.0.") + (h[4]));
    t->set_agent_endpoint(std::string("http://10.0.0.") + h[4] + ":7070");
    (*t->mutable_labels())["zone"] = "a";
  }
  b.set_max_parallel(2);
  b.set_failure_tolerance(1);
  *b.mutable_host_timeout() = TimeUtil::SecondsToDuration(90);
  b.set_app("shop");
  b.set_env("prod");
  return b;
}

TEST(CommandTest, BatchRequestedBecomesADeployCommand) {
  auto b = Batch();
  auto* s = b.mutable_service();
  s->add_restart_command("bin/restart.sh");
  *s->mutable_restart_timeout() = TimeUtil::SecondsToDuration(12);
  s->set_health_http_url("http://127.0.0.1:8000/healthz");
  const Command c = CommandFromBatchRequested(b, "ev-1", {});
  EXPECT_EQ(c.deployment_id.Value(), "d-1");
  EXPECT_EQ(c.batch_index.Value(), 2u);
  EXPECT_EQ(c.generation.Value(), 5u);
  EXPECT_EQ(c.operation, BatchOperation::kDeploy);
  EXPECT_EQ(c.event_id, "ev-1");
  EXPECT_EQ(c.artifact.version, "1.2.0");
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[1].host, "web-2");
  EXPECT_EQ(c.targets[1].agent_endpoint, "http://10.0.0.2:7070");
  EXPECT_EQ(c.targets[0].driver, "agent");  // unset driver means the agent
  EXPECT_EQ(c.targets[0].labels.at("zone"), "a");
  EXPECT_EQ(c.policy.max_parallel, 2u);
  EXPECT_EQ(c.policy.failure_tolerance, 1u);
  EXPECT_EQ(c.policy.host_timeout, 90s);
  ASSERT_TRUE(c.service.has_value());
  EXPECT_EQ(c.service->restart_command, std::vector<std::string>{"bin/restart.sh"});
  EXPECT_EQ(c.service->restart_timeout, 12s);
  EXPECT_EQ(c.service->health.http_url, "http://127.0.0.1:8000/healthz");
  EXPECT_EQ(c.service->health.timeout, 30s);  // zero: the default
}

// A mixed batch: a VM host through the agent and a Kubernetes Deployment with a traffic split.
events::v1::BatchRequested MixedBatch() {
  auto b = Batch();
  b.set_weight_percent(25);
  b.mutable_artifact()->set_kind(events::v1::ARTIFACT_KIND_IMAGE);
  b.mutable_artifact()->set_url("registry.local/shop/web:1.2.0");
  b.mutable_artifact()->set_sha256("sha256:" + std::string(64, 'c'));
  auto* t = b.add_targets();
  t->set_host("shop-web");
  t->set_driver("kubernetes");
  auto* k = t->mutable_kubernetes();
  k->set_cluster("local");
  k->set_namespace_("shop");
  k->set_kind("Deployment");
  k->set_name("web");
  k->set_container("app");
  k->set_rollout(events::v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
  k->set_surge(true);
  k->mutable_traffic()->set_route("web");
  k->mutable_traffic()->set_stable_service("web-stable");
  k->mutable_traffic()->set_canary_service("web-canary");
  return b;
}

TEST(CommandTest, AKubernetesTargetCarriesItsWorkloadAndTheBatchsShare) {
  const Command c = CommandFromBatchRequested(MixedBatch(), "ev-1", {});
  ASSERT_EQ(c.targets.size(), 3u);
  EXPECT_FALSE(c.targets[0].kubernetes.has_value());
  const HostTarget& t = c.targets[2];
  EXPECT_EQ(t.driver, "kubernetes");
  ASSERT_TRUE(t.kubernetes.has_value());
  EXPECT_EQ(t.kubernetes->cluster, "local");
  EXPECT_EQ(t.kubernetes->ns, "shop");
  EXPECT_EQ(t.kubernetes->name, "web");
  EXPECT_EQ(t.kubernetes->container, "app");
  EXPECT_EQ(t.kubernetes->rollout, "replica_canary");
  EXPECT_TRUE(t.kubernetes->surge);
  EXPECT_EQ(t.kubernetes->route, "web");
  EXPECT_EQ(t.kubernetes->canary_service, "web-canary");
  EXPECT_EQ(t.kubernetes->weight_percent, 25u);
  EXPECT_EQ(c.artifact.kind, "image");
  EXPECT_EQ(c.artifact.sha256, "sha256:" + std::string(64, 'c'));

  // Stored and read back (a restarted executor runs what was accepted).
  std::vector<HostTarget> back;
  std::map<std::string, std::uint32_t> batches;
  TargetsFromJson(TargetsToJson(c.targets, {}), back, batches);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[2].kubernetes, t.kubernetes);
  EXPECT_FALSE(back[1].kubernetes.has_value());
  EXPECT_EQ(ArtifactFromJson(ArtifactToJson(c.artifact)).kind, "image");
}

TEST(CommandTest, ARevertTakesItsKubernetesTargetsWithTheShareToFallBackTo) {
  const Command batch = CommandFromBatchRequested(MixedBatch(), "ev-1", {});
  events::v1::RevertRequested r;
  r.set_rollback_id("rb-1");
  r.set_deployment_id("d-1");
  r.set_generation(6);
  r.set_target_version("1.1.0");
  r.add_hosts("web-1");
  r.add_hosts("shop-web");
  r.set_weight_percent(10);
  *r.add_kubernetes_targets() = MixedBatch().targets(2);
  const Command c = CommandFromRevertRequested(r, "ev-2", {batch}, {});
  ASSERT_EQ(c.targets.size(), 2u);  // the workload once, though named twice
  EXPECT_EQ(c.targets[0].host, "shop-web");
  ASSERT_TRUE(c.targets[0].kubernetes.has_value());
  EXPECT_EQ(c.targets[0].kubernetes->weight_percent, 10u);
  EXPECT_EQ(c.targets[1].host, "web-1");
  EXPECT_EQ(c.host_batches.at("shop-web"), 2u);
  EXPECT_TRUE(c.unresolved.empty());
  EXPECT_EQ(c.policy.failure_tolerance, 3u);
}

TEST(CommandTest, ZeroFieldsTakeTheDefaults) {
  auto b = Batch();
  b.clear_host_timeout();
  b.set_max_parallel(0);
  b.mutable_service();  // present but without a restart command: unset
  CommandDefaults d;
  d.host_timeout = 42s;
  d.max_parallel = 3;
  const Command c = CommandFromBatchRequested(b, "ev", d);
  EXPECT_EQ(c.policy.host_timeout, 42s);
  EXPECT_EQ(c.policy.max_parallel, 3u);
  EXPECT_FALSE(c.service.has_value());
}

TEST(CommandTest, FenceRefusesOnlyLowerGenerations) {
  EXPECT_EQ(Fence(std::nullopt, 0), FenceDecision::kAccept);
  EXPECT_EQ(Fence(5, 5), FenceDecision::kAccept);  // the next batch of the same generation
  EXPECT_EQ(Fence(5, 6), FenceDecision::kAccept);
  EXPECT_EQ(Fence(5, 4), FenceDecision::kRefuseStale);
}

TEST(CommandTest, RevertResolvesHostsFromTheLatestEarlierCommand) {
  Command first = CommandFromBatchRequested(Batch(), "ev-1", {});
  first.batch_index = core::BatchIndex(0);
  auto moved = Batch();
  moved.mutable_targets(0)->set_address("10.9.9.9");  // web-1 moved in a later batch
  moved.set_batch_index(3);
  moved.mutable_targets()->DeleteSubrange(1, 1);
  const Command second = CommandFromBatchRequested(moved, "ev-2", {});

  events::v1::RevertRequested r;
  r.set_rollback_id("rb-1");
  r.set_deployment_id("d-1");
  r.set_generation(6);
  r.set_target_version("1.1.0");
  r.add_hosts("web-1");
  r.add_hosts("web-2");
  r.add_hosts("web-9");
  r.add_hosts("web-1");  // named twice: once
  CommandDefaults d;
  d.host_timeout = 20s;
  d.max_parallel = 2;
  d.revert_max_parallel = 7;
  const Command c = CommandFromRevertRequested(r, "ev-3", {first, second}, d);
  EXPECT_EQ(c.operation, BatchOperation::kRevert);
  EXPECT_EQ(c.rollback_id, "rb-1");
  EXPECT_EQ(c.artifact.version, "1.1.0");
  EXPECT_EQ(c.app, "shop");
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[0].host, "web-1");
  EXPECT_EQ(c.targets[0].address, "10.9.9.9");
  EXPECT_EQ(c.host_batches.at("web-1"), 3u);
  EXPECT_EQ(c.host_batches.at("web-2"), 0u);
  ASSERT_EQ(c.unresolved.size(), 1u);
  EXPECT_EQ(c.unresolved[0].host, "web-9");
  EXPECT_EQ(c.unresolved[0].reason, kReasonUnknownHost);
  EXPECT_NE(c.unresolved[0].message.find("never part of deployment d-1"), std::string::npos);
  EXPECT_EQ(c.policy.failure_tolerance, 4u);  // every host is tried
  EXPECT_EQ(c.policy.host_timeout, 20s);
  EXPECT_EQ(c.policy.max_parallel, 7u);  // the revert width, not a batch's default
}

TEST(CommandTest, RevertWithoutAVersionResolvesNothing) {
  events::v1::RevertRequested r;
  r.set_deployment_id("d-1");
  r.add_hosts("web-1");
  const Command c =
      CommandFromRevertRequested(r, "ev", {CommandFromBatchRequested(Batch(), "e", {})}, {});
  EXPECT_TRUE(c.targets.empty());
  ASSERT_EQ(c.unresolved.size(), 1u);
  EXPECT_EQ(c.unresolved[0].reason, kReasonNoTargetVersion);
}

TEST(CommandTest, ServiceForPrefersTheCommandsOwn) {
  Command c;
  AgentServiceSpec fallback;
  fallback.restart_command = {"/bin/true"};
  EXPECT_EQ(ServiceFor(c, fallback), fallback);
  EXPECT_FALSE(ServiceFor(c, std::nullopt).has_value());
  EXPECT_FALSE(ServiceFor(c, AgentServiceSpec{}).has_value());  // no restart command
  AgentServiceSpec own;
  own.restart_command = {"bin/restart.sh"};
  c.service = own;
  EXPECT_EQ(ServiceFor(c, fallback), own);
}

TEST(CommandTest, JsonColumnsRoundTrip) {
  auto b = Batch();
  b.mutable_service()->add_restart_command("/bin/restart");
  b.mutable_service()->add_health_command("/bin/check");
  b.mutable_service()->add_health_command("--quick");
  Command c = CommandFromBatchRequested(b, "ev", {});
  c.host_batches["web-2"] = 7;
  c.unresolved.push_back({"web-3", "unknown_host", "never seen"});

  std::vector<HostTarget> targets;
  std::map<std::string, std::uint32_t> batches;
  TargetsFromJson(TargetsToJson(c.targets, c.host_batches), targets, batches);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].host, c.targets[0].host);
  EXPECT_EQ(targets[0].address, c.targets[0].address);
  EXPECT_EQ(targets[0].agent_endpoint, c.targets[0].agent_endpoint);
  EXPECT_EQ(targets[0].labels, c.targets[0].labels);
  EXPECT_EQ(targets[0].driver, "agent");
  EXPECT_EQ(batches, (std::map<std::string, std::uint32_t>{{"web-2", 7}}));

  EXPECT_EQ(ServiceFromJson(ServiceToJson(c.service)), c.service);
  EXPECT_FALSE(ServiceFromJson(ServiceToJson(std::nullopt)).has_value());
  EXPECT_EQ(UnresolvedFromJson(UnresolvedToJson(c.unresolved)), c.unresolved);
  const auto a = ArtifactFromJson(ArtifactToJson(c.artifact));
  EXPECT_EQ(a.version, c.artifact.version);
  EXPECT_EQ(a.url, c.artifact.url);
  EXPECT_EQ(a.sha256, c.artifact.sha256);
  const auto p = PolicyFromJson(PolicyToJson(c.policy));
  EXPECT_EQ(p.max_parallel, c.policy.max_parallel);
  EXPECT_EQ(p.failure_tolerance, c.policy.failure_tolerance);
  EXPECT_EQ(p.host_timeout, c.policy.host_timeout);
}

TEST(CommandTest, ToBatchCommandTakesTheRetryPolicy) {
  const Command c = CommandFromBatchRequested(Batch(), "ev", {});
  RetryPolicy retry;
  retry.max_attempts = 7;
  const BatchCommand b = ToBatchCommand(c, retry);
  EXPECT_EQ(b.policy.retry.max_attempts, 7u);
  EXPECT_EQ(b.hosts.size(), 2u);
  EXPECT_EQ(b.generation.Value(), 5u);
}

}  // namespace
}  // namespace sluice::executor
