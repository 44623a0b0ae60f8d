#include "deploy.hpp"

#include <gtest/gtest.h>

namespace sluice::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kSha(64, 'a');

// The bodies go through the wire parser as the HTTP API's do.
DeployRequest Deploy(const json& body) { return ParseDeployRequest(body.dump()); }
RevertRequest Revert(const json& body) { return ParseRevertRequest(body.dump()); }

google::protobuf::Value Str(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}
google::protobuf::Value Num(double n) {
  google::protobuf::Value v;
  v.set_number_value(n);
  return v;
}

json ValidDeploy() {
  return {{"version", "1.2.3"},
          {"artifact_url", "https://artifacts.example/shop-1.2.3.tar.gz"},
          {"sha256", std::string(64, 'A')},
          {"generation", 7},
          {"service",
           {{"restart_command", {"systemctl", "restart", "shop"}},
            {"health", {{"http_url", "http://127.0.0.1:8080/healthz"}, {"timeout", "20s"}}}}}};
}

std::string FieldOf(const json& body) {
  try {
    Deploy(body);
  } catch (const ValidationError& e) {
    return e.Field();
  }
  return "<accepted>";
}

TEST(ParseDeployRequest, AcceptsAValidBodyAndNormalises) {
  const auto r = Deploy(ValidDeploy());
  EXPECT_EQ(r.version, "1.2.3");
  EXPECT_EQ(r.sha256, kSha);
  EXPECT_EQ(r.generation, 7u);
  EXPECT_EQ(r.service.restart_command, (std::vector<std::string>{"systemctl", "restart", "shop"}));
  EXPECT_EQ(r.service.health.http_url, "http://127.0.0.1:8080/healthz");
  EXPECT_EQ(r.service.health.timeout, 20s);
  EXPECT_EQ(r.service.health.interval, 500ms);
  EXPECT_EQ(r.service.restart_timeout, 60s);
}

TEST(ParseDeployRequest, NamesTheFieldOfEachError) {
  auto b = ValidDeploy();
  b.erase("version");
  EXPECT_EQ(FieldOf(b), "version");
  b = ValidDeploy();
  b["version"] = "../../etc";
  EXPECT_EQ(FieldOf(b), "version");
  b = ValidDeploy();
  b["artifact_url"] = "ftp://x/a.tgz";
  EXPECT_EQ(FieldOf(b), "artifact_url");
  b = ValidDeploy();
  b["artifact_url"] = "file:///etc/passwd";
  EXPECT_EQ(FieldOf(b), "artifact_url");
  b = ValidDeploy();
  b["sha256"] = std::string(63, 'a');
  EXPECT_EQ(FieldOf(b), "sha256");
  b = ValidDeploy();
  b["sha256"] = std::string(63, 'a') + "g";
  EXPECT_EQ(FieldOf(b), "sha256");
  b = ValidDeploy();
  b["generation"] = -1;
  EXPECT_EQ(FieldOf(b), "generation");
  b = ValidDeploy();
  b["generation"] = "seven";
  EXPECT_EQ(FieldOf(b), "generation");
  b = ValidDeploy();
  b["generation"] = 1.5;
  EXPECT_EQ(FieldOf(b), "generation");
  b = ValidDeploy();
  b.erase("generation");
  EXPECT_EQ(FieldOf(b), "generation");
  b = ValidDeploy();
  b.erase("service");
  EXPECT_EQ(FieldOf(b), "service");
  b = ValidDeploy();
  b["service"].erase("restart_command");
  EXPECT_EQ(FieldOf(b), "service.restart_command");
  b = ValidDeploy();
  b["service"]["restart_command"] = {"x", 1};
  EXPECT_EQ(FieldOf(b), "service.restart_command");
  b = ValidDeploy();
  b["service"]["health"]["command"] = {"true"};
  EXPECT_EQ(FieldOf(b), "service.health");
  b = ValidDeploy();
  b["service"]["health"].erase("http_url");
  EXPECT_EQ(FieldOf(b), "service.health");
  b = ValidDeploy();
  b["service"]["health"]["timeout"] = "soon";
  EXPECT_EQ(FieldOf(b), "service.health.timeout");
  b = ValidDeploy();
  b["service"]["health"]["timeout"] = 0;
  EXPECT_EQ(FieldOf(b), "service.health.timeout");
  b = ValidDeploy();
  b["service"]["health"]["timeout"] = json::array();
  EXPECT_EQ(FieldOf(b), "service.health.timeout");
  EXPECT_EQ(FieldOf(json::array()), "body");
}

