// rollback-agent end to end: the real binary against the stack's Kafka, PostgreSQL, Redis and
// Prometheus. The test plays the planner, the executor and the metric-watcher on topics of its
// own, and reads what the agent publishes on sluice.rollbacks.v1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/http/client.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/testing/event_reader.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <thread>

namespace sluice::rollback {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::PgDsn;
using st::PrometheusUrl;
using st::RedisUrl;
using st::WaitFor;
namespace v1 = events::v1;

http::ClientResponse Get(const std::string& url,
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::ClientRequest req;
  req.url = url;
  req.timeout = 5s;
  req.headers = std::move(headers);
  req.headers.emplace_back("Authorization", st::ServiceAuthorization());
  return http::Send(req);
}

class RollbackE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sfx_ = st::RandomSuffix();
    schema_ = "itest_rollback_e2e_" + sfx_;
    deployments_topic_ = "itest.rb.deployments." + sfx_;
    executions_topic_ = "itest.rb.executions." + sfx_;
    analyses_topic_ = "itest.rb.analyses." + sfx_;
    releases_topic_ = "itest.rb.releases." + sfx_;
    deployment_ = "dep-" + sfx_;
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    kafka_.brokers = KafkaBrokers();
    ASSERT_NO_THROW(
        kafka::EnsureTopics(kafka_, {deployments_topic_, executions_topic_, analyses_topic_,
                                     releases_topic_, std::string(events::kTopicRollbacks)}))
        << "Kafka at " << KafkaBrokers() << " is needed: bash scripts/stack.sh up";
    reader_ =
        std::make_unique<st::EventReader>(KafkaBrokers(), std::string(events::kTopicRollbacks));
    producer_ = std::make_unique<kafka::Producer>(kafka_);
    http_port_ = st::FreePort();
    StartAgent();
  }

  void TearDown() override {
    if (agent_) {
      EXPECT_EQ(agent_->Terminate(), 0) << agent_->LogTail();
    }
    agent_.reset();
    producer_.reset();
    reader_.reset();
    try {
      pqxx::connection conn(PgDsn());
      pqxx::work tx(conn);
      tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      tx.commit();
    } catch (const std::exception&) {
    }
  }

  void StartAgent() {
    agent_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_ROLLBACK_AGENT_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(http_port_)},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            {"SLUICE_PG_DSN", PgDsn()},
            {"SLUICE_PG_SCHEMA", schema_},
            {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
            {"SLUICE_KAFKA_GROUP", "itest-rollback-" + sfx_},
            {"SLUICE_ROLLBACK_TOPICS", analyses_topic_ + "," + releases_topic_ + "," +
                                           deployments_topic_ + "," + executions_topic_},
            {"SLUICE_REDIS_URL", RedisUrl()},
            {"SLUICE_ROLLBACK_LOCK_PREFIX", "itest:rollback:" + sfx_ + ":"},
            {"SLUICE_PROMETHEUS_URL", PrometheusUrl()},
            {"SLUICE_PUBLIC_URL", "http://127.0.0.1:" + std::to_string(http_port_)},
            {"SLUICE_ROLLBACK_POLL_INTERVAL", "200ms"},
            {"SLUICE_ROLLBACK_REVERT_BACKOFF", "1s"},
            {"SLUICE_LOG_LEVEL", "info"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/rollback-e2e-" + sfx_ + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Base() + "/readyz", 60s))
        << "rollback-agent did not become ready; log:\n"
        << agent_->LogTail();
  }

  std::string Base() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  std::string Host(int i) const { return "sx" + sfx_ + "-h" + std::to_string(i); }

  v1::Envelope New(const std::string& source) {
    auto e = events::NewEnvelope(source, core::SystemClock::Instance());
    e.set_deployment_id(deployment_);
    return e;
  }

  void Produce(const std::string& topic, std::vector<v1::Envelope> envelopes) {
    std::vector<kafka::OutgoingMessage> messages;
    for (auto& e : envelopes) {
      events::Finalize(e);
      kafka::OutgoingMessage m;
      m.topic = topic;
      m.key = e.deployment_id();
      e.SerializeToString(&m.value);
      messages.push_back(std::move(m));
    }
    producer_->ProduceSync(messages, 20s);
  }

  // The planner's and executor's events of a 3-batch deployment of v3 (stable v2), batches 1
  // and 2 deployed and succeeded.
  void FeedDeployment() {
    auto planned = New("rollout-planner");
    auto* p = planned.mutable_deployment_planned();
    p->set_deployment_id(deployment_);
    p->set_release_id("rel-v3-" + sfx_);
    p->set_app("demo-app-" + sfx_);
    p->set_env("production");
    p->set_version("v3");
    p->set_stable_release_id("rel-v2-" + sfx_);
    p->set_stable_version("v2");
    events::SetPolicy(*p, v1::CANARY_FAILURE_POLICY_REVERT_BATCH);
    p->set_generation(1);
    p->set_strategy(v1::STRATEGY_CANARY);
    for (std::uint32_t b = 0; b < 3; ++b) {
      auto* pb = p->add_batches();
      pb->set_index(b);
      pb->add_targets()->set_host(Host(static_cast<int>(2 * b + 1)));
      pb->add_targets()->set_host(Host(static_cast<int>(2 * b + 2)));
    }
    std::vector<v1::Envelope> deployments{planned};
    std::vector<v1::Envelope> executions;
    for (std::uint32_t b = 0; b < 2; ++b) {
      auto req = New("rollout-planner");
      auto* r = req.mutable_batch_requested();
      r->set_deployment_id(deployment_);
      r->set_batch_index(b);
      r->set_generation(1);
      for (int i = 1; i <= 2; ++i) r->add_targets()->set_host(Host(static_cast<int>(2 * b) + i));
      deployments.push_back(req);
      for (int i = 1; i <= 2; ++i) {
        auto inst = New("executor");
        auto* u = inst.mutable_instance_updated();
        u->set_deployment_id(deployment_);
        u->set_batch_index(b);
        u->set_host(Host(static_cast<int>(2 * b) + i));
        u->set_status(v1::INSTANCE_STATUS_SUCCEEDED);
        u->set_health_status(v1::HEALTH_STATUS_HEALTHY);
        u->set_version("v3");
        executions.push_back(inst);
      }
      auto ok = New("executor");
      ok.mutable_batch_succeeded()->set_deployment_id(deployment_);
      ok.mutable_batch_succeeded()->set_batch_index(b);
      ok.mutable_batch_succeeded()->set_generation(1);
      executions.push_back(ok);
    }
    Produce(deployments_topic_, deployments);
    Produce(executions_topic_, executions);
  }

  // Rows of the agent's tables, read directly (the test waits for the projection).
  std::int64_t Count(const std::string& sql) {
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    return tx.exec1("SELECT count(*) FROM " + schema_ + "." + sql)[0].as<std::int64_t>();
  }

  v1::Envelope AnalysisFailed() {
    auto e = New("metric-watcher");
    auto* a = e.mutable_analysis_failed();
    a->set_analysis_id(core::NewUuid());
    a->set_deployment_id(deployment_);
    a->set_batch_index(1);
    a->set_generation(1);
    events::SetReason(*a, v1::REASON_THRESHOLD_BREACHED);
    events::SetOutcome(*a, v1::ANALYSIS_OUTCOME_FAILED);
    a->set_app("demo-app-" + sfx_);
    a->set_env("production");
    a->set_version("v3");
    auto* ev = a->add_evidence();
    ev->set_metric("error_rate");
    // Any series Prometheus has: the snapshot is a real query_range.
    ev->set_query("up");
    ev->set_threshold(0.05);
    ev->set_observed(0.31);
    ev->set_comparator(">");
    ev->set_severity(v1::SEVERITY_CRITICAL);
    ev->add_affected_instances(Host(3));
    ev->add_affected_instances(Host(4));
    ev->set_message("error_rate 0.31 > 0.05 on " + Host(3));
    return e;
  }

  v1::Envelope Alert(const std::string& name) {
    auto e = New("metric-watcher");
    auto* a = e.mutable_alert_raised();
    a->set_alert_id(core::NewUuid());
    a->set_deployment_id(deployment_);
    a->set_alert_name(name);
    a->set_app("demo-app-" + sfx_);
    a->set_env("production");
    a->set_version("v3");
    auto* ev = a->mutable_evidence();
    ev->set_metric("p95_latency");
    ev->set_query("up");
    ev->set_threshold(0.5);
    ev->set_observed(0.9);
    ev->set_comparator(">");
    return e;
  }

  std::string sfx_, schema_, deployments_topic_, executions_topic_, analyses_topic_,
      releases_topic_, deployment_;
  int http_port_ = 0;
  kafka::KafkaConfig kafka_;
  std::unique_ptr<st::EventReader> reader_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<st::ChildProcess> agent_;
};

