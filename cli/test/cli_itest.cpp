// The sluice binary against a local stand-in for the public API: what each command asks the API
// for, what it prints and how it exits; contexts in a config file of the test's own.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sluice/core/rfc3339.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/testing/process.hpp>
#include <sstream>
#include <thread>

namespace {

using nlohmann::json;
namespace st = sluice::testing;

struct Asked {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;
  std::string accept;
  std::string authorization;
  std::string body;
  std::string idempotency_key;
};

struct CliRun {
  int exit_code = -1;
  std::string out;
};

class SluiceCliItest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = st::FreePort();
    auto record = [this](const httplib::Request& req) {
      std::lock_guard lock(mu_);
      asked_.push_back({req.method, req.path, req.params, req.get_header_value("Accept"),
                        req.get_header_value("Authorization"), req.body,
                        req.get_header_value("Idempotency-Key")});
    };
    server_.Get("/v1/incidents", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"incidents":[{"id":"inc-1","app":"shop","env":"prod","version":"2.0.0",
        "trigger":"alert","scope":"deployment","success":true,"final_status":"rolled_back",
        "created_at":"2024-05-01T10:00:00Z"}]})",
                      "application/json");
    });
    server_.Get("/v1/incidents/inc-1", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      if (req.get_header_value("Accept") == "text/markdown") {
        res.set_content("# Incident inc-1\n\nRolled back.", "text/markdown");
      } else {
        res.set_content(R"({"id":"inc-1","summary":"rolled back"})", "application/json");
      }
    });
    server_.Get("/v1/incidents/inc-1/chart.svg",
                [=](const httplib::Request& req, httplib::Response& res) {
                  record(req);
                  res.set_content("<svg><rect/></svg>", "image/svg+xml");
                });
    server_.Get("/v1/incidents/missing", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.status = 404;
      res.set_content(R"({"error":{"code":"not_found","message":"no incident missing"}})",
                      "application/json");
    });
    server_.Get("/v1/analyses", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"analyses":[{"id":"an-1","batch_index":0,"template":"default",
        "bake_watch":false,"status":"Successful","reason":"","started_at":"t0"}]})",
                      "application/json");
    });
    server_.Get("/v1/analyses/an-1", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"id":"an-1","status":"Successful","rules":[{"name":"seed",
        "outcome":"Successful"}],"measurements":[{"rule":"seed","verdict":"Successful",
        "message":"error_rate 0 <= 0.05"}]})",
                      "application/json");
    });
    server_.Post("/v1/analyses", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"outcome":"Failed","reason":"threshold_breached","rules":[
        {"name":"seed","outcome":"Failed","measurements":[
          {"verdict":"Failed","message":"error_rate 0.31 > 0.05 on h2"}]}],"judge":null})",
                      "application/json");
    });
    server_.Post(R"(/v1/deployments/([a-z0-9-]+):rollback)", [=](const httplib::Request& req,
                                                                 httplib::Response& res) {
      record(req);
      res.status = 202;
      res.set_content(R"({"command_id":"c-1","deployment_id":"d-1"})", "application/json");
    });
    auto reply = [=](const char* body, int status = 200) {
      return [=](const httplib::Request& req, httplib::Response& res) {
        record(req);
        if (req.get_header_value("Authorization") != "Bearer t0k3n") {
          res.status = 401;
          res.set_content(R"({"error":{"code":"unauthorized","message":"unknown API token"}})",
                          "application/json");
          return;
        }
        res.status = status;
        res.set_content(body, "application/json");
      };
    };
    server_.Get("/v1/releases", reply(R"({"items":[{"id":"r-1","app":"shop","version":"1.2.3",
      "tag":"v1.2.3","created_by":"ci","created_at":"2024-05-01T10:00:00Z"}]})"));
    // Two pages: d-1, then (cursor MTAuZC0x) d-0, the last.
    const auto first_page = reply(R"({"items":[{"id":"d-1","app":"shop","env":"prod",
      "version":"1.2.3","status":"running","generation":2}],"next_cursor":"MTAuZC0x"})");
    const auto last_page = reply(R"({"items":[{"id":"d-0","app":"shop","env":"prod",
      "version":"1.2.2","status":"succeeded","generation":1}],"next_cursor":null})");
    server_.Get("/v1/deployments", [=](const httplib::Request& req, httplib::Response& res) {
      (req.has_param("cursor") ? last_page : first_page)(req, res);
    });
    server_.Post("/v1/tokens", reply(R"({"id":"t-9","name":"ci","role":"deployer",
      "expires_at_ms":0,"token":"sk-secret"})",
                                     201));
    server_.Get("/v1/tokens", reply(R"({"items":[{"id":"t-9","name":"ci","role":"deployer",
      "created_by":"local-admin","created_at_ms":1700000000000,"expires_at_ms":0,
      "last_used_at_ms":0,"revoked":false}]})"));
    server_.Delete("/v1/tokens/t-9", reply(R"({"id":"t-9","name":"ci","revoked":true,
      "already_revoked":false})"));
    server_.Put("/v1/tokens/t-9/environments/production",
                reply(R"({"id":"t-9","name":"ci","env":"production","role":"deployer",
      "previous_role":null,"environments":{"production":"deployer","staging":"deployer"}})"));
    server_.Delete("/v1/tokens/t-9/environments/production",
                   reply(R"({"id":"t-9","name":"ci","env":"production","role":null,
      "previous_role":"deployer","environments":{"staging":"deployer"}})"));
    // Two pages: entry 8, then (cursor 8) entry 1, the last.
    const auto audit_first = reply(R"({"items":[{"id":8,"at_ms":1700000000000,
      "actor":"local-admin","action":"token.create","target":"ci","outcome":"created"}],
      "next_cursor":"8"})");
    const auto audit_last = reply(R"({"items":[{"id":1,"at_ms":1690000000000,
      "actor":"local-admin","action":"token.revoke","target":"old","outcome":"revoked"}],
      "next_cursor":null})");
    server_.Get("/v1/audit", [=](const httplib::Request& req, httplib::Response& res) {
      (req.has_param("cursor") ? audit_last : audit_first)(req, res);
    });
    server_.Get("/v1/rollbacks", reply(R"({"deployment_id":"d-1","rollbacks":[{"rollback_id":
      "rb-1","scope":"deployment","target_version":"1.2.2","trigger":"alert",
      "final_status":"succeeded"}],"triggers":[]})"));
    server_.Get("/v1/apps", reply(R"({"items":[{"app":"shop","version":2,"sha256":"ab",
      "applied_by":"ci","applied_at_ms":1700000000000}]})"));
    server_.Get("/v1/apps/shop/environments",
                reply(R"({"app":"shop","items":[{"name":"staging","promotion":null,"frozen":null},
                  {"name":"prod","promotion":{"from":"staging","mode":"manual"},
                   "frozen":{"reason":"quarter-end","frozen_by":"ops","frozen_at_ms":1}}]})"));
    server_.Put("/v1/apps/shop/environments/prod/freeze",
                reply(R"({"app":"shop","env":"prod","frozen":{"reason":"quarter-end",
                  "frozen_by":"ops","frozen_at_ms":1}})"));
    server_.Delete("/v1/apps/shop/environments/prod/freeze",
                   reply(R"({"app":"shop","env":"prod","frozen":null})"));
    server_.Delete("/v1/apps/shop/environments/qa/freeze",
                   reply(R"({"error":{"code":"promotion_required","message":"not yet",
                     "next":"sluice deploy --release r-1 --env staging"}})",
                         409));
    server_.Get("/v1/apps/shop/versions", reply(R"({"app":"shop","items":[{"app":"shop",
      "version":2},{"app":"shop","version":1}]})"));
    server_.Get("/v1/apps/shop", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      const std::string v = req.has_param("version") ? req.get_param_value("version") : "2";
      const std::string yaml = v == "1" ? "app: shop\nweight: 5%\n" : "app: shop\nweight: 10%\n";
      res.set_content(json{{"app", "shop"}, {"version", std::stoi(v)}, {"yaml", yaml}}.dump(),
                      "application/json");
    });
    // Running for the first two reads, then succeeded.
    server_.Get("/v1/deployments/d-w",
                [=, this](const httplib::Request& req, httplib::Response& res) {
                  record(req);
                  const bool done = ++watch_reads_ > 2;
                  res.set_content(json{{"id", "d-w"},
                                       {"app", "shop"},
                                       {"version", "2.0.0"},
                                       {"env", "prod"},
                                       {"status", done ? "succeeded" : "running"},
                                       {"batches",
                                        {{{"index", 0},
                                          {"weight_percent", 100},
                                          {"hosts", {"web-1"}},
                                          {"status", done ? "succeeded" : "waiting"},
                                          {"gates", {{{"kind", "approval"}, {"passed", done}}}}}}}}
                                      .dump(),
                                  "application/json");
                });
    // d-s's event stream: the first opening gives a snapshot and a transition and closes (as
    // the server does at SLUICE_EVENTS_MAX_AGE); the next, after Last-Event-ID 2, gives the
    // rollback and the end.
    server_.Get("/v1/events", [=, this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      if (req.get_param_value("deployment") != "d-s") {
        res.status = 404;
        res.set_content(R"({"error":{"code":"not_found","message":"no deployment"}})",
                        "application/json");
        return;
      }
      const std::string last = req.get_header_value("Last-Event-ID");
      {
        std::lock_guard lock(mu_);
        stream_resumed_after_.push_back(last);
      }
      std::string body;
      if (last.empty()) {
        body =
            "id: 1\nevent: snapshot\ndata: {\"id\":\"d-s\",\"status\":\"running\","
            "\"phase\":\"canary\",\"batches\":[{\"weight_percent\":25,\"hosts\":[\"web-1\"],"
            "\"status\":\"analysing\"}],\"timeline\":[{}]}\n\n"
            ": keep-alive\n\n"
            "id: 2\nevent: transition\ndata: {\"at\":\"2026-12-07T09:40:01Z\",\"kind\":"
            "\"analysis_failed\",\"detail\":\"error rate 7% > 5%\",\"actor\":\"metric-watcher\","
            "\"applied\":true,\"id\":\"d-s\",\"status\":\"rolling_back\"}\n\n";
      } else {
        body =
            "id: 3\nevent: transition\ndata: {\"at\":\"2026-12-07T09:40:09Z\",\"kind\":"
            "\"rollback_completed\",\"detail\":\"batch 1 back on 1.0.0\",\"actor\":\"planner\","
            "\"applied\":true,\"id\":\"d-s\",\"status\":\"rolled_back\"}\n\n"
            "event: end\ndata: {\"status\":\"rolled_back\"}\n\n";
      }
      res.set_chunked_content_provider(
          "text/event-stream", [body, sent = false](size_t, httplib::DataSink& sink) mutable {
            if (sent) {
              sink.done();
              return true;
            }
            sent = true;
            return sink.write(body.data(), body.size());
          });
    });
    server_.Get("/v1/deployments/d-f", reply(R"({"id":"d-f","app":"shop","env":"prod",
      "version":"2.0.0","release_id":"r-2","spec_version":3,"status":"rolled_back"})"));
    server_.Get("/v1/deployments/d-r", reply(R"({"id":"d-r","app":"shop","env":"prod",
      "version":"2.0.0","release_id":"r-2","spec_version":3,"status":"running"})"));
    server_.Post("/v1/deployments", reply(R"({"deployment_id":"d-9","app":"shop",
      "version":"2.0.0","env":"prod","spec_version":3,"status":"requested"})",
                                          202));
    server_.Get("/v1/deployments/d-w/instances", reply(R"({"instances":[{"host":"web-1",
      "ip":"10.0.0.1","batch_index":0,"generation":1,"status":"succeeded","version":"2.0.0",
      "health_status":"healthy"}]})"));
    server_.Get("/v1/deployments/down", [=](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.status = 503;
      res.set_content(R"({"error":{"code":"unavailable","message":"rollout-planner is down"}})",
                      "application/json");
    });
    ASSERT_TRUE(server_.bind_to_port("127.0.0.1", port_));
    thread_ = sluice::http::testing::ServeInBackground(server_);
    dir_ = std::filesystem::temp_directory_path() / ("sluice-cli-" + st::RandomSuffix());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }

  std::string Api() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // With the stand-in's URL and token as flags (given after the subcommand: they are global).
  CliRun Sluice(const std::string& args) {
    return Bare(args + " --api " + Api() + " --token t0k3n");
  }

  // Only `args`; the config file is the test's own and SLUICE_* variables are cleared.
  CliRun Bare(const std::string& args, const std::string& env = "") {
    const std::string cmd =
        "env -u SLUICE_API_URL -u SLUICE_TOKEN -u SLUICE_CONTEXT "
        "SLUICE_CONFIG=" +
        (dir_ / "config.yaml").string() + " " + env + " " + SLUICE_CLI_BIN + " " + args + " 2>&1";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  Asked Last() {
    std::lock_guard lock(mu_);
    if (asked_.empty()) throw std::runtime_error("the API stand-in was not called");
    return asked_.back();
  }

  int port_ = 0;
  httplib::Server server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Asked> asked_;
  std::atomic<int> watch_reads_{0};
  std::vector<std::string> stream_resumed_after_;  // Last-Event-ID of each opening (mu_)
  std::filesystem::path dir_;
};