// The wire contract (schemas/sluice/agent/v1/agent.proto): a newer executor may send fields this
// agent does not know; they are ignored, anywhere in the body. The generation may come in the
// protobuf JSON mapping's string form too.
TEST(ParseDeployRequest, IgnoresUnknownFields) {
  auto b = ValidDeploy();
  b["sha265"] = kSha;
  b["service"]["health"]["verbose"] = true;
  b["service"]["drain"] = {{"seconds", 5}};
  b["generation"] = "7";
  const auto r = Deploy(b);
  EXPECT_EQ(r.generation, 7u);
  EXPECT_EQ(r.service.health.timeout, 20s);
  EXPECT_EQ(Revert({{"version", "1.0.0"}, {"generation", 1}, {"sha256", kSha}}).generation, 1u);
}

TEST(ParseDeployRequest, AcceptsACommandHealthCheck) {
  auto b = ValidDeploy();
  b["service"]["health"] = {{"command", {"/bin/check", "--quick"}}, {"timeout", 3}};
  const auto r = Deploy(b);
  EXPECT_TRUE(r.service.health.http_url.empty());
  EXPECT_EQ(r.service.health.command, (std::vector<std::string>{"/bin/check", "--quick"}));
  EXPECT_EQ(r.service.health.timeout, 3s);
}

TEST(ParseRevertRequest, NeedsVersionAndGeneration) {
  const auto r = Revert({{"version", "1.0.0"}, {"generation", 3}});
  EXPECT_EQ(r.version, "1.0.0");
  EXPECT_EQ(r.generation, 3u);
  EXPECT_FALSE(r.service.has_value());
  EXPECT_THROW(Revert({{"version", "1.0.0"}}), ValidationError);
  EXPECT_THROW(Revert({{"generation", 1}}), ValidationError);
}

TEST(Validators, Versions) {
  for (const char* ok : {"1", "1.2", "1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build.5", "0.0.1"}) {
    EXPECT_TRUE(IsValidVersion(ok)) << ok;
  }
  for (const char* bad : {"", ".", "..", "1.2.3.4", "01.2", "1.2/3", "a", "1.2.3-", " 1.2",
                          "1.2.3\n", ".staging-1"}) {
    EXPECT_FALSE(IsValidVersion(bad)) << bad;
  }
  EXPECT_FALSE(IsValidVersion("1." + std::string(130, '1')));
}

TEST(Validators, UrlsAndDurations) {
  EXPECT_TRUE(IsHttpUrl("http://127.0.0.1:8080/a.tgz"));
  EXPECT_TRUE(IsHttpUrl("https://example.com/a.tgz?x=1"));
  EXPECT_FALSE(IsHttpUrl("http://"));
  EXPECT_FALSE(IsHttpUrl("http:///path"));
  EXPECT_FALSE(IsHttpUrl("https://a b/"));
  EXPECT_FALSE(IsHttpUrl("HTTP2://x"));
  EXPECT_EQ(ParseDuration(Str("250ms")), 250ms);
  EXPECT_EQ(ParseDuration(Str("2m")), 120s);
  EXPECT_EQ(ParseDuration(Str("1m30s")), 90s);
  EXPECT_EQ(ParseDuration(Num(5)), 5s);
  EXPECT_EQ(ParseDuration(Num(1.5)), 1500ms);
  EXPECT_FALSE(ParseDuration(Str("5")).has_value());
  EXPECT_FALSE(ParseDuration(Num(-1)).has_value());
  google::protobuf::Value yes;
  yes.set_bool_value(true);
  EXPECT_FALSE(ParseDuration(yes).has_value());
}

AgentState StateWith(std::vector<std::string> versions, std::string current, std::string previous) {
  AgentState s;
  std::int64_t t = 1000;
  for (auto& v : versions) s.installed.push_back({v, kSha, t++});
  s.current = std::move(current);
  s.previous = std::move(previous);
  return s;
}

