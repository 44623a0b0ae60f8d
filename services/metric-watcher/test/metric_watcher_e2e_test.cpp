// metric-watcher end to end: the real binary against the stack's Kafka, PostgreSQL and
// Prometheus. Prometheus scrapes a target served by this test whose error ratio per instance
// the test sets; AnalysisRequested events go in on a test topic, AnalysisPassed /
// AnalysisFailed / AlertRaised come out on sluice.analyses.v1.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/spec/convert.hpp>
#include <sluice/testing/event_reader.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <thread>

#include "metrics_target.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::PgDsn;
using st::WaitFor;
namespace v1 = events::v1;

constexpr const char* kAlertToken = "e2e-alert-token-0123456789";

class MetricWatcherE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sfx_ = st::RandomSuffix();
    app_ = "we" + sfx_;
    schema_ = "itest_watcher_" + sfx_;
    deployments_topic_ = "itest.watcher.deployments." + sfx_;
    rollbacks_topic_ = "itest.watcher.rollbacks." + sfx_;
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    kafka_.brokers = KafkaBrokers();
    ASSERT_NO_THROW(kafka::EnsureTopics(
        kafka_, {deployments_topic_, rollbacks_topic_, std::string(events::kTopicAnalyses)}))
        << "Kafka at " << KafkaBrokers() << " is needed: bash scripts/stack.sh up";
    reader_ =
        std::make_unique<st::EventReader>(KafkaBrokers(), std::string(events::kTopicAnalyses));

    target_ = std::make_unique<testing::MetricsTarget>(app_);
    target_->Set(Host("ok"), 0.01);
    target_->Set(Host("bad"), 0.02);
    ASSERT_TRUE(target_->WaitScraped(Host("bad"), 0.02, 60s))
        << "Prometheus at " << testing::PrometheusUrl() << " did not scrape the test target";

    http_port_ = st::FreePort();
    watcher_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_METRIC_WATCHER_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(http_port_)},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            {"SLUICE_PG_DSN", PgDsn()},
            {"SLUICE_PG_SCHEMA", schema_},
            {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
            {"SLUICE_KAFKA_GROUP", "itest-watcher-" + sfx_},
            {"SLUICE_WATCHER_TOPICS", deployments_topic_ + "," + rollbacks_topic_},
            {"SLUICE_PROMETHEUS_URL", testing::PrometheusUrl()},
            {"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken},
            {"SLUICE_WATCHER_POLL_INTERVAL", "100ms"},
            {"SLUICE_LOG_LEVEL", "debug"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/metric-watcher-e2e-" + sfx_ + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Base() + "/readyz", 60s))
        << "metric-watcher did not become ready; log:\n"
        << watcher_->LogTail();
  }

  void TearDown() override {
    if (watcher_) {
      EXPECT_EQ(watcher_->Terminate(), 0) << watcher_->LogTail();
    }
    watcher_.reset();
    target_.reset();
    reader_.reset();
    try {
      pqxx::connection conn(PgDsn());
      pqxx::work tx(conn);
      tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      tx.commit();
    } catch (const std::exception&) {
    }
  }

  std::string Base() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  std::string Host(const std::string& name) const { return app_ + "-" + name; }

  std::string SpecYaml() const {
    return "app: " + app_ +
           "\n"
           "environments:\n"
           "  production:\n"
           "    analysis:\n"
           "      bakeWatch: {template: default, duration: 3s}\n"
           "      templates:\n"
           "        default:\n"
           "          interval: 2s\n"
           "          count: 3\n"
           "          metrics:\n"
           "            error_rate:\n"
           "              query: '" +
           target_->Query() +
           "'\n"
           "          rules:\n"
           "            - name: errors\n"
           "              failWhen: error_rate > 5%\n"
           "              severity: critical\n"
           "        long:\n"
           "          interval: 1s\n"
           "          count: 600\n"
           "          metrics:\n"
           "            error_rate:\n"
           "              query: '" +
           target_->Query() +
           "'\n"
           "          rules:\n"
           "            - {name: errors, failWhen: error_rate > 5%}\n";
  }

  void Produce(const std::string& topic, v1::Envelope e) {
    events::Finalize(e);
    kafka::OutgoingMessage m;
    m.topic = topic;
    m.key = e.deployment_id();
    e.SerializeToString(&m.value);
    kafka::Producer producer(kafka_);
    producer.ProduceSync({m}, 20s);
  }

  void Planned(const std::string& deployment_id, const std::string& version) {
    auto e = events::NewEnvelope("rollout-planner", core::SystemClock::Instance());
    e.set_deployment_id(deployment_id);
    auto* p = e.mutable_deployment_planned();
    p->set_deployment_id(deployment_id);
    p->set_app(app_);
    p->set_env("production");
    p->set_version(version);
    p->set_release_id("rel-" + deployment_id);
    p->set_generation(1);
    Produce(deployments_topic_, std::move(e));
  }

  // Produces AnalysisRequested; returns the analysis id.
  std::string Requested(const std::string& deployment_id, const std::vector<std::string>& hosts,
                        const std::string& template_name = "default", bool bake = false,
                        std::uint64_t generation = 1,
                        std::chrono::seconds bake_duration = std::chrono::seconds(0)) {
    auto e = events::NewEnvelope("rollout-planner", core::SystemClock::Instance());
    e.set_deployment_id(deployment_id);
    auto* r = e.mutable_analysis_requested();
    const std::string id = core::NewUuid();
    r->set_analysis_id(id);
    r->set_deployment_id(deployment_id);
    r->set_batch_index(1);
    r->set_generation(generation);
    r->set_template_name(template_name);
    r->set_app(app_);
    r->set_env("production");
    r->set_version("2.0.0");
    r->set_baseline_version("1.0.0");
    for (const auto& h : hosts) r->add_instances(h);
    r->add_baseline_instances(Host("stable"));
    r->set_bake_watch(bake);
    if (bake_duration.count() > 0) r->mutable_duration()->set_seconds(bake_duration.count());
    r->set_spec_yaml(SpecYaml());
    // As the planner sends it: the template resolved at intake.
    if (auto t = spec::ResolvedTemplateOf(SpecYaml(), "production",
                                          template_name.empty() ? "default" : template_name)) {
      *r->mutable_resolved_template() = *t;
    }
    r->set_release_id("rel-" + deployment_id);
    Produce(deployments_topic_, std::move(e));
    return id;
  }

  // The first event of the deployment with the given payload.
  std::optional<st::SeenEvent> Await(const std::string& deployment_id,
                                     v1::Envelope::PayloadCase payload,
                                     std::chrono::milliseconds timeout) {
    std::optional<st::SeenEvent> found;
    WaitFor(
        [&] {
          auto seen = reader_->Seen([&](const v1::Envelope& e) {
            return e.deployment_id() == deployment_id && e.payload_case() == payload;
          });
          if (!seen.empty()) found = std::move(seen.front());
          return found.has_value();
        },
        timeout, 50ms);
    return found;
  }

  http::ClientResponse Call(const std::string& method, const std::string& path,
                            const std::string& body = "", bool token = true) {
    http::ClientRequest req;
    req.method = method;
    req.url = Base() + path;
    req.body = body;
    req.timeout = 10s;
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    // Alertmanager's receiver takes the alert token; every other route the service token.
    if (token) {
      req.headers.emplace_back("Authorization", path.rfind("/v1/alerts/alertmanager", 0) == 0
                                                    ? std::string("Bearer ") + kAlertToken
                                                    : st::ServiceAuthorization());
    }
    return http::Send(req);
  }

  std::string sfx_, app_, schema_, deployments_topic_, rollbacks_topic_;
  kafka::KafkaConfig kafka_;
  std::unique_ptr<st::EventReader> reader_;
  std::unique_ptr<testing::MetricsTarget> target_;
  int http_port_ = 0;
  std::unique_ptr<st::ChildProcess> watcher_;
};

TEST_F(MetricWatcherE2eTest, BreachFailsWithinAnIntervalHealthyPassesMissingTemplateErrs) {
  target_->Set(Host("bad"), 0.4);
  ASSERT_TRUE(target_->WaitScraped(Host("bad"), 0.4, 30s));

  const std::string bad = "dep-bad-" + sfx_;
  const std::string good = "dep-good-" + sfx_;
  const std::string none = "dep-none-" + sfx_;
  Planned(bad, "2.0.0");
  Planned(good, "2.0.0");
  const auto requested_at = std::chrono::steady_clock::now();
  const std::string bad_id = Requested(bad, {Host("bad")});
  const std::string good_id = Requested(good, {Host("ok")});
  Requested(none, {Host("ok")}, "nope");

  const auto failed = Await(bad, v1::Envelope::kAnalysisFailed, 30s);
  ASSERT_TRUE(failed) << watcher_->LogTail();
  // The first measurement is immediate: the breach is reported well within one interval
  // (2s) of the request, Kafka round trips included.
  EXPECT_LT(failed->at - requested_at, 2s + 1500ms);
  const auto& f = failed->envelope.analysis_failed();
  EXPECT_EQ(f.analysis_id(), bad_id);
  EXPECT_EQ(f.outcome_code(), v1::ANALYSIS_OUTCOME_FAILED);
  EXPECT_EQ(f.reason_code(), v1::REASON_THRESHOLD_BREACHED);
  EXPECT_EQ(f.app(), app_);
  EXPECT_EQ(f.env(), "production");
  EXPECT_EQ(f.version(), "2.0.0");
  EXPECT_EQ(f.template_name(), "default");
  EXPECT_EQ(f.release_id(), "rel-" + bad);
  EXPECT_EQ(f.generation(), 1U);
  EXPECT_FALSE(f.bake_watch());
  ASSERT_EQ(f.evidence_size(), 1);
  const auto& ev = f.evidence(0);
  EXPECT_EQ(ev.metric(), "error_rate");
  EXPECT_NE(ev.query().find(Host("bad")), std::string::npos) << ev.query();
  EXPECT_DOUBLE_EQ(ev.threshold(), 0.05);
  EXPECT_NEAR(ev.observed(), 0.4, 1e-9);
  EXPECT_EQ(ev.severity(), v1::SEVERITY_CRITICAL);
  ASSERT_EQ(ev.affected_instances_size(), 1);
  EXPECT_EQ(ev.affected_instances(0), Host("bad"));
  EXPECT_EQ(ev.comparator(), ">");
  ASSERT_GE(ev.recent_size(), 1);
  EXPECT_NEAR(ev.recent(ev.recent_size() - 1).value(), 0.4, 1e-9);

  const auto passed = Await(good, v1::Envelope::kAnalysisPassed, 30s);
  ASSERT_TRUE(passed) << watcher_->LogTail();
  EXPECT_EQ(passed->envelope.analysis_passed().analysis_id(), good_id);
  EXPECT_EQ(passed->envelope.analysis_passed().outcome_code(), v1::ANALYSIS_OUTCOME_SUCCESSFUL);
  EXPECT_TRUE(reader_->For(good).size() == 1) << "a healthy analysis emits exactly one event";

  const auto missing = Await(none, v1::Envelope::kAnalysisFailed, 30s);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->envelope.analysis_failed().outcome_code(), v1::ANALYSIS_OUTCOME_ERROR);
  EXPECT_EQ(missing->envelope.analysis_failed().reason_code(), v1::REASON_TEMPLATE_MISSING);

  // The records behind them.
  auto res = Call("GET", "/v1/analyses?deployment_id=" + bad);
  ASSERT_EQ(res.status, 200) << res.body;
  auto list = json::parse(res.body)["analyses"];
  ASSERT_EQ(list.size(), 1U);
  EXPECT_EQ(list[0]["status"], "Failed");
  EXPECT_EQ(list[0]["reason"], "threshold_breached");
  res = Call("GET", "/v1/analyses/" + good_id);
  ASSERT_EQ(res.status, 200) << res.body;
  const auto detail = json::parse(res.body);
  EXPECT_EQ(detail["status"], "Successful");
  EXPECT_EQ(detail["measurements"].size(), 3U) << detail.dump(2);
  EXPECT_EQ(detail["rules"][0]["outcome"], "Successful");
  EXPECT_EQ(Call("GET", "/v1/analyses/no-such-id").status, 404);
}

