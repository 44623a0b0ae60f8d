#include "inventory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace sluice::release_intake {
namespace {

spec::InventorySource Source(const std::string& group = "web") {
  spec::InventorySource s;
  s.url = "https://user:secret@cmdb.example:8443/inventory?token=abc";
  s.group = group;
  s.agent_endpoint = "http://{address}:7070";
  return s;
}

InventoryHosts ParseOk(const std::string& text, const spec::InventorySource& source = Source(),
                       const InventoryLimits& limits = {}) {
  auto r = ParseAnsibleInventory(text, source, limits);
  if (const auto* e = std::get_if<InventoryError>(&r)) {
    ADD_FAILURE() << e->message;
    return {};
  }
  return std::get<InventoryHosts>(std::move(r));
}

InventoryError ParseErr(const std::string& text, const spec::InventorySource& source = Source(),
                        const InventoryLimits& limits = {}) {
  auto r = ParseAnsibleInventory(text, source, limits);
  if (!std::holds_alternative<InventoryError>(r)) {
    ADD_FAILURE() << "expected an error for " << text.substr(0, 200);
    return {};
  }
  return std::get<InventoryError>(r);
}

// The example of Ansible's "Developing dynamic inventory" page, with _meta.hostvars.
const std::string kInventory = R"({
  "web": {"hosts": ["w1", "w2"], "vars": {"tier": "front", "ansible_user": "deploy"},
          "children": ["web-eu"]},
  "web-eu": {"hosts": ["w3"], "vars": {"zone": "eu-1", "tier": "edge"}},
  "db": ["d1"],
  "_meta": {"hostvars": {
    "w1": {"ansible_host": "10.0.0.1", "ansible_port": 2222, "rack": "r1", "cores": 8,
           "ansible_password": "hunter2", "tags": ["a"], "sluice_note": "x"},
    "w2": {"ansible_host": "10.0.0.2", "ansible_port": "22", "zone": "us-1"},
    "w3": {"sluice_agent_endpoint": "https://w3.example:9443"}
  }}
})";

TEST(InventoryTest, TakesTheGroupAndItsChildrenWithTheirVars) {
  const auto hosts = ParseOk(kInventory).hosts;
  ASSERT_EQ(hosts.size(), 3u);
  EXPECT_EQ(hosts[0].name, "w1");
  EXPECT_EQ(hosts[0].address, "10.0.0.1");
  EXPECT_EQ(hosts[0].port, 2222);
  EXPECT_EQ(hosts[0].agent_endpoint, "http://10.0.0.1:7070");
  // Strings only; ansible_* (passwords among them) and sluice_* never become labels.
  EXPECT_EQ(hosts[0].labels,
            (std::map<std::string, std::string>{{"rack", "r1"}, {"tier", "front"}}));
  EXPECT_EQ(hosts[1].port, 22);  // a decimal string is a port too
  EXPECT_EQ(hosts[1].labels.at("zone"), "us-1");
  EXPECT_EQ(hosts[2].name, "w3");
  EXPECT_EQ(hosts[2].address, "w3");  // no ansible_host: the inventory name
  EXPECT_EQ(hosts[2].agent_endpoint, "https://w3.example:9443");
  EXPECT_EQ(hosts[2].labels.at("tier"), "edge");  // the child's vars over its parent's
  EXPECT_EQ(hosts[2].labels.at("zone"), "eu-1");

  const auto db = ParseOk(kInventory, Source("db")).hosts;  // a group as a plain list
  ASSERT_EQ(db.size(), 1u);
  EXPECT_EQ(db[0].address, "d1");
}

