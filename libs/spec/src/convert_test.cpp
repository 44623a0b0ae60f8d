#include "sluice/spec/convert.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "testing_specs.hpp"

extern const char* const kDemoAppSpec;

namespace sluice::spec {
namespace {

DeliverySpec ParseOk(const std::string& yaml) {
  auto r = ParseDeliverySpec(yaml, "spec.yaml");
  if (const auto* e = std::get_if<SpecError>(&r)) {
    ADD_FAILURE() << e->ToString();
    return {};
  }
  return std::get<DeliverySpec>(std::move(r));
}

// Through the wire: ToProto, serialized, parsed back, FromProto.
DeliverySpec OverTheWire(const DeliverySpec& spec) {
  const auto bytes = ToProto(spec).SerializeAsString();
  events::v1::DeliverySpec back;
  EXPECT_TRUE(back.ParseFromString(bytes));
  return FromProto(back);
}

TEST(ConvertTest, TheDemoSpecRoundTrips) {
  const auto parsed = ParseOk(kDemoAppSpec);
  ASSERT_FALSE(parsed.environments.empty());
  EXPECT_EQ(OverTheWire(parsed), parsed);
}

TEST(ConvertTest, EveryPartOfTheGrammarRoundTrips) {
  const auto parsed = ParseOk(testing::kEverySpec);
  ASSERT_EQ(parsed.environments.size(), 3u);
  // The fixture exercises what it says: Kubernetes targets, a nested condition, a judge.
  const auto& prod = parsed.environments[0];
  ASSERT_EQ(prod.kubernetes.size(), 2u);
  ASSERT_TRUE(prod.analysis.has_value());
  const auto& tmpl = prod.analysis->templates.at("default");
  EXPECT_EQ(tmpl.rules.at(0).condition.kind, analysis::Condition::Kind::kOr);
  EXPECT_TRUE(tmpl.judge.has_value());

  const auto back = OverTheWire(parsed);
  EXPECT_EQ(back, parsed);
  for (std::size_t i = 0; i < parsed.environments.size(); ++i) {
    SCOPED_TRACE(parsed.environments[i].name);
    EXPECT_EQ(back.environments[i], parsed.environments[i]);  // names the env that differs
  }
}

TEST(ConvertTest, OptionalPartsStayAbsent) {
  // Absent and zero differ: no service, no analysis section, no maxParallel, a pause until
  // resumed. The staging environment has no analysis; blue has no steps.
  const auto parsed = ParseOk(testing::kEverySpec);
  const auto back = OverTheWire(parsed);
  EXPECT_EQ(back.environments[1].analysis, std::nullopt);
  EXPECT_EQ(back.environments[1].strategy.max_parallel, std::nullopt);
  EXPECT_EQ(back.environments[1].strategy.spread_by, std::nullopt);
  EXPECT_EQ(std::get<PauseStep>(back.environments[0].strategy.steps[3]).duration, std::nullopt);
  EXPECT_EQ(back.environments[2].service->restart_timeout, std::nullopt);
}

TEST(ConvertTest, ATemplateRoundTripsAlone) {
  const auto parsed = ParseOk(testing::kEverySpec);
  for (const auto& [name, t] : parsed.environments[0].analysis->templates) {
    SCOPED_TRACE(name);
    events::v1::AnalysisTemplate wire;
    ASSERT_TRUE(wire.ParseFromString(ToProto(t).SerializeAsString()));
    EXPECT_EQ(wire.name(), name);
    EXPECT_EQ(FromProto(wire), t);
  }
}

TEST(ConvertTest, KubernetesTargetsBecomeWorkloads) {
  const auto parsed = ParseOk(testing::kEverySpec);
  const auto w = ToProto(parsed.environments[0].kubernetes[0]);
  EXPECT_EQ(w.cluster(), "in-cluster");
  EXPECT_EQ(w.namespace_(), "shop");
  EXPECT_EQ(w.kind(), "Deployment");
  EXPECT_EQ(w.name(), "web");
  EXPECT_EQ(w.container(), "app");
  EXPECT_EQ(w.rollout(), events::v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
  EXPECT_TRUE(w.surge());
  EXPECT_EQ(w.traffic().route(), "web");
  EXPECT_EQ(w.traffic().stable_service(), "web-stable");
  EXPECT_EQ(w.traffic().canary_service(), "web-canary");
  const auto db = ToProto(parsed.environments[0].kubernetes[1]);
  EXPECT_EQ(db.rollout(), events::v1::KUBERNETES_ROLLOUT_PARTITION);  // a StatefulSet's default
  EXPECT_FALSE(db.has_traffic());
  const auto api = ToProto(parsed.environments[2].kubernetes[0]);
  EXPECT_EQ(api.rollout(), events::v1::KUBERNETES_ROLLOUT_BLUE_GREEN);
  EXPECT_EQ(api.service(), "api");
}

TEST(ConvertTest, AMessageNoSpecWroteIsRefused) {
  auto p = ToProto(ParseOk(testing::kEverySpec));
  auto unknown_strategy = p;
  unknown_strategy.mutable_environments(0)->mutable_strategy()->set_type(
      events::v1::STRATEGY_UNSPECIFIED);
  EXPECT_THROW(FromProto(unknown_strategy), std::invalid_argument);

  auto bad_kind = p;
  bad_kind.mutable_environments(0)->mutable_kubernetes(0)->mutable_workload()->set_kind("Pod");
  EXPECT_THROW(FromProto(bad_kind), std::invalid_argument);

  events::v1::AnalysisTemplate t;
  auto* rule = t.add_rules();
  rule->set_severity(events::v1::AnalysisTemplate::SEVERITY_CRITICAL);
  rule->set_no_data(events::v1::AnalysisTemplate::NO_DATA_FAIL);
  rule->mutable_condition()->set_kind(events::v1::AnalysisTemplate::Condition::KIND_AND);
  EXPECT_THROW(FromProto(t), std::invalid_argument);  // AND without children
}

TEST(ConvertTest, SshHostsRoundTrip) {
  const auto parsed = ParseOk(
      "app: shop\nenvironments:\n  production:\n    targets:\n      web:\n        hosts:\n"
      "          - {name: a1, address: 10.0.0.1, ssh: {user: deploy, port: 2222}}\n"
      "          - {name: a2, address: 10.0.0.2, ssh: {}}\n"
      "          - {name: a3, address: 10.0.0.3, agentEndpoint: 'http://10.0.0.3:7070'}\n"
      "    strategy:\n      type: canary\n      steps: [{weight: 100%}]\n");
  const auto back = OverTheWire(parsed);
  EXPECT_EQ(back, parsed);
  const auto& hosts = back.environments.at(0).targets.at(0).hosts;
  ASSERT_TRUE(hosts.at(1).ssh.has_value());
  EXPECT_FALSE(hosts.at(2).ssh.has_value());
}

}  // namespace
}  // namespace sluice::spec