TEST_F(MetricWatcherE2eTest, RollbackCancelsRunningAnalysisAndBakeWatchPasses) {
  const std::string dep = "dep-rb-" + sfx_;
  Planned(dep, "2.0.0");
  const std::string id = Requested(dep, {Host("ok")}, "long");
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto res = Call("GET", "/v1/analyses/" + id);
        return res.status == 200 && !json::parse(res.body)["measurements"].empty();
      },
      20s))
      << watcher_->LogTail();
  auto e = events::NewEnvelope("rollback-agent", core::SystemClock::Instance());
  e.set_deployment_id(dep);
  auto* r = e.mutable_rollback_started();
  r->set_rollback_id(core::NewUuid());
  r->set_deployment_id(dep);
  r->set_generation(2);
  Produce(rollbacks_topic_, std::move(e));
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto res = Call("GET", "/v1/analyses/" + id);
        return res.status == 200 && json::parse(res.body)["status"] == "Cancelled";
      },
      20s))
      << watcher_->LogTail();
  // A late request of the rolled-back generation is cancelled at once.
  const std::string late = Requested(dep, {Host("ok")}, "long", false, 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto res = Call("GET", "/v1/analyses/" + late);
        return res.status == 200 && json::parse(res.body)["status"] == "Cancelled";
      },
      20s));
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(reader_->For(dep).empty()) << "a cancelled analysis emits nothing";

  // Bake watch: measured until its 3s are over, then passed with bake_watch set.
  const std::string baked = "dep-bake-" + sfx_;
  Planned(baked, "2.0.0");
  // As the planner sends a bake watch: the spec's bakeWatch template and duration (the watcher
  // takes them from the request; it no longer reads spec_yaml).
  const std::string bake_id = Requested(baked, {Host("ok")}, "default", true, 1, 3s);
  const auto passed = Await(baked, v1::Envelope::kAnalysisPassed, 30s);
  ASSERT_TRUE(passed) << watcher_->LogTail();
  EXPECT_TRUE(passed->envelope.analysis_passed().bake_watch());
  EXPECT_EQ(passed->envelope.analysis_passed().analysis_id(), bake_id);
}

