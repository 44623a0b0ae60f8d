// Runs the real sluice-agent binary against an artifact server inside the test (httplib on
// 127.0.0.1, serving .tar.gz files built here) and checks what lands on disk.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sluice/core/encoding.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/testing/process.hpp>
#include <sstream>
#include <thread>

#include "tar_builder.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sluice::agent::testing::File;
using sluice::agent::testing::WriteTarGz;

const std::string kToken = "agent-test-token-0123456789";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("sluice-agent-itest-" + sluice::testing::RandomSuffix());
    root_ = base_ / "root";
    fs::create_directories(root_);
    fs::create_directories(SLUICE_TEST_LOG_DIR);

    server_.Get(R"(/artifacts/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      const std::string name = req.matches[1];
      ++requests_[name];
      const auto it = artifacts_.find(name);
      if (it == artifacts_.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/gzip");
    });
    // A stand-in for release-intake's enrolment routes (the enrolled-agent tests).
    server_.Post("/v1/agents/heartbeat", [this](const httplib::Request& req,
                                                httplib::Response& res) {
      std::lock_guard lock(mu_);
      heartbeats_.push_back(req.get_header_value("Authorization"));
      if (revoked_) {
        res.status = 401;
        res.set_content(
            R"({"error":{"code":"agent_revoked","message":"host 'web-1' was revoked by admin","field":""}})",
            "application/json");
      } else {
        res.set_content(R"({"name":"web-1"})", "application/json");
      }
    });
    server_.Post("/v1/agents/enroll", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      enrolments_.push_back(json::parse(req.body));
      if (enrolments_.size() == 1) {
        res.status = 201;
        res.set_content(
            R"({"name":"web-1","credential":"slh_first-credential","enrolled_at_ms":1,"enrollment_id":"e1"})",
            "application/json");
      } else {
        res.status = 401;
        res.set_content(
            R"({"error":{"code":"invalid_enrollment_token","message":"the enrolment token was already used","field":"enrollment_token"}})",
            "application/json");
      }
    });
    artifact_port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(artifact_port_, 0);
    server_thread_ = sluice::http::testing::ServeInBackground(server_);

    // A good release has a `healthy` file: the health command looks for it under current/.
    AddArtifact("1.0.0", {File("bin/app", "#!/bin/sh\necho v1\n", 0755), File("healthy", "")});
    AddArtifact("2.0.0", {File("bin/app", "#!/bin/sh\necho v2\n", 0755), File("healthy", "")});
    StartAgent();
  }

  void TearDown() override {
    agent_.reset();
    server_.stop();
    server_thread_.join();
    fs::remove_all(base_);
  }

  void StartAgent() {
    agent_port_ = sluice::testing::FreePort();
    agent_ = std::make_unique<sluice::testing::ChildProcess>(
        std::vector<std::string>{SLUICE_AGENT_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_AGENT_ADDR", "127.0.0.1:" + std::to_string(agent_port_)},
            {"SLUICE_AGENT_ROOT", root_.string()},
            {"SLUICE_AGENT_TOKEN", kToken},
            {"SLUICE_AGENT_KEEP", "3"},
            {"SLUICE_AGENT_MAX_ARTIFACT_BYTES", "10000000"},
            {"SLUICE_LOG_LEVEL", "debug"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/sluice-agent-" + base_.filename().string() + ".log");
    ASSERT_TRUE(sluice::testing::WaitForHttpOk(
        "http://127.0.0.1:" + std::to_string(agent_port_) + "/healthz", std::chrono::seconds(15)))
        << "sluice-agent did not start:\n"
        << agent_->LogTail();
  }

  void AddArtifact(const std::string& version,
                   const std::vector<sluice::agent::testing::TarEntry>& entries) {
    const fs::path p = base_ / ("app-" + version + ".tar.gz");
    WriteTarGz(p.string(), entries);
    std::lock_guard lock(mu_);
    artifacts_["app-" + version + ".tar.gz"] = ReadFile(p);
  }
  std::string ShaOf(const std::string& version) {
    std::lock_guard lock(mu_);
    return sluice::core::Sha256Hex(artifacts_.at("app-" + version + ".tar.gz"));
  }
  int Requests(const std::string& version) {
    std::lock_guard lock(mu_);
    return requests_["app-" + version + ".tar.gz"];
  }

  json Service() const {
    return {{"restart_command",
             {"/bin/sh", "-c",
              "echo \"$SLUICE_RELEASE_VERSION\" >> " + (base_ / "restarts.log").string()}},
            {"health",
             {{"command", {"/bin/sh", "-c", "test -f \"$SLUICE_RELEASE_DIR/healthy\""}},
              {"timeout", "2s"},
              {"interval", "100ms"}}}};
  }
  json DeployBody(const std::string& version, std::uint64_t generation) {
    return {{"version", version},
            {"artifact_url", "http://127.0.0.1:" + std::to_string(artifact_port_) +
                                 "/artifacts/app-" + version + ".tar.gz"},
            {"sha256", ShaOf(version)},
            {"generation", generation},
            {"service", Service()}};
  }

  sluice::http::ClientResponse Call(const std::string& method, const std::string& path,
                                    const json& body = nullptr, const std::string& token = kToken) {
    sluice::http::ClientRequest req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(agent_port_) + path;
    req.timeout = std::chrono::seconds(30);
    if (!token.empty()) req.headers.push_back({"Authorization", "Bearer " + token});
    if (!body.is_null()) {
      req.headers.push_back({"Content-Type", "application/json"});
      req.body = body.dump();
    }
    return sluice::http::Send(req);
  }
  json Ok(const std::string& method, const std::string& path, const json& body = nullptr) {
    const auto res = Call(method, path, body);
    EXPECT_EQ(res.status, 200) << method << " " << path << ": " << res.body;
    return json::parse(res.body);
  }
  // The error code of a refused call, with its HTTP status.
  std::pair<long, std::string> Refusal(const std::string& path, const json& body) {
    const auto res = Call("POST", path, body);
    const auto j = json::parse(res.body);
    return {res.status, j.contains("error") ? j["error"].value("code", "") : "<no error>"};
  }
  std::string CurrentTarget() const {
    std::error_code ec;
    return fs::read_symlink(root_ / "current", ec).string();
  }
  std::string Restarts() const { return ReadFile(base_ / "restarts.log"); }

  fs::path base_;
  fs::path root_;
  httplib::Server server_;
  std::thread server_thread_;
  int artifact_port_ = 0;
  int agent_port_ = 0;
  std::mutex mu_;
  std::map<std::string, std::string> artifacts_;  // guarded by mu_
  std::map<std::string, int> requests_;           // guarded by mu_
  bool revoked_ = false;                          // guarded by mu_
  std::vector<std::string> heartbeats_;           // guarded by mu_: their Authorization
  std::vector<json> enrolments_;                  // guarded by mu_
  std::unique_ptr<sluice::testing::ChildProcess> agent_;
};

// A self-signed certificate and key (PEM) for `cn`, valid for 127.0.0.1.
void SelfSigned(const fs::path& dir, const std::string& cn) {
  fs::create_directories(dir);
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + cn +
                          " -addext subjectAltName=IP:127.0.0.1 -keyout " +
                          (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() +
                          " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// HTTPS with client certificates (SLUICE_AGENT_TLS_*): the executor's client settings get
// through; no client certificate, an unknown server certificate or plain HTTP do not.
TEST_F(AgentTest, ServesHttpsAndRequiresTheClientCertificate) {
  SelfSigned(base_ / "server", "127.0.0.1");
  SelfSigned(base_ / "client", "sluice-executor");
  const fs::path tls_root = base_ / "tls-root";
  fs::create_directories(tls_root);
  const int port = sluice::testing::FreePort();
  sluice::testing::ChildProcess agent(
      {SLUICE_AGENT_BIN},
      {{"SLUICE_AGENT_ADDR", "127.0.0.1:" + std::to_string(port)},
       {"SLUICE_AGENT_ROOT", tls_root.string()},
       {"SLUICE_AGENT_TOKEN", kToken},
       {"SLUICE_AGENT_TLS_CERT_FILE", (base_ / "server/cert.pem").string()},
       {"SLUICE_AGENT_TLS_KEY_FILE", (base_ / "server/key.pem").string()},
       {"SLUICE_AGENT_TLS_CLIENT_CA_FILE", (base_ / "client/cert.pem").string()},
       {"SLUICE_LOG_LEVEL", "debug"}},
      std::string(SLUICE_TEST_LOG_DIR) + "/sluice-agent-tls-" + base_.filename().string() + ".log");
  auto request = [&](const std::string& method, const std::string& path, const json& body) {
    sluice::http::ClientRequest req;
    req.method = method;
    req.url = "https://127.0.0.1:" + std::to_string(port) + path;
    req.timeout = std::chrono::seconds(30);
    req.headers.push_back({"Authorization", "Bearer " + kToken});
    req.ca_file = (base_ / "server/cert.pem").string();
    req.client_cert_file = (base_ / "client/cert.pem").string();
    req.client_key_file = (base_ / "client/key.pem").string();
    if (!body.is_null()) {
      req.headers.push_back({"Content-Type", "application/json"});
      req.body = body.dump();
    }
    return req;
  };
  bool up = false;
  for (int i = 0; i < 150 && !up; ++i) {
    try {
      up = sluice::http::Send(request("GET", "/healthz", nullptr)).status == 200;
    } catch (const sluice::http::HttpError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_TRUE(up) << "sluice-agent did not serve HTTPS:\n" << agent.LogTail();

  const auto deployed = sluice::http::Send(request("POST", "/v1/deploy", DeployBody("1.0.0", 1)));
  EXPECT_EQ(deployed.status, 200) << deployed.body;
  const auto status = sluice::http::Send(request("GET", "/v1/status", nullptr));
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(json::parse(status.body)["current"], "1.0.0");

  auto no_client_cert = request("GET", "/v1/status", nullptr);
  no_client_cert.client_cert_file.clear();
  no_client_cert.client_key_file.clear();
  EXPECT_THROW(sluice::http::Send(no_client_cert), sluice::http::HttpError);
  auto unknown_server = request("GET", "/v1/status", nullptr);
  unknown_server.ca_file = (base_ / "client/cert.pem").string();  // not the server's issuer
  EXPECT_THROW(sluice::http::Send(unknown_server), sluice::http::HttpError);
  auto plain = request("GET", "/v1/status", nullptr);
  plain.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/status";
  bool plain_answered = false;
  try {
    plain_answered = sluice::http::Send(plain).status == 200;
  } catch (const sluice::http::HttpError&) {
  }
  EXPECT_FALSE(plain_answered);
}

// A certificate without its key stops start-up with one line naming the keys.
TEST_F(AgentTest, HalfATlsConfigurationStopsStartUp) {
  SelfSigned(base_ / "server", "127.0.0.1");
  sluice::testing::ChildProcess agent(
      {SLUICE_AGENT_BIN},
      {{"SLUICE_AGENT_ADDR", "127.0.0.1:" + std::to_string(sluice::testing::FreePort())},
       {"SLUICE_AGENT_ROOT", (base_ / "half").string()},
       {"SLUICE_AGENT_TOKEN", kToken},
       {"SLUICE_AGENT_TLS_CERT_FILE", (base_ / "server/cert.pem").string()}},
      std::string(SLUICE_TEST_LOG_DIR) + "/sluice-agent-half-tls-" + base_.filename().string() +
          ".log");
  for (int i = 0; i < 100 && agent.Running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(agent.Running());
  EXPECT_NE(agent.LogTail().find("SLUICE_AGENT_TLS_CERT_FILE and SLUICE_AGENT_TLS_KEY_FILE"),
            std::string::npos)
      << agent.LogTail();
}

TEST_F(AgentTest, DeploysUpgradesAndRevertsWithoutDownloading) {
  auto r = Ok("POST", "/v1/deploy", DeployBody("1.0.0", 1));
  EXPECT_EQ(r["result"], "succeeded") << r.dump();
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
  EXPECT_EQ(ReadFile(root_ / "current/bin/app"), "#!/bin/sh\necho v1\n");
  EXPECT_EQ(r["status"]["health_status"], "healthy");

  // The same command again: already current and healthy, nothing fetched, nothing restarted.
  r = Ok("POST", "/v1/deploy", DeployBody("1.0.0", 1));
  EXPECT_EQ(r["result"], "unchanged") << r.dump();
  EXPECT_EQ(Requests("1.0.0"), 1);

  r = Ok("POST", "/v1/deploy", DeployBody("2.0.0", 2));
  EXPECT_EQ(r["result"], "succeeded") << r.dump();
  EXPECT_EQ(CurrentTarget(), "releases/2.0.0");
  EXPECT_EQ(r["status"]["previous"], "1.0.0");

  r = Ok("POST", "/v1/revert", {{"version", "1.0.0"}, {"generation", 3}});
  EXPECT_EQ(r["result"], "succeeded") << r.dump();
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
  EXPECT_EQ(ReadFile(root_ / "current/bin/app"), "#!/bin/sh\necho v1\n");
  EXPECT_EQ(Requests("1.0.0"), 1) << "a revert must not download";
  EXPECT_EQ(Requests("2.0.0"), 1);
  EXPECT_EQ(Restarts(), "1.0.0\n2.0.0\n1.0.0\n");

  const auto status = Ok("GET", "/v1/status");
  EXPECT_EQ(status["current"], "1.0.0");
  EXPECT_EQ(status["previous"], "2.0.0");
  EXPECT_EQ(status["highest_generation"], 3);
  EXPECT_EQ(status["installed"].size(), 2u);
  EXPECT_EQ(status["last_operation"]["kind"], "revert");
  EXPECT_EQ(status["last_operation"]["state"], "succeeded");

  EXPECT_EQ(Refusal("/v1/revert", {{"version", "9.9.9"}, {"generation", 3}}),
            (std::pair<long, std::string>{404, "not_installed"}));
}

TEST_F(AgentTest, ABadChecksumIsRefusedAndChangesNothing) {
  ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody("1.0.0", 1))["result"], "succeeded");
  auto body = DeployBody("2.0.0", 2);
  body["sha256"] = std::string(64, 'e');
  EXPECT_EQ(Refusal("/v1/deploy", body), (std::pair<long, std::string>{422, "checksum_mismatch"}));
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
  EXPECT_FALSE(fs::exists(root_ / "releases/2.0.0"));
  EXPECT_TRUE(fs::is_empty(root_ / "downloads"));
  EXPECT_EQ(Restarts(), "1.0.0\n");
  const auto status = Ok("GET", "/v1/status");
  EXPECT_EQ(status["current"], "1.0.0");
  EXPECT_EQ(status["installed"].size(), 1u);
  EXPECT_EQ(status["health_status"], "healthy");
  EXPECT_EQ(status["last_operation"]["reason"], "checksum_mismatch");
}

TEST_F(AgentTest, StaleGenerationsAreRefused) {
  ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody("1.0.0", 5))["result"], "succeeded");
  EXPECT_EQ(Refusal("/v1/deploy", DeployBody("2.0.0", 4)),
            (std::pair<long, std::string>{409, "stale_generation"}));
  EXPECT_EQ(Refusal("/v1/revert", {{"version", "1.0.0"}, {"generation", 1}}),
            (std::pair<long, std::string>{409, "stale_generation"}));
  EXPECT_EQ(Requests("2.0.0"), 0);
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
  EXPECT_EQ(Ok("GET", "/v1/status")["highest_generation"], 5);
}

TEST_F(AgentTest, GenerationsAreFencedPerDeployment) {
  auto Of = [](json body, const std::string& deployment) {
    body["deployment_id"] = deployment;
    return body;
  };
  // dep-a: batch at generation 1, then its rollback at generation 2.
  ASSERT_EQ(Ok("POST", "/v1/deploy", Of(DeployBody("1.0.0", 1), "dep-a"))["result"], "succeeded");
  ASSERT_EQ(Ok("POST", "/v1/deploy", Of(DeployBody("2.0.0", 1), "dep-a"))["result"], "succeeded");
  ASSERT_EQ(Ok("POST", "/v1/revert",
               {{"version", "1.0.0"}, {"deployment_id", "dep-a"}, {"generation", 2}})["result"],
            "succeeded");
  // A late forward batch of dep-a is refused; the next deployment, counting from 1, is not.
  EXPECT_EQ(Refusal("/v1/deploy", Of(DeployBody("2.0.0", 1), "dep-a")),
            (std::pair<long, std::string>{409, "stale_generation"}));
  EXPECT_EQ(Ok("POST", "/v1/deploy", Of(DeployBody("2.0.0", 1), "dep-b"))["result"], "succeeded");
  EXPECT_EQ(CurrentTarget(), "releases/2.0.0");
  // Remembered across a restart.
  EXPECT_EQ(agent_->Terminate(), 0) << agent_->LogTail();
  StartAgent();
  EXPECT_EQ(
      Refusal("/v1/revert", {{"version", "1.0.0"}, {"deployment_id", "dep-a"}, {"generation", 1}}),
      (std::pair<long, std::string>{409, "stale_generation"}));
}

// Issue 13: deployment A's revert must not switch a host that deployment B deployed after A.
TEST_F(AgentTest, ARevertIsRefusedOnAHostANewerDeploymentDeployed) {
  auto Of = [](json body, const std::string& deployment) {
    body["deployment_id"] = deployment;
    return body;
  };
  ASSERT_EQ(Ok("POST", "/v1/deploy", Of(DeployBody("1.0.0", 1), "dep-a"))["result"], "succeeded");
  ASSERT_EQ(Ok("POST", "/v1/deploy", Of(DeployBody("2.0.0", 1), "dep-b"))["result"], "succeeded");
  EXPECT_EQ(
      Refusal("/v1/revert", {{"version", "1.0.0"}, {"deployment_id", "dep-a"}, {"generation", 2}}),
      (std::pair<long, std::string>{409, "host_owned_by_newer_deployment"}));
  EXPECT_EQ(CurrentTarget(), "releases/2.0.0");
  EXPECT_EQ(Restarts(), "1.0.0\n2.0.0\n");
  // Remembered across a restart; the owner's own revert goes ahead.
  EXPECT_EQ(agent_->Terminate(), 0) << agent_->LogTail();
  StartAgent();
  EXPECT_EQ(
      Refusal("/v1/revert", {{"version", "1.0.0"}, {"deployment_id", "dep-a"}, {"generation", 3}}),
      (std::pair<long, std::string>{409, "host_owned_by_newer_deployment"}));
  EXPECT_EQ(Ok("POST", "/v1/revert",
               {{"version", "1.0.0"}, {"deployment_id", "dep-b"}, {"generation", 2}})["result"],
            "succeeded");
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
}

TEST_F(AgentTest, StateSurvivesARestart) {
  ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody("1.0.0", 1))["result"], "succeeded");
  ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody("2.0.0", 7))["result"], "succeeded");
  EXPECT_EQ(agent_->Terminate(), 0) << agent_->LogTail();
  StartAgent();
  const auto status = Ok("GET", "/v1/status");
  EXPECT_EQ(status["current"], "2.0.0");
  EXPECT_EQ(status["previous"], "1.0.0");
  EXPECT_EQ(status["highest_generation"], 7);
  EXPECT_EQ(status["health_status"], "healthy");
  EXPECT_EQ(Refusal("/v1/deploy", DeployBody("1.0.0", 6)),
            (std::pair<long, std::string>{409, "stale_generation"}));
  // The service configuration of the last deploy was kept too: a bare revert works.
  const auto r = Ok("POST", "/v1/revert", {{"version", "1.0.0"}, {"generation", 7}});
  EXPECT_EQ(r["result"], "succeeded") << r.dump();
  EXPECT_EQ(Requests("1.0.0"), 1);
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
}