TEST(InventoryTest, EndpointTemplateTakesThePortAndBracketsIpv6) {
  auto s = Source("web");
  s.agent_endpoint = "https://{address}:{port}/agent";
  const auto hosts = ParseOk(
                         R"({"web": {"hosts": ["a", "b"]}, "_meta": {"hostvars": {
           "a": {"ansible_host": "fd00::1", "ansible_port": 8443},
           "b": {"ansible_host": "10.1.1.1", "ansible_port": 9000}}}})",
                         s)
                         .hosts;
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].agent_endpoint, "https://[fd00::1]:8443/agent");
  EXPECT_EQ(hosts[1].agent_endpoint, "https://10.1.1.1:9000/agent");
  const auto e = ParseErr(R"({"web": ["c"]})", s);
  EXPECT_EQ(e.problem, InventoryProblem::kBadHost);
  EXPECT_NE(e.message.find("no ansible_port"), std::string::npos) << e.message;
}

TEST(InventoryTest, ErrorsNameTheSourceWithoutItsSecrets) {
  const auto e = ParseErr(R"({"db": ["d1"]})");
  EXPECT_EQ(e.problem, InventoryProblem::kGroupMissing);
  EXPECT_EQ(e.message,
            "inventory url https://cmdb.example:8443/inventory: has no group 'web' (groups: db)");
  spec::InventorySource file;
  file.file = "/etc/sluice/inventories/hosts.json";
  file.group = "web";
  file.agent_endpoint = "http://{address}:7070";
  EXPECT_EQ(DescribeSource(file), "file /etc/sluice/inventories/hosts.json");
}

TEST(InventoryTest, RefusesWhatIsNotAnInventory) {
  struct Case {
    std::string text;
    InventoryProblem problem;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", InventoryProblem::kBadJson, "not JSON"},
      {"root:x:0:0:root:/root:/bin/bash", InventoryProblem::kBadJson, "syntax error at byte"},
      {"[1, 2]", InventoryProblem::kBadJson, "not a JSON object"},
      {R"({"web": 3})", InventoryProblem::kBadJson, "object or a list of hosts"},
      {R"({"web": {"hosts": "w1"}})", InventoryProblem::kBadJson, "hosts must be a list"},
      {R"({"web": {"hosts": [1]}})", InventoryProblem::kBadJson, "every host must be a string"},
      {R"({"web": {"vars": []}})", InventoryProblem::kBadJson, "vars must be an object"},
      {R"({"web": {"children": "db"}})", InventoryProblem::kBadJson, "children must be a list"},
      {R"({"web": {"children": [{}]}})", InventoryProblem::kBadJson, "every child"},
      {R"({"web": {"children": ["nope"]}})", InventoryProblem::kGroupMissing, "'nope'"},
      {R"({"web": ["w1"], "_meta": []})", InventoryProblem::kBadJson, "_meta must be an object"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": 5}}})", InventoryProblem::kBadJson,
       "must be an object"},
      {R"({"web": {"hosts": []}})", InventoryProblem::kEmptyGroup, "has no hosts"},
      {R"({"web": null})", InventoryProblem::kEmptyGroup, "has no hosts"},
      {R"({"web": {"children": ["e"]}, "e": []})", InventoryProblem::kEmptyGroup, "has no hosts"},
      {R"({"_meta": {"hostvars": {}}})", InventoryProblem::kGroupMissing, "(it has none)"},
      {R"({"web": ["bad host"]})", InventoryProblem::kBadHost, "not a host name"},
      {R"({"web": ["-x"]})", InventoryProblem::kBadHost, "not a host name"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": {"ansible_host": "a/b"}}}})",
       InventoryProblem::kBadHost, "ansible_host"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": {"ansible_host": 7}}}})",
       InventoryProblem::kBadHost, "ansible_host"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": {"ansible_port": 70000}}}})",
       InventoryProblem::kBadHost, "ansible_port"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": {"ansible_port": "22x"}}}})",
       InventoryProblem::kBadHost, "ansible_port"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": {"ansible_port": true}}}})",
       InventoryProblem::kBadHost, "ansible_port"},
      {R"({"web": ["w1"], "_meta": {"hostvars": {"w1": {"sluice_agent_endpoint": "file:///x"}}}})",
       InventoryProblem::kBadHost, "sluice_agent_endpoint"},
  };
  for (const auto& c : cases) {
    const auto e = ParseErr(c.text);
    EXPECT_EQ(e.problem, c.problem) << c.text << ": " << e.message;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.text << ": " << e.message;
    EXPECT_EQ(e.message.find("root:x"), std::string::npos) << "quotes the text: " << e.message;
  }
}

