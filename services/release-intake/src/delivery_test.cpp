#include "delivery.hpp"

#include <gtest/gtest.h>

#include <sluice/core/duration.hpp>

namespace sluice::release_intake {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSpec = R"(app: shop
environments:
  production:
    targets:
      web:
        hosts:
          - {name: web-1, address: 10.0.0.1, agentEndpoint: "http://10.0.0.1:7070"}
          - {name: web-2, address: 10.0.0.2, agentEndpoint: "http://10.0.0.2:7070"}
          - {name: web-3, address: 10.0.0.3, agentEndpoint: "http://10.0.0.3:7070"}
          - {name: web-4, address: 10.0.0.4, agentEndpoint: "http://10.0.0.4:7070"}
    strategy:
      type: canary
      steps:
        - weight: 25%
        - pause: 2m
        - weight: 50%
          analysis: default
        - approval: required
        - weight: 100%
      maxParallel: 2
    analysis:
      templates:
        default:
          metrics:
            error_rate: {query: 'sum(rate(errors{app="{{app}}"}[1m]))'}
          rules:
            - {name: errors, failWhen: "error_rate > 5%"}
)";

template <typename T, typename V>
const T& Get(const V& v) {
  EXPECT_TRUE(std::holds_alternative<T>(v));
  return std::get<T>(v);
}

TEST(SpecTextFromBody, YamlMediaTypesPassTheBodyThrough) {
  for (const char* ct : {"application/yaml", "text/yaml", "application/x-yaml",
                         "text/plain; charset=utf-8", "TEXT/YAML", ""}) {
    auto r = SpecTextFromBody(ct, "app: shop\n");
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << ct;
    EXPECT_EQ(std::get<std::string>(r), "app: shop\n");
  }
}

TEST(SpecTextFromBody, JsonCarriesTheSpecString) {
  auto r = SpecTextFromBody("application/json", R"({"spec": "app: shop\n"})");
  EXPECT_EQ(Get<std::string>(r), "app: shop\n");
  auto unknown = SpecTextFromBody("application/json", R"({"spec": "x", "yaml": 1})");
  EXPECT_EQ(Get<SpecBodyError>(unknown).error.field, "yaml");
  auto not_string = SpecTextFromBody("application/json", R"({"spec": 3})");
  EXPECT_EQ(Get<SpecBodyError>(not_string).error.field, "spec");
  auto malformed = SpecTextFromBody("application/json", "{");
  EXPECT_EQ(Get<SpecBodyError>(malformed).error.field, "body");
  // Parsed strictly: a key given twice (the last used to win) and a NUL are named.
  auto twice = SpecTextFromBody("application/json", R"({"spec": "app: a\n", "spec": "app: b\n"})");
  EXPECT_EQ(Get<SpecBodyError>(twice).error.field, "spec");
  auto nul = SpecTextFromBody("application/json", R"({"spec": "app: a\u0000"})");
  EXPECT_EQ(Get<SpecBodyError>(nul).error.field, "spec");
}

TEST(SpecTextFromBody, OtherMediaTypesAndBlankBodiesAreRefused) {
  auto xml = SpecTextFromBody("application/xml", "<a/>");
  EXPECT_EQ(Get<SpecBodyError>(xml).kind, SpecBodyError::Kind::kUnsupportedMediaType);
  auto blank = SpecTextFromBody("application/yaml", " \n\t");
  EXPECT_EQ(Get<SpecBodyError>(blank).kind, SpecBodyError::Kind::kInvalid);
  EXPECT_EQ(Get<SpecBodyError>(blank).error.field, "body");
}

