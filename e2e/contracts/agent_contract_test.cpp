// The executor <-> sluice-agent contract (schemas/sluice/agent/v1/agent.proto), checked from both
// ends with each side's own code and no network: what the executor's AgentDriver sends, the
// agent's parser accepts; what the agent answers, the executor reads. Plus the two directions of
// a mixed-version pair: bodies of the previous release (written out below) still parse, and the
// new bodies keep to what the previous release's strict parser accepted.

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sluice/agentapi/wire.hpp>
#include <sluice/http/errors.hpp>

#include "adapters/agent_driver.hpp"  // the executor's side
#include "deploy.hpp"                 // the agent's side

namespace sluice {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kSha(64, 'b');

executor::AgentServiceSpec Service() {
  executor::AgentServiceSpec s;
  s.restart_command = {"systemctl", "restart", "shop"};
  s.restart_timeout = 20s;
  s.health.http_url = "http://127.0.0.1:8080/healthz";
  s.health.timeout = 5s;
  return s;
}

std::string DeployFromExecutor(std::string deployment_id = "dep-1", std::uint64_t generation = 7) {
  return agentapi::ToWireJson(
      executor::DeployBody({"2.0.0", "http://artifacts.local/shop-2.0.0.tar.gz", kSha},
                           {std::move(deployment_id), core::Generation(generation)}, Service()));
}

agent::AgentState HostAt(std::string current, agent::OperationState state, std::string reason) {
  agent::AgentState s;
  s.installed = {{"1.0.0", kSha, 1000}, {"2.0.0", kSha, 2000}};
  s.current = std::move(current);
  s.previous = "1.0.0";
  s.health = state == agent::OperationState::kSucceeded ? agent::HealthStatus::kHealthy
                                                        : agent::HealthStatus::kUnhealthy;
  agent::ObserveGeneration(s, "dep-1", 7);
  s.last_operation = agent::Operation{
      agent::OperationKind::kDeploy, "2.0.0", 7, state, std::move(reason), "", 10, 20};
  return s;
}

// The body libs/http writes for an error the agent's API throws.
std::string ErrorFromAgent(const http::ApiError& e) {
  httplib::Response res;
  http::WriteError(res, e);
  return res.body;
}

TEST(AgentContract, TheExecutorsDeployParsesOnTheAgent) {
  const auto r = agent::ParseDeployRequest(DeployFromExecutor());
  EXPECT_EQ(r.version, "2.0.0");
  EXPECT_EQ(r.artifact_url, "http://artifacts.local/shop-2.0.0.tar.gz");
  EXPECT_EQ(r.sha256, kSha);
  EXPECT_EQ(r.deployment_id, "dep-1");
  EXPECT_EQ(r.generation, 7u);
  EXPECT_EQ(r.service.restart_command, Service().restart_command);
  EXPECT_EQ(r.service.restart_timeout, 20s);
  EXPECT_EQ(r.service.health.http_url, "http://127.0.0.1:8080/healthz");
  EXPECT_TRUE(r.service.health.command.empty());
  EXPECT_EQ(r.service.health.timeout, 5s);
  EXPECT_EQ(r.service.health.interval, 500ms);  // the agent's default: the executor sends none
}

TEST(AgentContract, AGenerationOfZeroAndNoDeploymentStillParse) {
  // proto3 leaves zero values out; the contract prints them (the agent requires "generation").
  const auto r = agent::ParseDeployRequest(DeployFromExecutor("", 0));
  EXPECT_EQ(r.generation, 0u);
  EXPECT_EQ(r.deployment_id, "");
}

TEST(AgentContract, TheExecutorsRevertParsesOnTheAgent) {
  const auto body =
      agentapi::ToWireJson(executor::RevertBody("1.0.0", {"dep-1", core::Generation(9)}));
  const auto r = agent::ParseRevertRequest(body);
  EXPECT_EQ(r.version, "1.0.0");
  EXPECT_EQ(r.deployment_id, "dep-1");
  EXPECT_EQ(r.generation, 9u);
  EXPECT_FALSE(r.service.has_value());  // the agent reuses the last deploy's
}

TEST(AgentContract, TheAgentsReportReadsOnTheExecutor) {
  const auto ok = agentapi::ToWireJson(
      agent::ReportMessage(HostAt("2.0.0", agent::OperationState::kSucceeded, "")));
  const auto outcome = executor::AgentOutcome(200, ok, "2.0.0");
  EXPECT_TRUE(outcome.Succeeded()) << outcome.message;
  EXPECT_EQ(outcome.version, "2.0.0");
  EXPECT_EQ(outcome.health, executor::HostHealth::kHealthy);

  const auto failed = agentapi::ToWireJson(agent::ReportMessage(
      HostAt("2.0.0", agent::OperationState::kFailed, std::string(agent::kReasonRestartFailed))));
  const auto bad = executor::AgentOutcome(200, failed, "2.0.0");
  EXPECT_EQ(bad.kind, executor::OutcomeKind::kFailed);
  EXPECT_EQ(bad.reason, agent::kReasonRestartFailed);
  EXPECT_EQ(bad.health, executor::HostHealth::kUnhealthy);
  EXPECT_FALSE(bad.retryable);
}

TEST(AgentContract, TheAgentsStatusReadsOnTheExecutor) {
  const auto body = agentapi::ToWireJson(
      agent::StatusMessage(HostAt("2.0.0", agent::OperationState::kSucceeded, "")));
  const auto s = executor::AgentStatus(200, body);
  ASSERT_TRUE(s.reachable) << s.error;
  EXPECT_EQ(s.current, "2.0.0");
  EXPECT_EQ(s.previous, "1.0.0");
  EXPECT_EQ(s.installed, (std::vector<std::string>{"1.0.0", "2.0.0"}));
  EXPECT_EQ(s.health, executor::HostHealth::kHealthy);
  EXPECT_EQ(s.highest_generation, 7u);

  // A fresh host: no current, no previous, no operation yet.
  const auto fresh = executor::AgentStatus(200, agentapi::ToWireJson(agent::StatusMessage({})));
  ASSERT_TRUE(fresh.reachable) << fresh.error;
  EXPECT_EQ(fresh.current, "");
  EXPECT_EQ(fresh.health, executor::HostHealth::kUnknown);
}

TEST(AgentContract, TheAgentsRefusalsReadOnTheExecutor) {
  const auto stale = executor::AgentOutcome(
      409,
      ErrorFromAgent({409, std::string(agent::kReasonStaleGeneration), "generation 3 < 7", "", 0}),
      "2.0.0");
  EXPECT_EQ(stale.kind, executor::OutcomeKind::kStale);
  // What the agent's API answers to a body its parser refused (ValidationError → BadRequest).
  std::string field;
  try {
    agent::ParseDeployRequest(R"({"version":"2.0.0","generation":-1})");
  } catch (const agent::ValidationError& e) {
    field = e.Field();
  }
  ASSERT_EQ(field, "generation");
  const auto invalid =
      executor::AgentOutcome(400, ErrorFromAgent({400, "invalid_field", "bad", field, 0}), "2.0.0");
  EXPECT_EQ(invalid.reason, "invalid_field");
  EXPECT_FALSE(invalid.retryable);
  EXPECT_NE(invalid.message.find("(field generation)"), std::string::npos) << invalid.message;
  const auto download = executor::AgentOutcome(
      502, ErrorFromAgent({502, std::string(agent::kReasonDownloadFailed), "reset", "", 0}),
      "2.0.0");
  EXPECT_TRUE(download.retryable);
}

TEST(AgentContract, UnknownFieldsAreIgnoredBothWays) {
  // A newer executor adds fields at every level: this agent still parses the rest.
  json deploy = json::parse(DeployFromExecutor());
  deploy["priority"] = "high";
  deploy["service"]["drain"] = {{"seconds", 5}};
  deploy["service"]["health"]["expect_status"] = 204;
  const auto r = agent::ParseDeployRequest(deploy.dump());
  EXPECT_EQ(r.generation, 7u);
  EXPECT_EQ(r.service.health.timeout, 5s);

  // A newer agent adds fields to its answers: this executor still reads them.
  json report = json::parse(agentapi::ToWireJson(
      agent::ReportMessage(HostAt("2.0.0", agent::OperationState::kSucceeded, ""))));
  report["took_ms"] = 1234;
  report["status"]["disk"] = {{"free_bytes", 1}};
  report["operation"]["steps"] = json::array({"download", "switch"});
  EXPECT_TRUE(executor::AgentOutcome(200, report.dump(), "2.0.0").Succeeded());
  json status = json::parse(agentapi::ToWireJson(agent::StatusMessage({})));
  status["uptime_s"] = 3;
  EXPECT_TRUE(executor::AgentStatus(200, status.dump()).reachable);
  const auto stale = executor::AgentOutcome(
      409, R"({"error":{"code":"stale_generation","message":"m","field":"","hint":"x"}})", "1");
  EXPECT_EQ(stale.kind, executor::OutcomeKind::kStale);
}

// What the previous release put on the wire, byte for byte (nlohmann's dump of the old
// hand-written bodies).
constexpr const char* kOldExecutorDeploy =
    R"({"artifact_url":"http://artifacts.local/shop-2.0.0.tar.gz","deployment_id":"dep-1",)"
    R"("generation":7,"service":{"health":{"http_url":"http://127.0.0.1:8080/healthz",)"
    R"("timeout":"5000ms"},"restart_command":["systemctl","restart","shop"],)"
    R"("restart_timeout":"20000ms"},"sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",)"
    R"("version":"2.0.0"})";
constexpr const char* kOldAgentFreshStatus =
    R"({"current":null,"health_status":"unknown","highest_generation":0,"installed":[],)"
    R"("last_operation":null,"previous":null})";
constexpr const char* kOldAgentReport =
    R"({"operation":{"finished_at_ms":20,"generation":7,"kind":"deploy","message":"",)"
    R"("reason":"","started_at_ms":10,"state":"succeeded","version":"2.0.0"},)"
    R"("result":"succeeded","status":{"current":"2.0.0","health_status":"healthy",)"
    R"("highest_generation":7,"installed":[{"installed_at_ms":1000,"sha256":"bb","version":"1.0.0"},)"
    R"({"installed_at_ms":2000,"sha256":"bb","version":"2.0.0"}],"last_operation":{)"
    R"("finished_at_ms":20,"generation":7,"kind":"deploy","message":"","reason":"",)"
    R"("started_at_ms":10,"state":"succeeded","version":"2.0.0"},"previous":"1.0.0"}})";

TEST(AgentContract, ThePreviousReleasesBodiesStillParse) {
  const auto r = agent::ParseDeployRequest(kOldExecutorDeploy);
  EXPECT_EQ(r.generation, 7u);
  EXPECT_EQ(r.service.restart_timeout, 20s);
  const auto fresh = executor::AgentStatus(200, kOldAgentFreshStatus);
  ASSERT_TRUE(fresh.reachable) << fresh.error;
  EXPECT_EQ(fresh.current, "");
  const auto outcome = executor::AgentOutcome(200, kOldAgentReport, "2.0.0");
  EXPECT_TRUE(outcome.Succeeded()) << outcome.message;
}

// The previous release's agent refuses unknown fields and wants the generation as a JSON number;
// its executor reads highest_generation only as a number. The new bodies keep to that.
TEST(AgentContract, TheNewBodiesKeepToWhatThePreviousReleaseAccepted) {
  const json deploy = json::parse(DeployFromExecutor());
  const json old = json::parse(kOldExecutorDeploy);
  for (const auto& [key, value] : deploy.items()) {
    ASSERT_TRUE(old.contains(key)) << key;
    if (key != "service") {
      EXPECT_EQ(value, old[key]) << key;
    }
  }
  EXPECT_TRUE(deploy["generation"].is_number_unsigned());
  const std::set<std::string> service_keys = {"restart_command", "restart_timeout", "health"};
  const std::set<std::string> health_keys = {"http_url", "command", "timeout", "interval"};
  for (const auto& [key, value] : deploy["service"].items())
    EXPECT_TRUE(service_keys.contains(key)) << key;
  for (const auto& [key, value] : deploy["service"]["health"].items()) {
    EXPECT_TRUE(health_keys.contains(key)) << key;
  }
  EXPECT_EQ(deploy["service"]["restart_timeout"], "20000ms");
  EXPECT_EQ(deploy["service"]["health"]["timeout"], "5000ms");
  // An empty argv is read as "no command" by the previous agent too.
  EXPECT_EQ(deploy["service"]["health"].value("command", json::array()), json::array());

  const json revert = json::parse(
      agentapi::ToWireJson(executor::RevertBody("1.0.0", {"dep-1", core::Generation(9)})));
  EXPECT_EQ(revert, (json{{"version", "1.0.0"}, {"deployment_id", "dep-1"}, {"generation", 9}}));

  const json status = json::parse(agentapi::ToWireJson(
      agent::StatusMessage(HostAt("2.0.0", agent::OperationState::kSucceeded, ""))));
  EXPECT_TRUE(status["highest_generation"].is_number_unsigned());
  EXPECT_TRUE(status["installed"][0]["installed_at_ms"].is_number_integer());
  EXPECT_TRUE(status["last_operation"]["started_at_ms"].is_number_integer());
}

}  // namespace
}  // namespace sluice
