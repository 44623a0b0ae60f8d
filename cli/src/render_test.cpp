#include "render.hpp"

#include <gtest/gtest.h>

#include <sluice/core/rfc3339.hpp>

namespace sluice::cli {
namespace {

using nlohmann::json;

TEST(SpecAppName, ReadsTheTopLevelKey) {
  EXPECT_EQ(SpecAppName("# spec\napp: demo-app\nenvironments:\n"), "demo-app");
  EXPECT_EQ(SpecAppName("app: \"shop\"  # quoted\n"), "shop");
  EXPECT_EQ(SpecAppName("environments:\n  app: nested\n"), "");
  EXPECT_EQ(SpecAppName(""), "");
}

TEST(RenderSpecError, NamesTheLocalFileAndPointsAtTheColumn) {
  const std::string text = "app: shop\nenvironments:\n  prod:\n    weight: 250%\n";
  const json error = {{"code", "invalid_spec"},
                      {"message", "shop.yaml:4:13: environments.prod.weight: must be 1%..100%"},
                      {"field", "environments.prod.weight"},
                      {"line", 4},
                      {"column", 13}};
  const auto lines = RenderSpecError(error, "shop", "specs/shop.yaml", text);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "specs/shop.yaml:4:13: environments.prod.weight: must be 1%..100%");
  EXPECT_EQ(lines[1], " 4 |     weight: 250%");
  EXPECT_EQ(lines[2], "   |             ^");
}

TEST(RenderSpecError, WithoutALineOnlyTheMessage) {
  const json error = {{"message", "shop.yaml: app: the spec is for app 'x'"}, {"line", nullptr}};
  const auto lines = RenderSpecError(error, "shop", "a.yaml", "app: x\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "a.yaml: app: the spec is for app 'x'");
}

TEST(RenderPlan, OneAlignedLinePerBatch) {
  const json plan = json::parse(R"({"batches":[
    {"index":0,"weight_percent":5,"hosts":[{"name":"web-1","address":"10.0.0.1"}],
     "gates_before":[],"analysis":false},
    {"index":1,"weight_percent":25,"hosts":[{"name":"web-2","address":"10.0.0.2"}],
     "gates_before":[{"kind":"pause","duration":"2m"}],"analysis":true},
    {"index":2,"weight_percent":100,"hosts":[{"name":"web-3"},{"name":"web-4"}],
     "gates_before":[{"kind":"approval"},{"kind":"pause","duration":null}],"analysis":false}]})");
  const auto lines = RenderPlan(plan);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "batch 1    5%  1 host    web-1          (gates: none)");
  EXPECT_EQ(lines[1], "batch 2   25%  1 host    web-2          (gates: pause 2m) + analysis");
  EXPECT_EQ(lines[2],
            "batch 3  100%  2 hosts   web-3, web-4   (gates: approval, pause until resumed)");
}

TEST(RenderInventories, SourceCountAndWhatChanged) {
  const json answer = json::parse(R"({"inventories":[
    {"group":"web","source":"url https://cmdb.example/inv","inventory_group":"webservers",
     "hosts":[{"name":"w1"},{"name":"w3"},{"name":"w4"}],"removed_hosts":["w2"],
     "added_hosts":["w4"]},
    {"group":"db","source":"file /etc/sluice/inventories/db.json","inventory_group":"db",
     "hosts":[{"name":"d1"}],"removed_hosts":[],"added_hosts":[]}]})");
  const auto lines = RenderInventories(answer);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "inventory web: url https://cmdb.example/inv, group webservers, 3 hosts");
  EXPECT_EQ(lines[1], "  gone since the last deployment: w2; new: w4");
  EXPECT_EQ(lines[2], "inventory db: file /etc/sluice/inventories/db.json, group db, 1 host");
  EXPECT_TRUE(RenderInventories(json::parse(R"({"batches":[]})")).empty());

  const json selected = json::parse(R"({"inventories":[
    {"group":"front","source":"selector role=web,zone=zone-a","selector":{"role":"web"},
     "hosts":[{"name":"w1"},{"name":"w2"}],"removed_hosts":["w0"],"added_hosts":[]}]})");
  const auto sel = RenderInventories(selected);
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0], "inventory front: selector role=web,zone=zone-a, 2 hosts");
  EXPECT_EQ(sel[1], "  gone since the last deployment: w0");
}

