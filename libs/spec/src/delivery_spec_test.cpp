#include "sluice/spec/delivery_spec.hpp"

#include <gtest/gtest.h>

#include <string>

extern const char* const kDemoAppSpec;

namespace sluice::spec {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

DeliverySpec ParseOk(const std::string& yaml) {
  auto r = ParseDeliverySpec(yaml, "spec.yaml");
  if (const auto* e = std::get_if<SpecError>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->ToString() << "\n" << yaml;
    return {};
  }
  return std::get<DeliverySpec>(std::move(r));
}

SpecError ParseErr(const std::string& yaml) {
  auto r = ParseDeliverySpec(yaml, "spec.yaml");
  if (!std::holds_alternative<SpecError>(r)) {
    ADD_FAILURE() << "expected an error for:\n" << yaml;
    return {};
  }
  return std::get<SpecError>(r);
}

// An `analysis:` section defining the template `default`, placed after everything else so
// the line numbers of the blocks before it stay put.
const std::string kDefaultAnalysis =
    "    analysis:\n"
    "      templates:\n"
    "        default:\n"
    "          metrics: {error_rate: {query: 'sum(rate(errors[1m]))'}}\n"
    "          rules: [{name: errors, failWhen: 'error_rate > 5%'}]\n";

// A one-environment spec whose strategy block (indented by 6) is `strategy`.
std::string WithStrategy(const std::string& strategy, const std::string& policy = "",
                         const std::string& analysis = kDefaultAnalysis) {
  return "app: shop\n"
         "environments:\n"
         "  production:\n"
         "    targets:\n"
         "      web:\n"
         "        hosts:\n"
         "          - {name: a1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070', "
         "labels: {zone: a}}\n"
         "          - {name: b1, address: 10.0.0.2, agentEndpoint: 'http://10.0.0.2:7070', "
         "labels: {zone: b}}\n"
         "      green:\n"
         "        hosts:\n"
         "          - {name: g1, address: 10.0.1.1, agentEndpoint: 'http://10.0.1.1:7070', "
         "labels: {zone: a}}\n"
         "    strategy:\n" +
         strategy + policy + analysis;
}

const std::string kCanary =
    "      type: canary\n"
    "      steps:\n"
    "        - weight: 5%\n"
    "        - pause: 2m\n"
    "        - weight: 25%\n"
    "          analysis: default\n"
    "        - approval: required\n"
    "        - weight: 100%\n";

TEST(DeliverySpecTest, ParsesTheDemoSpec) {
  const auto spec = ParseOk(kDemoAppSpec);
  EXPECT_EQ(spec.app, "demo-app");
  ASSERT_EQ(spec.environments.size(), 2u);
  EXPECT_EQ(spec.environments[0].name, "staging");  // file order is kept
  EXPECT_EQ(spec.environments[1].name, "production");

  const auto* staging = spec.FindEnvironment("staging");
  ASSERT_NE(staging, nullptr);
  EXPECT_EQ(staging->strategy.type, StrategyType::kAllAtOnce);
  EXPECT_EQ(staging->strategy.host_timeout, minutes(2));
  EXPECT_TRUE(staging->policy.auto_deploy);
  EXPECT_EQ(staging->AllHosts().size(), 2u);

  const auto* prod = spec.FindEnvironment("production");
  ASSERT_NE(prod, nullptr);
  const auto& s = prod->strategy;
  EXPECT_EQ(s.type, StrategyType::kCanary);
  ASSERT_EQ(s.steps.size(), 5u);
  EXPECT_EQ(std::get<WeightStep>(s.steps[0]).percent, 5);
  EXPECT_FALSE(std::get<WeightStep>(s.steps[0]).analysis);
  EXPECT_EQ(std::get<PauseStep>(s.steps[1]).duration, minutes(2));
  EXPECT_EQ(std::get<WeightStep>(s.steps[2]).percent, 25);
  EXPECT_TRUE(std::get<WeightStep>(s.steps[2]).analysis);
  EXPECT_TRUE(std::holds_alternative<ApprovalStep>(s.steps[3]));
  EXPECT_EQ(std::get<WeightStep>(s.steps[4]).percent, 100);
  EXPECT_EQ(s.max_parallel, 2);
  EXPECT_EQ(s.max_unavailable, (Quantity{50, true}));
  EXPECT_EQ(s.host_timeout, minutes(5));
  EXPECT_EQ(s.failure_tolerance, 0);
  EXPECT_EQ(s.spread_by, "zone");
  EXPECT_FALSE(prod->policy.auto_deploy);
  EXPECT_EQ(prod->policy.approval, ApprovalPolicy::kNone);

  const auto hosts = prod->AllHosts();
  ASSERT_EQ(hosts.size(), 6u);
  EXPECT_EQ(hosts[0].name, "web-1");
  EXPECT_EQ(hosts[0].address, "10.20.0.11");
  EXPECT_EQ(hosts[0].agent_endpoint, "https://10.20.0.11:7070");
  EXPECT_EQ(hosts[0].labels.at("zone"), "zone-a");
  EXPECT_EQ(hosts[0].group, "web");

  // The production analysis: the seed rule over the demo app's metrics, a bake watch, and a
  // judge template no step uses yet.
  EXPECT_EQ(std::get<WeightStep>(s.steps[2]).analysis_template, "default");
  EXPECT_EQ(std::get<WeightStep>(s.steps[0]).analysis_template, "");
  ASSERT_TRUE(prod->analysis.has_value());
  const auto* t = prod->analysis->FindTemplate("default");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->rules.size(), 1u);
  EXPECT_EQ(t->rules[0].fail_when, "error_rate > 5% OR p95_latency > 500ms");
  EXPECT_EQ(t->rules[0].min_requests_metric, "requests");
  EXPECT_NE(t->FindMetric("error_rate")->query.find("demo_http_requests_total"), std::string::npos);
  EXPECT_NE(t->FindMetric("p95_latency")->query.find("demo_http_request_duration_seconds_bucket"),
            std::string::npos);
  ASSERT_TRUE(prod->analysis->bake_watch.has_value());
  EXPECT_EQ(prod->analysis->bake_watch->template_name, "default");
  EXPECT_EQ(prod->analysis->bake_watch->duration, minutes(5));
  const auto* judge = prod->analysis->FindTemplate("canary-judge");
  ASSERT_NE(judge, nullptr);
  ASSERT_TRUE(judge->judge.has_value());
  EXPECT_EQ(judge->judge->metrics.size(), 2u);
  EXPECT_EQ(prod->on_canary_failure, analysis::OnCanaryFailure::kRevertBatch);
  EXPECT_FALSE(staging->analysis.has_value());
  EXPECT_EQ(spec.FindEnvironment("dev"), nullptr);
}

