// The service token of the internal APIs: a Server on 127.0.0.1:0 called through Send.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/server.hpp>
#include <sluice/http/service_auth.hpp>

namespace sluice::http {
namespace {

using nlohmann::json;

const std::string kToken = "svc_0123456789abcdef0123456789";

TEST(BearerMatchesTest, OnlyTheExactBearerToken) {
  EXPECT_TRUE(BearerMatches("Bearer " + kToken, kToken));
  EXPECT_FALSE(BearerMatches("Bearer " + kToken + "x", kToken));
  EXPECT_FALSE(BearerMatches("Bearer " + kToken.substr(1), kToken));
  EXPECT_FALSE(BearerMatches("bearer " + kToken, kToken));
  EXPECT_FALSE(BearerMatches(kToken, kToken));
  EXPECT_FALSE(BearerMatches("Bearer ", kToken));
  EXPECT_FALSE(BearerMatches("", kToken));
  EXPECT_FALSE(BearerMatches("Bearer ", ""));  // no token configured never matches
}

TEST(ServiceTokenFromEnvTest, RequiredAndAtLeast24Characters) {
  core::EnvConfig ok(std::map<std::string, std::string>{{"SLUICE_SERVICE_TOKEN", kToken}});
  EXPECT_EQ(ServiceTokenFromEnv(ok), kToken);
  core::EnvConfig missing(std::map<std::string, std::string>{});
  EXPECT_THROW(ServiceTokenFromEnv(missing), core::ConfigError);
  core::EnvConfig short_token(
      std::map<std::string, std::string>{{"SLUICE_SERVICE_TOKEN", "too-short-0123456789"}});
  try {
    ServiceTokenFromEnv(short_token);
    FAIL() << "a 20-character token was accepted";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("SLUICE_SERVICE_TOKEN"), std::string::npos);
  }
}

class ServiceAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.addr = "127.0.0.1:0";
    options.threads = 2;
    server_ = std::make_unique<Server>("test-internal", options);
    health_.Set("test", true);
    server_->MountOps(health_, registry_);
    server_->Get("/v1/things", [](const httplib::Request&, httplib::Response& res) {
      WriteJson(res, 200, {{"ok", true}});
    });
    server_->Post("/v1/things", [this](const httplib::Request&, httplib::Response& res) {
      ++posts_;
      WriteJson(res, 201, {{"ok", true}});
    });
    server_->Post("/v1/hook", [](const httplib::Request&, httplib::Response& res) {
      WriteJson(res, 200, {{"hook", true}});
    });
    RequireServiceToken(*server_, kToken, {"/v1/hook"});
    server_->Start();
    base_ = "http://127.0.0.1:" + std::to_string(server_->Port());
  }
  void TearDown() override { server_->Stop(); }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& authorization) {
    ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    if (method == "POST") {
      req.body = "{}";
      req.headers.emplace_back("Content-Type", "application/json");
    }
    if (!authorization.empty()) req.headers.emplace_back("Authorization", authorization);
    return Send(req);
  }

  core::Health health_;
  prometheus::Registry registry_;
  std::unique_ptr<Server> server_;
  std::string base_;
  std::atomic<int> posts_{0};
};

TEST_F(ServiceAuthTest, EveryRouteNeedsTheToken) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/things"}, {"POST", "/v1/things"}, {"GET", "/v1/unknown"}}) {
    for (const std::string& auth :
         {std::string(), std::string("Bearer wrong-token-0123456789abc"), "Basic " + kToken}) {
      const auto r = Call(method, path, auth);
      EXPECT_EQ(r.status, 401) << method << " " << path << " with '" << auth << "'";
      EXPECT_EQ(json::parse(r.body)["error"]["code"], "unauthorized");
      EXPECT_EQ(r.Header("WWW-Authenticate").value_or(""), "Bearer");
    }
  }
  EXPECT_EQ(posts_.load(), 0);  // no handler ran
}

TEST_F(ServiceAuthTest, TheTokenOpensEveryRoute) {
  EXPECT_EQ(Call("GET", "/v1/things", "Bearer " + kToken).status, 200);
  EXPECT_EQ(Call("POST", "/v1/things", "Bearer " + kToken).status, 201);
  EXPECT_EQ(Call("GET", "/v1/unknown", "Bearer " + kToken).status, 404);
  EXPECT_EQ(posts_.load(), 1);
}

TEST_F(ServiceAuthTest, ProbesMetricsAndOpenPathsNeedNoToken) {
  EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
  EXPECT_EQ(Call("GET", "/readyz", "").status, 200);
  EXPECT_EQ(Call("GET", "/metrics", "").status, 200);
  EXPECT_EQ(Call("POST", "/v1/hook", "").status, 200);       // authenticates on its own
  EXPECT_EQ(Call("GET", "/metrics/extra", "").status, 401);  // exact paths, not prefixes
}

}  // namespace
}  // namespace sluice::http