TEST_F(AgentTest, APathTraversalArchiveIsRefused) {
  ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody("1.0.0", 1))["result"], "succeeded");
  AddArtifact("6.6.6", {File("healthy", ""), File("../../escaped", "owned")});
  EXPECT_EQ(Refusal("/v1/deploy", DeployBody("6.6.6", 2)),
            (std::pair<long, std::string>{422, "unsafe_archive"}));
  EXPECT_FALSE(fs::exists(base_ / "escaped"));
  EXPECT_FALSE(fs::exists(root_ / "escaped"));
  EXPECT_FALSE(fs::exists(root_ / "releases/6.6.6"));
  EXPECT_FALSE(fs::exists(root_ / "releases/.staging-6.6.6"));
  EXPECT_EQ(CurrentTarget(), "releases/1.0.0");
  EXPECT_EQ(Ok("GET", "/v1/status")["last_operation"]["reason"], "unsafe_archive");
}

TEST_F(AgentTest, AFailedHealthCheckIsReportedAndNotReverted) {
  ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody("1.0.0", 1))["result"], "succeeded");
  AddArtifact("3.0.0", {File("bin/app", "#!/bin/sh\nexit 1\n", 0755)});  // no `healthy`
  const auto r = Ok("POST", "/v1/deploy", DeployBody("3.0.0", 2));
  EXPECT_EQ(r["result"], "failed");
  EXPECT_EQ(r["operation"]["reason"], "health_check_failed");
  EXPECT_EQ(r["status"]["health_status"], "unhealthy");
  EXPECT_EQ(CurrentTarget(), "releases/3.0.0") << "the executor decides about reverting";
  EXPECT_EQ(r["status"]["previous"], "1.0.0");
}

