// The handler's deployment bookkeeping on the shared projection (libs/projection) against the
// stack's PostgreSQL: alerts match what the projection says, a rolled-back generation's late
// analysis is cancelled, and the rows of the old watched_deployments copy move over.
#include <gtest/gtest.h>

#include <map>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/pg/migrations.hpp>
#include <sluice/spec/convert.hpp>
#include <sluice/testing/pg_schema.hpp>

#include "adapters/alertmanager_receiver.hpp"
#include "analysis_step.hpp"
#include "deployment_repository.hpp"
#include "watcher_handler.hpp"
#include "watcher_repository.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& MetricWatcherMigrations();
}

namespace sluice::watcher {
namespace {

using namespace std::chrono_literals;
namespace v1 = ::sluice::v1;

class HandlerITest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(schema_.Unreachable(), "");
    db_ = std::make_unique<pg::Database>(schema_.Config(2));
  }
  void Migrate() { pg::ApplyMigrations(*db_, generated::MetricWatcherMigrations()); }

  v1::Envelope New() {
    auto e = events::NewEnvelope("rollout-planner", clock_);
    e.set_deployment_id("dep-1");
    clock_.Advance(1s);
    return e;
  }
  bool Handle(const v1::Envelope& e) {
    HandlerOptions options;
    options.alert_window = 10min;
    return db_->WithTransaction(
        [&](pqxx::work& tx) { return HandleEvent(tx, e, options, clock_); });
  }
  void Plan() {
    auto e = New();
    auto* p = e.mutable_deployment_planned();
    p->set_deployment_id("dep-1");
    p->set_app("shop");
    p->set_env("production");
    p->set_version("2.0.0");
    p->set_release_id("rel-2");
    p->set_generation(1);
    Handle(e);
  }
  // A firing alert about shop/production, received now: the deployment it was raised for ("").
  std::string Fire(const std::string& fingerprint) {
    AlertPayload payload;
    watcher::Alert a;
    a.status = "firing";
    a.labels = {{"alertname", "HighErrors"}, {"app", "shop"}, {"env", "production"}};
    a.starts_at = clock_.Now();
    a.fingerprint = fingerprint;
    payload.alerts.push_back(a);
    const auto out =
        db_->WithTransaction([&](pqxx::work& tx) { return ReceiveAlerts(tx, payload, clock_); });
    return out.at("alerts").at(0).at("deployment_id").get<std::string>();
  }

  testing::PgSchema schema_{"watcher_handler"};
  core::testing::ManualClock clock_;
  std::unique_ptr<pg::Database> db_;
};

TEST_F(HandlerITest, AlertsMatchWhileRunningAndForTheWindowAfterTheEnd) {
  Migrate();
  Plan();
  EXPECT_EQ(Fire("f1"), "dep-1");
  auto failed = New();
  failed.mutable_deployment_failed()->set_deployment_id("dep-1");
  failed.mutable_deployment_failed()->set_status(v1::DEPLOYMENT_STATUS_FAILED);
  Handle(failed);
  // A late Paused / Resumed does not reopen the failed deployment (the projection keeps it).
  auto paused = New();
  paused.mutable_deployment_paused();
  auto resumed = New();
  resumed.mutable_deployment_resumed();
  Handle(paused);
  Handle(resumed);
  EXPECT_EQ(Fire("f2"), "dep-1");  // within the alert window
  clock_.Advance(11min);
  EXPECT_EQ(Fire("f3"), "") << "the failed deployment matched after its alert window";
  const auto seen = db_->WithTransaction(
      [&](pqxx::work& tx) { return DeploymentsFor(tx, "shop", "production", ""); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].status, "failed");
  EXPECT_EQ(seen[0].release_id, "rel-2");
}