TEST(InventoryTest, HostileSizesAreBounded) {
  InventoryLimits limits;
  limits.max_bytes = 1000;
  limits.max_hosts = 3;
  limits.max_depth = 8;
  EXPECT_EQ(ParseErr(std::string(1001, ' '), Source(), limits).problem,
            InventoryProblem::kTooLarge);

  // Deep nesting is refused while parsing (no deep tree is built).
  const std::string deep = R"({"web": )" + std::string(50, '[') + std::string(50, ']') + "}";
  auto e = ParseErr(deep, Source(), limits);
  EXPECT_EQ(e.problem, InventoryProblem::kBadJson);
  EXPECT_NE(e.message.find("deeper than 8"), std::string::npos) << e.message;
  InventoryLimits big;
  const std::string very_deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(ParseErr(very_deep, Source(), big).problem, InventoryProblem::kBadJson);

  e = ParseErr(R"({"web": ["a", "b", "c", "d"]})", Source(), limits);
  EXPECT_EQ(e.problem, InventoryProblem::kTooManyHosts);
  EXPECT_NE(e.message.find("more than 3"), std::string::npos) << e.message;
  EXPECT_EQ(ParseOk(R"({"web": ["a", "b", "c", "a"]})", Source(), limits).hosts.size(), 3u);

  // A chain of children deeper than the limit, and a cycle (which ends where it loops).
  std::string chain = "{";
  for (int i = 0; i < 12; ++i) {
    chain += "\"g" + std::to_string(i) + "\": {\"hosts\": [\"h" + std::to_string(i) +
             "\"], \"children\": [\"g" + std::to_string(i + 1) + "\"]},";
  }
  chain += R"("g12": ["h12"]})";
  e = ParseErr(chain, Source("g0"), [] {
    InventoryLimits l;
    l.max_depth = 8;
    return l;
  }());
  EXPECT_NE(e.message.find("nests children deeper than 8"), std::string::npos) << e.message;
  const auto cycle = ParseOk(R"({"web": {"hosts": ["a"], "children": ["x"]},
                                 "x": {"hosts": ["b"], "children": ["web", "x"]}})");
  EXPECT_EQ(cycle.hosts.size(), 2u);

  // Oversized or unprintable label values are left out, not carried.
  const auto labels = ParseOk(R"({"web": ["a"], "_meta": {"hostvars": {"a": {
      "long": ")" + std::string(300, 'x') +
                              R"(", "nl": "a\nb", "ok": "y", "bad key!": "z"}}}})");
  EXPECT_EQ(labels.hosts.at(0).labels, (std::map<std::string, std::string>{{"ok", "y"}}));
}

TEST(InventoryTest, UrlsMustStartWithAnAllowedPrefix) {
  const std::vector<std::string> allowed = {"https://cmdb.example/ansible/",
                                            "http://10.0.0.5:8000/"};
  EXPECT_TRUE(InventoryUrlAllowed("https://cmdb.example/ansible/inventory?env=prod", allowed));
  EXPECT_TRUE(InventoryUrlAllowed("http://10.0.0.5:8000/inv", allowed));
  EXPECT_FALSE(InventoryUrlAllowed("https://cmdb.example/other", allowed));
  EXPECT_FALSE(InventoryUrlAllowed("https://cmdb.example.evil/ansible/", allowed));
  EXPECT_FALSE(InventoryUrlAllowed("https://cmdb.example@evil/ansible/", allowed));
  EXPECT_FALSE(InventoryUrlAllowed("http://10.0.0.5:80001/inv", allowed));
  EXPECT_FALSE(InventoryUrlAllowed("https://cmdb.example/ansible/inv", {}));
  EXPECT_FALSE(InventoryUrlAllowed("https://cmdb.example/x", {"https://cmdb.example"}));
}

