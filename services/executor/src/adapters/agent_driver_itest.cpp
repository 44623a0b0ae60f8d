// AgentDriver against an in-process fake sluice-agent on 127.0.0.1 (an ephemeral port): the
// fake checks the token and records each request; the test picks its answer.
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/http/server.hpp>
#include <thread>

#include "adapters/agent_driver.hpp"

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr const char* kToken = "agent-token-123";

struct Captured {
  std::string method;
  std::string path;
  std::string authorization;
  json body;
};

class FakeAgent {
 public:
  enum class Mode { kOk, kStale, kServerError, kHealthFailed, kChecksum, kHang, kOtherVersion };

  FakeAgent() {
    server_.Raw().Post("/v1/deploy", [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res, json::parse(req.body, nullptr, false).value("version", ""));
    });
    server_.Raw().Post("/v1/revert", [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res, json::parse(req.body, nullptr, false).value("version", ""));
    });
    server_.Raw().Get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
      if (!Record(req, res)) return;
      res.set_content(R"({"current":"2.0.0","previous":"1.0.0",
        "installed":[{"version":"1.0.0","sha256":"aa","installed_at_ms":1},
                     {"version":"2.0.0","sha256":"bb","installed_at_ms":2}],
        "health":"healthy","highest_generation":7,"last_operation":null})",
                      "application/json");
    });
    server_.Start();
    port_ = server_.Port();
  }
  ~FakeAgent() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    server_.Stop();
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  void SetMode(Mode m) {
    std::lock_guard lock(mu_);
    mode_ = m;
  }
  std::vector<Captured> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  // Records the request; answers 401 and returns false when the token is wrong.
  bool Record(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    requests_.push_back({req.method, req.path, req.get_header_value("Authorization"),
                         json::parse(req.body.empty() ? "null" : req.body, nullptr, false)});
    if (req.get_header_value("Authorization") != std::string("Bearer ") + kToken) {
      res.status = 401;
      res.set_content(R"({"error":{"code":"unauthorized","message":"bad token","field":""}})",
                      "application/json");
      return false;
    }
    return true;
  }

  void Handle(const httplib::Request& req, httplib::Response& res, const std::string& version) {
    if (!Record(req, res)) return;
    Mode mode;
    {
      std::unique_lock lock(mu_);
      mode = mode_;
      if (mode == Mode::kHang) {
        cv_.wait_for(lock, 10s, [this] { return released_; });
      }
    }
    auto error = [&res](int status, const std::string& code) {
      res.status = status;
      res.set_content(
          json{{"error", {{"code", code}, {"message", code + " here"}, {"field", ""}}}}.dump(),
          "application/json");
    };
    switch (mode) {
      case Mode::kOk:
      case Mode::kHang:
        res.set_content(json{{"current", version}, {"health", "healthy"}}.dump(),
                        "application/json");
        return;
      case Mode::kOtherVersion:
        res.set_content(json{{"current", "0.1.0"}, {"health", "healthy"}}.dump(),
                        "application/json");
        return;
      case Mode::kStale:
        return error(409, "stale_generation");
      case Mode::kServerError:
        return error(500, "internal");
      case Mode::kHealthFailed:
        return error(502, "health_check_failed");
      case Mode::kChecksum:
        return error(422, "checksum_mismatch");
    }
  }

  // sluice::http::Server's Start/Stop wait for the accept loop, so a Stop right after Start
  // is never lost (a bare httplib::Server hung here now and then).
  http::Server server_{"fake-agent", http::ServerOptions{.addr = "127.0.0.1:0"}};
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  Mode mode_ = Mode::kOk;
  std::vector<Captured> requests_;
};

AgentDriverConfig Config(std::string token = kToken) {
  AgentDriverConfig c;
  c.token = std::move(token);
  c.service.restart_command = {"systemctl", "restart", "demo"};
  c.service.restart_timeout = 20s;
  c.service.health.http_url = "http://127.0.0.1:8080/healthz";
  c.service.health.timeout = 5s;
  return c;
}

class AgentDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.host = "web-1";
    host_.address = "127.0.0.1";
    host_.agent_endpoint = agent_.Endpoint();
  }
  Deadline In(std::chrono::milliseconds d) const { return clock_.Monotonic() + d; }
  HostOutcome Deploy(AgentDriver& driver) {
    return driver.Deploy(host_, artifact_, CommandFence{"dep-1", core::Generation(7)}, In(5s));
  }

  FakeAgent agent_;
  core::testing::ManualClock clock_;
  HostTarget host_;
  ArtifactRef artifact_{"2.0.0", "http://artifacts.local/demo-2.0.0.tar.gz", std::string(64, 'b')};
};