TEST(SpecTextFromBody, SpecOverTheLimitIsRefusedNamingIt) {
  // A valid spec with a long comment: the event announcing it must stay far under the broker's
  // message.max.bytes, so the limit is on the spec text, whichever way it was sent.
  const std::string limit = std::to_string(256 * 1024);
  const std::string spec = "app: shop\n#" + std::string(256 * 1024, 'x') + "\n";
  for (const auto& [ct, body] : {std::pair<std::string, std::string>{"application/yaml", spec},
                                 {"application/json", nlohmann::json{{"spec", spec}}.dump()}}) {
    auto r = SpecTextFromBody(ct, body);
    ASSERT_TRUE(std::holds_alternative<SpecBodyError>(r)) << ct;
    const auto& e = std::get<SpecBodyError>(r);
    EXPECT_NE(static_cast<int>(e.kind), static_cast<int>(SpecBodyError::Kind::kInvalid)) << ct;
    EXPECT_EQ(e.error.field, "spec") << ct;
    EXPECT_NE(e.error.message.find(limit + " bytes"), std::string::npos) << e.error.message;
  }
  const std::string at_limit = "app: shop\n#" + std::string(256 * 1024 - 12, 'x') + "\n";
  ASSERT_EQ(at_limit.size(), 256u * 1024u);
  EXPECT_TRUE(std::holds_alternative<std::string>(SpecTextFromBody("text/yaml", at_limit)));
}