TEST(DeliverySpecTest, ParsesEveryStepForm) {
  const auto spec =
      ParseOk(WithStrategy("      type: canary\n"
                           "      steps:\n"
                           "        - {weight: 10%, analysis: none}\n"
                           "        - {pause: {}}\n"
                           "        - {pause: 1h30m}\n"
                           "        - {weight: 100%}\n"
                           "      failureTolerance: 3\n"
                           "      maxUnavailable: 4\n",
                           "    policy: {approval: required, autoDeploy: false}\n"));
  const auto& s = spec.environments.at(0).strategy;
  ASSERT_EQ(s.steps.size(), 4u);
  EXPECT_FALSE(std::get<WeightStep>(s.steps[0]).analysis);
  EXPECT_EQ(std::get<PauseStep>(s.steps[1]).duration, std::nullopt);
  EXPECT_EQ(std::get<PauseStep>(s.steps[2]).duration, minutes(90));
  EXPECT_EQ(s.failure_tolerance, 3);
  EXPECT_EQ(s.max_unavailable, (Quantity{4, false}));
  EXPECT_EQ(s.max_parallel, std::nullopt);
  EXPECT_EQ(s.host_timeout, minutes(5));  // the default
  EXPECT_EQ(spec.environments[0].policy.approval, ApprovalPolicy::kRequired);
}

TEST(DeliverySpecTest, ParsesRollingAllAtOnceAndBlueGreen) {
  auto rolling = ParseOk(WithStrategy("      type: rolling\n      batchSize: 20%\n"));
  EXPECT_EQ(rolling.environments[0].strategy.type, StrategyType::kRolling);
  EXPECT_EQ(rolling.environments[0].strategy.batch_size, (Quantity{20, true}));
  rolling =
      ParseOk(WithStrategy("      type: rolling\n      batchSize: 2\n      spreadBy: zone\n"));
  EXPECT_EQ(rolling.environments[0].strategy.batch_size, (Quantity{2, false}));

  const auto all = ParseOk(WithStrategy("      type: all-at-once\n      maxParallel: 10\n"));
  EXPECT_EQ(all.environments[0].strategy.type, StrategyType::kAllAtOnce);
  EXPECT_EQ(all.environments[0].strategy.max_parallel, 10);

  const auto bg =
      ParseOk(WithStrategy("      type: blue-green\n"
                           "      groups: [web, green]\n"
                           "      trafficSwitch: {url: 'https://lb.example.com/switch'}\n"));
  const auto& s = bg.environments[0].strategy;
  EXPECT_EQ(s.type, StrategyType::kBlueGreen);
  EXPECT_EQ(s.groups, (std::vector<std::string>{"web", "green"}));
  ASSERT_TRUE(s.traffic_switch.has_value());
  EXPECT_EQ(s.traffic_switch->url, "https://lb.example.com/switch");
}

