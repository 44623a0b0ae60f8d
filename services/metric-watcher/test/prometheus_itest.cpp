// metric-watcher against the stack's real Prometheus: a target served here is scraped, and the
// watcher's HTTP API (POST /v1/analyses, the same measuring code as the live analysis) sees its
// values change and names the breaching instance.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/prometheus/client.hpp>
#include <sluice/testing/process.hpp>
#include <thread>

#include "adapters/prometheus_provider.hpp"
#include "metrics_target.hpp"
#include "watcher_api.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;

class PrometheusITest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_ = "wi" + st::RandomSuffix();
    target_ = std::make_unique<testing::MetricsTarget>(app_);
    prom::ClientOptions options;
    options.base_url = testing::PrometheusUrl();
    client_ = std::make_unique<prom::Client>(options);
    provider_ = std::make_unique<PrometheusProvider>(*client_, nullptr);
    pg::PgConfig pg_config;  // the retrospective API does not touch the database
    pg_config.schema = "itest_watcher_unused";
    db_ = std::make_unique<pg::Database>(pg_config);
    http::ServerOptions server_options;
    server_options.addr = "127.0.0.1:0";
    server_ = std::make_unique<http::Server>("metric-watcher-itest", server_options);
    MountWatcherApi(*server_, {*db_, *provider_, core::SystemClock::Instance(), nullptr,
                               "itest-token-0123456789"});
    server_->Start();
  }
  void TearDown() override {
    server_->Stop();
    target_.reset();
  }

  json TemplateYaml() const {
    return "interval: 1s\n"
           "metrics:\n"
           "  error_rate:\n"
           "    query: '" +
           target_->Query() +
           "'\n"
           "rules:\n"
           "  - name: errors\n"
           "    failWhen: error_rate > 5%\n"
           "    severity: critical\n";
  }

  // A retrospective analysis of the last two seconds through the HTTP API.
  json Analyse() {
    const auto now = core::SystemClock::Instance().Now();
    const json body = {
        {"app", app_},
        {"env", "production"},
        {"template_yaml", TemplateYaml()},
        {"canary", {{"version", "2.0.0"}, {"instances", {app_ + "-h1", app_ + "-h2"}}}},
        {"start", core::FormatRfc3339(now - 2s)},
        {"end", core::FormatRfc3339(now)},
        {"step", "1s"}};
    http::ClientRequest req;
    req.method = "POST";
    req.url = "http://127.0.0.1:" + std::to_string(server_->Port()) + "/v1/analyses";
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body.dump();
    req.timeout = 20s;
    const auto res = http::Send(req);
    EXPECT_EQ(res.status, 200) << res.body;
    return json::parse(res.body);
  }

  // Analyses until the outcome is `outcome` (Prometheus needs a scrape or two to catch up).
  json AnalyseUntil(const std::string& outcome, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json out = Analyse();
    while (out["outcome"] != outcome && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(500ms);
      out = Analyse();
    }
    return out;
  }

  std::string app_;
  std::unique_ptr<testing::MetricsTarget> target_;
  std::unique_ptr<prom::Client> client_;
  std::unique_ptr<PrometheusProvider> provider_;
  std::unique_ptr<pg::Database> db_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(PrometheusITest, SeesValuesChangeAndNamesTheBreachingInstance) {
  target_->Set(app_ + "-h1", 0.01);
  target_->Set(app_ + "-h2", 0.02);
  ASSERT_TRUE(target_->WaitScraped(app_ + "-h2", 0.02, 60s))
      << "Prometheus at " << testing::PrometheusUrl()
      << " did not scrape the test target (is the stack up? bash scripts/stack.sh status)";

  json healthy = AnalyseUntil("Successful", 30s);
  EXPECT_EQ(healthy["outcome"], "Successful") << healthy.dump(2);
  const auto& first = healthy["rules"][0]["measurements"][0];
  EXPECT_EQ(first["verdict"], "Successful");
  ASSERT_EQ(first["values"]["error_rate"].size(), 2U) << first.dump(2);
  EXPECT_NE(first["queries"]["error_rate"].get<std::string>().find(app_ + "-h1|" + app_ + "-h2"),
            std::string::npos);

  target_->Set(app_ + "-h2", 0.4);
  ASSERT_TRUE(target_->WaitScraped(app_ + "-h2", 0.4, 30s));
  json failed = AnalyseUntil("Failed", 30s);
  EXPECT_EQ(failed["outcome"], "Failed") << failed.dump(2);
  EXPECT_EQ(failed["reason"], "threshold_breached");
  const auto& ms = failed["rules"][0]["measurements"];
  ASSERT_FALSE(ms.empty());
  const auto& last = ms.back();
  EXPECT_EQ(last["verdict"], "Failed");
  EXPECT_EQ(last["affected_instances"], json::array({app_ + "-h2"}));
  EXPECT_DOUBLE_EQ(last["observed"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(last["threshold"].get<double>(), 0.05);
  EXPECT_NE(last["message"].get<std::string>().find(app_ + "-h2"), std::string::npos);
}

TEST_F(PrometheusITest, BadPromQLIsAnErrorMeasurementNotAPass) {
  const auto now = core::SystemClock::Instance().Now();
  const json body = {{"app", app_},
                     {"template_yaml",
                      "metrics:\n  error_rate:\n    query: 'sum(rate(x[1m]'\n"
                      "rules:\n  - {name: r, failWhen: error_rate > 1}\n"},
                     // Longer than the query's [1m] window: the first measurement is a window
                     // after the start (a shorter range would be Inconclusive, never queried).
                     {"start", core::FormatRfc3339(now - 65s)},
                     {"end", core::FormatRfc3339(now)},
                     {"step", "1s"}};
  http::ClientRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(server_->Port()) + "/v1/analyses";
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body.dump();
  req.timeout = 20s;
  const auto res = http::Send(req);
  ASSERT_EQ(res.status, 200) << res.body;
  const auto out = json::parse(res.body);
  EXPECT_EQ(out["outcome"], "Error") << out.dump(2);
  EXPECT_EQ(out["reason"], "query_error");
}

// The Alertmanager receiver through HTTP, with input that used to crash the process (a label
// nested 20,000 deep: SIGSEGV in dump()) or fail the batch with a 500 (a NUL in one label):
// each is a 400 naming the field, and the server keeps serving. (Refused before the database.)
TEST_F(PrometheusITest, AlertReceiverRefusesDeepAndNulLabelsByName) {
  const auto post = [&](const std::string& body) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = "http://127.0.0.1:" + std::to_string(server_->Port()) + "/v1/alerts/alertmanager";
    req.headers = {{"Content-Type", "application/json"},
                   {"Authorization", "Bearer itest-token-0123456789"}};
    req.body = body;
    return http::Send(req);
  };
  const std::string starts = R"("startsAt":"2026-01-01T00:00:00Z")";
  auto r = post(R"({"alerts":[{"labels":{"app":"a","foo":)" + std::string(20000, '[') +
                std::string(20000, ']') + "}," + starts + "}]}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(
      json::parse(r.body)["error"]["field"].get<std::string>().rfind("alerts[0].labels.foo[0]", 0),
      0U)
      << r.body;
  r = post(R"({"alerts":[{"labels":{"app":"a","bad":"x\u0000y"},)" + starts + "}]}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["field"], "alerts[0].labels.bad") << r.body;
  r = post(R"({"alerts":[{"labels":{"app":"a","n":[1]},)" + starts + "}]}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["field"], "alerts[0].labels.n") << r.body;
  // Still serving.
  http::ClientRequest get;
  get.url = "http://127.0.0.1:" + std::to_string(server_->Port()) + "/v1/alerts/alertmanager";
  EXPECT_NE(http::Send(get).status, 0);
}

}  // namespace
}  // namespace sluice::watcher
