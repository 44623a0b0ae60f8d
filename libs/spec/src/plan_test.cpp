#include "sluice/spec/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace sluice::spec {
namespace {

using std::chrono::minutes;

std::string HostName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "host-%04d", i);
  return buf;
}

// n hosts, zone z<i % zones>, handed over in a scrambled (but fixed) order.
std::vector<Host> MakeHosts(int n, int zones = 1, const std::string& group = "web") {
  std::vector<Host> hosts;
  for (int i = 0; i < n; ++i) {
    Host h;
    h.name = HostName(i);
    h.address = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    h.agent_endpoint = "http://" + h.address + ":7070";
    h.labels["zone"] = "z" + std::to_string(i % zones);
    h.group = group;
    hosts.push_back(h);
  }
  for (int i = 0; i < n; ++i) std::swap(hosts[i], hosts[(i * 7919 + 13) % n]);
  return hosts;
}

std::vector<CanaryStep> Weights(std::initializer_list<int> weights) {
  std::vector<CanaryStep> steps;
  for (int w : weights) steps.emplace_back(WeightStep{w, false});
  return steps;
}

Environment CanaryEnv(std::vector<CanaryStep> steps) {
  Environment env;
  env.name = "production";
  env.strategy.type = StrategyType::kCanary;
  env.strategy.steps = std::move(steps);
  return env;
}

std::vector<std::size_t> Sizes(const std::vector<Batch>& batches) {
  std::vector<std::size_t> out;
  for (const auto& b : batches) out.push_back(b.hosts.size());
  return out;
}

// Every host exactly once, no empty batch, indexes 0..n-1, cumulative counts consistent.
void ExpectPartition(const std::vector<Batch>& batches, const std::vector<Host>& hosts) {
  std::multiset<std::string> planned;
  std::size_t cumulative = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const auto& b = batches[i];
    EXPECT_EQ(b.index, i);
    EXPECT_FALSE(b.hosts.empty()) << "batch " << i;
    cumulative += b.hosts.size();
    EXPECT_EQ(b.cumulative_hosts, cumulative) << "batch " << i;
    EXPECT_GE(b.max_parallel, 1u);
    EXPECT_LE(b.max_parallel, b.hosts.size());
    for (const auto& h : b.hosts) planned.insert(h.name);
  }
  std::multiset<std::string> expected;
  for (const auto& h : hosts) expected.insert(h.name);
  EXPECT_EQ(planned, expected);
  EXPECT_EQ(batches.empty(), hosts.empty());
}

TEST(PlanRolloutTest, CanaryDemoOverSixHosts) {
  std::vector<CanaryStep> steps = {WeightStep{5, false}, PauseStep{minutes(2)},
                                   WeightStep{25, true}, ApprovalStep{}, WeightStep{100, false}};
  auto env = CanaryEnv(steps);
  const auto hosts = MakeHosts(6);
  const auto batches = PlanRollout(env, hosts);
  ExpectPartition(batches, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{1, 1, 4}));  // ceil(.3)=1, ceil(1.5)=2, 6
  EXPECT_EQ(batches[0].weight_percent, 5);
  EXPECT_EQ(batches[1].weight_percent, 25);
  EXPECT_EQ(batches[2].weight_percent, 100);
  EXPECT_TRUE(batches[0].gates_before.empty());
  EXPECT_EQ(batches[1].gates_before, (std::vector<Gate>{{Gate::Kind::kPause, minutes(2)}}));
  EXPECT_EQ(batches[2].gates_before, (std::vector<Gate>{{Gate::Kind::kApproval, std::nullopt}}));
  EXPECT_EQ(batches[0].analysis_template, "");
  EXPECT_EQ(batches[1].analysis_template, "default");
  EXPECT_EQ(batches[2].analysis_template, "");
  // Sorted by name.
  EXPECT_EQ(batches[0].hosts[0].name, "host-0000");
  EXPECT_EQ(batches[1].hosts[0].name, "host-0001");
  EXPECT_EQ(batches[2].hosts.back().name, "host-0005");
}