// A NUL byte cut the stored spec short (libpqxx passes C strings) and a byte that is not UTF-8
// made PostgreSQL fail the insert (500): both are refused, naming the byte offset.
TEST(SpecTextFromBody, RefusesNulAndInvalidUtf8NamingTheOffset) {
  const std::string nul =
      std::string("app: shop\n# reviewed \0 by approver\n", 35) + "policy: {approval: required}\n";
  for (const char* type : {"application/yaml", "text/plain"}) {
    auto r = SpecTextFromBody(type, nul);
    ASSERT_TRUE(std::holds_alternative<SpecBodyError>(r)) << type;
    const auto& e = std::get<SpecBodyError>(r);
    EXPECT_EQ(e.kind, SpecBodyError::Kind::kInvalid);
    EXPECT_EQ(e.error.field, "body");
    EXPECT_NE(e.error.message.find("NUL byte at byte offset 21"), std::string::npos)
        << e.error.message;
  }
  // In a JSON body the NUL arrives escaped; the offset is in the spec text.
  auto r = SpecTextFromBody("application/json", R"({"spec": "app: shop\n# x\u0000"})");
  ASSERT_TRUE(std::holds_alternative<SpecBodyError>(r));
  EXPECT_NE(std::get<SpecBodyError>(r).error.message.find("byte offset 13"), std::string::npos);
  for (const std::string& bad :
       {std::string("app: shop\n\xFF: x\n"), std::string("app: shop\n# \xFF comment\n"),
        std::string("app: shop\nlabels: {a: \"\xFF\"}\n")}) {
    auto e = CheckSpecBytes(bad);
    ASSERT_TRUE(e.has_value()) << bad;
    EXPECT_NE(e->message.find("not valid UTF-8 at byte offset"), std::string::npos);
  }
  EXPECT_NE(CheckSpecBytes("app: shop\n# \xFF\0")
                .value_or(FieldError{})
                .message.find("UTF-8 at byte offset 12"),
            std::string::npos);  // the first offending byte, whichever kind
  EXPECT_EQ(CheckSpecBytes("app: shop # caf\xC3\xA9\n"), std::nullopt);
}

TEST(Sha256Hex, IsTheHexDigest) {
  EXPECT_EQ(Sha256Hex("foo"), "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae");
}

TEST(SpecErrorBody, CarriesOriginLineColumnAndPath) {
  const std::string bad =
      std::string(kSpec).replace(std::string(kSpec).find("weight: 50%"), 11, "weight: 150%");
  auto parsed = spec::ParseDeliverySpec(bad, SpecOrigin("shop"));
  const auto& e = Get<spec::SpecError>(parsed);
  const json body = SpecErrorBody(e);
  EXPECT_EQ(body["error"]["code"], "invalid_spec");
  EXPECT_EQ(body["error"]["field"], "environments.production.strategy.steps[2].weight");
  EXPECT_EQ(body["error"]["line"], 16);
  EXPECT_TRUE(body["error"]["column"].is_number_integer());
  const std::string message = body["error"]["message"];
  EXPECT_EQ(message.rfind("shop.yaml:16:", 0), 0u) << message;
}

TEST(ValidateDeploymentRequest, AcceptsTheFieldsAndNamesTheWrongOne) {
  auto ok = ValidateDeploymentRequest(json{{"release_id", "r1"}, {"env", "production"}});
  EXPECT_EQ(Get<DeploymentRequest>(ok).release_id, "r1");
  EXPECT_FALSE(Get<DeploymentRequest>(ok).spec_version.has_value());
  auto versioned = ValidateDeploymentRequest(
      json{{"release_id", "r1"}, {"env", "production"}, {"spec_version", 3}});
  EXPECT_EQ(Get<DeploymentRequest>(versioned).spec_version, 3);

  EXPECT_EQ(Get<FieldError>(ValidateDeploymentRequest(json{{"env", "p"}})).field, "release_id");
  EXPECT_EQ(Get<FieldError>(ValidateDeploymentRequest(json{{"release_id", "r"}})).field, "env");
  EXPECT_EQ(
      Get<FieldError>(ValidateDeploymentRequest(json{{"release_id", "r"}, {"env", "Prod Env"}}))
          .field,
      "env");
  EXPECT_EQ(Get<FieldError>(ValidateDeploymentRequest(
                                json{{"release_id", "r"}, {"env", "p"}, {"spec_version", 0}}))
                .field,
            "spec_version");
  EXPECT_EQ(Get<FieldError>(ValidateDeploymentRequest(
                                json{{"release_id", "r"}, {"env", "p"}, {"spec_version", "2"}}))
                .field,
            "spec_version");
  EXPECT_EQ(Get<FieldError>(ValidateDeploymentRequest(
                                json{{"release_id", "r"}, {"env", "p"}, {"enviroment", "x"}}))
                .field,
            "enviroment");
  EXPECT_EQ(Get<FieldError>(ValidateDeploymentRequest(json::array())).field, "body");
}

TEST(RequestFingerprint, DependsOnTheRequestNotOnItsSpelling) {
  const auto a = Get<DeploymentRequest>(
      ValidateDeploymentRequest(json::parse(R"({"release_id":"r1","env":"production"})")));
  const auto b = Get<DeploymentRequest>(
      ValidateDeploymentRequest(json::parse(R"({ "env" : "production", "release_id":"r1" })")));
  const auto c = Get<DeploymentRequest>(ValidateDeploymentRequest(
      json::parse(R"({"release_id":"r1","env":"production","spec_version":2})")));
  EXPECT_EQ(RequestFingerprint(a), RequestFingerprint(b));
  EXPECT_NE(RequestFingerprint(a), RequestFingerprint(c));
  EXPECT_EQ(RequestFingerprint(a).size(), 64u);
}

TEST(IdempotencyKey, PrintableAndBounded) {
  EXPECT_TRUE(IsValidIdempotencyKey("deploy-42"));
  EXPECT_FALSE(IsValidIdempotencyKey(""));
  EXPECT_FALSE(IsValidIdempotencyKey("with space"));
  EXPECT_FALSE(IsValidIdempotencyKey(std::string(201, 'k')));
}

// The dry run writes gate durations with core::FormatDuration: the spec grammar reads them back.
TEST(FormatDuration, ShortestSpellingThatTheSpecParsesBack) {
  EXPECT_EQ(core::FormatDuration(2min), "2m");
  EXPECT_EQ(core::FormatDuration(90s), "1m30s");
  EXPECT_EQ(core::FormatDuration(5400s), "1h30m");
  EXPECT_EQ(core::FormatDuration(500ms), "500ms");
  EXPECT_EQ(core::FormatDuration(0ms), "0s");
  for (std::chrono::milliseconds d : {120000ms, 90000ms, 3723004ms, 129600000ms}) {
    EXPECT_EQ(spec::ParseDuration(core::FormatDuration(d)), d);
  }
}

TEST(DryRunJson, ShowsTheBatchesThePlannerCuts) {
  auto parsed = spec::ParseDeliverySpec(kSpec, "shop.yaml");
  const auto& spec = Get<spec::DeliverySpec>(parsed);
  const auto* env = spec.FindEnvironment("production");
  ASSERT_NE(env, nullptr);
  DryRunInput in{
      "shop", "production", "r1", "1.2.3", 4, env, spec::PlanRollout(*env, env->AllHosts())};
  const json j = DryRunJson(in);
  EXPECT_EQ(j["dry_run"], true);
  EXPECT_EQ(j["strategy"], "canary");
  EXPECT_EQ(j["version"], "1.2.3");
  EXPECT_EQ(j["spec_version"], 4);
  EXPECT_EQ(j["total_hosts"], 4);
  const auto& b = j["batches"];
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0]["index"], 0);
  EXPECT_EQ(b[0]["weight_percent"], 25);
  EXPECT_EQ(b[0]["hosts"], json::parse(R"([{"name":"web-1","address":"10.0.0.1"}])"));
  EXPECT_EQ(b[0]["gates_before"], json::array());
  EXPECT_EQ(b[1]["weight_percent"], 50);
  EXPECT_EQ(b[1]["cumulative_hosts"], 2);
  EXPECT_EQ(b[1]["gates_before"], json::parse(R"([{"kind":"pause","duration":"2m"}])"));
  EXPECT_EQ(b[1]["analysis"], true);
  EXPECT_EQ(b[1]["analysis_template"], "default");
  EXPECT_EQ(b[2]["gates_before"], json::parse(R"([{"kind":"approval"}])"));
  EXPECT_EQ(b[2]["hosts"].size(), 2u);
  EXPECT_EQ(b[2]["max_parallel"], 2);
}