TEST_F(SluiceCliItest, IncidentCommands) {
  auto r = Sluice("incident list --deployment d-1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("inc-1  shop  prod"), std::string::npos) << r.out;
  EXPECT_EQ(Last().path, "/v1/incidents");
  EXPECT_EQ(Last().params, (std::multimap<std::string, std::string>{{"deployment_id", "d-1"}}));
  EXPECT_EQ(Last().authorization, "Bearer t0k3n");

  r = Sluice("incident get inc-1 --markdown");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "# Incident inc-1\n\nRolled back.\n");
  EXPECT_EQ(Last().accept, "text/markdown");

  r = Sluice("incident get inc-1 -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["summary"], "rolled back");

  const auto svg = (dir_ / "chart.svg").string();
  r = Sluice("incident chart inc-1 -o " + svg);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(svg);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "<svg><rect/></svg>");
  EXPECT_NE(r.out.find("wrote " + svg), std::string::npos) << r.out;

  r = Sluice("incident get missing");
  EXPECT_EQ(r.exit_code, 3);  // not found
  EXPECT_NE(r.out.find("error 404 not_found: no incident missing"), std::string::npos) << r.out;
}

TEST_F(SluiceCliItest, AnalysisCommandsPrintTheVerdictAndExitOnIt) {
  auto r = Sluice("analysis list --deployment d-1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("an-1  1      canary  default"), std::string::npos) << r.out;
  EXPECT_EQ(Last().params, (std::multimap<std::string, std::string>{{"deployment_id", "d-1"}}));

  r = Sluice("analysis get an-1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rule seed  Successful  1 measurement  error_rate 0 <= 0.05"),
            std::string::npos)
      << r.out;

  const auto file = (dir_ / "request.json").string();
  std::ofstream(file) << R"({"app":"shop","template":{"name":"default"}})";
  r = Sluice("analyze -f " + file);
  EXPECT_EQ(r.exit_code, 2) << r.out;  // Failed
  EXPECT_NE(r.out.find("analysis Failed: threshold_breached"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error_rate 0.31 > 0.05 on h2"), std::string::npos) << r.out;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(json::parse(Last().body)["app"], "shop");

  std::ofstream(file) << "not json";
  r = Sluice("analyze -f " + file);
  EXPECT_EQ(r.exit_code, 1) << r.out;
}

TEST_F(SluiceCliItest, RollbackToARelease) {
  auto r = Sluice("deployment rollback d-1 --to rel-7 --reason 'bake breach'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().path, "/v1/deployments/d-1:rollback");
  const auto body = json::parse(Last().body);
  EXPECT_EQ(body["target_release_id"], "rel-7");
  EXPECT_EQ(body["reason"], "bake breach");
  r = Sluice("deployment rollback d-1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(json::parse(Last().body).contains("target_release_id"));
}

TEST_F(SluiceCliItest, EnvCommandsListFreezeAndUnfreeze) {
  auto r = Sluice("env list shop");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("after staging (manual)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("by ops: quarter-end"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("any release"), std::string::npos) << r.out;
  r = Sluice("env freeze shop prod --reason quarter-end");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().method, "PUT");
  EXPECT_EQ(json::parse(Last().body)["reason"], "quarter-end");
  r = Sluice("env unfreeze shop prod");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_NE(Sluice("env freeze shop prod").exit_code, 0);  // --reason is required
  // A refusal prints the command to run next.
  r = Sluice("env unfreeze shop qa");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("next: sluice deploy --release r-1 --env staging"), std::string::npos)
      << r.out;
}

TEST_F(SluiceCliItest, ReadsPrintTableJsonOrYaml) {
  auto r = Sluice("deployment list");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("d-1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('{'), std::string::npos) << r.out;  // a table, not JSON

  r = Sluice("deployment list -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["items"][0]["status"], "running");

  r = Sluice("release list -o yaml");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("items:\n  - app: shop\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n    id: r-1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("version: 1.2.3"), std::string::npos) << r.out;

  r = Sluice("release list");
  EXPECT_NE(r.out.find("ID   APP   VERSION  TAG     CREATED-BY  CREATED"), std::string::npos)
      << r.out;

  r = Sluice("deployment list -o xml");
  EXPECT_EQ(r.exit_code, 64) << r.out;
}

// `deployment instances`: the executor's records of the deployment's hosts, one line each.
TEST_F(SluiceCliItest, DeploymentInstancesListsTheExecutorsRecords) {
  auto r = Sluice("deployment instances d-w");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("HOST   IP        BATCH  GENERATION  STATUS     VERSION  HEALTH   UPDATED"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("web-1  10.0.0.1  0      1           succeeded  2.0.0    healthy  -"),
            std::string::npos)
      << r.out;

  r = Sluice("deployment instances d-w -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["instances"][0]["ip"], "10.0.0.1");

  r = Sluice("deployment instances nope");
  EXPECT_EQ(r.exit_code, 3) << r.out;
}

// `deployment list`: the table ends with the command for the next page while there is one;
// --cursor asks for it; JSON keeps next_cursor.
TEST_F(SluiceCliItest, DeploymentListPagesWithTheCursorItPrints) {
  auto r = Sluice("deployment list --app shop --limit 1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("d-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("next page: sluice deployment list --app shop --limit 1 --cursor MTAuZC0x"),
            std::string::npos)
      << r.out;
  r = Sluice("deployment list --app shop --limit 1 --cursor MTAuZC0x");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().params, (std::multimap<std::string, std::string>{
                               {"app", "shop"}, {"cursor", "MTAuZC0x"}, {"limit", "1"}}));
  EXPECT_NE(r.out.find("d-0"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("next page"), std::string::npos) << r.out;  // the last page
  r = Sluice("deployment list -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["next_cursor"], "MTAuZC0x");
}

// `audit`: each filter is a query parameter; the table ends with the command for the next page
// (the filters kept) while there is one; --cursor asks for it.
TEST_F(SluiceCliItest, AuditFiltersAndPagesWithTheCursorItPrints) {
  auto r = Sluice(
      "audit --actor 'agent:web 1' --action token.create --app shop --env prod "
      "--since 2027-01-31T10:00:00Z --until 2027-01-31T12:00:01+02:00 --limit 1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().path, "/v1/audit");
  EXPECT_EQ(Last().params,
            (std::multimap<std::string, std::string>{{"action", "token.create"},
                                                     {"actor", "agent:web 1"},
                                                     {"app", "shop"},
                                                     {"env", "prod"},
                                                     {"limit", "1"},
                                                     {"since", "2027-01-31T10:00:00.000000Z"},
                                                     {"until", "2027-01-31T10:00:01.000000Z"}}));
  EXPECT_NE(r.out.find("2023-11-14T22:13:20Z  local-admin  token.create  ci"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("next page: sluice audit --actor 'agent:web 1' --action token.create "
                       "--app shop --env prod --since 2027-01-31T10:00:00.000000Z --until "
                       "2027-01-31T10:00:01.000000Z --limit 1 --cursor 8"),
            std::string::npos)
      << r.out;
  r = Sluice("audit --action token.revoke --limit 1 --cursor 8");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().params, (std::multimap<std::string, std::string>{
                               {"action", "token.revoke"}, {"cursor", "8"}, {"limit", "1"}}));
  EXPECT_NE(r.out.find("token.revoke  old"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("next page"), std::string::npos) << r.out;  // the last page
  r = Sluice("audit -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["next_cursor"], "8");
}

// A query parameter the stand-in was sent; "" when it was not.
std::string ParamOf(const std::multimap<std::string, std::string>& params,
                    const std::string& name) {
  const auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

// --since/--until: a time is sent as RFC 3339 UTC, a duration as the time that long before now;
// the next-page command names the same range; a wrong value is a usage error (64) naming the
// flag, and nothing is asked. release list sends --tag as it is.
TEST_F(SluiceCliItest, ListsSendSinceUntilAndTagAsTimesTheServerReads) {
  auto r = Sluice(
      "deployment list --app shop --limit 1 --since 2026-12-01T12:00:00+02:00 --until "
      "2026-12-02T00:00:00Z");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto asked = Last().params;
  EXPECT_EQ(ParamOf(asked, "since"), "2026-12-01T10:00:00.000000Z");
  EXPECT_EQ(ParamOf(asked, "until"), "2026-12-02T00:00:00.000000Z");
  EXPECT_NE(r.out.find("next page: sluice deployment list --app shop --since "
                       "2026-12-01T10:00:00.000000Z --until 2026-12-02T00:00:00.000000Z --limit 1 "
                       "--cursor MTAuZC0x"),
            std::string::npos)
      << r.out;

  const auto before = std::chrono::system_clock::now();
  r = Sluice("release list --tag 'rc_1%' --since 1h30m");
  const auto after = std::chrono::system_clock::now();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  asked = Last().params;
  EXPECT_EQ(ParamOf(asked, "tag"), "rc_1%");
  const auto since = sluice::core::ParseRfc3339(ParamOf(asked, "since"));
  ASSERT_TRUE(since.has_value()) << ParamOf(asked, "since");
  EXPECT_GE(*since, before - std::chrono::minutes(90) - std::chrono::microseconds(1));
  EXPECT_LE(*since, after - std::chrono::minutes(90) + std::chrono::microseconds(1));
  EXPECT_EQ(asked.count("until"), 0u);

  const std::size_t asked_before = [&] {
    std::lock_guard lock(mu_);
    return asked_.size();
  }();
  r = Sluice("deployment list --since yesterday");
  EXPECT_EQ(r.exit_code, 64) << r.out;
  EXPECT_NE(r.out.find("--since 'yesterday'"), std::string::npos) << r.out;
  r = Sluice("release list --since 1h --until 2h");
  EXPECT_EQ(r.exit_code, 64) << r.out;
  EXPECT_NE(r.out.find("--until is earlier than --since"), std::string::npos) << r.out;
  std::lock_guard lock(mu_);
  EXPECT_EQ(asked_.size(), asked_before);
}

TEST_F(SluiceCliItest, QueryParametersAreUrlEncoded) {
  auto r = Sluice("deployment list --app 'a b&c=d' --env 'x#y' --status running");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().params,
            (std::multimap<std::string, std::string>{
                {"app", "a b&c=d"}, {"env", "x#y"}, {"limit", "20"}, {"status", "running"}}));
  r = Sluice("release list --app 'x&limit=1'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().params,
            (std::multimap<std::string, std::string>{{"app", "x&limit=1"}, {"limit", "20"}}));
}

TEST_F(SluiceCliItest, LoginWritesAPrivateContextTheNextCommandsUse) {
  const auto config = dir_ / "config.yaml";
  auto r = Bare("login --api-url " + Api() + " --token wrong");
  EXPECT_EQ(r.exit_code, 4) << r.out;  // refused: nothing saved
  EXPECT_FALSE(std::filesystem::exists(config));
  EXPECT_NE(r.out.find("hint: log in with"), std::string::npos) << r.out;

  r = Bare("login --api-url " + Api() + " --token t0k3n --name stand-in");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat(config.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  // No flags: the current context's URL and token.
  r = Bare("release list -o json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().authorization, "Bearer t0k3n");

  r = Bare("context current");
  EXPECT_NE(r.out.find("stand-in (API " + Api() + ", from context stand-in)"), std::string::npos)
      << r.out;
  r = Bare("context list");
  EXPECT_NE(r.out.find("* stand-in"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("t0k3n"), std::string::npos) << r.out;  // the token is not shown

  // The environment beats the context, a flag beats the environment.
  r = Bare("release list", "SLUICE_TOKEN=from-env");
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_EQ(Last().authorization, "Bearer from-env");
  r = Bare("release list --token t0k3n", "SLUICE_TOKEN=from-env");
  EXPECT_EQ(r.exit_code, 0) << r.out;

  r = Bare("login --api-url http://127.0.0.1:1 --token t0k3n --name other");
  EXPECT_EQ(r.exit_code, 5) << r.out;  // unreachable
  r = Bare("context use nope");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  r = Bare("release list --context nope");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("sluice login --context nope"), std::string::npos) << r.out;
}

TEST_F(SluiceCliItest, ExitCodes) {
  EXPECT_EQ(Sluice("release list").exit_code, 0);
  EXPECT_EQ(Sluice("incident get missing").exit_code, 3);
  EXPECT_EQ(Bare("release list --api " + Api() + " --token bad").exit_code, 4);
  auto r = Sluice("deployment get down");
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_NE(r.out.find("hint: a service behind the API is down"), std::string::npos) << r.out;
  r = Bare("release list --api http://127.0.0.1:1 --token t");
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_NE(r.out.find("is release-intake running?"), std::string::npos) << r.out;
  EXPECT_EQ(Sluice("no-such-command").exit_code, 64);
  EXPECT_EQ(Sluice("deployment watch d-1 --timeout 10").exit_code, 64);
  EXPECT_EQ(Sluice("token create --name x --role viewer --expires-in 3w").exit_code, 64);
}

TEST_F(SluiceCliItest, TokenAuditRollbackCommands) {
  auto r = Sluice("token create --name ci --role deployer --expires-in 1d12h");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("sk-secret"), std::string::npos) << r.out;
  EXPECT_EQ(json::parse(Last().body),
            (json{{"name", "ci"}, {"role", "deployer"}, {"expires_in", "1d12h"}}));
  r = Sluice("token list");
  EXPECT_NE(r.out.find("t-9  ci    deployer  local-admin  -"), std::string::npos) << r.out;
  // Roles per environment: at creation, then granted and removed by the token's name.
  r = Sluice("token create --name ci --env staging=deployer --env qa=approver");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(
      json::parse(Last().body),
      (json{{"name", "ci"}, {"environments", {{"staging", "deployer"}, {"qa", "approver"}}}}));
  EXPECT_EQ(Sluice("token create --name ci").exit_code, 64);
  EXPECT_EQ(Sluice("token create --name ci --env staging").exit_code, 64);
  r = Sluice("token grant ci --env production=deployer");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().method, "PUT");
  EXPECT_EQ(Last().path, "/v1/tokens/t-9/environments/production");
  EXPECT_EQ(json::parse(Last().body), (json{{"role", "deployer"}}));
  EXPECT_NE(r.out.find("token ci is deployer in production"), std::string::npos) << r.out;
  r = Sluice("token ungrant t-9 --env production");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(Last().path, "/v1/tokens/t-9/environments/production");
  EXPECT_EQ(Sluice("token grant nobody --env production=deployer").exit_code, 3);
  r = Sluice("deploy --release r-1 --env prod --override 'INC-7 hotfix'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(json::parse(Last().body)["override"], (json{{"reason", "INC-7 hotfix"}}));
  r = Sluice("token revoke t-9");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_NE(r.out.find("token ci (t-9) revoked"), std::string::npos) << r.out;
  r = Sluice("audit --limit 5");
  EXPECT_NE(r.out.find("2023-11-14T22:13:20Z  local-admin  token.create  ci"), std::string::npos)
      << r.out;
  EXPECT_EQ(Last().params, (std::multimap<std::string, std::string>{{"limit", "5"}}));
  r = Sluice("rollback list --deployment d-1");
  EXPECT_NE(r.out.find("rb-1      deployment  1.2.2   alert    succeeded"), std::string::npos)
      << r.out;
}

TEST_F(SluiceCliItest, AppCommandsAndTheDiffOfTwoVersions) {
  auto r = Sluice("app list");
  EXPECT_NE(r.out.find("shop  2        ci"), std::string::npos) << r.out;
  r = Sluice("app history shop -o json");
  EXPECT_EQ(json::parse(r.out)["items"].size(), 2u);
  r = Sluice("app get shop --version 1");
  EXPECT_NE(r.out.find("weight: 5%"), std::string::npos) << r.out;
  EXPECT_EQ(Last().params, (std::multimap<std::string, std::string>{{"version", "1"}}));
  r = Sluice("app diff shop");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out,
            "--- shop.yaml@1\n+++ shop.yaml@2\n@@ -1,2 +1,2 @@\n app: shop\n-weight: 5%\n"
            "+weight: 10%\n");
}

TEST_F(SluiceCliItest, LocalCommandsNeedNoApi) {
  auto r = Bare("version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("sluice ", 0), 0u) << r.out;

  // The completion names every command of the binary.
  r = Bare("completion bash");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* c : {"'sluice deployment approve'", "'sluice token revoke'",
                        "'sluice context use'", "'sluice app diff'", "--api-url"}) {
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
  }
  const auto script = (dir_ / "c.bash").string();
  std::ofstream(script) << r.out;
  r = Bare("completion fish");
  EXPECT_NE(r.out.find("-a 'rollback'"), std::string::npos) << r.out;
  EXPECT_EQ(Bare("completion tcsh").exit_code, 64);
  // bash itself completes with it.
  const std::string bash = "bash -c 'source " + script +
                           "; COMP_WORDS=(sluice deployment ap); COMP_CWORD=2; _sluice_complete; "
                           "echo \"${COMPREPLY[*]}\"' 2>&1";
  FILE* p = popen(bash.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  const auto n = fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(buf, n), "approve\n");

  const auto good = (dir_ / "good.yaml").string();
  const auto bad = (dir_ / "bad.yaml").string();
  const std::string spec =
      "app: shop\nenvironments:\n  prod:\n    targets:\n      web:\n        hosts:\n"
      "          - {name: web-1, address: 10.0.0.1, agentEndpoint: \"http://10.0.0.1:7070\"}\n"
      "    strategy:\n      type: canary\n      steps:\n        - weight: 50%\n"
      "        - weight: 100%\n";
  std::ofstream(good) << spec;
  r = Bare("lint -f " + good);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(good + ": valid (app shop, 1 environment)"), std::string::npos) << r.out;
  std::string broken = spec;
  broken.replace(broken.find("50%"), 3, "250%");
  std::ofstream(bad) << broken;
  r = Bare("lint -f " + bad);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(bad + ":11:19: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("must be 1%..100%"), std::string::npos) << r.out;
}

TEST_F(SluiceCliItest, DeploymentGetWatchPrintsAFramePerChangeUntilItFinishes) {
  auto r = Sluice("deployment get d-w");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("next: sluice deployment approve d-w"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hosts:\n  web-1  2.0.0  healthy  succeeded\n"), std::string::npos) << r.out;
  watch_reads_ = 0;
  // Not a terminal: one timestamped frame per change (the second read equals the first).
  r = Sluice("deployment get d-w --watch --interval 50ms");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(watch_reads_.load(), 3);
  std::size_t frames = 0;
  for (auto pos = r.out.find("--- "); pos != std::string::npos; pos = r.out.find("--- ", pos + 4)) {
    ++frames;
  }
  EXPECT_EQ(frames, 2u) << r.out;
  EXPECT_NE(r.out.find("batch 1  100%  waiting  web-1  (waits for: approval)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("deployment d-w succeeded"), std::string::npos) << r.out;
  EXPECT_EQ(Sluice("deployment get d-w --watch --interval soon").exit_code, 64);
}

TEST_F(SluiceCliItest, DeploymentWatchFollowsTheEventStreamAndResumesAfterItsLastEvent) {
  const auto r = Sluice("deployment watch d-s --timeout 30s");
  EXPECT_EQ(r.exit_code, 2) << r.out;  // rolled back
  EXPECT_EQ(r.out,
            "deployment d-s running (canary)\n"
            "batch 1/1 25% analysing: web-1\n"
            "  09:40:01  analysis_failed: error rate 7% > 5% (by metric-watcher)\n"
            "deployment d-s rolling_back\n"
            "  09:40:09  rollback_completed: batch 1 back on 1.0.0 (by planner)\n"
            "deployment d-s rolled_back\n");
  std::lock_guard lock(mu_);
  EXPECT_EQ(stream_resumed_after_, (std::vector<std::string>{"", "2"}));
}

TEST_F(SluiceCliItest, DeploymentWatchReadsEverySecondWhereThereIsNoEventStream) {
  watch_reads_ = 0;
  const auto r = Sluice("deployment watch d-w --timeout 30s");  // no stream: 404, yet d-w exists
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(watch_reads_.load(), 3);  // the existence check, then two reads
  EXPECT_NE(r.out.find("deployment d-w succeeded"), std::string::npos) << r.out;
}

TEST_F(SluiceCliItest, DeploymentRetryRedeploysTheSameReleaseOnceUnderOneKey) {
  auto r = Sluice("deployment retry d-f");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("retrying deployment d-f (rolled_back): shop 2.0.0 -> prod"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("deployment d-9 requested"), std::string::npos) << r.out;
  auto asked = Last();
  EXPECT_EQ(asked.method, "POST");
  EXPECT_EQ(asked.path, "/v1/deployments");
  EXPECT_EQ(json::parse(asked.body),
            (json{{"release_id", "r-2"}, {"env", "prod"}, {"spec_version", 3}}));
  EXPECT_EQ(asked.idempotency_key, "retry-d-f");
  // Still running: refused with what to do instead, and nothing is posted.
  r = Sluice("deployment retry d-r");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("deployment d-r is running: only a failed, aborted or rolled-back"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(Last().method, "GET");
}

// Output of a shell command (stderr included).
std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST_F(SluiceCliItest, DeploymentGetWatchRedrawsInPlaceOnATerminal) {
  if (Shell("command -v tmux").empty()) GTEST_SKIP() << "tmux is not installed";
  const std::string session = "sluice-cli-" + st::RandomSuffix();
  // A tmux server of the test's own (its socket in the test's directory), so no other tmux
  // user is touched.
  const std::string tmux = "tmux -S " + (dir_ / "tmux.sock").string() + " ";
  const std::string cmd = "SLUICE_CONFIG=" + (dir_ / "config.yaml").string() + " " +
                          std::string(SLUICE_CLI_BIN) + " deployment get d-w --watch --interval " +
                          "200ms --api " + Api() + " --token t0k3n; echo EXIT=$?; sleep 60";
  Shell(tmux + "new-session -d -s " + session + " -x 100 -y 30 \"" + cmd + "\"");
  std::string pane;
  for (int i = 0; i < 100 && pane.find("EXIT=") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pane = Shell(tmux + "capture-pane -p -t " + session);
  }
  Shell(tmux + "kill-server");
  EXPECT_NE(pane.find("EXIT=0"), std::string::npos) << pane;
  EXPECT_NE(pane.find("deployment d-w succeeded"), std::string::npos) << pane;
  // Redrawn in place: the earlier frames were cleared, one header is on the screen.
  EXPECT_EQ(pane.find("deployment d-w running"), std::string::npos) << pane;
  EXPECT_EQ(pane.find("--- "), std::string::npos) << pane;
  const auto header = pane.find("every 200ms, Ctrl-C stops");
  EXPECT_NE(header, std::string::npos) << pane;
  EXPECT_EQ(pane.find("every 200ms", header + 1), std::string::npos) << pane;
}

}  // namespace
