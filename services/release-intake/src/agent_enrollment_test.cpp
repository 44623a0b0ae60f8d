#include "agent_enrollment.hpp"

#include <gtest/gtest.h>

namespace sluice::release_intake {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'800'000'000'000;

std::string FieldOf(const json& body) {
  auto v = ValidateEnrollRequest(body);
  if (const auto* e = std::get_if<FieldError>(&v)) return e->field;
  return "";
}

json Good() {
  return {{"enrollment_token", "sle_abc"},
          {"name", "web-1"},
          {"address", "10.77.0.11"},
          {"labels", {{"role", "web"}, {"zone", "zone-a"}}}};
}

TEST(AgentEnrollment, AcceptsAHostWithLabels) {
  auto v = ValidateEnrollRequest(Good());
  ASSERT_TRUE(std::holds_alternative<EnrollRequest>(v));
  const auto& r = std::get<EnrollRequest>(v);
  EXPECT_EQ(r.name, "web-1");
  EXPECT_EQ(r.address, "10.77.0.11");
  EXPECT_EQ(r.labels.at("zone"), "zone-a");
}

TEST(AgentEnrollment, NamesTheWrongField) {
  auto body = Good();
  body.erase("enrollment_token");
  EXPECT_EQ(FieldOf(body), "enrollment_token");
  body = Good();
  body["name"] = "Web_1";
  EXPECT_EQ(FieldOf(body), "name");
  body = Good();
  body["address"] = "10.0.0.1; rm -rf /";
  EXPECT_EQ(FieldOf(body), "address");
  body = Good();
  body["address"] = "http://10.0.0.1:7070";
  EXPECT_EQ(FieldOf(body), "address");
  body = Good();
  body["labels"]["zone"] = "a b";
  EXPECT_EQ(FieldOf(body), "labels.zone");
  body = Good();
  body["labels"]["Bad Key"] = "x";
  EXPECT_EQ(FieldOf(body), "labels.Bad Key");
  body = Good();
  body["labels"]["n"] = 3;
  EXPECT_EQ(FieldOf(body), "labels.n");
  body = Good();
  body["role"] = "admin";
  EXPECT_EQ(FieldOf(body), "role");
  body = Good();
  body["labels"] = json::object();
  for (int i = 0; i < 33; ++i) body["labels"]["k" + std::to_string(i)] = "v";
  EXPECT_EQ(FieldOf(body), "labels");
}

TEST(AgentEnrollment, AcceptsIpv6AndHostNames) {
  EXPECT_TRUE(IsValidAgentAddress("fd00::11"));
  EXPECT_TRUE(IsValidAgentAddress("web-1.zone-a.example"));
  EXPECT_FALSE(IsValidAgentAddress(""));
  EXPECT_FALSE(IsValidAgentAddress("host:7070x"));
  EXPECT_FALSE(IsValidAgentAddress("a b"));
}

TEST(AgentEnrollment, TokenRequestDefaultsToOneHourAndCapsAtSevenDays) {
  auto v = ValidateEnrollmentTokenRequest(json::object(), kNow);
  ASSERT_TRUE(std::holds_alternative<EnrollmentTokenRequest>(v));
  EXPECT_EQ(std::get<EnrollmentTokenRequest>(v).expires_at_ms, kNow + 3600 * 1000);
  EXPECT_FALSE(std::get<EnrollmentTokenRequest>(v).host_name);

  v = ValidateEnrollmentTokenRequest({{"expires_in", "30m"}, {"name", "web-1"}}, kNow);
  ASSERT_TRUE(std::holds_alternative<EnrollmentTokenRequest>(v));
  EXPECT_EQ(std::get<EnrollmentTokenRequest>(v).expires_at_ms, kNow + 30 * 60 * 1000);
  EXPECT_EQ(std::get<EnrollmentTokenRequest>(v).host_name, "web-1");

  v = ValidateEnrollmentTokenRequest({{"expires_in", "8d"}}, kNow);
  ASSERT_TRUE(std::holds_alternative<FieldError>(v));
  EXPECT_EQ(std::get<FieldError>(v).field, "expires_in");
  v = ValidateEnrollmentTokenRequest({{"role", "admin"}}, kNow);
  ASSERT_TRUE(std::holds_alternative<FieldError>(v));
  EXPECT_EQ(std::get<FieldError>(v).field, "role");
}

TEST(AgentEnrollment, ATokenEnrolsOnceBeforeItExpiresAndOnlyItsHost) {
  StoredEnrollmentToken t{"id", std::nullopt, "admin", kNow + 1000, std::nullopt, ""};
  EXPECT_FALSE(EnrollmentTokenRefusal(t, "web-1", kNow));
  EXPECT_TRUE(EnrollmentTokenRefusal(t, "web-1", kNow + 1000));  // expired at the instant
  t.used_at_ms = kNow - 1;
  t.used_by = "web-0";
  auto r = EnrollmentTokenRefusal(t, "web-1", kNow);
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("already used"), std::string::npos);
  EXPECT_FALSE(r->name_mismatch);
  t.used_at_ms.reset();
  t.host_name = "web-2";
  r = EnrollmentTokenRefusal(t, "web-1", kNow);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->name_mismatch);
  EXPECT_FALSE(EnrollmentTokenRefusal(t, "web-2", kNow));
}

TEST(AgentEnrollment, SecretsAreFreshAndPrefixed) {
  const auto a = NewAgentCredential(), b = NewAgentCredential();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("slh_", 0), 0u);
  EXPECT_EQ(a.size(), 4u + 43u);
  EXPECT_EQ(NewEnrollmentToken().rfind("sle_", 0), 0u);
}

}  // namespace
}  // namespace sluice::release_intake