spec::Environment InventoryEnv() {
  spec::Environment env;
  env.name = "production";
  spec::HostGroup listed;
  listed.name = "canary";
  listed.hosts.push_back(spec::Host{"c1", "10.9.0.1", "http://10.9.0.1:7070", {}, "canary"});
  spec::HostGroup web;
  web.name = "web";
  web.inventory = Source("web");
  env.targets = {listed, web};
  return env;
}

TEST(InventoryTest, ResolveFillsTheGroupAndReportsWhatChanged) {
  int reads = 0;
  const InventoryTextReader read = [&](const spec::InventorySource& s, const InventoryLimits&) {
    ++reads;
    EXPECT_EQ(s.group, "web");
    return std::variant<std::string, InventoryError>(R"({"web": ["w1", "w3", "w4"]})");
  };
  const PreviousInventoryHosts previous = {{"web", {"w1", "w2"}}};
  auto r = ResolveInventories(InventoryEnv(), read, {}, previous);
  ASSERT_TRUE(std::holds_alternative<spec::Environment>(r)) << std::get<1>(r).error.message;
  const auto& env = std::get<spec::Environment>(r);
  EXPECT_EQ(reads, 1);
  const auto& web = env.targets.at(1);
  ASSERT_EQ(web.hosts.size(), 3u);
  EXPECT_EQ(web.hosts[0].group, "web");
  EXPECT_EQ(web.inventory->removed_hosts, (std::vector<std::string>{"w2"}));
  EXPECT_EQ(web.inventory->added_hosts, (std::vector<std::string>{"w3", "w4"}));
  EXPECT_EQ(web.inventory->sha256.size(), 64u);
  EXPECT_EQ(env.AllHosts().size(), 4u);  // the listed group is kept as it was

  // No previous request: nothing removed or added is claimed.
  auto first = ResolveInventories(InventoryEnv(), read, {}, {});
  EXPECT_TRUE(std::get<spec::Environment>(first).targets[1].inventory->removed_hosts.empty());
  EXPECT_TRUE(std::get<spec::Environment>(first).targets[1].inventory->added_hosts.empty());
}

TEST(InventoryTest, ResolveRefusesAnUnreadableInventoryOrAClashingHost) {
  const InventoryTextReader down = [](const spec::InventorySource& s, const InventoryLimits&) {
    return std::variant<std::string, InventoryError>(
        InventoryError{InventoryProblem::kUnreachable, "inventory " + DescribeSource(s) + ": x"});
  };
  auto r = ResolveInventories(InventoryEnv(), down, {}, {});
  ASSERT_TRUE(std::holds_alternative<InventoryGroupError>(r));
  EXPECT_EQ(std::get<InventoryGroupError>(r).group, "web");
  EXPECT_EQ(std::get<InventoryGroupError>(r).error.problem, InventoryProblem::kUnreachable);

  const InventoryTextReader clash = [](const spec::InventorySource&, const InventoryLimits&) {
    return std::variant<std::string, InventoryError>(R"({"web": ["w1", "c1"]})");
  };
  r = ResolveInventories(InventoryEnv(), clash, {}, {});
  ASSERT_TRUE(std::holds_alternative<InventoryGroupError>(r));
  const auto& e = std::get<InventoryGroupError>(r).error;
  EXPECT_EQ(e.problem, InventoryProblem::kBadHost);
  EXPECT_NE(e.message.find("'c1' is also named by host group 'canary'"), std::string::npos)
      << e.message;
}

// --- Selector host groups -------------------------------------------------------------------

spec::Environment SelectorEnv(std::map<std::string, std::string> selector) {
  auto env = InventoryEnv();  // canary (listed c1), web (an inventory)
  spec::HostGroup sel;
  sel.name = "front";
  sel.inventory.emplace();
  sel.inventory->selector = std::move(selector);
  sel.inventory->agent_endpoint = "http://{address}:7070";
  env.targets.push_back(sel);
  return env;
}