// An external alert from a Kafka producer (release-intake's ExternalAlertReceived) is matched
// as an Alertmanager alert: raised for the active deployment of its app + env, with its labels,
// severity and summary; one about an env with nothing running is recorded, not raised; the other
// events of release-intake's topic leave the watched deployments alone.
TEST_F(HandlerITest, AnExternalAlertIsRaisedForTheActiveDeploymentOfItsAppAndEnv) {
  Migrate();
  Plan();
  const auto external = [this](const std::string& env, bool resolved) {
    auto e = events::NewEnvelope("release-intake", clock_);
    auto* p = e.mutable_external_alert_received();
    p->set_submission_id("sub-" + env);
    p->set_app("shop");
    p->set_env(env);
    p->set_alert_name("CheckoutErrors");
    p->set_severity("critical");
    p->set_summary("checkout 5xx above 2%");
    p->set_resolved(resolved);
    p->set_actor("monitoring");
    clock_.Advance(1s);
    return e;
  };
  EXPECT_FALSE(Handle(external("production", false)));
  EXPECT_FALSE(Handle(external("staging", false)));
  // A DeploymentRequested of another deployment on the same topic projects nothing.
  auto requested = events::NewEnvelope("release-intake", clock_);
  requested.set_deployment_id("dep-2");
  requested.mutable_deployment_requested()->set_deployment_id("dep-2");
  requested.mutable_deployment_requested()->set_app("shop");
  requested.mutable_deployment_requested()->set_env("production");
  EXPECT_FALSE(Handle(requested));

  const auto listed =
      db_->WithTransaction([&](pqxx::work& tx) { return ListAlerts(tx, "shop", "", 10); });
  ASSERT_EQ(listed.size(), 2u);
  std::map<std::string, AlertRow> by_env;
  for (const auto& l : listed) by_env[l.alert.labels.at("env").get<std::string>()] = l.alert;
  const AlertRow& raised = by_env.at("production");
  EXPECT_TRUE(raised.raised);
  EXPECT_EQ(raised.deployment_id, "dep-1");
  EXPECT_EQ(raised.alert_name, "CheckoutErrors");
  EXPECT_EQ(raised.labels.at("submitted_by"), "monitoring");
  EXPECT_EQ(raised.annotations.at("submission_id"), "sub-production");
  EXPECT_FALSE(by_env.at("staging").raised);
  EXPECT_EQ(by_env.at("staging").reason, kReasonNoActiveDeployment);

  const auto rows = db_->WithTransaction([&](pqxx::work& tx) {
    return tx.exec("SELECT payload FROM outbox WHERE topic = 'sluice.analyses.v1' ORDER BY id");
  });
  ASSERT_EQ(rows.size(), 1u) << "one AlertRaised, for the production alert only";
  v1::Envelope out;
  ASSERT_TRUE(out.ParseFromString(pqxx::binarystring(rows[0][0]).str()));
  ASSERT_TRUE(out.has_alert_raised());
  EXPECT_EQ(out.alert_raised().deployment_id(), "dep-1");
  EXPECT_EQ(out.alert_raised().alert_name(), "CheckoutErrors");
  EXPECT_EQ(out.alert_raised().evidence().message(), "checkout 5xx above 2%");
  EXPECT_EQ(out.alert_raised().labels().at("severity"), "critical");
  const auto seen = db_->WithTransaction(
      [&](pqxx::work& tx) { return DeploymentsFor(tx, "shop", "production", ""); });
  ASSERT_EQ(seen.size(), 1u) << "the DeploymentRequested of dep-2 was projected";
}

TEST_F(HandlerITest, AnAnalysisOfARolledBackGenerationIsCancelledOnArrival) {
  Migrate();
  Plan();
  auto rollback = New();
  rollback.mutable_rollback_started()->set_deployment_id("dep-1");
  rollback.mutable_rollback_started()->set_generation(3);
  Handle(rollback);
  auto late = New();
  auto* r = late.mutable_analysis_requested();
  r->set_analysis_id("an-late");
  r->set_deployment_id("dep-1");
  r->set_generation(2);
  r->set_app("shop");
  r->set_env("production");
  EXPECT_FALSE(Handle(late));
  const auto a = db_->WithTransaction([&](pqxx::work& tx) { return GetAnalysis(tx, "an-late"); });
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status, "Cancelled");
  EXPECT_EQ(a->reason, "rolled_back");
}