TEST(PlanRolloutTest, OneHost) {
  std::vector<CanaryStep> steps = {WeightStep{5, false}, PauseStep{minutes(2)},
                                   WeightStep{25, true}, ApprovalStep{}, WeightStep{100, false}};
  const auto hosts = MakeHosts(1);
  const auto batches = PlanRollout(CanaryEnv(steps), hosts);
  ExpectPartition(batches, hosts);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].weight_percent, 5);
  EXPECT_TRUE(batches[0].gates_before.empty());  // gates before no batch are dropped
  EXPECT_EQ(batches[0].analysis_template,
            "default");  // the 25% step's analysis still judges the host
}

TEST(PlanRolloutTest, TwoHostsWithFiveTwentyFiveHundred) {
  std::vector<CanaryStep> steps = {WeightStep{5, false}, PauseStep{std::nullopt},
                                   WeightStep{25, false}, ApprovalStep{}, WeightStep{100, false}};
  const auto hosts = MakeHosts(2);
  const auto batches = PlanRollout(CanaryEnv(steps), hosts);
  ExpectPartition(batches, hosts);
  // 5% -> ceil(0.1) = 1; 25% -> ceil(0.5) = 1, raised to 2 (one new host); 100%: nobody left.
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{1, 1}));
  EXPECT_EQ(batches[1].weight_percent, 25);
  EXPECT_EQ(batches[1].gates_before, (std::vector<Gate>{{Gate::Kind::kPause, std::nullopt}}));
}

TEST(PlanRolloutTest, FiftyAndTwoThousandHosts) {
  const auto env = CanaryEnv(Weights({5, 25, 100}));
  auto hosts = MakeHosts(50);
  auto batches = PlanRollout(env, hosts);
  ExpectPartition(batches, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{3, 10, 37}));  // 3, 13, 50 cumulative

  hosts = MakeHosts(2000);
  batches = PlanRollout(env, hosts);
  ExpectPartition(batches, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{100, 400, 1500}));
}

TEST(PlanRolloutTest, PropertiesOverManySizesAndSteps) {
  const std::vector<std::vector<int>> step_sets = {{100},
                                                   {1, 100},
                                                   {5, 25, 100},
                                                   {10, 20, 30, 40, 50, 60, 70, 80, 90, 100},
                                                   {1, 2, 3, 4, 5, 100},
                                                   {50, 99, 100},
                                                   {33, 66, 100}};
  for (const auto& weights : step_sets) {
    std::vector<CanaryStep> steps;
    for (int w : weights) steps.emplace_back(WeightStep{w, false});
    const auto env = CanaryEnv(steps);
    for (int n = 1; n <= 120; ++n) {
      SCOPED_TRACE("n=" + std::to_string(n) + " steps=" + std::to_string(weights.size()));
      const auto hosts = MakeHosts(n);
      const auto batches = PlanRollout(env, hosts);
      ExpectPartition(batches, hosts);
      ASSERT_LE(batches.size(), weights.size());
      ASSERT_EQ(batches.back().cumulative_hosts, static_cast<std::uint32_t>(n));
      // Each batch reaches at least its weight's share (rounded up), and never overshoots it
      // except by the one-new-host rule.
      std::uint32_t prev = 0;
      for (const auto& b : batches) {
        const auto share = (static_cast<std::uint32_t>(b.weight_percent) * n + 99) / 100;
        EXPECT_GE(b.cumulative_hosts, std::min<std::uint32_t>(share, n));
        EXPECT_EQ(b.cumulative_hosts, std::min<std::uint32_t>(std::max(share, prev + 1), n));
        EXPECT_GT(b.cumulative_hosts, prev);
        prev = b.cumulative_hosts;
      }
      // Same hosts in another order: the same plan.
      auto reversed = hosts;
      std::reverse(reversed.begin(), reversed.end());
      EXPECT_EQ(PlanRollout(env, reversed), batches);
    }
  }
}

TEST(PlanRolloutTest, FirstBatchGrowsWithItsWeight) {
  for (int n : {1, 2, 7, 50, 333}) {
    std::size_t prev = 0;
    for (int w = 1; w < 100; ++w) {
      const auto batches = PlanRollout(CanaryEnv(Weights({w, 100})), MakeHosts(n));
      EXPECT_GE(batches[0].hosts.size(), prev) << "n=" << n << " w=" << w;
      prev = batches[0].hosts.size();
    }
  }
}