TEST_F(AgentTest, RetentionKeepsTheLastVersions) {
  for (const char* v : {"4.0.0", "5.0.0", "6.0.0"}) {
    AddArtifact(v, {File("healthy", "")});
  }
  std::uint64_t gen = 1;
  for (const char* v : {"1.0.0", "2.0.0", "4.0.0", "5.0.0", "6.0.0"}) {
    ASSERT_EQ(Ok("POST", "/v1/deploy", DeployBody(v, gen++))["result"], "succeeded") << v;
  }
  // SLUICE_AGENT_KEEP=3
  EXPECT_FALSE(fs::exists(root_ / "releases/1.0.0"));
  EXPECT_FALSE(fs::exists(root_ / "releases/2.0.0"));
  EXPECT_TRUE(fs::exists(root_ / "releases/4.0.0"));
  EXPECT_TRUE(fs::exists(root_ / "releases/6.0.0"));
  EXPECT_EQ(Ok("GET", "/v1/status")["installed"].size(), 3u);
}

TEST_F(AgentTest, TheApiNeedsTheTokenAndValidBodies) {
  EXPECT_EQ(Call("GET", "/v1/status", nullptr, "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/status", nullptr, "wrong-token-wrong-token").status, 401);
  auto body = DeployBody("1.0.0", 1);
  body["sha256"] = "abc";
  const auto res = Call("POST", "/v1/deploy", body);
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(json::parse(res.body)["error"]["field"], "sha256");
}

}  // namespace

