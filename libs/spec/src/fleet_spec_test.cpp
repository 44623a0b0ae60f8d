// Issue 19's spec parts: `failureTolerance` as a percentage (Ansible's max_fail_percentage) and
// host groups read from an inventory (`inventory:`), through parsing, planning and the wire.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "sluice/spec/convert.hpp"
#include "sluice/spec/delivery_spec.hpp"
#include "sluice/spec/plan.hpp"

namespace sluice::spec {
namespace {

std::variant<DeliverySpec, SpecError> Parse(const std::string& yaml) {
  return ParseDeliverySpec(yaml, "spec.yaml");
}

DeliverySpec ParseOk(const std::string& yaml) {
  auto r = Parse(yaml);
  if (const auto* e = std::get_if<SpecError>(&r)) {
    ADD_FAILURE() << e->ToString() << "\n" << yaml;
    return {};
  }
  return std::get<DeliverySpec>(std::move(r));
}

SpecError ParseErr(const std::string& yaml) {
  auto r = Parse(yaml);
  if (!std::holds_alternative<SpecError>(r)) {
    ADD_FAILURE() << "expected an error for:\n" << yaml;
    return {};
  }
  return std::get<SpecError>(r);
}

std::string Spec(const std::string& targets, const std::string& strategy_extra = "",
                 const std::string& policy = "") {
  return "app: shop\n"
         "environments:\n"
         "  production:\n"
         "    targets:\n" +
         targets +
         "    strategy:\n"
         "      type: rolling\n"
         "      batchSize: 4\n" +
         strategy_extra + policy;
}

const std::string kHosts =
    "      web:\n"
    "        hosts:\n"
    "          - {name: a1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}\n";

const std::string kInventory =
    "      web:\n"
    "        inventory:\n"
    "          url: 'https://cmdb.example/inventory'\n"
    "          group: web\n"
    "          tokenFile: /run/secrets/cmdb-token\n"
    "          agentEndpoint: 'http://{address}:7070'\n";

TEST(FailureToleranceTest, AcceptsACountOrAPercentage) {
  auto count = ParseOk(Spec(kHosts, "      failureTolerance: 2\n"));
  EXPECT_EQ(count.environments.at(0).strategy.failure_tolerance, 2);
  EXPECT_EQ(count.environments.at(0).strategy.failure_tolerance_percent, std::nullopt);

  auto pct = ParseOk(Spec(kHosts, "      failureTolerance: 20%\n"));
  EXPECT_EQ(pct.environments.at(0).strategy.failure_tolerance, 0);
  EXPECT_EQ(pct.environments.at(0).strategy.failure_tolerance_percent, 20);

  auto zero = ParseOk(Spec(kHosts, "      failureTolerance: 0%\n"));
  EXPECT_EQ(zero.environments.at(0).strategy.failure_tolerance_percent, 0);
  auto all = ParseOk(Spec(kHosts, "      failureTolerance: 100%\n"));
  EXPECT_EQ(all.environments.at(0).strategy.failure_tolerance_percent, 100);
}

TEST(FailureToleranceTest, RefusesAPercentageOutOfRangeOrMalformed) {
  for (const char* bad : {"101%", "-5%", "%", "20.5%", "1000%", "20 %", "x%"}) {
    const auto e = ParseErr(Spec(kHosts, std::string("      failureTolerance: '") + bad + "'\n"));
    EXPECT_EQ(e.path, "environments.production.strategy.failureTolerance") << bad;
    EXPECT_NE(e.message.find("0% to 100%"), std::string::npos) << bad << ": " << e.message;
  }
}

TEST(FailureToleranceTest, APercentageIsOfTheBatchRoundedDownLikeAnsible) {
  Strategy s;
  s.failure_tolerance_percent = 50;
  EXPECT_EQ(FailureToleranceOf(s, 4), 2u);  // 2 of 4 is 50%, not over it: tolerated
  s.failure_tolerance_percent = 49;
  EXPECT_EQ(FailureToleranceOf(s, 4), 1u);  // Ansible's own example: 49% stops at 2 of 4
  s.failure_tolerance_percent = 20;
  EXPECT_EQ(FailureToleranceOf(s, 1), 0u);
  EXPECT_EQ(FailureToleranceOf(s, 9), 1u);
  EXPECT_EQ(FailureToleranceOf(s, 10), 2u);
  s.failure_tolerance_percent = 100;
  EXPECT_EQ(FailureToleranceOf(s, 7), 7u);
  s.failure_tolerance_percent = 0;
  EXPECT_EQ(FailureToleranceOf(s, 1000), 0u);
  Strategy count;
  count.failure_tolerance = 3;
  EXPECT_EQ(FailureToleranceOf(count, 1), 3u);  // a count is the same for every batch
}

TEST(FailureToleranceTest, PlanResolvesThePercentagePerBatch) {
  Environment env;
  env.name = "production";
  env.strategy.type = StrategyType::kCanary;
  env.strategy.steps = {WeightStep{10}, WeightStep{50}, WeightStep{100}};
  env.strategy.failure_tolerance_percent = 25;
  std::vector<Host> hosts;
  for (int i = 0; i < 20; ++i) {
    hosts.push_back(Host{"h" + std::to_string(100 + i),
                         "10.0.0." + std::to_string(i),
                         "http://10.0.0.1:7070",
                         {},
                         "web"});
  }
  const auto batches = PlanRollout(env, hosts);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].hosts.size(), 2u);
  EXPECT_EQ(batches[0].failure_tolerance, 0u);  // 25% of 2 = 0.5 -> 0
  EXPECT_EQ(batches[1].hosts.size(), 8u);
  EXPECT_EQ(batches[1].failure_tolerance, 2u);  // 25% of 8
  EXPECT_EQ(batches[2].hosts.size(), 10u);
  EXPECT_EQ(batches[2].failure_tolerance, 2u);  // 25% of 10 = 2.5 -> 2