TEST(Fencing, RefusesOnlyOlderGenerationsOfTheSameDeployment) {
  AgentState s;
  EXPECT_FALSE(IsStale(s, "dep-a", 0));
  ObserveGeneration(s, "dep-a", 5);
  EXPECT_EQ(s.HighestGeneration("dep-a"), 5u);
  EXPECT_TRUE(IsStale(s, "dep-a", 4));
  EXPECT_FALSE(IsStale(s, "dep-a", 5));  // the same command, retried
  EXPECT_FALSE(IsStale(s, "dep-a", 6));
  ObserveGeneration(s, "dep-a", 3);  // never goes back
  EXPECT_EQ(s.HighestGeneration("dep-a"), 5u);
  // The next deployment counts from 1 again: dep-a's rollback does not fence it.
  EXPECT_FALSE(IsStale(s, "dep-b", 1));
  ObserveGeneration(s, "dep-b", 1);
  EXPECT_EQ(s.HighestGeneration("dep-b"), 1u);
  EXPECT_TRUE(IsStale(s, "dep-a", 4));
  EXPECT_EQ(s.HighestGeneration(), 5u);
}

TEST(Fencing, OnlyTheDeploymentThatDeployedTheHostLastMayRevertIt) {
  AgentState s;
  EXPECT_FALSE(OwnedByAnother(s, "dep-a"));  // no named deploy yet
  s.owner = "dep-a";
  EXPECT_FALSE(OwnedByAnother(s, "dep-a"));
  EXPECT_FALSE(OwnedByAnother(s, ""));  // an executor that names no deployment is not fenced
  s.owner = "dep-b";                    // dep-b deployed the host after dep-a
  EXPECT_TRUE(OwnedByAnother(s, "dep-a"));
  EXPECT_FALSE(OwnedByAnother(s, "dep-b"));
  // Kept across a restart; a state file from before owners existed has none.
  EXPECT_EQ(StateFromJson(json::parse(ToJson(s).dump())).owner, "dep-b");
  auto j = ToJson(s);
  j.erase("owner");
  EXPECT_EQ(StateFromJson(j).owner, "");
}

TEST(Fencing, RemembersABoundedNumberOfDeployments) {
  AgentState s;
  ObserveGeneration(s, "old", 9);
  for (std::size_t i = 0; i < kGenerationsKept; ++i)
    ObserveGeneration(s, "d" + std::to_string(i), 2);
  EXPECT_EQ(s.generations.size(), kGenerationsKept);
  EXPECT_EQ(s.HighestGeneration("old"), 0u);  // the least recently seen was forgotten
  EXPECT_EQ(s.HighestGeneration("d0"), 2u);
  ObserveGeneration(s, "d0", 3);  // seen again: moves to the back
  EXPECT_EQ(s.generations.back().deployment_id, "d0");
  EXPECT_EQ(s.generations.back().generation, 3u);
}

TEST(Fencing, ReadsAHostWideGenerationFromAnOldStateFile) {
  auto j = ToJson(AgentState{});
  j.erase("generations");
  j["highest_generation"] = 4;
  const auto s = StateFromJson(j);
  EXPECT_TRUE(IsStale(s, "", 3));
  EXPECT_FALSE(IsStale(s, "dep-new", 1));
}

TEST(Parse, DeploymentIdIsOptionalAndChecked) {
  auto body = ValidDeploy();
  EXPECT_EQ(Deploy(body).deployment_id, "");
  body["deployment_id"] = "0b5e6c1a-2f7d-4c1e-9a43-5d2f0e8b7c61";
  EXPECT_EQ(Deploy(body).deployment_id, "0b5e6c1a-2f7d-4c1e-9a43-5d2f0e8b7c61");
  body["deployment_id"] = "bad id/../x";
  try {
    Deploy(body);
    FAIL() << "a bad deployment_id was accepted";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.Field(), "deployment_id");
  }
  EXPECT_EQ(
      Revert(json{{"version", "1.0.0"}, {"deployment_id", "d-1"}, {"generation", 2}}).deployment_id,
      "d-1");
}

TEST(Plan, DecidesWhatADeployHasToDo) {
  auto req = Deploy(ValidDeploy());  // 1.2.3, sha aaaa…
  AgentState empty;
  EXPECT_EQ(Plan(empty, req), PlanKind::kDownloadInstall);

  auto s = StateWith({"1.2.2", "1.2.3"}, "1.2.3", "1.2.2");
  s.health = HealthStatus::kHealthy;
  EXPECT_EQ(Plan(s, req), PlanKind::kNoOp);
  s.health = HealthStatus::kUnhealthy;
  EXPECT_EQ(Plan(s, req), PlanKind::kSwitchOnly);  // restart and check again
  s.health = HealthStatus::kUnknown;
  EXPECT_EQ(Plan(s, req), PlanKind::kSwitchOnly);

  s = StateWith({"1.2.3", "1.2.4"}, "1.2.4", "1.2.3");
  s.health = HealthStatus::kHealthy;
  EXPECT_EQ(Plan(s, req), PlanKind::kSwitchOnly);

  s.installed[0].sha256 = std::string(64, 'b');
  EXPECT_EQ(Plan(s, req), PlanKind::kConflict);
}