TEST(RenderPlan, KubernetesTargetsBesideTheHosts) {
  const json plan = json::parse(R"({"batches":[
    {"index":0,"weight_percent":5,"hosts":[{"name":"web-1"}],"gates_before":[],"analysis":true,
     "kubernetes":[{"name":"web","kind":"Deployment","workload":"demo-app",
                    "rollout":"replica-canary"}]},
    {"index":1,"weight_percent":100,"hosts":[],"gates_before":[],"analysis":false,
     "kubernetes":[{"name":"web","kind":"Deployment","workload":"demo-app",
                    "rollout":"replica-canary"}]}]})");
  const auto lines = RenderPlan(plan);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "batch 1    5%  1 host + 1 workload    web-1, Deployment demo-app (replica-canary)   "
            "(gates: none) + analysis");
  EXPECT_EQ(lines[1],
            "batch 2  100%  0 hosts + 1 workload   Deployment demo-app (replica-canary)          "
            "(gates: none)");
}

TEST(FinalStatus, SucceededIsZeroOthersTwo) {
  for (const char* s : {"succeeded", "failed", "rolled_back", "aborted"}) {
    EXPECT_TRUE(IsFinalStatus(s)) << s;
  }
  for (const char* s : {"pending", "running", "paused", "rolling_back", ""}) {
    EXPECT_FALSE(IsFinalStatus(s)) << s;
  }
  EXPECT_EQ(ExitCodeFor("succeeded"), 0);
  EXPECT_EQ(ExitCodeFor("failed"), 2);
  EXPECT_EQ(ExitCodeFor("rolled_back"), 2);
  EXPECT_EQ(ExitCodeFor("aborted"), 2);
}

TEST(TransitionLine, TimeKindDetailActorAndWhatWasIgnored) {
  EXPECT_EQ(TransitionLine(json::parse(R"({"at":"2026-12-07T09:40:01.250Z",
    "kind":"batch_completed","detail":"batch 1 of 3 succeeded","actor":"planner","applied":true,
    "status":"running"})")),
            "09:40:01  batch_completed: batch 1 of 3 succeeded (by planner)");
  EXPECT_EQ(TransitionLine(json::parse(R"({"at":"2026-12-07T09:40:07Z","kind":"resume",
    "detail":"","actor":"alice","applied":false,"ignored_reason":"not paused"})")),
            "09:40:07  resume: (by alice) ignored: not paused");
  EXPECT_EQ(TransitionLine(json::parse(R"({"at":"soon","kind":"k"})")), "soon  k:");
}

TEST(DescribeDeployment, ShowsTheBatchInProgress) {
  json d = json::parse(R"({"id":"d1","status":"running","phase":"canary","batches":[
    {"index":0,"weight_percent":5,"hosts":["web-1"],"status":"succeeded"},
    {"index":1,"weight_percent":25,"hosts":["web-2","web-4"],"status":"running"},
    {"index":2,"weight_percent":100,"hosts":["web-3"],"status":"pending"}]})");
  auto v = DescribeDeployment(d);
  EXPECT_EQ(v.status_line, "deployment d1 running (canary)");
  EXPECT_EQ(v.batch_line, "batch 2/3 25% running: web-2, web-4");

  d["batches"][1]["status"] = "succeeded";
  d["status"] = "paused";
  d["phase"] = "paused";
  d["pause_reason"] = "approval required";
  v = DescribeDeployment(d);
  EXPECT_EQ(v.status_line, "deployment d1 paused: approval required");
  EXPECT_EQ(v.batch_line, "batch 2/3 25% succeeded: web-2, web-4");

  d["status"] = "failed";
  d["failure_reason"] = "analysis_failed";
  d["batches"][2]["status"] = "failed";
  v = DescribeDeployment(d);
  EXPECT_EQ(v.status_line, "deployment d1 failed (paused): analysis_failed");
  EXPECT_EQ(v.batch_line, "batch 3/3 100% failed: web-3");
}