  // Kubernetes targets are in every batch and count among its targets.
  KubernetesTarget api;
  api.name = "api";
  KubernetesTarget worker;
  worker.name = "worker";
  env.kubernetes = {api, worker};
  const auto mixed = PlanRollout(env, hosts);
  EXPECT_EQ(mixed[0].failure_tolerance, 1u);  // 25% of 2 hosts + 2 workloads
}

TEST(FailureToleranceTest, ThePercentageRoundTripsAndACountStaysACount) {
  const auto pct = ParseOk(Spec(kHosts, "      failureTolerance: 30%\n"));
  const auto back = FromProto(events::v1::DeliverySpec(ToProto(pct)));
  EXPECT_EQ(back, pct);
  const auto count = ParseOk(Spec(kHosts, "      failureTolerance: 0\n"));
  const auto proto = ToProto(count);
  EXPECT_FALSE(proto.environments(0).strategy().has_failure_tolerance_percent());
  EXPECT_EQ(FromProto(proto), count);
}

TEST(InventorySpecTest, AGroupMayNameAnInventoryInsteadOfHosts) {
  const auto spec = ParseOk(Spec(kInventory + kHosts.substr(0, 0) +
                                 "      db:\n"
                                 "        inventory: {file: /etc/sluice/hosts.json, group: db, "
                                 "agentEndpoint: 'https://{address}:{port}'}\n"));
  const auto& env = spec.environments.at(0);
  ASSERT_EQ(env.targets.size(), 2u);
  EXPECT_TRUE(HasInventory(env));
  ASSERT_TRUE(env.targets[0].inventory.has_value());
  EXPECT_TRUE(env.targets[0].hosts.empty());
  EXPECT_EQ(env.targets[0].inventory->url, "https://cmdb.example/inventory");
  EXPECT_EQ(env.targets[0].inventory->token_file, "/run/secrets/cmdb-token");
  EXPECT_EQ(env.targets[0].inventory->group, "web");
  EXPECT_EQ(env.targets[1].inventory->file, "/etc/sluice/hosts.json");
  EXPECT_EQ(env.targets[1].inventory->agent_endpoint, "https://{address}:{port}");

  // Resolved hosts and what changed travel with the group.
  auto resolved = spec;
  auto& g = resolved.environments[0].targets[0];
  g.hosts.push_back(Host{"w1", "10.1.0.1", "http://10.1.0.1:7070", {{"rack", "r1"}}, "web", 2222});
  g.inventory->sha256 = std::string(64, 'a');
  g.inventory->removed_hosts = {"w0"};
  g.inventory->added_hosts = {"w1"};
  EXPECT_EQ(FromProto(events::v1::DeliverySpec(ToProto(resolved))), resolved);
  EXPECT_FALSE(HasInventory(ParseOk(Spec(kHosts)).environments.at(0)));
}