TEST(RecordSwitch, KeepsThePreviousVersion) {
  AgentState s;
  RecordSwitch(s, "1.0.0");
  EXPECT_EQ(s.current, "1.0.0");
  EXPECT_EQ(s.previous, "");
  RecordSwitch(s, "2.0.0");
  EXPECT_EQ(s.current, "2.0.0");
  EXPECT_EQ(s.previous, "1.0.0");
  RecordSwitch(s, "2.0.0");  // a re-switch to the same version keeps previous
  EXPECT_EQ(s.previous, "1.0.0");
  RecordSwitch(s, "1.0.0");
  EXPECT_EQ(s.current, "1.0.0");
  EXPECT_EQ(s.previous, "2.0.0");
}

TEST(Retention, KeepsTheLastNAndNeverCurrentOrPrevious) {
  auto s = StateWith({"1", "2", "3", "4", "5", "6"}, "6", "5");
  EXPECT_EQ(SelectForRemoval(s, 3), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(SelectForRemoval(s, 6), std::vector<std::string>{});
  EXPECT_EQ(SelectForRemoval(s, 10), std::vector<std::string>{});
  // After a revert the current one is old: it stays, the next oldest go.
  s = StateWith({"1", "2", "3", "4", "5"}, "1", "5");
  EXPECT_EQ(SelectForRemoval(s, 3), (std::vector<std::string>{"2", "3"}));
  // keep below 2 still keeps current and previous.
  s = StateWith({"1", "2", "3"}, "3", "2");
  EXPECT_EQ(SelectForRemoval(s, 0), std::vector<std::string>{"1"});
}

TEST(RecordInstalled, ReinstallMovesToTheEnd) {
  auto s = StateWith({"1", "2"}, "2", "1");
  RecordInstalled(s, {"1", kSha, 5000});
  ASSERT_EQ(s.installed.size(), 2u);
  EXPECT_EQ(s.installed.back().version, "1");
  RecordRemoved(s, "2");
  ASSERT_EQ(s.installed.size(), 1u);
}

TEST(State, RoundTripsThroughJson) {
  auto s = StateWith({"1.0.0", "2.0.0"}, "2.0.0", "1.0.0");
  s.health = HealthStatus::kUnhealthy;
  ObserveGeneration(s, "dep-1", 42);
  s.last_operation = Operation{OperationKind::kRevert,
                               "1.0.0",
                               42,
                               OperationState::kFailed,
                               std::string(kReasonHealthCheckFailed),
                               "no answer",
                               10,
                               20};
  s.service = Deploy(ValidDeploy()).service;
  const auto back = StateFromJson(json::parse(ToJson(s).dump()));
  EXPECT_EQ(back.current, "2.0.0");
  EXPECT_EQ(back.previous, "1.0.0");
  ASSERT_EQ(back.installed.size(), 2u);
  EXPECT_EQ(back.installed[1].installed_at_ms, 1001);
  EXPECT_EQ(back.health, HealthStatus::kUnhealthy);
  EXPECT_EQ(back.HighestGeneration("dep-1"), 42u);
  ASSERT_TRUE(back.last_operation.has_value());
  EXPECT_EQ(back.last_operation->kind, OperationKind::kRevert);
  EXPECT_EQ(back.last_operation->state, OperationState::kFailed);
  EXPECT_EQ(back.last_operation->reason, kReasonHealthCheckFailed);
  ASSERT_TRUE(back.service.has_value());
  EXPECT_EQ(back.service->health.timeout, 20s);
  EXPECT_EQ(back.service->restart_command, s.service->restart_command);

  EXPECT_THROW(StateFromJson(json::object()), std::runtime_error);
  auto bad = ToJson(s);
  bad["health"] = "great";
  EXPECT_THROW(StateFromJson(bad), std::runtime_error);
}

}  // namespace
}  // namespace sluice::agent