// Deploying a newer release during the bake watch of the older one: the older watch would
// judge a release on its way out and fail on its vanishing series, so it is cancelled quietly;
// a bake watch that arrives after a newer deployment was planned is cancelled at once.
TEST_F(MetricWatcherE2eTest, NewerDeploymentCancelsTheOlderBakeWatch) {
  const auto status_of = [&](const std::string& id) {
    const auto res = Call("GET", "/v1/analyses/" + id);
    return res.status == 200 ? json::parse(res.body) : json::object();
  };
  const std::string older = "dep-old-" + sfx_;
  Planned(older, "2.0.0");
  const std::string watch = Requested(older, {Host("ok")}, "", true, 1, 120s);
  ASSERT_TRUE(
      WaitFor([&] { return !status_of(watch).value("measurements", json::array()).empty(); }, 20s))
      << watcher_->LogTail();
  EXPECT_EQ(status_of(watch).value("status", ""), "Running");

  const std::string newer = "dep-new-" + sfx_;
  Planned(newer, "3.0.0");
  ASSERT_TRUE(WaitFor([&] { return status_of(watch).value("status", "") == "Cancelled"; }, 20s))
      << watcher_->LogTail();
  EXPECT_EQ(status_of(watch).value("reason", ""), "superseded");

  // The older deployment's late bake watch (its request read after the newer plan).
  const std::string late = Requested(older, {Host("ok")}, "", true, 1, 120s);
  ASSERT_TRUE(WaitFor([&] { return status_of(late).value("status", "") == "Cancelled"; }, 20s))
      << watcher_->LogTail();
  EXPECT_EQ(status_of(late).value("reason", ""), "superseded");

  // The newer deployment's own bake watch runs.
  const std::string own = Requested(newer, {Host("ok")}, "", true, 1, 120s);
  ASSERT_TRUE(
      WaitFor([&] { return !status_of(own).value("measurements", json::array()).empty(); }, 20s))
      << watcher_->LogTail();
  EXPECT_EQ(status_of(own).value("status", ""), "Running");
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(reader_->For(older).empty()) << "a superseded bake watch emits nothing";
}