TEST(InventorySpecTest, RefusesAnInventoryThatCannotBeRead) {
  struct Case {
    std::string inventory;
    std::string path;
    std::string message;
  };
  const std::string p = "environments.production.targets.web.inventory";
  const std::vector<Case> cases = {
      {"{group: web, agentEndpoint: 'http://{address}:7070'}", p, "exactly one of file"},
      {"{file: /a.json, url: 'http://x/', group: web, agentEndpoint: 'http://{address}:7070'}", p,
       "exactly one of file"},
      {"{file: relative.json, group: web, agentEndpoint: 'http://{address}:7070'}", p + ".file",
       "absolute path"},
      {"{url: 'ftp://x/inv', group: web, agentEndpoint: 'http://{address}:7070'}", p + ".url",
       "http:// or https://"},
      {"{file: /a.json, agentEndpoint: 'http://{address}:7070'}", p + ".group", "required"},
      {"{file: /a.json, group: 'a b', agentEndpoint: 'http://{address}:7070'}", p + ".group",
       "must name a group"},
      {"{file: /a.json, group: web}", p + ".agentEndpoint", "required"},
      {"{file: /a.json, group: web, agentEndpoint: 'tcp://{address}'}", p + ".agentEndpoint",
       "http://"},
      {"{file: /a.json, group: web, tokenFile: /t, agentEndpoint: 'http://{address}:1'}",
       p + ".tokenFile", "only an inventory url"},
      {"{file: /a.json, group: web, agentEndpoint: 'http://{address}:1', headers: {}}",
       p + ".headers", "unknown key"},
  };
  for (const auto& c : cases) {
    const auto e = ParseErr(Spec("      web:\n        inventory: " + c.inventory + "\n"));
    EXPECT_EQ(e.path, c.path) << c.inventory << ": " << e.ToString();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.inventory << ": " << e.message;
  }
  const auto both = ParseErr(Spec(
      "      web:\n"
      "        inventory: {file: /a.json, group: web, agentEndpoint: 'http://{address}:1'}\n"
      "        hosts: [{name: a1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}]\n"));
  EXPECT_NE(both.message.find("not both"), std::string::npos) << both.ToString();
}

TEST(InventorySpecTest, AnInventoryEnvironmentCannotAutoDeploy) {
  const auto e = ParseErr(Spec(kInventory, "", "    policy: {autoDeploy: true}\n"));
  EXPECT_EQ(e.path, "environments.production.policy.autoDeploy");
  EXPECT_NE(e.message.find("cannot auto-deploy"), std::string::npos) << e.message;
  ParseOk(Spec(kHosts, "", "    policy: {autoDeploy: true}\n"));
}