std::vector<EnrolledAgent> Agents() {
  return {
      {"web-3", "10.0.1.3", {{"role", "web"}, {"zone", "zone-a"}}},
      {"web-1", "10.0.1.1", {{"role", "web"}, {"zone", "zone-a"}, {"rack", "r1"}}},
      {"web-2", "10.0.1.2", {{"role", "web"}, {"zone", "zone-b"}}},
      {"web-4", "fd00::4", {{"role", "web"}, {"zone", "zone-a"}}},
      {"web-0", "10.0.1.9", {{"role", "web"}, {"zone", "zone-a"}}, /*revoked=*/true},
      {"db-1", "10.0.2.1", {{"role", "db"}, {"zone", "zone-a"}}},
      {"bare", "10.0.3.1", {}},
  };
}

TEST(SelectorTest, MatchesEveryPairOfAnEnrolledAgent) {
  const EnrolledAgent a{"w", "10.0.0.1", {{"role", "web"}, {"zone", "zone-a"}, {"x", ""}}};
  EXPECT_TRUE(SelectorMatches({{"role", "web"}}, a));
  EXPECT_TRUE(SelectorMatches({{"role", "web"}, {"zone", "zone-a"}}, a));
  EXPECT_TRUE(SelectorMatches({{"x", ""}}, a));
  EXPECT_FALSE(SelectorMatches({{"role", "web"}, {"zone", "zone-b"}}, a));
  EXPECT_FALSE(SelectorMatches({{"role", "Web"}}, a));  // values are compared exactly
  EXPECT_FALSE(SelectorMatches({{"y", ""}}, a));        // a missing label is no empty value
  EXPECT_FALSE(SelectorMatches({}, a));                 // no pairs selects nothing
  auto revoked = a;
  revoked.revoked = true;
  EXPECT_FALSE(SelectorMatches({{"role", "web"}}, revoked));
  EXPECT_EQ(DescribeSelector({{"zone", "zone-a"}, {"role", "web"}}), "role=web,zone=zone-a");
}

TEST(SelectorTest, ResolveTakesTheMatchingAgentsSortedAndReportsWhatChanged) {
  const PreviousInventoryHosts previous = {{"front", {"web-1", "web-9"}}};
  const auto env = SelectorEnv({{"role", "web"}, {"zone", "zone-a"}});
  auto r = ResolveSelectors(env, Agents(), {}, previous);
  ASSERT_TRUE(std::holds_alternative<spec::Environment>(r)) << std::get<1>(r).error.message;
  const auto& out = std::get<spec::Environment>(r);
  const auto& front = out.targets.at(2);
  ASSERT_EQ(front.hosts.size(), 3u);
  EXPECT_EQ(front.hosts[0].name, "web-1");
  EXPECT_EQ(front.hosts[1].name, "web-3");
  EXPECT_EQ(front.hosts[2].name, "web-4");
  EXPECT_EQ(front.hosts[0].address, "10.0.1.1");
  EXPECT_EQ(front.hosts[0].agent_endpoint, "http://10.0.1.1:7070");
  EXPECT_EQ(front.hosts[2].agent_endpoint, "http://[fd00::4]:7070");
  EXPECT_EQ(front.hosts[0].group, "front");
  EXPECT_EQ(front.hosts[0].labels.at("rack"), "r1");
  EXPECT_EQ(front.inventory->removed_hosts, (std::vector<std::string>{"web-9"}));
  EXPECT_EQ(front.inventory->added_hosts, (std::vector<std::string>{"web-3", "web-4"}));
  EXPECT_EQ(front.inventory->sha256.size(), 64u);
  EXPECT_TRUE(out.targets.at(1).hosts.empty());  // the inventory group is not touched
  EXPECT_EQ(DescribeSource(*front.inventory), "selector role=web,zone=zone-a");

  // Deterministic: the agents' order does not matter, and the same agents give the same sha256.
  auto reversed = Agents();
  std::reverse(reversed.begin(), reversed.end());
  const auto again = std::get<spec::Environment>(ResolveSelectors(env, reversed, {}, previous));
  EXPECT_EQ(again, out);
  // A label changed on one agent changes the sha256.
  auto relabelled = Agents();
  relabelled[0].labels["rack"] = "r7";
  const auto changed = std::get<spec::Environment>(ResolveSelectors(env, relabelled, {}, {}));
  EXPECT_NE(changed.targets.at(2).inventory->sha256, front.inventory->sha256);

  const auto shown = InventoriesJson(out);
  ASSERT_EQ(shown.size(), 2u);  // the inventory group (unread here) and the selector group
  const auto& j = shown.at(1);
  EXPECT_EQ(j.at("group"), "front");
  EXPECT_EQ(j.at("source"), "selector role=web,zone=zone-a");
  EXPECT_EQ(j.at("selector"), (nlohmann::json{{"role", "web"}, {"zone", "zone-a"}}));
  EXPECT_FALSE(j.contains("inventory_group"));
  EXPECT_EQ(j.at("hosts").size(), 3u);
  EXPECT_EQ(j.at("removed_hosts"), nlohmann::json::array({"web-9"}));
  EXPECT_TRUE(shown.at(0).contains("inventory_group"));
}