TEST_F(AgentDriverTest, DeploySendsTheTokenAndTheCommand) {
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.message;
  EXPECT_EQ(outcome.version, "2.0.0");
  EXPECT_EQ(outcome.health, HostHealth::kHealthy);

  const auto requests = agent_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/v1/deploy");
  EXPECT_EQ(requests[0].authorization, std::string("Bearer ") + kToken);
  const json expected = {{"version", "2.0.0"},
                         {"artifact_url", "http://artifacts.local/demo-2.0.0.tar.gz"},
                         {"sha256", std::string(64, 'b')},
                         {"deployment_id", "dep-1"},
                         {"generation", 7},
                         {"service",
                          {{"restart_command", {"systemctl", "restart", "demo"}},
                           {"restart_timeout", "20000ms"},
                           {"health",
                            {{"http_url", "http://127.0.0.1:8080/healthz"},
                             {"command", json::array()},
                             {"timeout", "5000ms"}}}}}};
  EXPECT_EQ(requests[0].body, expected);
}

TEST_F(AgentDriverTest, RevertSendsVersionAndGeneration) {
  AgentDriver driver(Config(), clock_);
  const auto outcome =
      driver.Revert(host_, "1.0.0", CommandFence{"dep-1", core::Generation(9)}, In(5s));
  EXPECT_TRUE(outcome.Succeeded()) << outcome.message;
  EXPECT_EQ(outcome.version, "1.0.0");
  const auto requests = agent_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/revert");
  EXPECT_EQ(requests[0].body,
            (json{{"version", "1.0.0"}, {"deployment_id", "dep-1"}, {"generation", 9}}));
}

TEST_F(AgentDriverTest, WrongTokenFailsWithoutRetry) {
  AgentDriver driver(Config("not-the-token"), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(outcome.retryable);
  EXPECT_EQ(outcome.reason, "unauthorized");
  EXPECT_EQ(outcome.message.find("not-the-token"), std::string::npos);
}

TEST_F(AgentDriverTest, StaleGenerationIsStale) {
  agent_.SetMode(FakeAgent::Mode::kStale);
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kStale);
  EXPECT_FALSE(outcome.retryable);
  EXPECT_EQ(outcome.reason, "stale_generation");
  EXPECT_NE(outcome.message.find("409"), std::string::npos);
}

TEST_F(AgentDriverTest, ServerErrorIsRetryable) {
  agent_.SetMode(FakeAgent::Mode::kServerError);
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_TRUE(outcome.retryable);
  EXPECT_EQ(outcome.reason, "internal");
}

TEST_F(AgentDriverTest, HealthCheckFailureIsUnhealthyAndNotRetried) {
  agent_.SetMode(FakeAgent::Mode::kHealthFailed);
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kUnhealthy);
  EXPECT_FALSE(outcome.retryable);
}

TEST_F(AgentDriverTest, ChecksumMismatchIsDefinitive) {
  agent_.SetMode(FakeAgent::Mode::kChecksum);
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(outcome.retryable);
  EXPECT_EQ(outcome.reason, "checksum_mismatch");
}

TEST_F(AgentDriverTest, OtherCurrentVersionAfterSuccessIsAFailure) {
  agent_.SetMode(FakeAgent::Mode::kOtherVersion);
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_EQ(outcome.reason, kReasonVersionMismatch);
  EXPECT_EQ(outcome.version, "0.1.0");
}

TEST_F(AgentDriverTest, HangingAgentTimesOutAtTheDeadline) {
  agent_.SetMode(FakeAgent::Mode::kHang);
  AgentDriver driver(Config(), clock_);
  const auto start = std::chrono::steady_clock::now();
  const auto outcome =
      driver.Deploy(host_, artifact_, CommandFence{"dep-1", core::Generation(7)}, In(300ms));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut) << outcome.message;
  EXPECT_TRUE(outcome.retryable);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST_F(AgentDriverTest, PassedDeadlineMakesNoCall) {
  AgentDriver driver(Config(), clock_);
  const auto outcome =
      driver.Deploy(host_, artifact_, CommandFence{"dep-1", core::Generation(7)}, In(0ms));
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut);
  EXPECT_EQ(outcome.reason, kReasonDeadlinePassed);
  EXPECT_TRUE(agent_.Requests().empty());
}

TEST_F(AgentDriverTest, ClosedPortIsUnreachable) {
  int port = 0;
  {
    FakeAgent gone;
    port = std::stoi(gone.Endpoint().substr(std::string("http://127.0.0.1:").size()));
  }
  host_.agent_endpoint = "http://127.0.0.1:" + std::to_string(port);
  AgentDriver driver(Config(), clock_);
  const auto outcome = Deploy(driver);
  EXPECT_EQ(outcome.kind, OutcomeKind::kUnreachable) << outcome.message;
  EXPECT_TRUE(outcome.retryable);
}