json Webhook(const std::string& app, const std::string& fingerprint,
             const std::map<std::string, std::string>& extra_labels = {}) {
  json labels = {{"alertname", "HighErrorRate"},
                 {"app", app},
                 {"env", "production"},
                 {"severity", "critical"},
                 {"instance_name", app + "-bad"}};
  for (const auto& [k, v] : extra_labels) labels[k] = v;
  return {{"version", "4"},
          {"status", "firing"},
          {"receiver", "sluice"},
          {"groupKey", "{}:{alertname=\"HighErrorRate\"}"},
          {"alerts",
           {{{"status", "firing"},
             {"labels", labels},
             {"annotations", {{"summary", "error ratio above 5%"}, {"value", "0.4"}}},
             {"startsAt", "2026-11-25T10:00:00.5Z"},
             {"endsAt", "0001-01-01T00:00:00Z"},
             {"generatorURL", "http://prom/graph?g0.expr=error_ratio+%3E+0.05"},
             {"fingerprint", fingerprint}}}}};
}

// Every route but the probes and Alertmanager's receiver needs the service token, and a
// retrospective analysis over a cap is refused before a query runs.
TEST_F(MetricWatcherE2eTest, ApiNeedsTheServiceTokenAndRetrospectivesAreCapped) {
  EXPECT_EQ(Call("GET", "/v1/alerts", "", false).status, 401);
  EXPECT_EQ(Call("GET", "/v1/analyses", "", false).status, 401);
  http::ClientRequest with_alert_token;
  with_alert_token.url = Base() + "/v1/alerts";
  with_alert_token.headers.emplace_back("Authorization", std::string("Bearer ") + kAlertToken);
  EXPECT_EQ(http::Send(with_alert_token).status, 401);  // the alert token opens only the receiver
  EXPECT_EQ(Call("GET", "/v1/alerts", "").status, 200);
  EXPECT_EQ(Call("GET", "/metrics", "", false).status, 200);

  const std::string rule = "      - {name: r{n}, failWhen: 'errors > 1'}\n";
  auto request = [&](int rules, const std::string& start, const std::string& end,
                     const std::string& step) {
    std::string yaml =
        "templates:\n  default:\n    interval: 5s\n    metrics:\n"
        "      errors: {query: 'vector(0)'}\n    rules:\n";
    for (int i = 0; i < rules; ++i) {
      std::string r = rule;
      r.replace(r.find("{n}"), 3, std::to_string(i));
      yaml += r;
    }
    return json{
        {"app", app_}, {"template_yaml", yaml}, {"start", start}, {"end", end}, {"step", step}}
        .dump();
  };
  const std::string t0 = "2026-01-01T00:00:00Z";
  auto res = Call("POST", "/v1/analyses", request(1, t0, "2026-01-09T00:00:00Z", "1h"), false);
  EXPECT_EQ(res.status, 401);  // refused before the body is looked at
  res = Call("POST", "/v1/analyses", request(1, t0, "2026-01-09T00:00:00Z", "1h"));
  EXPECT_EQ(res.status, 400) << res.body;
  EXPECT_EQ(json::parse(res.body)["error"]["field"], "end");
  res = Call("POST", "/v1/analyses", request(11, t0, "2026-01-01T00:01:00Z", "1m"));
  EXPECT_EQ(res.status, 400) << res.body;
  EXPECT_EQ(json::parse(res.body)["error"]["field"], "template");
  res = Call("POST", "/v1/analyses", request(1, t0, "2026-01-01T01:00:00Z", "1s"));
  EXPECT_EQ(res.status, 400) << res.body;
  EXPECT_NE(res.body.find("cap of 500 per rule"), std::string::npos);
  res = Call("POST", "/v1/analyses", request(10, t0, "2026-01-01T00:05:00Z", "1s"));
  EXPECT_EQ(res.status, 400) << res.body;
  EXPECT_NE(res.body.find("cap of 2000 per request"), std::string::npos);
}