using PC = v1::Envelope::PayloadCase;

TEST_F(RollbackE2eTest, BreachInBatchTwoRevertsOnlyThatBatchOnceAndWritesTheIncident) {
  FeedDeployment();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count("rollback_instance_log") == 4 &&
               Count(
                   "rollback_deployments WHERE planned AND view->'batches'->1->>'state' = "
                   "'succeeded'") == 1;
      },
      30s))
      << "the projection did not take the deployment in; log:\n"
      << agent_->LogTail();

  // An analysis failure and two alerts at the same time.
  auto analysis = AnalysisFailed();
  events::Finalize(analysis);
  Produce(analyses_topic_, {analysis, Alert("HighErrorRate"), Alert("HighLatency")});
  ASSERT_TRUE(WaitFor([&] { return Count("rollback_triggers") == 3; }, 30s)) << agent_->LogTail();
  ASSERT_TRUE(WaitFor([&] { return reader_->Count(deployment_, PC::kRevertRequested) >= 1; }, 30s))
      << agent_->LogTail();

  std::this_thread::sleep_for(1s);
  // kill -9 and restart: RollbackStarted and RevertRequested committed together; the same
  // trigger redelivered (same event id) and the same breach again (new event id) do nothing.
  agent_->Kill();
  agent_.reset();
  StartAgent();
  auto again = AnalysisFailed();
  Produce(analyses_topic_, {analysis, again});
  // The restarted agent rejoins under the same group.instance.id (same host and HTTP port), so
  // it gets the killed member's partitions back at once instead of after the session timeout.
  ASSERT_TRUE(WaitFor([&] { return Count("rollback_triggers") == 4; }, 90s)) << agent_->LogTail();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(Count("rollback_triggers"), 4);  // the redelivered one is not even recorded twice
  EXPECT_EQ(reader_->Count(deployment_, PC::kRollbackStarted), 1);
  ASSERT_EQ(reader_->Count(deployment_, PC::kRevertRequested), 1);

  const auto started = *reader_->First(deployment_, PC::kRollbackStarted);
  const auto& s = started.rollback_started();
  EXPECT_EQ(s.generation(), 2u);
  EXPECT_EQ(s.scope(), v1::ROLLBACK_SCOPE_BATCHES);
  EXPECT_THAT(s.batches(), ElementsAre(1u));
  EXPECT_THAT(s.hosts(), ElementsAre(Host(3), Host(4)));
  EXPECT_EQ(s.target_version(), "v2");
  EXPECT_EQ(s.trigger_code(), v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED);
  EXPECT_EQ(s.from_version(), "v3");
  const auto revert = *reader_->First(deployment_, PC::kRevertRequested);
  const auto& r = revert.revert_requested();
  EXPECT_EQ(r.rollback_id(), s.rollback_id());
  EXPECT_EQ(r.generation(), 2u);
  EXPECT_EQ(r.target_version(), "v2");
  EXPECT_EQ(r.target_release_id(), "rel-v2-" + sfx_);
  EXPECT_THAT(r.hosts(), ElementsAre(Host(3), Host(4)));

  // The executor answers.
  auto completed = New("executor");
  auto* c = completed.mutable_revert_completed();
  c->set_rollback_id(r.rollback_id());
  c->set_deployment_id(deployment_);
  c->set_generation(r.generation());
  c->set_target_version("v2");
  c->add_reverted_hosts(Host(3));
  c->add_reverted_hosts(Host(4));
  Produce(executions_topic_, {completed});
  ASSERT_TRUE(WaitFor([&] { return reader_->Count(deployment_, PC::kIncidentReported) == 1; }, 60s))
      << agent_->LogTail();
  ASSERT_EQ(reader_->Count(deployment_, PC::kRollbackCompleted), 1);
  const auto done = reader_->First(deployment_, PC::kRollbackCompleted)->rollback_completed();
  EXPECT_TRUE(done.success());
  EXPECT_EQ(done.final_status(), v1::DEPLOYMENT_STATUS_FAILED);  // revert-batch in canary
  EXPECT_THAT(done.reverted_hosts(), ElementsAre(Host(3), Host(4)));
  const auto reported = reader_->First(deployment_, PC::kIncidentReported)->incident_reported();
  EXPECT_EQ(reported.summary(), "demo-app-" + sfx_ +
                                    " production: v3 rolled back to v2 on 2 hosts after "
                                    "error_rate 0.31 > 0.05 (batch 2)");
  EXPECT_EQ(reported.report_url(), Base() + "/v1/incidents/" + reported.incident_id());
  EXPECT_EQ(reported.chart_url(), reported.report_url() + "/chart.svg");

  // The read API.
  auto list = Get(Base() + "/v1/incidents?deployment_id=" + deployment_);
  ASSERT_EQ(list.status, 200) << list.body;
  const auto incidents = json::parse(list.body)["incidents"];
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(incidents[0]["incident_id"], reported.incident_id());

  auto one = Get(reported.report_url());
  ASSERT_EQ(one.status, 200) << one.body;
  const auto incident = json::parse(one.body);
  EXPECT_EQ(incident["summary"], reported.summary());
  EXPECT_EQ(incident["result"][Host(1)], "v3");  // batch 1 stays per revert-batch
  EXPECT_EQ(incident["result"][Host(3)], "v2");
  EXPECT_EQ(incident["result"][Host(4)], "v2");
  EXPECT_FALSE(incident["result"].contains(Host(5)));  // never deployed
  EXPECT_EQ(incident["deploy_log"].size(), 4u);
  EXPECT_GE(incident["timeline"].size(), 12u);
  EXPECT_EQ(incident["evidence"][0]["affected_instances"], json({Host(3), Host(4)}));
  EXPECT_TRUE(incident["snapshot"]["available"])
      << "Prometheus at " << PrometheusUrl() << ": " << incident["snapshot"].dump();
  EXPECT_FALSE(incident["snapshot"]["series"].empty());

  for (const auto& [url, headers] :
       std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>>{
           {reported.report_url(), {{"Accept", "text/markdown"}}},
           {reported.report_url() + "?format=markdown", {}}}) {
    auto md = Get(url, headers);
    ASSERT_EQ(md.status, 200) << md.body;
    EXPECT_THAT(md.Header("Content-Type").value_or(""), HasSubstr("text/markdown"));
    for (const char* section : {"## Summary", "## Trigger", "## Timeline", "## Metric snapshot",
                                "## Deploy log", "## Result"}) {
      EXPECT_THAT(md.body, HasSubstr(section));
    }
  }
  auto svg = Get(reported.chart_url());
  ASSERT_EQ(svg.status, 200) << svg.body;
  EXPECT_THAT(svg.Header("Content-Type").value_or(""), HasSubstr("image/svg+xml"));
  EXPECT_THAT(svg.body, HasSubstr("<svg"));
  EXPECT_THAT(svg.body, HasSubstr("class=\"series canary\""));
  EXPECT_THAT(svg.body, HasSubstr("class=\"rollback\""));
  EXPECT_THAT(svg.body, HasSubstr("class=\"threshold\""));
  EXPECT_THAT(svg.body, HasSubstr("class=\"batch-start\""));

  auto rollbacks = Get(Base() + "/v1/rollbacks?deployment_id=" + deployment_);
  ASSERT_EQ(rollbacks.status, 200) << rollbacks.body;
  const auto rb = json::parse(rollbacks.body);
  ASSERT_EQ(rb["rollbacks"].size(), 1u);
  EXPECT_EQ(rb["rollbacks"][0]["status"], "succeeded");
  ASSERT_EQ(rb["triggers"].size(), 4u);
  int acted = 0;
  for (const auto& t : rb["triggers"]) {
    if (t["decision"] == "act") {
      ++acted;
    } else {
      EXPECT_TRUE(t["reason"] == "rollback_in_progress" || t["reason"] == "already_rolled_back")
          << t.dump();
    }
  }
  EXPECT_EQ(acted, 1);
}