TEST(DeliverySpecTest, ErrorNamesFileLineColumnAndPath) {
  const std::string yaml =
      "app: shop\n"                                                  // 1
      "environments:\n"                                              // 2
      "  production:\n"                                              // 3
      "    targets:\n"                                               // 4
      "      web:\n"                                                 // 5
      "        hosts:\n"                                             // 6
      "          - name: a1\n"                                       // 7
      "            address: 10.0.0.1\n"                              // 8
      "            agentEndpoint: http://10.0.0.1:7070\n"            // 9
      "    strategy:\n"                                              // 10
      "      type: canary\n"                                         // 11
      "      steps: [{weight: 5%}, {pause: 1m}, {weight: 150%}]\n";  // 12
  const auto e = ParseErr(yaml);
  EXPECT_EQ(e.ToString(),
            "spec.yaml:12:51: environments.production.strategy.steps[2].weight: "
            "must be 1%..100%, got 150%");
  EXPECT_EQ(e.line, 12);
  EXPECT_EQ(e.path, "environments.production.strategy.steps[2].weight");

  const auto block = ParseErr(
      "app: shop\n"
      "environments:\n"
      "  production:\n"
      "    targets:\n"
      "      web:\n"
      "        hosts:\n"
      "          - name: a1\n"
      "            address: 10.0.0.1\n"
      "            agentEndpoint: http://10.0.0.1:7070\n"
      "    strategy:\n"
      "      type: canary\n"
      "      steps:\n"
      "        - weight: 5%\n"
      "        - weight: 150%\n");
  EXPECT_EQ(block.ToString(),
            "spec.yaml:14:19: environments.production.strategy.steps[1].weight: "
            "must be 1%..100%, got 150%");
}

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string path;
  std::string message;  // a substring of the message
};