TEST(DescribeDeployment, NoBatchYet) {
  const auto v = DescribeDeployment(json{{"id", "d1"}, {"status", "pending"}});
  EXPECT_EQ(v.status_line, "deployment d1 pending");
  EXPECT_EQ(v.batch_line, "");
}

TEST(RenderDeploymentList, Table) {
  const auto lines = RenderDeploymentList(json::parse(
      R"({"items":[{"id":"d1","app":"shop","env":"production","version":"1.2.3",
          "status":"running","created_at":"2024-05-01T10:00:00Z"}]})"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "ID  APP   ENV         VERSION  STATUS   CREATED");
  EXPECT_EQ(lines[1], "d1  shop  production  1.2.3    running  2024-05-01T10:00:00Z");
}

TEST(RenderDeploymentList, NextPageLineIsTheCommandAgainWithTheCursorOnlyWhenThereIsAPage) {
  const std::vector<std::string> cmd = {"sluice", "deployment", "list", "--app",
                                        "shop",   "--limit",    "20"};
  EXPECT_EQ(NextPageLine(json::parse(R"({"deployments":[],"next_cursor":"MTc5Ni5kMQ"})"), cmd),
            "next page: sluice deployment list --app shop --limit 20 --cursor MTc5Ni5kMQ");
  // The last page, or an answer without paging: no line.
  EXPECT_EQ(NextPageLine(json::parse(R"({"deployments":[],"next_cursor":null})"), cmd), "");
  EXPECT_EQ(NextPageLine(json::parse(R"({"deployments":[]})"), cmd), "");
  EXPECT_EQ(NextPageLine(json::array(), cmd), "");
  // What a shell would split or expand is quoted.
  EXPECT_EQ(NextPageLine(json::parse(R"({"next_cursor":"a b"})"),
                         {"sluice", "deployment", "list", "--env", "it's prod"}),
            "next page: sluice deployment list --env 'it'\\''s prod' --cursor 'a b'");
}

TEST(RenderDeploymentList, AWaitingDeploymentSaysUntilWhenOrWhyItWaits) {
  // GET /v1/deployments lists the ones release-intake holds first, as GET by id shows them.
  const auto lines = RenderDeploymentList(json::parse(R"({"deployments":[
    {"id":"d9","deployment_id":"d9","app":"shop","env":"production","version":"1.2.4",
     "status":"waiting","requested_at_ms":1796630400000,"created_at":"2026-12-07T08:00:00.000Z",
     "waiting":{"code":"outside_window","message":"closed",
                "next_open":"2026-12-08T08:00:00.000Z","next_open_ms":1796716800000}},
    {"id":"d8","app":"shop","env":"production","version":"1.2.4","status":"waiting",
     "created_at":"2026-12-07T07:00:00.000Z",
     "waiting":{"code":"environment_frozen","message":"frozen"}},
    {"id":"d1","app":"shop","env":"production","version":"1.2.3","status":"succeeded",
     "created_at":"2026-12-06T10:00:00.000Z"}]})"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "ID  APP   ENV         VERSION  STATUS                                  CREATED");
  EXPECT_EQ(lines[1],
            "d9  shop  production  1.2.4    waiting until 2026-12-08T08:00:00.000Z  "
            "2026-12-07T08:00:00.000Z");
  EXPECT_EQ(lines[2],
            "d8  shop  production  1.2.4    waiting (environment_frozen)            "
            "2026-12-07T07:00:00.000Z");
  EXPECT_EQ(lines[3],
            "d1  shop  production  1.2.3    succeeded                               "
            "2026-12-06T10:00:00.000Z");
}