// For every prefix of the order, each zone's count stays within one host of its fair share.
void ExpectEvenPrefixes(const std::vector<Host>& ordered) {
  std::map<std::string, std::size_t> totals;
  for (const auto& h : ordered) totals[h.labels.at("zone")]++;
  std::map<std::string, std::size_t> seen;
  for (std::size_t k = 1; k <= ordered.size(); ++k) {
    seen[ordered[k - 1].labels.at("zone")]++;
    for (const auto& [zone, total] : totals) {
      const double fair = static_cast<double>(k) * total / ordered.size();
      EXPECT_LE(std::abs(static_cast<double>(seen[zone]) - fair), 1.0)
          << "prefix " << k << " zone " << zone;
    }
  }
}

TEST(PlanRolloutTest, SpreadMixesZonesInEveryBatch) {
  auto env = CanaryEnv(Weights({10, 50, 100}));
  env.strategy.spread_by = "zone";
  const auto hosts = MakeHosts(30, 3);
  const auto batches = PlanRollout(env, hosts);
  ExpectPartition(batches, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{3, 12, 15}));
  for (const auto& b : batches) {
    std::map<std::string, int> per_zone;
    for (const auto& h : b.hosts) per_zone[h.labels.at("zone")]++;
    ASSERT_EQ(per_zone.size(), 3u) << "batch " << b.index;
    const auto [lo, hi] =
        std::minmax_element(per_zone.begin(), per_zone.end(),
                            [](const auto& a, const auto& c) { return a.second < c.second; });
    EXPECT_LE(hi->second - lo->second, 1) << "batch " << b.index;
  }
  // The first batch is one host of each zone, each the first by name in its zone.
  EXPECT_EQ(batches[0].hosts[0].name, "host-0000");
  EXPECT_EQ(batches[0].hosts[1].name, "host-0001");
  EXPECT_EQ(batches[0].hosts[2].name, "host-0002");
}

TEST(PlanRolloutTest, SpreadIsProportionalForUnequalZones) {
  std::vector<Host> hosts;
  int i = 0;
  for (const auto& [zone, count] :
       std::vector<std::pair<std::string, int>>{{"a", 20}, {"b", 10}, {"c", 5}, {"d", 1}}) {
    for (int k = 0; k < count; ++k) {
      Host h;
      h.name = HostName(i++);
      h.labels["zone"] = zone;
      hosts.push_back(h);
    }
  }
  const auto ordered = OrderHosts(hosts, std::string("zone"));
  ASSERT_EQ(ordered.size(), hosts.size());
  ExpectEvenPrefixes(ordered);
  ExpectEvenPrefixes(OrderHosts(MakeHosts(2000, 3), std::string("zone")));
  ExpectEvenPrefixes(OrderHosts(MakeHosts(101, 7), std::string("zone")));
}

TEST(PlanRolloutTest, HostsWithoutTheSpreadLabelFormTheirOwnBucket) {
  auto hosts = MakeHosts(4, 2);
  hosts[0].labels.clear();
  const auto ordered = OrderHosts(hosts, std::string("zone"));
  ASSERT_EQ(ordered.size(), 4u);
  std::set<std::string> names;
  for (const auto& h : ordered) names.insert(h.name);
  EXPECT_EQ(names.size(), 4u);
}

TEST(PlanRolloutTest, Rolling) {
  Environment env;
  env.strategy.type = StrategyType::kRolling;
  env.strategy.batch_size = Quantity{3, false};
  auto hosts = MakeHosts(10);
  auto batches = PlanRollout(env, hosts);
  ExpectPartition(batches, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{3, 3, 3, 1}));
  EXPECT_EQ(batches[0].weight_percent, 30);
  EXPECT_EQ(batches[2].weight_percent, 90);
  EXPECT_EQ(batches[3].weight_percent, 100);

  env.strategy.batch_size = Quantity{25, true};  // ceil(2.5) = 3
  batches = PlanRollout(env, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{3, 3, 3, 1}));

  env.strategy.batch_size = Quantity{50, false};  // larger than the fleet
  batches = PlanRollout(env, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{10}));

  env.strategy.batch_size = Quantity{1, true};
  hosts = MakeHosts(3);
  batches = PlanRollout(env, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{1, 1, 1}));
  EXPECT_EQ(batches[0].weight_percent, 33);
}