std::vector<ErrorCase> ErrorCases() {
  const std::string env =
      "app: shop\n"
      "environments:\n"
      "  production:\n";
  const std::string host =
      "          - {name: a1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}\n";
  const std::string targets = "    targets:\n      web:\n        hosts:\n" + host;
  const std::string canary = "    strategy:\n      type: canary\n      steps: [{weight: 100%}]\n";
  auto hostline = [&](const std::string& fields) {
    return env + "    targets:\n      web:\n        hosts:\n          - {" + fields + "}\n" +
           canary;
  };
  auto steps = [&](const std::string& s) {
    return env + targets + "    strategy:\n      type: canary\n      steps: " + s + "\n";
  };
  const std::string p = "environments.production.";
  return {
      {"empty", "", "", "the spec is empty"},
      {"root not a map", "- a\n", "", "must be a mapping"},
      {"unknown root key", "app: shop\nenvironment: {}\n", "environment", "unknown key"},
      {"missing app", "environments: {}\n", "app", "is required"},
      {"bad app name", "app: Shop\nenvironments: {}\n", "app", "must match"},
      {"missing environments", "app: shop\n", "environments", "is required"},
      {"no environments", "app: shop\nenvironments: {}\n", "environments", "at least one"},
      {"bad env name", "app: shop\nenvironments:\n  Prod: {}\n", "environments.Prod",
       "environment names"},
      {"unknown env key", env + targets + canary + "    notify: {}\n", p + "notify",
       "unknown key (known: targets, kubernetes, strategy, policy, service, analysis, rollback,"},
      {"missing targets", env + canary, p + "targets", "is required"},
      {"missing strategy", env + targets, p + "strategy", "is required"},
      {"no groups", env + "    targets: {}\n" + canary, p + "targets", "at least one host group"},
      {"empty hosts", env + "    targets:\n      web:\n        hosts: []\n" + canary,
       p + "targets.web.hosts", "non-empty list"},
      {"unknown group key",
       env + "    targets:\n      web:\n        driver: ssh\n        hosts:\n" + host + canary,
       p + "targets.web.driver", "unknown key"},
      {"unknown host key", hostline("name: a1, address: x, agentEndpoint: 'http://x', port: 1"),
       p + "targets.web.hosts[0].port", "unknown key"},
      {"missing host name", hostline("address: x, agentEndpoint: 'http://x'"),
       p + "targets.web.hosts[0].name", "is required"},
      {"bad host name", hostline("name: '-a', address: x, agentEndpoint: 'http://x'"),
       p + "targets.web.hosts[0].name", "host name"},
      {"missing address", hostline("name: a1, agentEndpoint: 'http://x'"),
       p + "targets.web.hosts[0].address", "is required"},
      {"bad address", hostline("name: a1, address: 'a b', agentEndpoint: 'http://x'"),
       p + "targets.web.hosts[0].address", "IP address or DNS name"},
      {"missing endpoint", hostline("name: a1, address: x"),
       p + "targets.web.hosts[0].agentEndpoint", "is required"},
      {"bad endpoint", hostline("name: a1, address: x, agentEndpoint: 'ftp://x'"),
       p + "targets.web.hosts[0].agentEndpoint", "http:// or https://"},
      {"endpoint without host", hostline("name: a1, address: x, agentEndpoint: 'http://'"),
       p + "targets.web.hosts[0].agentEndpoint", "http:// or https://"},
      {"labels not a map", hostline("name: a1, address: x, agentEndpoint: 'http://x', labels: [a]"),
       p + "targets.web.hosts[0].labels", "must be a mapping"},
      {"label value not a string",
       hostline("name: a1, address: x, agentEndpoint: 'http://x', labels: {zone: [a]}"),
       p + "targets.web.hosts[0].labels.zone", "must be a string"},
      {"duplicate host",
       env + "    targets:\n      web:\n        hosts:\n" + host + "      db:\n        hosts:\n" +
           host + canary,
       p + "targets.db.hosts[0].name", "listed twice"},
      {"duplicate key", env + targets + canary + "    strategy: {}\n", p + "strategy",
       "duplicate key"},
      {"missing type", env + targets + "    strategy:\n      steps: []\n", p + "strategy.type",
       "is required"},
      {"bad type", env + targets + "    strategy:\n      type: linear\n", p + "strategy.type",
       "must be canary, rolling, all-at-once or blue-green, got 'linear'"},
      {"key of another strategy", steps("[{weight: 100%}]\n      batchSize: 2"),
       p + "strategy.batchSize", "unknown key"},
      {"missing steps", env + targets + "    strategy:\n      type: canary\n", p + "strategy.steps",
       "is required"},
      {"empty steps", steps("[]"), p + "strategy.steps", "non-empty list"},
      {"step not a map", steps("[5%]"), p + "strategy.steps[0]", "must be a mapping"},
      {"step with no kind", steps("[{wait: 1m}, {weight: 100%}]"), p + "strategy.steps[0].wait",
       "unknown key"},
      {"step mixing kinds", steps("[{weight: 5%, pause: 1m}, {weight: 100%}]"),
       p + "strategy.steps[0].pause", "unknown key (known: weight, analysis)"},
      {"weight without percent", steps("[{weight: 5}, {weight: 100%}]"),
       p + "strategy.steps[0].weight", "must be 1%..100%, got 5"},
      {"weight zero", steps("[{weight: 0%}, {weight: 100%}]"), p + "strategy.steps[0].weight",
       "must be 1%..100%, got 0%"},
      {"weight over 100", steps("[{weight: 150%}]"), p + "strategy.steps[0].weight",
       "must be 1%..100%, got 150%"},
      {"weight fraction", steps("[{weight: 2.5%}, {weight: 100%}]"), p + "strategy.steps[0].weight",
       "must be 1%..100%"},
      {"weights not increasing", steps("[{weight: 25%}, {weight: 25%}, {weight: 100%}]"),
       p + "strategy.steps[1].weight", "weights must increase: 25% follows 25%"},
      {"weights decreasing", steps("[{weight: 50%}, {weight: 10%}, {weight: 100%}]"),
       p + "strategy.steps[1].weight", "10% follows 50%"},
      {"last weight not 100", steps("[{weight: 5%}, {weight: 50%}]"), p + "strategy.steps",
       "the last step must be {weight: 100%}, the highest weight is 50%"},
      {"no weight at all", steps("[{pause: 1m}]"), p + "strategy.steps", "no weight step found"},
      {"step after 100", steps("[{weight: 100%}, {pause: 1m}]"), p + "strategy.steps[1]",
       "no step may follow"},
      {"analysis template without an analysis section",
       steps("[{weight: 5%, analysis: strict}, {weight: 100%}]"), p + "strategy.steps[0].analysis",
       "step uses analysis template 'strict' but "
       "environments.production.analysis.templates does not define it (there is no analysis "
       "section)"},
      {"analysis default without an analysis section",
       steps("[{weight: 5%, analysis: default}, {weight: 100%}]"), p + "strategy.steps[0].analysis",
       "step uses analysis template 'default' but environments.production.analysis.templates does "
       "not define it"},
      {"empty analysis", steps("[{weight: 5%, analysis: ''}, {weight: 100%}]"),
       p + "strategy.steps[0].analysis", "must name an analysis template, or none"},
      {"bad onCanaryFailure",
       env + targets + canary + "    rollback: {onCanaryFailure: revert-some}\n",
       p + "rollback.onCanaryFailure", "must be revert-batch or revert-all, got revert-some"},
      {"unknown rollback key", env + targets + canary + "    rollback: {onFailure: revert-all}\n",
       p + "rollback.onFailure", "unknown key (known: onCanaryFailure)"},
      {"analysis error", env + targets + canary + "    analysis: {templates: {}}\n",
       p + "analysis.templates", "must define at least one template"},
      {"bad pause", steps("[{pause: soon}, {weight: 100%}]"), p + "strategy.steps[0].pause",
       "positive duration"},
      {"zero pause", steps("[{pause: 0s}, {weight: 100%}]"), p + "strategy.steps[0].pause",
       "positive duration"},
      {"pause map not empty", steps("[{pause: {for: 1m}}, {weight: 100%}]"),
       p + "strategy.steps[0].pause", "or {} to wait for resume"},
      {"bad approval", steps("[{approval: yes}, {weight: 100%}]"), p + "strategy.steps[0].approval",
       "must be required"},
      {"bad maxParallel", steps("[{weight: 100%}]\n      maxParallel: 0"),
       p + "strategy.maxParallel", "integer from 1"},
      {"negative failureTolerance", steps("[{weight: 100%}]\n      failureTolerance: -1"),
       p + "strategy.failureTolerance", "integer from 0"},
      {"bad maxUnavailable", steps("[{weight: 100%}]\n      maxUnavailable: 120%"),
       p + "strategy.maxUnavailable", "must be 1%..100%"},
      {"bad hostTimeout", steps("[{weight: 100%}]\n      hostTimeout: 5"),
       p + "strategy.hostTimeout", "positive duration"},
      {"spreadBy label missing", steps("[{weight: 100%}]\n      spreadBy: zone"),
       p + "targets.web.hosts[0].labels", "lacks label 'zone'"},
      {"rolling without batchSize", env + targets + "    strategy:\n      type: rolling\n",
       p + "strategy.batchSize", "is required"},
      {"rolling batchSize zero",
       env + targets +
           "    strategy:\n      type: rolling\n"
           "      batchSize: 0\n",
       p + "strategy.batchSize", "integer from 1"},
      {"all-at-once with steps",
       env + targets + "    strategy:\n      type: all-at-once\n      steps: []\n",
       p + "strategy.steps", "unknown key"},
      {"blue-green one group",
       env + targets +
           "    strategy:\n      type: blue-green\n      groups: [web]\n"
           "      trafficSwitch: {url: 'http://lb'}\n",
       p + "strategy.groups", "exactly two"},
      {"blue-green unknown group",
       env + targets +
           "    strategy:\n      type: blue-green\n      groups: [web, blue]\n"
           "      trafficSwitch: {url: 'http://lb'}\n",
       p + "strategy.groups[1]", "no host group named 'blue'"},
      {"blue-green same group",
       env + targets +
           "    strategy:\n      type: blue-green\n      groups: [web, web]\n"
           "      trafficSwitch: {url: 'http://lb'}\n",
       p + "strategy.groups[1]", "must differ"},
      {"blue-green no switch",
       env + "    targets:\n      web:\n        hosts:\n" + host +
           "      green:\n        hosts:\n"
           "          - {name: g1, address: y, agentEndpoint: 'http://y'}\n"
           "    strategy:\n      type: blue-green\n      groups: [web, green]\n",
       p + "strategy.trafficSwitch", "is required"},
      {"blue-green bad switch url",
       env + "    targets:\n      web:\n        hosts:\n" + host +
           "      green:\n        hosts:\n"
           "          - {name: g1, address: y, agentEndpoint: 'http://y'}\n"
           "    strategy:\n      type: blue-green\n      groups: [web, green]\n"
           "      trafficSwitch: {url: 'lb:80'}\n",
       p + "strategy.trafficSwitch.url", "http:// or https://"},
      {"unknown policy key", env + targets + canary + "    policy: {autoDeploy: true, when: x}\n",
       p + "policy.when", "unknown key"},
      {"bad autoDeploy", env + targets + canary + "    policy: {autoDeploy: maybe}\n",
       p + "policy.autoDeploy", "true or false"},
      {"bad policy approval", env + targets + canary + "    policy: {approval: always}\n",
       p + "policy.approval", "must be required or none, got always"},
      {"bad concurrency", env + targets + canary + "    policy: {concurrency: parallel}\n",
       p + "policy.concurrency", "must be queue or reject, got parallel"},
      {"service unknown key", env + targets + canary + "    service: {restartCmd: [a]}\n",
       p + "service.restartCmd", "unknown key (known: restartCommand, restartTimeout, health)"},
      {"service without restart",
       env + targets + canary + "    service: {health: {httpUrl: 'http://x'}}\n",
       p + "service.restartCommand", "is required"},
      {"restart not a list", env + targets + canary + "    service: {restartCommand: run.sh}\n",
       p + "service.restartCommand", "non-empty list of strings"},
      {"restart empty", env + targets + canary + "    service: {restartCommand: []}\n",
       p + "service.restartCommand", "non-empty list of strings"},
      {"restart empty command", env + targets + canary + "    service: {restartCommand: ['', x]}\n",
       p + "service.restartCommand[0]", "must not be empty"},
      {"restart arg not a string",
       env + targets + canary + "    service: {restartCommand: [a, [b]]}\n",
       p + "service.restartCommand[1]", "must be a string"},
      {"bad restart timeout",
       env + targets + canary + "    service: {restartCommand: [a], restartTimeout: soon}\n",
       p + "service.restartTimeout", "positive duration"},
      {"health with both",
       env + targets + canary +
           "    service:\n      restartCommand: [a]\n"
           "      health: {httpUrl: 'http://x', command: [c]}\n",
       p + "service.health", "exactly one of httpUrl or command"},
      {"health with neither",
       env + targets + canary +
           "    service:\n      restartCommand: [a]\n      health: {timeout: 5s}\n",
       p + "service.health", "exactly one of httpUrl or command"},
      {"health bad url",
       env + targets + canary +
           "    service:\n      restartCommand: [a]\n      health: {httpUrl: 'tcp://x'}\n",
       p + "service.health.httpUrl", "http:// or https://"},
      {"health unknown key",
       env + targets + canary +
           "    service:\n      restartCommand: [a]\n      health: {url: 'http://x'}\n",
       p + "service.health.url", "unknown key (known: httpUrl, command, timeout)"},
      {"health bad timeout",
       env + targets + canary +
           "    service:\n      restartCommand: [a]\n"
           "      health: {command: [c], timeout: 0s}\n",
       p + "service.health.timeout", "positive duration"},
  };
}

