#include "sluice/agentapi/wire.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice::agentapi {
namespace {

using nlohmann::json;

TEST(ToWireJson, PrintsSixtyFourBitIntegersAsNumbers) {
  v1::Status s;
  s.set_highest_generation(18'000'000'000'000'000'000ULL);
  auto* v = s.add_installed();
  v->set_version("1.0.0");
  v->set_installed_at_ms(1'733'000'000'123);
  s.mutable_last_operation()->set_generation(7);
  s.mutable_last_operation()->set_started_at_ms(-5);
  const json j = json::parse(ToWireJson(s));
  ASSERT_TRUE(j["highest_generation"].is_number_unsigned()) << j;
  EXPECT_EQ(j["highest_generation"].get<std::uint64_t>(), 18'000'000'000'000'000'000ULL);
  EXPECT_EQ(j["installed"][0]["installed_at_ms"], 1'733'000'000'123);
  EXPECT_EQ(j["last_operation"]["generation"], 7);
  EXPECT_EQ(j["last_operation"]["started_at_ms"], -5);
}

TEST(ToWireJson, PrintsDefaultsButNotUnsetOptionalsOrMessages) {
  v1::RevertRequest r;
  r.set_version("1.0.0");
  r.set_generation(0);
  const json j = json::parse(ToWireJson(r));
  // Older agents require "generation" and "deployment_id" may be empty; "service" is absent.
  EXPECT_EQ(j, (json{{"version", "1.0.0"}, {"deployment_id", ""}, {"generation", 0}}));
  v1::Status s;
  const json st = json::parse(ToWireJson(s));
  EXPECT_FALSE(st.contains("current"));
  EXPECT_FALSE(st.contains("health"));
  EXPECT_FALSE(st.contains("last_operation"));
  EXPECT_EQ(st["installed"], json::array());
  EXPECT_EQ(st["health_status"], "");
}

TEST(ToWireJson, KeepsDurationsAsTheyWereGiven) {
  v1::ServiceConfig s;
  s.mutable_restart_timeout()->set_string_value("60000ms");
  s.mutable_health()->mutable_timeout()->set_number_value(5);
  const json j = json::parse(ToWireJson(s));
  EXPECT_EQ(j["restart_timeout"], "60000ms");
  EXPECT_EQ(j["health"]["timeout"], 5);
  EXPECT_FALSE(j["health"].contains("interval"));
  EXPECT_FALSE(j["health"].contains("http_url"));
}

TEST(FromWireJson, IgnoresUnknownFieldsAndAcceptsBothIntegerForms) {
  v1::DeployRequest r;
  ASSERT_FALSE(FromWireJson(R"({"version":"1","generation":"7","colour":"blue",
                                "service":{"restart_command":["x"],"extra":{"a":[1]}}})",
                            r));
  EXPECT_EQ(r.version(), "1");
  EXPECT_TRUE(r.has_generation());
  EXPECT_EQ(r.generation(), 7u);
  EXPECT_EQ(r.service().restart_command(0), "x");
  ASSERT_FALSE(FromWireJson(R"({"generation":8})", r));
  EXPECT_EQ(r.version(), "") << "the message is replaced, not merged";
  EXPECT_EQ(r.generation(), 8u);
}

TEST(FromWireJson, NamesTheFieldThatDidNotParse) {
  v1::DeployRequest r;
  auto e = FromWireJson(R"({"generation":-1})", r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "generation") << e->message;
  e = FromWireJson(R"({"service":{"restart_command":["x",1]}})", r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "service.restart_command") << e->message;
  e = FromWireJson("[]", r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "body") << e->message;
  e = FromWireJson("{", r);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "body") << e->message;
}

TEST(Wire, RoundTrips) {
  v1::OperationReport report;
  report.set_result("succeeded");
  report.mutable_operation()->set_kind("deploy");
  report.mutable_operation()->set_generation(3);
  report.mutable_status()->set_current("2.0.0");
  report.mutable_status()->set_health_status("healthy");
  v1::OperationReport back;
  ASSERT_FALSE(FromWireJson(ToWireJson(report), back));
  EXPECT_EQ(back.SerializeAsString(), report.SerializeAsString());
}

}  // namespace
}  // namespace sluice::agentapi

namespace sluice::agentapi {
namespace {

// Text from outside (a health check's output in an operation's message) may not be UTF-8.
TEST(ToWireJson, ReplacesInvalidUtf8InsteadOfFailing) {
  v1::Operation op;
  op.set_message(std::string("bad \xff byte"));
  op.set_generation(2);
  const json j = json::parse(ToWireJson(op));
  EXPECT_EQ(j["generation"], 2);
  EXPECT_TRUE(j["message"].get<std::string>().starts_with("bad ")) << j;
}

}  // namespace
}  // namespace sluice::agentapi