TEST(SelectorSpecTest, AGroupMaySelectEnrolledAgentsByLabels) {
  const auto spec = ParseOk(Spec(
      "      web:\n"
      "        selector: {zone: zone-a, role: web}\n"
      "        agentEndpoint: 'http://{address}:7070'\n"
      "      db:\n"
      "        hosts: [{name: d1, address: 10.0.0.9, agentEndpoint: 'http://10.0.0.9:7070'}]\n"));
  const auto& env = spec.environments.at(0);
  ASSERT_EQ(env.targets.size(), 2u);
  EXPECT_TRUE(HasInventory(env));
  const auto& web = env.targets[0];
  ASSERT_TRUE(web.inventory.has_value());
  EXPECT_TRUE(web.hosts.empty());
  EXPECT_EQ(web.inventory->selector,
            (std::map<std::string, std::string>{{"role", "web"}, {"zone", "zone-a"}}));
  EXPECT_TRUE(web.inventory->file.empty());
  EXPECT_TRUE(web.inventory->url.empty());
  EXPECT_EQ(web.inventory->agent_endpoint, "http://{address}:7070");

  // The selector and the agents it matched travel in the proto.
  auto resolved = spec;
  auto& g = resolved.environments[0].targets[0];
  g.hosts.push_back(Host{"w1", "10.1.0.1", "http://10.1.0.1:7070", {{"role", "web"}}, "web"});
  g.inventory->sha256 = std::string(64, 'b');
  g.inventory->added_hosts = {"w1"};
  EXPECT_EQ(FromProto(events::v1::DeliverySpec(ToProto(resolved))), resolved);
}

TEST(SelectorSpecTest, RefusesABadSelectorWithItsLine) {
  struct Case {
    std::string group;
    std::string path;
    std::string message;
  };
  const std::string g = "environments.production.targets.web";
  const std::string ae = "        agentEndpoint: 'http://{address}:7070'\n";
  const std::vector<Case> cases = {
      {"        selector: {}\n" + ae, g + ".selector", "at least one agent label"},
      {"        selector: [role, web]\n" + ae, g + ".selector", "at least one agent label"},
      {"        selector: web\n" + ae, g + ".selector", "at least one agent label"},
      {"        selector: {Role: web}\n" + ae, g + ".selector.Role", "label key"},
      {"        selector: {'-role': web}\n" + ae, g + ".selector.-role", "label key"},
      {"        selector: {role: 'web;rm'}\n" + ae, g + ".selector.role", "label value"},
      {"        selector: {role: 'a b'}\n" + ae, g + ".selector.role", "label value"},
      {"        selector: {role: [web]}\n" + ae, g + ".selector.role", "label value"},
      {"        selector: {role: web}\n", g + ".agentEndpoint", "required"},
      {"        selector: {role: web}\n        agentEndpoint: 'tcp://{address}'\n",
       g + ".agentEndpoint", "http://"},
      {"        selector: {role: web}\n        agentEndpoint: 'http://{address}:{port}'\n",
       g + ".agentEndpoint", "no port"},
      {"        selector: {role: web}\n" + ae +
           "        hosts: [{name: a1, address: 10.0.0.1, agentEndpoint: 'http://a:1'}]\n",
       g + ".hosts", "one of the three"},
      {"        selector: {role: web}\n" + ae +
           "        inventory: {file: /a.json, group: web, agentEndpoint: 'http://{address}:1'}\n",
       g + ".inventory", "one of the three"},
      {"        hosts: [{name: a1, address: 10.0.0.1, agentEndpoint: 'http://a:1'}]\n" + ae,
       g + ".agentEndpoint", "goes with selector"},
  };
  for (const auto& c : cases) {
    const auto e = ParseErr(Spec("      web:\n" + c.group));
    EXPECT_EQ(e.path, c.path) << c.group << ": " << e.ToString();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.group << ": " << e.message;
    EXPECT_GE(e.line, 5) << c.group << ": " << e.ToString();  // the line of the group or below
  }
  std::string many = "        selector: {";
  for (int i = 0; i < 33; ++i) many += (i ? ", l" : "l") + std::to_string(i) + ": v";
  const auto e = ParseErr(Spec("      web:\n" + many + "}\n" + ae));
  EXPECT_NE(e.message.find("more than 32"), std::string::npos) << e.ToString();
  // A selector environment cannot auto-deploy either: the planner reads no agents.
  const auto auto_deploy = ParseErr(Spec("      web:\n        selector: {role: web}\n" + ae, "",
                                         "    policy: {autoDeploy: true}\n"));
  EXPECT_NE(auto_deploy.message.find("cannot auto-deploy"), std::string::npos);
}

}  // namespace
}  // namespace sluice::spec