TEST(Verbs, ParseAndRoles) {
  for (const char* v : {"promote", "pause", "resume", "abort", "approve", "rollback"}) {
    ASSERT_TRUE(ParseVerb(v).has_value()) << v;
    EXPECT_EQ(events::Name(*ParseVerb(v)), v);
  }
  EXPECT_FALSE(ParseVerb("restart").has_value());
  EXPECT_FALSE(ParseVerb("PAUSE").has_value());
  EXPECT_EQ(RequiredRole(OperatorCommand::VERB_PAUSE), Role::kDeployer);
  EXPECT_EQ(RequiredRole(OperatorCommand::VERB_PROMOTE), Role::kDeployer);
  EXPECT_EQ(RequiredRole(OperatorCommand::VERB_ABORT), Role::kDeployer);
  EXPECT_EQ(RequiredRole(OperatorCommand::VERB_RESUME), Role::kDeployer);
  EXPECT_EQ(RequiredRole(OperatorCommand::VERB_APPROVE), Role::kApprover);
  EXPECT_EQ(RequiredRole(OperatorCommand::VERB_ROLLBACK), Role::kApprover);
}

TEST(ValidateCommand, ReasonRefusesBidiControls) {
  auto r = ValidateCommand(OperatorCommand::VERB_APPROVE, {{"reason", "looks good \u202Edab"}});
  ASSERT_TRUE(std::holds_alternative<FieldError>(r));
  EXPECT_EQ(std::get<FieldError>(r).field, "reason");
}

TEST(ValidateCommand, OptionalFieldsChecked) {
  EXPECT_EQ(Get<CommandInput>(ValidateCommand(OperatorCommand::VERB_PAUSE, json())).generation, 0u);
  auto c = Get<CommandInput>(ValidateCommand(
      OperatorCommand::VERB_ROLLBACK,
      json{{"reason", "errors up"}, {"generation", 3}, {"target_release_id", "r0"}}));
  EXPECT_EQ(c.reason, "errors up");
  EXPECT_EQ(c.generation, 3u);
  EXPECT_EQ(c.target_release_id, "r0");
  EXPECT_EQ(Get<FieldError>(
                ValidateCommand(OperatorCommand::VERB_PAUSE, json{{"target_release_id", "r0"}}))
                .field,
            "target_release_id");
  EXPECT_EQ(
      Get<FieldError>(ValidateCommand(OperatorCommand::VERB_PAUSE, json{{"generation", -1}})).field,
      "generation");
  EXPECT_EQ(
      Get<FieldError>(ValidateCommand(OperatorCommand::VERB_PAUSE, json{{"reasn", "x"}})).field,
      "reasn");
  EXPECT_EQ(
      Get<FieldError>(ValidateCommand(OperatorCommand::VERB_PAUSE, json{{"reason", 5}})).field,
      "reason");
}