TEST_F(RollbackE2eTest, OperatorRollbackDuringAPauseRevertsEveryDeployedHost) {
  FeedDeployment();
  auto paused = New("rollout-planner");
  paused.mutable_deployment_paused()->set_deployment_id(deployment_);
  paused.mutable_deployment_paused()->set_batch_index(1);
  events::SetReason(*paused.mutable_deployment_paused(), v1::REASON_PAUSE_STEP);
  Produce(deployments_topic_, {paused});
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count("rollback_instance_log") == 4 &&
               Count("rollback_deployments WHERE status = 'paused'") == 1;
      },
      30s))
      << agent_->LogTail();
  auto cmd = New("release-intake");
  auto* o = cmd.mutable_operator_command();
  o->set_deployment_id(deployment_);
  o->set_verb(v1::OperatorCommand::VERB_ROLLBACK);
  o->set_actor("alice");
  o->set_reason("customer reports");
  Produce(releases_topic_, {cmd});
  ASSERT_TRUE(WaitFor([&] { return reader_->Count(deployment_, PC::kRevertRequested) == 1; }, 30s))
      << agent_->LogTail();
  const auto s = reader_->First(deployment_, PC::kRollbackStarted)->rollback_started();
  EXPECT_EQ(s.trigger_code(), v1::ROLLBACK_TRIGGER_OPERATOR);
  EXPECT_EQ(s.scope(), v1::ROLLBACK_SCOPE_DEPLOYMENT);
  const auto r = reader_->First(deployment_, PC::kRevertRequested)->revert_requested();
  EXPECT_THAT(r.hosts(), ElementsAre(Host(1), Host(2), Host(3), Host(4)));
  EXPECT_EQ(r.target_version(), "v2");

  // Host 2 fails its revert every time: retried, then reported with the host named.
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(WaitFor(
        [&] { return reader_->Count(deployment_, PC::kRevertRequested) == attempt + 1; }, 30s))
        << agent_->LogTail();
    v1::RevertRequested current;
    for (const auto& e : reader_->For(deployment_)) {
      if (e.has_revert_requested()) current = e.revert_requested();
    }
    auto completed = New("executor");
    auto* c = completed.mutable_revert_completed();
    c->set_rollback_id(current.rollback_id());
    c->set_deployment_id(deployment_);
    c->set_generation(current.generation());
    c->set_target_version("v2");
    for (const auto& h : current.hosts()) {
      if (h == Host(2)) {
        c->add_failed_hosts(h);
      } else {
        c->add_reverted_hosts(h);
      }
    }
    Produce(executions_topic_, {completed});
    if (attempt < 2) {
      // The backoff (1s, then 2s) runs in durable rows.
      ASSERT_TRUE(WaitFor(
          [&] { return reader_->Count(deployment_, PC::kRevertRequested) == attempt + 2; }, 40s))
          << agent_->LogTail();
      EXPECT_THAT(reader_->For(deployment_).back().revert_requested().hosts(),
                  ElementsAre(Host(2)));
    }
  }
  ASSERT_TRUE(WaitFor([&] { return reader_->Count(deployment_, PC::kIncidentReported) == 1; }, 30s))
      << agent_->LogTail();
  const auto done = reader_->First(deployment_, PC::kRollbackCompleted)->rollback_completed();
  EXPECT_FALSE(done.success());
  EXPECT_THAT(done.failed_hosts(), ElementsAre(Host(2)));
  EXPECT_EQ(done.final_status(), v1::DEPLOYMENT_STATUS_FAILED);
  const auto reported = reader_->First(deployment_, PC::kIncidentReported)->incident_reported();
  EXPECT_THAT(reported.summary(), HasSubstr("failed on 1 of 4 hosts (" + Host(2) + ")"));
  EXPECT_THAT(reported.summary(), HasSubstr("operator rollback by alice"));
}

}  // namespace
}  // namespace sluice::rollback