// A threshold rule is first measured once its rate window holds only data from after the
// batch's hosts switched (they had when the analysis was requested); an instant query at once.
TEST_F(HandlerITest, AWindowedRuleIsFirstDueOneRateWindowAfterTheRequest) {
  Migrate();
  Plan();
  const std::string spec =
      "app: shop\nenvironments:\n  production:\n    analysis:\n      templates:\n"
      "        default:\n          interval: 5s\n          count: 3\n          metrics:\n"
      "            errors: {query: 'sum(rate(errors_total{instance=\"h1\"}[30s]))'}\n"
      "            depth: {query: 'queue_depth{instance=\"h1\"}'}\n"
      "          rules:\n"
      "            - {name: error_rate, failWhen: errors > 1}\n"
      "            - {name: queue, failWhen: depth > 100}\n";
  auto e = New();
  auto* r = e.mutable_analysis_requested();
  r->set_analysis_id("an-window");
  r->set_deployment_id("dep-1");
  r->set_generation(1);
  r->set_app("shop");
  r->set_env("production");
  r->set_template_name("default");
  auto t = spec::ResolvedTemplateOf(spec, "production", "default");
  ASSERT_TRUE(t.has_value());
  *r->mutable_resolved_template() = *t;
  const auto requested = clock_.Now();
  ASSERT_TRUE(Handle(e));
  const auto rules =
      db_->WithTransaction([&](pqxx::work& tx) { return LoadRules(tx, "an-window"); });
  ASSERT_EQ(rules.size(), 2u);
  for (const auto& rule : rules) {
    ASSERT_TRUE(rule.next_due_at.has_value()) << rule.rule;
    const auto wait =
        std::chrono::duration_cast<std::chrono::seconds>(*rule.next_due_at - requested);
    EXPECT_EQ(wait, rule.rule == "error_rate" ? 30s : 0s) << rule.rule;
  }
}

// Records the start of every range query.
class RecordingProvider final : public MetricProvider {
 public:
  prom::QueryResult Query(std::string_view, core::SystemTime) override { return {}; }
  prom::QueryResult QueryRange(std::string_view, core::SystemTime start, core::SystemTime,
                               std::chrono::milliseconds) override {
    starts.push_back(start);
    return {};
  }
  std::vector<core::SystemTime> starts;
};