TEST_F(AgentDriverTest, StatusReportsTheAgentState) {
  AgentDriver driver(Config(), clock_);
  const auto state = driver.Status(host_, In(5s));
  ASSERT_TRUE(state.reachable) << state.error;
  EXPECT_EQ(state.current, "2.0.0");
  EXPECT_EQ(state.previous, "1.0.0");
  EXPECT_EQ(state.installed, (std::vector<std::string>{"1.0.0", "2.0.0"}));
  EXPECT_EQ(state.health, HostHealth::kHealthy);
  EXPECT_EQ(state.highest_generation, 7u);
  const auto requests = agent_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].authorization, std::string("Bearer ") + kToken);

  AgentDriver bad(Config("wrong"), clock_);
  const auto refused = bad.Status(host_, In(5s));
  EXPECT_FALSE(refused.reachable);
  EXPECT_NE(refused.error.find("401"), std::string::npos);
}

TEST(AgentOutcomeTest, MapsCodesAndStatuses) {
  auto err = [](const std::string& code) {
    return json{{"error", {{"code", code}, {"message", "m"}, {"field", ""}}}}.dump();
  };
  EXPECT_TRUE(AgentOutcome(503, err("busy"), "1").retryable);
  EXPECT_TRUE(AgentOutcome(429, "", "1").retryable);
  EXPECT_EQ(AgentOutcome(429, "", "1").reason, "http_429");
  EXPECT_FALSE(AgentOutcome(400, err("invalid_field"), "1").retryable);
  EXPECT_FALSE(AgentOutcome(500, err("install_failed"), "1").retryable);
  EXPECT_TRUE(AgentOutcome(502, err("download_failed"), "1").retryable);
  EXPECT_EQ(AgentOutcome(200, "not json", "1").reason, kReasonBadResponse);
  const auto unhealthy = AgentOutcome(200, R"({"current":"1","health":"unhealthy"})", "1");
  EXPECT_EQ(unhealthy.kind, OutcomeKind::kUnhealthy);
  const auto ok = AgentOutcome(200, R"({"current":"1","health":"unknown"})", "1");
  EXPECT_TRUE(ok.Succeeded());
  EXPECT_EQ(ok.health, HostHealth::kUnknown);
}

TEST(AgentOutcomeTest, ReadsTheAgentsReportShape) {
  const auto ok = AgentOutcome(200, R"({"result":"succeeded","operation":{"reason":""},
               "status":{"current":"2","health_status":"healthy"}})",
                               "2");
  EXPECT_TRUE(ok.Succeeded()) << ok.message;
  EXPECT_EQ(ok.health, HostHealth::kHealthy);
  const auto unchanged = AgentOutcome(
      200, R"({"result":"unchanged","status":{"current":"2","health_status":"healthy"}})", "2");
  EXPECT_TRUE(unchanged.Succeeded());
  const auto unhealthy = AgentOutcome(
      200, R"({"result":"failed","operation":{"reason":"health_check_failed","message":"503"},
               "status":{"current":"2","health_status":"unhealthy"}})",
      "2");
  EXPECT_EQ(unhealthy.kind, OutcomeKind::kUnhealthy);
  EXPECT_EQ(unhealthy.health, HostHealth::kUnhealthy);
  const auto restart = AgentOutcome(
      200, R"({"result":"failed","operation":{"reason":"restart_failed","message":"exit 1"},
               "status":{"current":"2","health_status":"unhealthy"}})",
      "2");
  EXPECT_EQ(restart.kind, OutcomeKind::kFailed);
  EXPECT_EQ(restart.reason, "restart_failed");
  EXPECT_FALSE(restart.retryable);
  auto err = [](const std::string& code) {
    return json{{"error", {{"code", code}, {"message", "m"}, {"field", ""}}}}.dump();
  };
  EXPECT_TRUE(AgentOutcome(409, err("operation_in_progress"), "2").retryable);
  const auto status =
      AgentStatus(200, R"({"current":"2","previous":null,"installed":[],"health_status":"healthy",
               "highest_generation":3})");
  EXPECT_EQ(status.health, HostHealth::kHealthy);
  EXPECT_EQ(status.previous, "");
}

TEST(AgentDriverUrlTest, FallsBackToAddressAndDefaultPort) {
  core::testing::ManualClock clock;
  AgentDriver driver(Config(), clock);
  HostTarget h;
  h.address = "10.1.2.3";
  EXPECT_EQ(driver.BaseUrl(h), "http://10.1.2.3:7070");
  h.agent_endpoint = "https://agent.example:9443//";
  EXPECT_EQ(driver.BaseUrl(h), "https://agent.example:9443");
}

}  // namespace
}  // namespace sluice::executor