namespace {

// Runs `sluice-agent enroll ARGS`; its exit status, stdout + stderr in `output`.
int Enroll(const std::string& args, const fs::path& out_file, std::string& output) {
  const std::string cmd =
      std::string(SLUICE_AGENT_BIN) + " enroll " + args + " >" + out_file.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  output = ReadFile(out_file);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

// `sluice-agent enroll`: the credential and settings written 0600 from release-intake's answer;
// a second run refuses (exit 3) and changes nothing; --force with a spent token is refused by
// release-intake (naming the flag) and leaves the files as they were.
TEST_F(AgentTest, EnrollWritesItsFilesOnceAndRefusesAgain) {
  const fs::path conf = base_ / "etc";
  {
    std::ofstream(base_ / "enroll-token") << "sle_test-token\n";
    std::ofstream(base_ / "executor-token") << kToken << "\n";
  }
  const std::string args = "--server http://127.0.0.1:" + std::to_string(artifact_port_) +
                           " --token-file " + (base_ / "enroll-token").string() +
                           " --name web-1 --address 10.0.0.5 --label role=web --label zone=zone-a" +
                           " --config-dir " + conf.string() + " --executor-token-file " +
                           (base_ / "executor-token").string();
  std::string out;
  ASSERT_EQ(Enroll(args, base_ / "enroll.out", out), 0) << out;
  {
    std::lock_guard lock(mu_);
    ASSERT_EQ(enrolments_.size(), 1u);
    EXPECT_EQ(enrolments_[0]["enrollment_token"], "sle_test-token");
    EXPECT_EQ(enrolments_[0]["name"], "web-1");
    EXPECT_EQ(enrolments_[0]["address"], "10.0.0.5");
    EXPECT_EQ(enrolments_[0]["labels"], json({{"role", "web"}, {"zone", "zone-a"}}));
  }
  for (const auto* f : {"credential", "enrolled.conf", "enrollment.json", "executor-token"}) {
    EXPECT_EQ(fs::status(conf / f).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write)
        << f;
  }
  EXPECT_EQ(ReadFile(conf / "credential"), "slh_first-credential\n");
  const std::string settings = ReadFile(conf / "enrolled.conf");
  EXPECT_NE(settings.find("SLUICE_AGENT_NAME=web-1\n"), std::string::npos) << settings;
  EXPECT_NE(settings.find("SLUICE_AGENT_CREDENTIAL_FILE=" + (conf / "credential").string()),
            std::string::npos)
      << settings;

  EXPECT_EQ(Enroll(args, base_ / "enroll2.out", out), 3) << out;
  EXPECT_NE(out.find("already enrolled as 'web-1'"), std::string::npos) << out;
  EXPECT_EQ(Enroll(args + " --force", base_ / "enroll3.out", out), 1) << out;
  EXPECT_NE(out.find("invalid_enrollment_token, --token-file"), std::string::npos) << out;
  EXPECT_EQ(ReadFile(conf / "credential"), "slh_first-credential\n");
  std::lock_guard lock(mu_);
  EXPECT_EQ(enrolments_.size(), 2u);  // the second run never called release-intake
}

// An enrolled agent reports to release-intake with its credential; once release-intake refuses
// it (revoked), deploys and reverts are refused (403 agent_revoked) while status still answers;
// accepted again, the agent takes commands again.
TEST_F(AgentTest, EnrolledAgentRefusesCommandsWhileReleaseIntakeRefusesItsCredential) {
  const fs::path enrolled_root = base_ / "enrolled";
  const int port = sluice::testing::FreePort();
  sluice::testing::ChildProcess agent(
      {SLUICE_AGENT_BIN},
      {{"SLUICE_AGENT_ADDR", "127.0.0.1:" + std::to_string(port)},
       {"SLUICE_AGENT_ROOT", enrolled_root.string()},
       {"SLUICE_AGENT_TOKEN", kToken},
       {"SLUICE_AGENT_SERVER", "http://127.0.0.1:" + std::to_string(artifact_port_)},
       {"SLUICE_AGENT_NAME", "web-1"},
       {"SLUICE_AGENT_CREDENTIAL", "slh_host-credential"},
       {"SLUICE_AGENT_HEARTBEAT_INTERVAL", "1s"},
       {"SLUICE_LOG_LEVEL", "debug"}},
      std::string(SLUICE_TEST_LOG_DIR) + "/sluice-agent-enrolled-" + base_.filename().string() +
          ".log");
  agent_port_ = port;  // Call() talks to this agent
  ASSERT_TRUE(sluice::testing::WaitForHttpOk(
      "http://127.0.0.1:" + std::to_string(port) + "/healthz", std::chrono::seconds(15)))
      << agent.LogTail();
  const auto deploy_code = [&](const std::string& version) {
    return Refusal("/v1/deploy", DeployBody(version, 1));
  };
  const auto wait_for = [&](auto&& done) {
    for (int i = 0; i < 100 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  };
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard lock(mu_);
    return !heartbeats_.empty();
  })) << agent.LogTail();
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(heartbeats_.front(), "Bearer slh_host-credential");
  }
  EXPECT_EQ(Call("POST", "/v1/deploy", DeployBody("1.0.0", 1)).status, 200);

  {
    std::lock_guard lock(mu_);
    revoked_ = true;
  }
  // Until the next heartbeat, a repeated deploy of the current version is answered
  // (unchanged); then refused.
  ASSERT_TRUE(wait_for([&] { return deploy_code("1.0.0").second == "agent_revoked"; }))
      << agent.LogTail();
  EXPECT_EQ(deploy_code("2.0.0"), (std::pair<long, std::string>{403, "agent_revoked"}));
  EXPECT_EQ(Refusal("/v1/revert", {{"version", "1.0.0"}, {"generation", 1}}).second,
            "agent_revoked");
  EXPECT_EQ(Ok("GET", "/v1/status")["current"], "1.0.0");  // nothing changed on the host

  {
    std::lock_guard lock(mu_);
    revoked_ = false;
  }
  ASSERT_TRUE(wait_for([&] {
    return Call("POST", "/v1/deploy", DeployBody("2.0.0", 1)).status == 200;
  })) << agent.LogTail();
  EXPECT_EQ(Ok("GET", "/v1/status")["current"], "2.0.0");
}