TEST(RenderAnalysisList, TableWithBatchFromOneAndKind) {
  const auto lines = RenderAnalysisList(json::parse(R"({"analyses":[
    {"id":"a1","batch_index":1,"template":"default","bake_watch":false,"status":"Failed",
     "reason":"threshold_breached","started_at":"2024-05-01T10:00:00Z"},
    {"id":"a2","batch_index":2,"template":"bake","bake_watch":true,"status":"Running",
     "reason":"","started_at":"2024-05-01T10:05:00Z"}]})"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "ID  BATCH  KIND    TEMPLATE  STATUS   REASON              STARTED");
  EXPECT_EQ(lines[1],
            "a1  2      canary  default   Failed   threshold_breached  2024-05-01T10:00:00Z");
  EXPECT_EQ(lines[2],
            "a2  3      bake    bake      Running                      2024-05-01T10:05:00Z");
  EXPECT_EQ(RenderAnalysisList(json::parse(R"({"analyses":[]})")),
            std::vector<std::string>{"no analyses"});
}

TEST(RenderIncidentList, TableAndAFailedRollback) {
  const auto lines = RenderIncidentList(json::parse(R"({"incidents":[
    {"id":"i1","app":"shop","env":"production","version":"2.0.0","trigger":"analysis_failed",
     "scope":"batches","success":true,"final_status":"failed","created_at":"2024-05-01T10:00:00Z"},
    {"id":"i2","app":"shop","env":"production","version":"2.1.0","trigger":"alert",
     "scope":"deployment","success":false,"final_status":"rolled_back",
     "created_at":"2024-05-02T10:00:00Z"}]})"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "ID  APP   ENV         VERSION  TRIGGER          SCOPE       RESULT           CREATED");
  EXPECT_EQ(lines[1],
            "i1  shop  production  2.0.0    analysis_failed  batches     failed           "
            "2024-05-01T10:00:00Z");
  EXPECT_EQ(lines[2],
            "i2  shop  production  2.1.0    alert            deployment  rollback failed  "
            "2024-05-02T10:00:00Z");
  // {"items": [...]} is read too; nothing is said plainly.
  EXPECT_EQ(RenderIncidentList(json::parse(R"({"items":[{"id":"i3"}]})")).size(), 2u);
  EXPECT_EQ(RenderIncidentList(json::object()), std::vector<std::string>{"no incidents"});
}

TEST(RenderAnalysisVerdict, RetrospectiveRulesAndJudge) {
  const auto lines = RenderAnalysisVerdict(json::parse(R"({
    "outcome":"Failed","reason":"threshold_breached",
    "rules":[
      {"name":"seed","outcome":"Failed","measurements":[
        {"verdict":"Successful","message":"error_rate 0.01 <= 0.05"},
        {"verdict":"Failed","message":"error_rate 0.31 > 0.05 on sx-h2"},
        {"verdict":"Successful","message":"error_rate 0.02 <= 0.05"}]},
      {"name":"cpu","outcome":"Successful","measurements":[
        {"verdict":"Successful","message":"cpu 0.2 <= 0.9"}]}],
    "judge":{"verdict":"Successful","score":97.53,"reason":""}})"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "analysis Failed: threshold_breached");
  EXPECT_EQ(lines[1], "rule seed  Failed      3 measurements  error_rate 0.31 > 0.05 on sx-h2");
  EXPECT_EQ(lines[2], "rule cpu   Successful  1 measurement   cpu 0.2 <= 0.9");
  EXPECT_EQ(lines[3], "judge      Successful  score 97.5");
  EXPECT_EQ(AnalysisExitCode("Successful"), 0);
  for (const char* o : {"Failed", "Error", "Inconclusive", "Running", ""}) {
    EXPECT_EQ(AnalysisExitCode(o), 2) << o;
  }
}

TEST(RenderAnalysisVerdict, StoredAnalysisTakesMeasurementsFromItsList) {
  const auto lines = RenderAnalysisVerdict(json::parse(R"({
    "id":"a1","status":"Successful","reason":"",
    "rules":[{"name":"seed","kind":"threshold","outcome":"Successful"}],
    "measurements":[{"rule":"seed","verdict":"Successful","message":"error_rate 0 <= 0.05"},
                    {"rule":"other","verdict":"Failed","message":"x"}]})"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "analysis Successful");
  EXPECT_EQ(lines[1], "rule seed  Successful  1 measurement  error_rate 0 <= 0.05");
}

