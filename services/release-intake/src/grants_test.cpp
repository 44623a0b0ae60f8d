// Roles per environment and the gate override's request field: pure resolution and validation.
#include <gtest/gtest.h>

#include "delivery.hpp"
#include "release.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

const std::int64_t kNow = 1'800'000'000'000;

TEST(RoleIn, AGrantDecidesInItsEnvironmentAndTheGlobalRoleEverywhereElse) {
  const EnvGrants staging_deployer{{"staging", Role::kDeployer}};
  EXPECT_EQ(RoleIn(Role::kViewer, staging_deployer, "staging"), Role::kDeployer);
  // A deployer of staging is a viewer of production unless granted more.
  EXPECT_EQ(RoleIn(Role::kViewer, staging_deployer, "production"), Role::kViewer);
  EXPECT_EQ(RoleIn(Role::kViewer, {}, "staging"), Role::kViewer);
  // A grant may also lower the role in one environment.
  const EnvGrants prod_viewer{{"production", Role::kViewer}};
  EXPECT_EQ(RoleIn(Role::kDeployer, prod_viewer, "production"), Role::kViewer);
  EXPECT_EQ(RoleIn(Role::kDeployer, prod_viewer, "staging"), Role::kDeployer);
  // Names match exactly: no prefixes, no case folding.
  EXPECT_EQ(RoleIn(Role::kViewer, staging_deployer, "staging-eu"), Role::kViewer);
}

TEST(HighestRole, IsTheBestRoleHeldAnywhere) {
  EXPECT_EQ(HighestRole(Role::kViewer, {}), Role::kViewer);
  EXPECT_EQ(HighestRole(Role::kViewer, {{"a", Role::kDeployer}, {"b", Role::kApprover}}),
            Role::kApprover);
  EXPECT_EQ(HighestRole(Role::kAdmin, {{"a", Role::kViewer}}), Role::kAdmin);
}

TEST(CheckRoleIn, NamesTheEnvironmentTheRoleHeldAndTheRoleNeeded) {
  const EnvGrants grants{{"staging", Role::kDeployer}};
  EXPECT_FALSE(CheckRoleIn("ci", Role::kViewer, grants, "staging", Role::kDeployer, "deploy"));
  const auto refusal =
      CheckRoleIn("ci", Role::kViewer, grants, "production", Role::kDeployer, "deploy");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->detail["env"], "production");
  EXPECT_EQ(refusal->detail["role"], "viewer");
  EXPECT_EQ(refusal->detail["needed"], "deployer");
  EXPECT_EQ(refusal->detail["granted"], false);
  EXPECT_NE(refusal->message.find("token 'ci' is viewer in environment 'production'"),
            std::string::npos)
      << refusal->message;
  EXPECT_NE(refusal->message.find("--env production=deployer"), std::string::npos);
  // An approver grant in one environment only.
  const EnvGrants approver{{"production", Role::kApprover}};
  EXPECT_FALSE(CheckRoleIn("ops", Role::kDeployer, approver, "production", Role::kApprover, "x"));
  const auto staging =
      CheckRoleIn("ops", Role::kDeployer, approver, "staging", Role::kApprover, "approve");
  ASSERT_TRUE(staging);
  EXPECT_EQ(staging->detail["role"], "deployer");
  // A grant that lowers the role is named as a grant.
  const auto lowered = CheckRoleIn("ci", Role::kDeployer, {{"production", Role::kViewer}},
                                   "production", Role::kDeployer, "deploy");
  ASSERT_TRUE(lowered);
  EXPECT_EQ(lowered->detail["granted"], true);
}

TEST(ParseGrants, TakesEnvironmentNamesToRolesAndNamesWhatIsWrong) {
  auto ok = ParseGrants(json{{"staging", "deployer"}, {"production", "viewer"}}, "environments");
  ASSERT_TRUE(std::holds_alternative<EnvGrants>(ok));
  EXPECT_EQ(std::get<EnvGrants>(ok),
            (EnvGrants{{"staging", Role::kDeployer}, {"production", Role::kViewer}}));
  EXPECT_EQ(GrantsJson(std::get<EnvGrants>(ok)),
            (json{{"production", "viewer"}, {"staging", "deployer"}}));

  auto field = [](const json& j) {
    auto r = ParseGrants(j, "environments");
    return std::holds_alternative<FieldError>(r) ? std::get<FieldError>(r).field : "";
  };
  EXPECT_EQ(field(json::array({"staging"})), "environments");
  EXPECT_EQ(field(json{{"staging", "root"}}), "environments.staging");
  EXPECT_EQ(field(json{{"staging", 2}}), "environments.staging");
  EXPECT_EQ(field(json{{"Staging", "viewer"}}), "environments");
  EXPECT_EQ(field(json{{"", "viewer"}}), "environments");
  json many = json::object();
  for (std::size_t i = 0; i <= kMaxGrantsPerToken; ++i) many["e" + std::to_string(i)] = "viewer";
  EXPECT_EQ(field(many), "environments");
}