TEST(DeliverySpecTest, ParsesTheServiceBlockAndConcurrency) {
  const auto spec = ParseOk(WithStrategy(kCanary,
                                         "    policy: {concurrency: reject}\n"
                                         "    service:\n"
                                         "      restartCommand: [bin/restart.sh, --graceful]\n"
                                         "      restartTimeout: 30s\n"
                                         "      health: {httpUrl: 'http://127.0.0.1:8000/healthz',"
                                         " timeout: 20s}\n"));
  const auto& env = spec.environments.at(0);
  EXPECT_EQ(env.policy.concurrency, ConcurrencyPolicy::kReject);
  ASSERT_TRUE(env.service.has_value());
  EXPECT_EQ(env.service->restart_command,
            (std::vector<std::string>{"bin/restart.sh", "--graceful"}));
  EXPECT_EQ(env.service->restart_timeout, seconds(30));
  EXPECT_EQ(env.service->health_http_url, "http://127.0.0.1:8000/healthz");
  EXPECT_TRUE(env.service->health_command.empty());
  EXPECT_EQ(env.service->health_timeout, seconds(20));

  const auto by_command = ParseOk(WithStrategy(
      kCanary, "    service: {restartCommand: [r], health: {command: [bin/check, -q]}}\n"));
  const auto& svc = *by_command.environments.at(0).service;
  EXPECT_EQ(svc.health_command, (std::vector<std::string>{"bin/check", "-q"}));
  EXPECT_EQ(svc.health_http_url, "");
  EXPECT_EQ(svc.restart_timeout, std::nullopt);
  EXPECT_EQ(svc.health_timeout, std::nullopt);
  EXPECT_EQ(by_command.environments.at(0).policy.concurrency, ConcurrencyPolicy::kQueue);

  const auto bare = ParseOk(WithStrategy(kCanary));
  EXPECT_EQ(bare.environments.at(0).service, std::nullopt);
  EXPECT_EQ(bare.environments.at(0).policy.concurrency, ConcurrencyPolicy::kQueue);
  EXPECT_EQ(ToString(ConcurrencyPolicy::kReject), "reject");
}