TEST(PlanRolloutTest, AllAtOnce) {
  Environment env;
  env.strategy.type = StrategyType::kAllAtOnce;
  env.strategy.max_parallel = 4;
  const auto hosts = MakeHosts(9);
  const auto batches = PlanRollout(env, hosts);
  ExpectPartition(batches, hosts);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].weight_percent, 100);
  EXPECT_EQ(batches[0].max_parallel, 4u);
}

TEST(PlanRolloutTest, BlueGreenDeploysTheIdleGroup) {
  Environment env;
  env.strategy.type = StrategyType::kBlueGreen;
  env.strategy.groups = {"blue", "green"};
  env.strategy.traffic_switch = TrafficSwitch{"https://lb.example.com/switch"};
  auto hosts = MakeHosts(4, 1, "blue");
  for (auto& h : MakeHosts(3, 1, "green")) {
    h.name = "g-" + h.name;
    hosts.push_back(h);
  }
  auto batches = PlanRollout(env, hosts);  // live unknown: blue is live, green is deployed
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].hosts.size(), 3u);
  for (const auto& h : batches[0].hosts) EXPECT_EQ(h.group, "green");
  EXPECT_EQ(batches[0].traffic_switch_url, "https://lb.example.com/switch");
  EXPECT_EQ(batches[0].weight_percent, 100);

  batches = PlanRollout(env, hosts, PlanOptions{"green"});
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].hosts.size(), 4u);
  for (const auto& h : batches[0].hosts) EXPECT_EQ(h.group, "blue");

  EXPECT_THROW(PlanRollout(env, hosts, PlanOptions{"red"}), PlanError);
  EXPECT_THROW(PlanRollout(env, MakeHosts(4, 1, "blue")), PlanError);  // green has no host
}

TEST(PlanRolloutTest, ExecutionLimits) {
  auto env = CanaryEnv(Weights({10, 100}));
  env.strategy.host_timeout = minutes(7);
  env.strategy.failure_tolerance = 2;
  auto batches = PlanRollout(env, MakeHosts(40));
  EXPECT_EQ(batches[0].max_parallel, 4u);  // unlimited: the whole batch at once
  EXPECT_EQ(batches[1].max_parallel, 36u);
  EXPECT_EQ(batches[1].host_timeout, minutes(7));
  EXPECT_EQ(batches[1].failure_tolerance, 2u);

  env.strategy.max_parallel = 5;
  batches = PlanRollout(env, MakeHosts(40));
  EXPECT_EQ(batches[0].max_parallel, 4u);
  EXPECT_EQ(batches[1].max_parallel, 5u);

  env.strategy.max_unavailable = Quantity{10, true};  // 10% of 40 = 4
  batches = PlanRollout(env, MakeHosts(40));
  EXPECT_EQ(batches[1].max_parallel, 4u);

  env.strategy.max_unavailable = Quantity{1, true};  // 0.4 hosts, at least 1
  batches = PlanRollout(env, MakeHosts(40));
  EXPECT_EQ(batches[1].max_parallel, 1u);

  env.strategy.max_unavailable = Quantity{2, false};
  batches = PlanRollout(env, MakeHosts(40));
  EXPECT_EQ(batches[1].max_parallel, 2u);
}

TEST(PlanRolloutTest, PolicyApprovalGatesTheFirstBatch) {
  auto env = CanaryEnv({PauseStep{minutes(1)}, WeightStep{50, false}, WeightStep{100, false}});
  env.policy.approval = ApprovalPolicy::kRequired;
  const auto batches = PlanRollout(env, MakeHosts(4));
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].gates_before, (std::vector<Gate>{{Gate::Kind::kApproval, std::nullopt},
                                                        {Gate::Kind::kPause, minutes(1)}}));
  EXPECT_TRUE(batches[1].gates_before.empty());
}

TEST(PlanRolloutTest, NoHostsNoBatches) {
  EXPECT_TRUE(PlanRollout(CanaryEnv(Weights({100})), {}).empty());
}

TEST(PlanRolloutTest, DuplicateHostNamesAreRefused) {
  auto hosts = MakeHosts(3);
  hosts.push_back(hosts[1]);
  EXPECT_THROW(PlanRollout(CanaryEnv(Weights({100})), hosts), PlanError);
}

// --- Kubernetes targets beside VM hosts ---------------------------------------------------