TEST(ValidateAlert, ReadsEveryFieldFiringByDefault) {
  const auto a = Get<AlertInput>(ValidateAlert(json{{"app", "shop"},
                                                    {"env", "production"},
                                                    {"alertname", "HighErrorRate"},
                                                    {"severity", "critical"},
                                                    {"summary", "5xx above 2% for 5m"}}));
  EXPECT_EQ(a.app, "shop");
  EXPECT_EQ(a.env, "production");
  EXPECT_EQ(a.alert_name, "HighErrorRate");
  EXPECT_EQ(a.severity, "critical");
  EXPECT_EQ(a.summary, "5xx above 2% for 5m");
  EXPECT_FALSE(a.resolved);
  EXPECT_TRUE(Get<AlertInput>(ValidateAlert(json{{"app", "shop"},
                                                 {"env", "production"},
                                                 {"alertname", "HighErrorRate"},
                                                 {"status", "resolved"}}))
                  .resolved);
}

// Each bad alert is refused naming its field, as the HTTP API names a body's.
TEST(ValidateAlert, RefusesNamingTheField) {
  const json good = {{"app", "shop"}, {"env", "production"}, {"alertname", "HighErrorRate"}};
  const auto field_of = [&good](const std::string& key, const json& value) {
    json body = good;
    if (value.is_null()) {
      body.erase(key);
    } else {
      body[key] = value;
    }
    return Get<FieldError>(ValidateAlert(body)).field;
  };
  EXPECT_EQ(field_of("app", nullptr), "app");
  EXPECT_EQ(field_of("app", "Shop"), "app");
  EXPECT_EQ(field_of("env", nullptr), "env");
  EXPECT_EQ(field_of("env", 7), "env");
  EXPECT_EQ(field_of("alertname", nullptr), "alertname");
  EXPECT_EQ(field_of("alertname", ""), "alertname");
  EXPECT_EQ(field_of("alertname", std::string(201, 'a')), "alertname");
  EXPECT_EQ(field_of("alertname", "High\u202EetaR"), "alertname");  // a bidi override
  EXPECT_EQ(field_of("severity", std::string(65, 'a')), "severity");
  EXPECT_EQ(field_of("summary", json::array()), "summary");
  EXPECT_EQ(field_of("status", "pending"), "status");
  EXPECT_EQ(field_of("labels", json::object()), "labels");  // unknown
  EXPECT_EQ(Get<FieldError>(ValidateAlert(json::array())).field, "body");
}

TEST(NormalizeBaseUrl, HttpOnlyWithoutTrailingSlash) {
  EXPECT_EQ(NormalizeBaseUrl("http://127.0.0.1:8082/"), "http://127.0.0.1:8082");
  EXPECT_EQ(NormalizeBaseUrl("https://planner.svc/api"), "https://planner.svc/api");
  EXPECT_FALSE(NormalizeBaseUrl("127.0.0.1:8082").has_value());
  EXPECT_FALSE(NormalizeBaseUrl("http://").has_value());
  EXPECT_FALSE(NormalizeBaseUrl("http://h/?x=1").has_value());
}

TEST(ForwardQuery, OnlyAllowedParametersEncoded) {
  std::multimap<std::string, std::string> params = {
      {"app", "shop"}, {"status", "running"}, {"evil", "x"}, {"env", "prod env&x=1"}};
  EXPECT_EQ(ForwardQuery(params, {"app", "env", "status", "limit"}),
            "?app=shop&env=prod%20env%26x%3D1&status=running");
  EXPECT_EQ(ForwardQuery({}, {"app"}), "");
}

TEST(IsJsonMediaType, JsonAndPlusJsonOnly) {
  EXPECT_TRUE(IsJsonMediaType("application/json"));
  EXPECT_TRUE(IsJsonMediaType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(IsJsonMediaType("application/problem+json"));
  EXPECT_FALSE(IsJsonMediaType("text/markdown; charset=utf-8"));
  EXPECT_FALSE(IsJsonMediaType("image/svg+xml"));
  EXPECT_FALSE(IsJsonMediaType("+json"));
  EXPECT_FALSE(IsJsonMediaType(""));
}

TEST(DeploymentId, Shape) {
  EXPECT_TRUE(IsValidDeploymentId("0b7e6a52-3c1f-4c55-9f0e-2a8d7f5f0c11"));
  EXPECT_FALSE(IsValidDeploymentId(""));
  EXPECT_FALSE(IsValidDeploymentId("a/b"));
  EXPECT_FALSE(IsValidDeploymentId(std::string(65, 'a')));
}

}  // namespace
}  // namespace sluice::release_intake