TEST(RenderDeploymentView, BatchesGatesAndTheNextCommand) {
  const json d = json::parse(R"({"id":"d-1","app":"shop","version":"1.2.3","env":"production",
    "status":"running","phase":"canary","generation":2,"batches":[
    {"index":0,"weight_percent":5,"hosts":["web-1"],"status":"succeeded","analysis":false,
     "gates":[]},
    {"index":1,"weight_percent":25,"hosts":["web-2"],"status":"waiting","analysis":true,
     "gates":[{"kind":"pause","passed":true,"duration_ms":120000},
              {"kind":"approval","passed":false}]},
    {"index":2,"weight_percent":100,"hosts":["web-3","web-4"],"status":"pending",
     "analysis":false,"gates":[{"kind":"pause","passed":false,"duration_ms":null}]}]})");
  EXPECT_EQ(RenderDeploymentView(d),
            (std::vector<std::string>{
                "deployment d-1 running (canary)",
                "shop 1.2.3 -> production, generation 2",
                "batch 1    5%  succeeded  web-1",
                "batch 2   25%  waiting    web-2  (waits for: approval) + analysis",
                "batch 3  100%  pending    web-3, web-4  (waits for: pause until resumed)",
                "next: sluice deployment approve d-1",
            }));
  // The hosts: each one's latest record.
  const json instances = json::parse(R"({"instances":[
    {"host":"web-1","version":"1.2.2","health_status":"healthy","status":"succeeded"},
    {"host":"web-2","version":"1.2.3","health_status":"","status":"deploying"},
    {"host":"web-1","version":"1.2.3","health_status":"healthy","status":"succeeded"}]})");
  const auto lines = RenderDeploymentView(d, instances);
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[5], "hosts:");
  EXPECT_EQ(lines[6], "  web-1  1.2.3  healthy  succeeded");
  EXPECT_EQ(lines[7], "  web-2  1.2.3  -        deploying");
  EXPECT_EQ(lines[8], "next: sluice deployment approve d-1");
  // The latest analysis, before the next command.
  const json analysis = json::parse(R"({"id":"an-2","batch_index":1,"bake_watch":false,
    "status":"Running","measurements":[{"rule":"seed","message":"error_rate 0.02 <= 0.05"},
    {"rule":"seed","message":"error_rate 0.01 <= 0.05"}]})");
  const auto with = RenderDeploymentView(d, nullptr, analysis);
  ASSERT_EQ(with.size(), 7u);
  EXPECT_EQ(with[5],
            "analysis an-2 (batch 2, canary) Running: error_rate 0.01 <= 0.05 (rule seed)");
  EXPECT_EQ(RenderAnalysisLine(json::parse(R"({"id":"an-3","status":"Failed",
    "reason":"threshold_breached"})")),
            "analysis an-3 Failed: threshold_breached");
  // All of it at once: the frame the README shows (keep the two the same).
  EXPECT_EQ(RenderDeploymentView(d, instances, analysis),
            (std::vector<std::string>{
                "deployment d-1 running (canary)",
                "shop 1.2.3 -> production, generation 2",
                "batch 1    5%  succeeded  web-1",
                "batch 2   25%  waiting    web-2  (waits for: approval) + analysis",
                "batch 3  100%  pending    web-3, web-4  (waits for: pause until resumed)",
                "hosts:",
                "  web-1  1.2.3  healthy  succeeded",
                "  web-2  1.2.3  -        deploying",
                "analysis an-2 (batch 2, canary) Running: error_rate 0.01 <= 0.05 (rule seed)",
                "next: sluice deployment approve d-1",
            }));
}

TEST(RenderDeploymentView, ADeploymentWaitingForItsWindowSaysWhyAndWhen) {
  const json d = json::parse(R"({"id":"d-9","app":"shop","version":"1.2.3","env":"production",
    "status":"waiting","waiting":{"code":"outside_window",
    "message":"deployments into 'production' of app 'shop' start only inside its windows",
    "next_open":"2026-12-08T08:00:00.000Z","next_open_ms":1796716800000}})");
  EXPECT_EQ(RenderDeploymentView(d),
            (std::vector<std::string>{
                "deployment d-9 waiting: outside_window, starts by itself at "
                "2026-12-08T08:00:00.000Z",
                "shop 1.2.3 -> production",
                "waiting: deployments into 'production' of app 'shop' start only inside its "
                "windows",
            }));
}

