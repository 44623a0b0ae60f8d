// The sluice binary against a local stand-in for the public API: what each analysis, incident and
// rollback command asks the API for, what it prints and how it exits.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
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
                        req.get_header_value("Authorization"), req.body});
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

  CliRun Sluice(const std::string& args) {
    const std::string cmd = std::string(SLUICE_CLI_BIN) +
                            " --api http://127.0.0.1:" + std::to_string(port_) + " --token t0k3n " +
                            args + " 2>&1";
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

  r = Sluice("incident get inc-1");
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
  EXPECT_EQ(r.exit_code, 1);
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

}  // namespace