TEST_F(MetricWatcherE2eTest, AlertmanagerWebhookRaisesOncePerFiring) {
  const std::string dep = "dep-alert-" + sfx_;
  Planned(dep, "2.0.0");
  // The deployment is known once its DeploymentPlanned was consumed.
  ASSERT_TRUE(WaitFor(
      [&] {
        pqxx::connection conn(PgDsn());
        pqxx::work tx(conn);
        return !tx.exec_params("SELECT 1 FROM " + schema_ +
                                   ".deployment_projection WHERE deployment_id = $1",
                               dep)
                    .empty();
      },
      20s));

  const std::string body = Webhook(app_, "fp-" + sfx_).dump();
  auto res = Call("POST", "/v1/alerts/alertmanager", body);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::parse(res.body)["raised"], 1) << res.body;
  res = Call("POST", "/v1/alerts/alertmanager", body);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::parse(res.body)["raised"], 0) << res.body;
  EXPECT_EQ(json::parse(res.body)["ignored"], 1) << res.body;

  const auto raised = Await(dep, v1::Envelope::kAlertRaised, 20s);
  ASSERT_TRUE(raised);
  const auto& a = raised->envelope.alert_raised();
  EXPECT_EQ(a.deployment_id(), dep);
  EXPECT_EQ(a.app(), app_);
  EXPECT_EQ(a.version(), "2.0.0");
  EXPECT_EQ(a.alert_name(), "HighErrorRate");
  EXPECT_EQ(a.fingerprint(), "fp-" + sfx_);
  EXPECT_EQ(a.evidence().query(), "error_ratio > 0.05");
  EXPECT_DOUBLE_EQ(a.evidence().observed(), 0.4);
  EXPECT_EQ(a.evidence().affected_instances(0), Host("bad"));
  EXPECT_EQ(a.starts_at().seconds(), 1795600800);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(reader_->For(dep).size(), 1U) << "the repeated webhook must not raise again";

  // No active deployment: recorded, not raised. Own notices: ignored.
  res = Call("POST", "/v1/alerts/alertmanager", Webhook("nobody-" + sfx_, "fp2-" + sfx_).dump());
  ASSERT_EQ(res.status, 200) << res.body;
  auto out = json::parse(res.body);
  EXPECT_EQ(out["recorded"], 1);
  EXPECT_EQ(out["alerts"][0]["reason"], "no_active_deployment");
  res = Call("POST", "/v1/alerts/alertmanager",
             Webhook(app_, "fp3-" + sfx_, {{"sluice_event", "AnalysisFailed"}}).dump());
  out = json::parse(res.body);
  EXPECT_EQ(out["ignored"], 1) << res.body;
  EXPECT_EQ(out["alerts"][0]["reason"], "own_event");

  // Refused without the token; a payload with no alerts names the field.
  EXPECT_EQ(Call("POST", "/v1/alerts/alertmanager", body, false).status, 401);
  res = Call("POST", "/v1/alerts/alertmanager", R"({"version":"4"})");
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(json::parse(res.body)["error"]["field"], "alerts");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(reader_->For(dep).size(), 1U);

  // GET /v1/alerts lists what was received, newest first, filtered by app or deployment.
  res = Call("GET", "/v1/alerts?deployment_id=" + dep, "");
  ASSERT_EQ(res.status, 200) << res.body;
  out = json::parse(res.body);
  ASSERT_EQ(out["alerts"].size(), 1U) << res.body;
  EXPECT_EQ(out["alerts"][0]["fingerprint"], "fp-" + sfx_);
  EXPECT_EQ(out["alerts"][0]["name"], "HighErrorRate");
  EXPECT_EQ(out["alerts"][0]["raised"], true);
  EXPECT_EQ(out["alerts"][0]["alert_id"], a.alert_id());
  res = Call("GET", "/v1/alerts?app=" + app_, "");
  ASSERT_EQ(res.status, 200) << res.body;
  out = json::parse(res.body);
  ASSERT_EQ(out["alerts"].size(), 2U) << res.body;  // fp3 (own event) first, then fp
  EXPECT_EQ(out["alerts"][0]["reason"], "own_event");
  EXPECT_EQ(Call("GET", "/v1/alerts?limit=0", "").status, 400);
}

}  // namespace
}  // namespace sluice::watcher