TEST(DeliverySpecTest, AllowSelfApprovalIsAnExplicitPolicy) {
  EXPECT_FALSE(ParseOk(WithStrategy(kCanary)).environments.at(0).policy.allow_self_approval);
  const auto allowed =
      ParseOk(WithStrategy(kCanary, "    policy: {approval: required, allowSelfApproval: true}\n"));
  EXPECT_TRUE(allowed.environments.at(0).policy.allow_self_approval);
  const auto e = ParseErr(WithStrategy(kCanary, "    policy: {allowSelfApproval: maybe}\n"));
  EXPECT_EQ(e.path, "environments.production.policy.allowSelfApproval");
}

// YAML::Load reads the first document and drops the rest, and resolves tags to nothing: a spec
// with either would be another document than the one reviewed.
TEST(DeliverySpecTest, RefusesASecondDocument) {
  for (const std::string second : {"---\napp: other\n", "---\n", "--- {}\n"}) {
    const auto e = ParseErr(WithStrategy(kCanary) + second);
    EXPECT_NE(e.message.find("one YAML document"), std::string::npos) << e.ToString();
  }
  ParseOk("---\n" + WithStrategy(kCanary) + "...\n");  // markers around the one document
}

TEST(DeliverySpecTest, RefusesYamlTags) {
  const auto e = ParseErr(WithStrategy(kCanary, "    policy: {approval: !!str required}\n"));
  EXPECT_NE(e.message.find("YAML tags are not supported"), std::string::npos) << e.ToString();
  EXPECT_EQ(e.line, 21);  // the policy line
  EXPECT_GT(e.column, 0);
  EXPECT_NE(ParseErr("app: !custom shop\n").message.find("'!custom'"), std::string::npos);
  EXPECT_NE(ParseErr("!!map {app: shop}\n").message.find("tags"), std::string::npos);
  ParseOk(WithStrategy(kCanary, "    policy: {approval: 'required'}\n"));  // quoting is no tag
}

TEST(DeliverySpecTest, ServiceErrorsNameTheLine) {
  const auto e = ParseErr(WithStrategy(kCanary,
                                       "    service:\n"
                                       "      restartCommand: [a]\n"
                                       "      health: {httpUrl: 'x'}\n"));
  EXPECT_EQ(e.path, "environments.production.service.health.httpUrl");
  EXPECT_EQ(e.line, 23);
  EXPECT_EQ(e.column, 25);
}

TEST(DeliverySpecTest, EveryErrorNamesItsPath) {
  for (const auto& c : ErrorCases()) {
    SCOPED_TRACE(c.name);
    const auto e = ParseErr(c.yaml);
    EXPECT_EQ(e.path, c.path) << e.ToString();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.ToString();
    EXPECT_EQ(e.origin, "spec.yaml");
    if (!c.yaml.empty()) {
      EXPECT_GT(e.line, 0) << e.ToString();
      EXPECT_GT(e.column, 0) << e.ToString();
    }
  }
}

TEST(DeliverySpecTest, UnknownKeyPointsAtTheKey) {
  const auto e = ParseErr(WithStrategy(kCanary + "      maxParalel: 3\n"));
  EXPECT_EQ(e.path, "environments.production.strategy.maxParalel");
  EXPECT_EQ(e.line, 21);
  EXPECT_EQ(e.column, 7);
  EXPECT_NE(e.message.find("maxParallel"), std::string::npos);  // the known keys are listed
}