TEST(ParseGrantBody, IsOneRole) {
  EXPECT_EQ(std::get<Role>(ParseGrantBody(json{{"role", "approver"}})), Role::kApprover);
  EXPECT_EQ(std::get<FieldError>(ParseGrantBody(json{{"role", "boss"}})).field, "role");
  EXPECT_EQ(std::get<FieldError>(ParseGrantBody(json::object())).field, "role");
  EXPECT_EQ(std::get<FieldError>(ParseGrantBody(json{{"role", "viewer"}, {"env", "x"}})).field,
            "env");
}

TEST(ValidateTokenRequest, TakesGrantsWithOrWithoutAGlobalRole) {
  auto with = ValidateTokenRequest(
      json{{"name", "ci"}, {"role", "viewer"}, {"environments", {{"staging", "deployer"}}}}, kNow);
  ASSERT_TRUE(std::holds_alternative<TokenRequest>(with));
  EXPECT_EQ(std::get<TokenRequest>(with).role, Role::kViewer);
  EXPECT_EQ(std::get<TokenRequest>(with).environments, (EnvGrants{{"staging", Role::kDeployer}}));
  // Grants alone: viewer everywhere else.
  auto alone =
      ValidateTokenRequest(json{{"name", "ci"}, {"environments", {{"dev", "approver"}}}}, kNow);
  ASSERT_TRUE(std::holds_alternative<TokenRequest>(alone));
  EXPECT_EQ(std::get<TokenRequest>(alone).role, Role::kViewer);
  // Neither: the role is still required.
  auto neither = ValidateTokenRequest(json{{"name", "ci"}}, kNow);
  ASSERT_TRUE(std::holds_alternative<FieldError>(neither));
  EXPECT_EQ(std::get<FieldError>(neither).field, "role");
  auto bad = ValidateTokenRequest(
      json{{"name", "ci"}, {"role", "viewer"}, {"environments", {{"prod", "owner"}}}}, kNow);
  ASSERT_TRUE(std::holds_alternative<FieldError>(bad));
  EXPECT_EQ(std::get<FieldError>(bad).field, "environments.prod");
}

TEST(ValidateDeploymentRequest, TakesAnOverrideOnlyWithAReason) {
  auto ok = ValidateDeploymentRequest(
      json{{"release_id", "r1"}, {"env", "production"}, {"override", {{"reason", "INC-42"}}}});
  ASSERT_TRUE(std::holds_alternative<DeploymentRequest>(ok));
  EXPECT_EQ(std::get<DeploymentRequest>(ok).override_reason, "INC-42");
  auto none = ValidateDeploymentRequest(json{{"release_id", "r1"}, {"env", "production"}});
  EXPECT_FALSE(std::get<DeploymentRequest>(none).override_reason);

  auto field = [](const json& over) {
    auto r = ValidateDeploymentRequest(
        json{{"release_id", "r1"}, {"env", "production"}, {"override", over}});
    return std::holds_alternative<FieldError>(r) ? std::get<FieldError>(r).field : "";
  };
  EXPECT_EQ(field(true), "override");
  EXPECT_EQ(field(json::object()), "override.reason");
  EXPECT_EQ(field(json{{"reason", ""}}), "override.reason");
  EXPECT_EQ(field(json{{"reason", std::string(1001, 'x')}}), "override.reason");
  EXPECT_EQ(field(json{{"reason", "a\u202Eb"}}), "override.reason");
  EXPECT_EQ(field(json{{"reason", "x"}, {"force", true}}), "override.force");

  // The fingerprint of a request without one is what it always was; an override changes it.
  const auto plain = std::get<DeploymentRequest>(none);
  EXPECT_EQ(RequestFingerprint(plain),
            Sha256Hex(R"({"env":"production","release_id":"r1","spec_version":null})"));
  EXPECT_NE(RequestFingerprint(plain), RequestFingerprint(std::get<DeploymentRequest>(ok)));
}

}  // namespace
}  // namespace sluice::release_intake