KubernetesTarget Deployment(const std::string& name) {
  KubernetesTarget t;
  t.name = name;
  t.cluster = "in-cluster";
  t.ns = "shop";
  t.workload = name;
  t.container = "app";
  return t;
}

std::vector<int> WeightsOf(const std::vector<Batch>& batches) {
  std::vector<int> out;
  for (const auto& b : batches) out.push_back(b.weight_percent);
  return out;
}

TEST(PlanKubernetesTest, SixHostsAndADeploymentAt25And50And100) {
  auto env = CanaryEnv(Weights({25, 50, 100}));
  env.kubernetes = {Deployment("web-k8s")};
  const auto hosts = MakeHosts(6);
  const auto batches = PlanRollout(env, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{2, 1, 3}));  // ceil(25% x 6) = 2, 3, 6
  EXPECT_EQ(WeightsOf(batches), (std::vector<int>{25, 50, 100}));
  ExpectPartition(batches, hosts);
  for (const auto& b : batches) {
    ASSERT_EQ(b.kubernetes.size(), 1u);  // the workload is in every batch
    EXPECT_EQ(b.kubernetes[0], env.kubernetes[0]);
  }
}

TEST(PlanKubernetesTest, AStepPastTheLastHostStillMovesTheWorkloads) {
  auto env = CanaryEnv(Weights({10, 50, 100}));
  const auto hosts = MakeHosts(1);
  // VM hosts only: one host covers the first step; the others add nobody and are dropped.
  EXPECT_EQ(WeightsOf(PlanRollout(env, hosts)), (std::vector<int>{10}));
  env.kubernetes = {Deployment("web-k8s")};
  const auto batches = PlanRollout(env, hosts);
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{1, 0, 0}));
  EXPECT_EQ(WeightsOf(batches), (std::vector<int>{10, 50, 100}));
  for (const auto& b : batches) {
    EXPECT_EQ(b.cumulative_hosts, 1u);
    EXPECT_EQ(b.max_parallel, 1u);
  }
}

TEST(PlanKubernetesTest, KubernetesTargetsOnly) {
  auto canary = CanaryEnv({WeightStep{25, false}, PauseStep{minutes(1)}, WeightStep{100, false}});
  canary.kubernetes = {Deployment("a"), Deployment("b")};
  const auto batches = PlanRollout(canary, {});
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{0, 0}));
  EXPECT_EQ(WeightsOf(batches), (std::vector<int>{25, 100}));
  ASSERT_EQ(batches[1].gates_before.size(), 1u);  // the pause still waits before 100%
  EXPECT_EQ(batches[1].kubernetes.size(), 2u);

  Environment rolling;
  rolling.strategy.type = StrategyType::kRolling;
  rolling.strategy.batch_size = Quantity{30, true};
  rolling.kubernetes = {Deployment("a")};
  EXPECT_EQ(WeightsOf(PlanRollout(rolling, {})), (std::vector<int>{30, 60, 90, 100}));
  rolling.strategy.batch_size = Quantity{2, false};
  EXPECT_EQ(WeightsOf(PlanRollout(rolling, {})), (std::vector<int>{100}));

  Environment all;
  all.strategy.type = StrategyType::kAllAtOnce;
  all.policy.approval = ApprovalPolicy::kRequired;
  all.kubernetes = {Deployment("a")};
  const auto one = PlanRollout(all, {});
  EXPECT_EQ(WeightsOf(one), (std::vector<int>{100}));
  ASSERT_EQ(one[0].gates_before.size(), 1u);
  EXPECT_EQ(one[0].gates_before[0].kind, Gate::Kind::kApproval);

  EXPECT_TRUE(PlanRollout(Environment{}, {}).empty());  // nothing at all: no batch
}

TEST(PlanKubernetesTest, RollingSharesFollowTheHosts) {
  Environment env;
  env.strategy.type = StrategyType::kRolling;
  env.strategy.batch_size = Quantity{2, false};
  env.kubernetes = {Deployment("a")};
  const auto batches = PlanRollout(env, MakeHosts(5));
  EXPECT_EQ(Sizes(batches), (std::vector<std::size_t>{2, 2, 1}));
  EXPECT_EQ(WeightsOf(batches), (std::vector<int>{40, 80, 100}));
}

}  // namespace
}  // namespace sluice::spec