// The request says when the batch's last host switched (the executor's records): the rules wait
// from then, not from the request's arrival, and the judge reads from then on.
TEST_F(HandlerITest, TheAnalysisReadsFromWhenTheBatchSwitched) {
  Migrate();
  Plan();
  const std::string spec =
      "app: shop\nenvironments:\n  production:\n    analysis:\n      templates:\n"
      "        default:\n          interval: 5s\n          count: 3\n          metrics:\n"
      "            errors: {query: 'sum(rate(errors_total{instance=\"h1\"}[30s]))'}\n"
      "            fast: {query: 'sum(rate(errors_total{instance=\"h1\"}[5s]))'}\n"
      "          rules:\n"
      "            - {name: error_rate, failWhen: errors > 1}\n"
      "            - {name: quick, failWhen: fast > 1}\n"
      "          judge:\n"
      "            step: 30s\n"
      "            lookback: 10m\n"
      "            metrics:\n"
      "              - {name: errs, kind: ratio, errors: 'e{i=\"{{instances}}\"}',"
      " requests: 'r{i=\"{{instances}}\"}'}\n";
  auto e = New();
  auto* r = e.mutable_analysis_requested();
  r->set_analysis_id("an-switched");
  r->set_deployment_id("dep-1");
  r->set_generation(1);
  r->set_app("shop");
  r->set_env("production");
  r->set_template_name("default");
  auto t = spec::ResolvedTemplateOf(spec, "production", "default");
  ASSERT_TRUE(t.has_value());
  *r->mutable_resolved_template() = *t;
  const auto requested = clock_.Now();
  const auto switched = requested - 20s;  // the executor's record: before the request
  r->mutable_switched_at()->set_seconds(core::ToUnixMillis(switched) / 1000);
  r->mutable_switched_at()->set_nanos(static_cast<int>(core::ToUnixMillis(switched) % 1000) *
                                      1'000'000);
  ASSERT_TRUE(Handle(e));

  auto a = db_->WithTransaction([&](pqxx::work& tx) { return GetAnalysis(tx, "an-switched"); });
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(a->switched_at.has_value());
  EXPECT_EQ(core::ToUnixMillis(*a->switched_at), core::ToUnixMillis(switched));
  EXPECT_EQ(core::ToUnixMillis(DataFrom(*a)), core::ToUnixMillis(switched));
  auto rules = db_->WithTransaction([&](pqxx::work& tx) { return LoadRules(tx, "an-switched"); });
  ASSERT_EQ(rules.size(), 3u);
  std::map<std::string, std::chrono::seconds> wait;
  for (const auto& rule : rules) {
    ASSERT_TRUE(rule.next_due_at.has_value()) << rule.rule;
    wait[rule.rule] =
        std::chrono::duration_cast<std::chrono::seconds>(*rule.next_due_at - requested);
  }
  EXPECT_EQ(wait["error_rate"], 10s);  // [30s] fits after the switch 10 s after the request
  EXPECT_EQ(wait["quick"], 0s);        // [5s] fits already
  EXPECT_EQ(wait[std::string(kJudgeRule)], 10s);  // its first 30 s step fits 10 s after it

  // The judge's counter steps start at the switch: the first step ends 30 s after it.
  RecordingProvider provider;
  const auto step = MeasureStep(*a, rules, provider, requested + 40s, nullptr);
  ASSERT_EQ(step.template_error, "");
  ASSERT_FALSE(provider.starts.empty());
  for (const auto& start : provider.starts) {
    EXPECT_EQ(core::ToUnixMillis(start), core::ToUnixMillis(switched + 30s));
  }
}

// Migration 0003 moves the watched_deployments rows into deployment_projection and drops the
// old table: an alert still matches the deployment the old copy knew.
TEST_F(HandlerITest, TheOldCopysRowsMoveOver) {
  const auto& all = generated::MetricWatcherMigrations();
  std::vector<pg::Migration> before;
  for (const auto& m : all) {
    if (m.version < 3) before.push_back(m);
  }
  ASSERT_EQ(before.size(), 2u);
  pg::ApplyMigrations(*db_, before);
  db_->WithTransaction([&](pqxx::work& tx) {
    tx.exec0(
        "INSERT INTO watched_deployments (deployment_id, app, env, version, release_id, status, "
        "generation, cancelled_generation, started_at, updated_at) VALUES ('dep-old', 'shop', "
        "'production', '1.0.0', 'rel-1', 'running', 2, 0, now(), now())");
  });
  Migrate();
  const auto seen = db_->WithTransaction(
      [&](pqxx::work& tx) { return DeploymentsFor(tx, "shop", "production", ""); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].deployment_id, "dep-old");
  EXPECT_EQ(seen[0].version, "1.0.0");
  EXPECT_EQ(seen[0].status, "running");
  const bool dropped = db_->WithTransaction([](pqxx::work& tx) {
    return tx.exec1("SELECT to_regclass('watched_deployments') IS NULL")[0].as<bool>();
  });
  EXPECT_TRUE(dropped);
}

}  // namespace
}  // namespace sluice::watcher