TEST(RenderDeploymentView, ATimedPauseCountsDown) {
  const json d = json::parse(R"({"id":"d-1","app":"shop","version":"1.2.3","env":"production",
    "status":"paused","phase":"at_gate","pause_reason":"pause_step",
    "resumes_at":"2026-12-07T10:02:00.000Z","batches":[]})");
  const auto at = [](const char* t) { return *core::ParseRfc3339(t); };
  EXPECT_EQ(RenderDeploymentView(d, nullptr, nullptr, at("2026-12-07T10:00:29.400Z")).at(0),
            "deployment d-1 paused (at_gate): pause_step, resumes in 1m31s at 10:02:00Z");
  EXPECT_EQ(RenderDeploymentView(d, nullptr, nullptr, at("2026-12-07T10:03:00Z")).at(0),
            "deployment d-1 paused (at_gate): pause_step, resumes now (due 10:02:00Z)");
  // Without a clock (and in watch's plain lines, printed when they change): the time only.
  EXPECT_EQ(DescribeDeployment(d).status_line,
            "deployment d-1 paused (at_gate): pause_step, resumes at 10:02:00Z");
  // An approval, or an operator's pause, has no end.
  json held = d;
  held["pause_reason"] = "operator";
  held["resumes_at"] = nullptr;
  EXPECT_EQ(RenderDeploymentView(held, nullptr, nullptr, at("2026-12-07T10:00:00Z")).at(0),
            "deployment d-1 paused (at_gate): operator");
  EXPECT_EQ(PauseCountdown(held, std::nullopt), "");
}

TEST(NextCommand, FollowsTheState) {
  json d = {{"id", "d-1"}, {"status", "paused"}};
  EXPECT_EQ(NextCommand(d), "sluice deployment resume d-1");
  d["status"] = "running";
  d["batches"] = json::parse(R"([{"status":"waiting","gates":[{"kind":"pause","passed":false,
    "duration_ms":null}]}])");
  EXPECT_EQ(NextCommand(d), "sluice deployment resume d-1");
  d["batches"] = json::array();
  EXPECT_EQ(NextCommand(d), "sluice deployment promote d-1  (or pause, abort)");
  for (const char* s : {"succeeded", "rolling_back"}) {
    d["status"] = s;
    EXPECT_EQ(NextCommand(d), "") << s;
  }
  for (const char* s : {"failed", "rolled_back", "aborted"}) {
    d["status"] = s;
    EXPECT_EQ(NextCommand(d),
              "sluice deployment retry d-1  (the same release again, as a new deployment)")
        << s;
  }
}

TEST(RetryRefusal, OnlyADeploymentThatEndedWithoutSuccessIsRetried) {
  json d = {{"id", "d-1"}, {"release_id", "r-1"}, {"env", "prod"}};
  for (const char* s : {"failed", "aborted", "rolled_back"}) {
    d["status"] = s;
    EXPECT_EQ(RetryRefusal(d), std::nullopt) << s;
  }
  d["status"] = "succeeded";
  EXPECT_EQ(RetryRefusal(d),
            "deployment d-1 succeeded: there is nothing to retry; to deploy its release again, run "
            "'sluice deploy --release r-1 --env prod'");
  for (const char* s : {"requested", "running", "paused", "rolling_back"}) {
    d["status"] = s;
    const auto refusal = RetryRefusal(d);
    ASSERT_TRUE(refusal) << s;
    EXPECT_NE(refusal->find("is " + std::string(s) + ": only a failed, aborted or rolled-back"),
              std::string::npos)
        << *refusal;
    EXPECT_NE(refusal->find("'sluice deployment watch d-1'"), std::string::npos) << *refusal;
  }
  EXPECT_EQ(RetryKey("d-1"), "retry-d-1");
}

}  // namespace
}  // namespace sluice::cli