TEST(DeliverySpecTest, SyntaxErrorsNameTheLine) {
  const auto e = ParseErr("app: shop\nenvironments:\n  production: [\n");
  EXPECT_GT(e.line, 0);
  EXPECT_EQ(e.path, "");
  EXPECT_NE(e.message.find("invalid YAML"), std::string::npos);
  EXPECT_EQ(e.ToString().rfind("spec.yaml:", 0), 0u);
}

TEST(DeliverySpecTest, StepsNameAnalysisTemplates) {
  const auto spec =
      ParseOk(WithStrategy("      type: canary\n"
                           "      steps:\n"
                           "        - {weight: 10%, analysis: strict}\n"
                           "        - {weight: 50%, analysis: none}\n"
                           "        - {weight: 100%, analysis: default}\n",
                           "    rollback: {onCanaryFailure: revert-all}\n",
                           kDefaultAnalysis + "        strict:\n"
                                              "          metrics: {p95: {query: 'x'}}\n"
                                              "          rules: [{name: p95, metric: p95, "
                                              "max: 300ms}]\n"));
  const auto& env = spec.environments.at(0);
  const auto& s = env.strategy;
  ASSERT_EQ(s.steps.size(), 3u);
  EXPECT_TRUE(std::get<WeightStep>(s.steps[0]).analysis);
  EXPECT_EQ(std::get<WeightStep>(s.steps[0]).analysis_template, "strict");
  EXPECT_FALSE(std::get<WeightStep>(s.steps[1]).analysis);
  EXPECT_EQ(std::get<WeightStep>(s.steps[1]).analysis_template, "");
  EXPECT_TRUE(std::get<WeightStep>(s.steps[2]).analysis);
  EXPECT_EQ(std::get<WeightStep>(s.steps[2]).analysis_template, "default");
  ASSERT_TRUE(env.analysis.has_value());
  EXPECT_EQ(env.analysis->templates.size(), 2u);
  EXPECT_EQ(env.analysis->templates.at("strict").rules[0].fail_when, "p95 > 300ms");
  EXPECT_EQ(env.on_canary_failure, analysis::OnCanaryFailure::kRevertAll);

  // Without `rollback:` a failed canary batch reverts that batch only.
  const auto plain = ParseOk(WithStrategy(kCanary));
  EXPECT_EQ(plain.environments.at(0).on_canary_failure, analysis::OnCanaryFailure::kRevertBatch);
  const auto explicit_batch =
      ParseOk(WithStrategy(kCanary, "    rollback: {onCanaryFailure: revert-batch}\n"));
  EXPECT_EQ(explicit_batch.environments.at(0).on_canary_failure,
            analysis::OnCanaryFailure::kRevertBatch);
}

TEST(DeliverySpecTest, AnalysisErrorsNameFileLineAndPath) {
  // The step names a template the analysis section lacks: the error points at the step.
  auto e =
      ParseErr(WithStrategy("      type: canary\n"
                            "      steps:\n"
                            "        - weight: 10%\n"
                            "          analysis: strct\n"  // line 16
                            "        - weight: 100%\n"));
  EXPECT_EQ(e.ToString(),
            "spec.yaml:16:21: environments.production.strategy.steps[0].analysis: step uses "
            "analysis template 'strct' but environments.production.analysis.templates does not "
            "define it (defined: default)");

  // An error inside the analysis section keeps its own line, column and path, and the origin.
  e = ParseErr(WithStrategy(kCanary, "",
                            "    analysis:\n"                                         // 21
                            "      templates:\n"                                      // 22
                            "        default:\n"                                      // 23
                            "          metrics: {error_rate: {query: 'x'}}\n"         // 24
                            "          rules:\n"                                      // 25
                            "            - name: seed\n"                              // 26
                            "              failWhen: 'error_rat > 5% OR x > 1'\n"));  // 27
  EXPECT_EQ(e.origin, "spec.yaml");
  EXPECT_EQ(e.line, 27);
  EXPECT_EQ(e.column, 25);
  EXPECT_EQ(e.path, "environments.production.analysis.templates.default.rules[0].failWhen");
  EXPECT_EQ(e.message, "unknown metric 'error_rat' in failWhen; the template defines error_rate");

  e = ParseErr(WithStrategy(kCanary, "    rollback:\n      onCanaryFailure: [revert-all]\n"));
  EXPECT_EQ(e.path, "environments.production.rollback.onCanaryFailure");
  EXPECT_EQ(e.line, 22);
  EXPECT_EQ(e.column, 24);
}

TEST(DeliverySpecTest, DuplicateEnvironmentIsAnError) {
  const std::string one =
      "  production:\n"
      "    targets: {web: {hosts: [{name: a, address: x, agentEndpoint: 'http://x'}]}}\n"
      "    strategy: {type: all-at-once}\n";
  const auto e = ParseErr("app: shop\nenvironments:\n" + one + one);
  EXPECT_EQ(e.path, "environments.production");
  EXPECT_EQ(e.line, 6);
}