TEST(SelectorTest, ResolveRefusesNoMatchTooManyOrAClashingName) {
  auto r = ResolveSelectors(SelectorEnv({{"role", "cache"}}), Agents(), {}, {});
  ASSERT_TRUE(std::holds_alternative<InventoryGroupError>(r));
  EXPECT_EQ(std::get<InventoryGroupError>(r).group, "front");
  EXPECT_EQ(std::get<InventoryGroupError>(r).error.problem, InventoryProblem::kEmptyGroup);
  EXPECT_NE(std::get<InventoryGroupError>(r).error.message.find(
                "selector role=cache matches no enrolled agent"),
            std::string::npos)
      << std::get<InventoryGroupError>(r).error.message;

  // Only a revoked agent matches: refused too.
  r = ResolveSelectors(
      SelectorEnv({{"zone", "zone-a"}, {"role", "web"}, {"rack", "r0"}}),
      {{"web-0", "10.0.1.9", {{"role", "web"}, {"zone", "zone-a"}, {"rack", "r0"}}, true}}, {}, {});
  ASSERT_TRUE(std::holds_alternative<InventoryGroupError>(r));
  EXPECT_EQ(std::get<InventoryGroupError>(r).error.problem, InventoryProblem::kEmptyGroup);

  InventoryLimits two;
  two.max_hosts = 2;
  r = ResolveSelectors(SelectorEnv({{"role", "web"}}), Agents(), two, {});
  ASSERT_TRUE(std::holds_alternative<InventoryGroupError>(r));
  EXPECT_EQ(std::get<InventoryGroupError>(r).error.problem, InventoryProblem::kTooManyHosts);

  auto agents = Agents();
  agents.push_back({"c1", "10.0.9.9", {{"role", "web"}}});  // c1 is listed in group canary
  r = ResolveSelectors(SelectorEnv({{"role", "web"}}), agents, {}, {});
  ASSERT_TRUE(std::holds_alternative<InventoryGroupError>(r));
  const auto& e = std::get<InventoryGroupError>(r).error;
  EXPECT_EQ(e.problem, InventoryProblem::kBadHost);
  EXPECT_NE(e.message.find("'c1' is also named by host group 'canary'"), std::string::npos)
      << e.message;
}

TEST(SelectorTest, ResolveInventoriesDoesNotReadASelectorGroup) {
  int reads = 0;
  const InventoryTextReader read = [&](const spec::InventorySource& s, const InventoryLimits&) {
    ++reads;
    EXPECT_TRUE(s.selector.empty());
    return std::variant<std::string, InventoryError>(R"({"web": ["w1"]})");
  };
  const auto env = SelectorEnv({{"role", "web"}});
  auto r = ResolveInventories(env, read, {}, {});
  ASSERT_TRUE(std::holds_alternative<spec::Environment>(r)) << std::get<1>(r).error.message;
  EXPECT_EQ(reads, 1);
  EXPECT_TRUE(std::get<spec::Environment>(r).targets.at(2).hosts.empty());
  EXPECT_TRUE(HasSelector(env));
  EXPECT_FALSE(HasSelector(InventoryEnv()));
}

}  // namespace
}  // namespace sluice::release_intake