TEST(ParseDurationTest, AcceptsUnitSums) {
  EXPECT_EQ(ParseDuration("2m"), minutes(2));
  EXPECT_EQ(ParseDuration("30s"), seconds(30));
  EXPECT_EQ(ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(ParseDuration("1m30s"), seconds(90));
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("1s250ms"), milliseconds(1250));
  EXPECT_EQ(ParseDuration("24h"), std::chrono::hours(24));
}

TEST(ParseDurationTest, RejectsTheRest) {
  for (const char* s : {"", "5", "m", "2x", "-1s", "1.5m", "0s", "0m0s", " 1m", "1m ", "1d",
                        "9999999h", "99999999999s"}) {
    EXPECT_EQ(ParseDuration(s), std::nullopt) << s;
  }
}

TEST(ParsePercentTest, OneToAHundred) {
  EXPECT_EQ(ParsePercent("1%"), 1);
  EXPECT_EQ(ParsePercent("25%"), 25);
  EXPECT_EQ(ParsePercent("100%"), 100);
  for (const char* s : {"", "%", "0%", "101%", "25", "2.5%", "-5%", "1000%", " 5%", "5 %"}) {
    EXPECT_EQ(ParsePercent(s), std::nullopt) << s;
  }
}

TEST(StrategyTypeTest, RoundTrips) {
  for (auto t : {StrategyType::kCanary, StrategyType::kRolling, StrategyType::kAllAtOnce,
                 StrategyType::kBlueGreen}) {
    EXPECT_EQ(ParseStrategyType(ToString(t)), t);
  }
  EXPECT_EQ(ParseStrategyType("Canary"), std::nullopt);
}

// A byte that is not UTF-8 (in a key, a comment or a value) and nesting past the bound are spec
// errors with a position, not failures further down (PostgreSQL refuses such text).
TEST(DeliverySpecTest, RefusesInvalidUtf8AndDeepNesting) {
  auto e = ParseErr("app: shop\n# note \xff\nenvironments: {}\n");
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(e.message.find("0xFF"), std::string::npos) << e.message;
  e = ParseErr("app: shop\nenvironments:\n  k\xff: 1\n");
  EXPECT_EQ(e.line, 3);
  e = ParseErr("app: " + std::string(20000, '[') + std::string(20000, ']') + "\n");
  EXPECT_NE(e.message.find("nest"), std::string::npos) << e.message;
  e = ParseErr("app: shop\nx: " + std::string(80, '[') + std::string(80, ']') + "\n");
  EXPECT_NE(e.message.find("deeper than 64"), std::string::npos) << e.message;
}

// Agentless hosts: an `ssh:` block instead of agentEndpoint.
std::string SshHostSpec(const std::string& fields) {
  return "app: shop\nenvironments:\n  production:\n    targets:\n      web:\n        hosts:\n"
         "          - {" +
         fields + "}\n    strategy:\n      type: canary\n      steps: [{weight: 100%}]\n";
}

TEST(DeliverySpecTest, SshHostsNeedNoAgentEndpoint) {
  const auto spec =
      ParseOk(SshHostSpec("name: a1, address: 10.0.0.1, ssh: {user: deploy, port: 2222}"));
  ASSERT_EQ(spec.environments.size(), 1u);
  const auto& h = spec.environments[0].targets[0].hosts[0];
  ASSERT_TRUE(h.ssh.has_value());
  EXPECT_EQ(h.ssh->user, "deploy");
  EXPECT_EQ(h.ssh->port, 2222);
  EXPECT_TRUE(h.agent_endpoint.empty());

  const auto plain = ParseOk(SshHostSpec("name: a2, address: 10.0.0.2, ssh: {}"));
  ASSERT_TRUE(plain.environments[0].targets[0].hosts[0].ssh.has_value());
  EXPECT_EQ(plain.environments[0].targets[0].hosts[0].ssh->port, 0);
  // An agent host stays an agent host.
  const auto agent = ParseOk(SshHostSpec("name: a3, address: x, agentEndpoint: 'http://x:7070'"));
  EXPECT_FALSE(agent.environments[0].targets[0].hosts[0].ssh.has_value());
}

TEST(DeliverySpecTest, BadSshBlocksNameTheField) {
  const std::string p = "environments.production.targets.web.hosts[0].";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"name: a1, address: x, ssh: {user: 'a;b'}", p + "ssh.user"},
      {"name: a1, address: x, ssh: {user: Root}", p + "ssh.user"},
      {"name: a1, address: x, ssh: {port: 0}", p + "ssh.port"},
      {"name: a1, address: x, ssh: {port: 70000}", p + "ssh.port"},
      {"name: a1, address: x, ssh: {key: /root/.ssh/id}", p + "ssh.key"},
      {"name: a1, address: x, ssh: [a]", p + "ssh"},
      {"name: a1, address: x, agentEndpoint: 'http://x', ssh: {}", p + "agentEndpoint"},
  };
  for (const auto& [fields, path] : cases) {
    const auto e = ParseErr(SshHostSpec(fields));
    EXPECT_EQ(e.path, path) << fields << ": " << e.ToString();
  }
}

}  // namespace
}  // namespace sluice::spec
