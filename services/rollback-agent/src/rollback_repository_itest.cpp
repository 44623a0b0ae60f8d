// The rollback-agent's repository and handler against the stack's PostgreSQL (and Redis for the
// lease): one rollback per (deployment, generation) under concurrent transactions, concurrent
// triggers, revert retries through durable due times, and incident reports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <barrier>
#include <cstdlib>
#include <pqxx/pqxx>
#include <random>
#include <sluice/core/ids.hpp>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/migrations.hpp>
#include <thread>

#include "rollback_handler.hpp"
#include "rollback_repository.hpp"
#include "rollback_worker.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& RollbackMigrations();
}

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string Suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 8; ++i) s += kChars[rng() % 36];
  return s;
}

class FakeHistory final : public MetricHistory {
 public:
  std::vector<SnapshotSeries> QueryRange(const std::string& query, std::int64_t start_ms,
                                         std::int64_t end_ms,
                                         std::chrono::milliseconds step) override {
    std::lock_guard lock(mu);
    queries.push_back(query);
    last_start = start_ms;
    last_end = end_ms;
    last_step = step;
    if (!fail.empty()) throw std::runtime_error(fail);
    SnapshotSeries s;
    s.labels = {{"instance_name", "h3"}};
    for (std::int64_t t = start_ms; t <= end_ms; t += step.count()) s.points.push_back({t, 0.3});
    return {s};
  }
  std::mutex mu;
  std::vector<std::string> queries;
  std::int64_t last_start = 0, last_end = 0;
  std::chrono::milliseconds last_step{0};
  std::string fail;
};

// The agent's rooms as main.cpp wires them: the handler behind the consumer, the worker.
struct TestAgent {
  RollbackHandler handler;
  RollbackWorker worker;

  // One event as the consumer hands it over: prepared with no transaction open, then its step
  // in a transaction of its own.
  void Consume(pg::Database& db, const v1::Envelope& e) const {
    const auto step = handler.Prepare(e);
    db.WithTransaction([&](pqxx::work& tx) {
      if (step) step(tx);
    });
  }
  int RunDue() { return worker.RunDue(); }
  int WriteIncidents() { return worker.WriteIncidents(); }
};

class RollbackItest : public ::testing::Test {
 protected:
  void SetUp() override {
    sfx_ = Suffix();
    pg::PgConfig config;
    config.dsn = Env("SLUICE_PG_DSN", "postgresql://sluice:sluice@127.0.0.1:15432/sluice");
    config.schema = "itest_rollback_" + sfx_;
    config.pool_size = 6;
    db_ = std::make_unique<pg::Database>(config);
    try {
      pg::ApplyMigrations(*db_, generated::RollbackMigrations());
    } catch (const std::exception& e) {
      FAIL() << "PostgreSQL at " << config.dsn
             << " is needed (bash scripts/stack.sh up): " << e.what();
    }
    lock::RedisConfig redis;
    redis.url = Env("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");
    redis_ = std::make_unique<lock::RedisClient>(redis);
    ASSERT_TRUE(redis_->Ping()) << "Redis at " << redis.url << " is needed";
    locks_ = std::make_unique<lock::LeaseLock>(*redis_, clock_, "itest:rollback:" + sfx_ + ":");
  }
  void TearDown() override {
    try {
      pqxx::connection conn(db_->Config().dsn);
      pqxx::work tx(conn);
      tx.exec0("DROP SCHEMA IF EXISTS " + db_->Config().schema + " CASCADE");
      tx.commit();
    } catch (const std::exception&) {
    }
  }

  TestAgent Agent(AgentOptions options = {}) {
    options.lock_wait = 200ms;
    const AgentDeps deps{*db_, clock_, locks_.get(), history_, nullptr};
    return TestAgent{RollbackHandler(deps, options), RollbackWorker(deps, options)};
  }

  v1::Envelope New(const std::string& source = "rollout-planner") {
    auto e = events::NewEnvelope(source, clock_);
    e.set_deployment_id(deployment_);
    clock_.Advance(1s);
    return e;
  }

  void Handle(TestAgent& agent, v1::Envelope e) {
    events::Finalize(e);
    agent.Consume(*db_, e);
  }

  // A 3-batch deployment of v3 over stable v2, batches 1 and 2 deployed.
  // With `kubernetes`, every batch also lists the Deployment web-k8s (driver "kubernetes"), as
  // the planner does for an environment with Kubernetes targets, and the executor reports a
  // canary pod of it in each BatchSucceeded.
  void FeedDeployment(TestAgent& agent, bool kubernetes = false) {
    const auto add_k8s = [&](v1::Target* t) {
      t->set_host("web-k8s");
      t->set_driver("kubernetes");
      t->mutable_kubernetes()->set_namespace_("shop");
      t->mutable_kubernetes()->set_kind("Deployment");
      t->mutable_kubernetes()->set_name("web");
      t->mutable_kubernetes()->set_rollout(v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
    };
    auto planned = New();
    auto* p = planned.mutable_deployment_planned();
    p->set_deployment_id(deployment_);
    p->set_release_id("r3");
    p->set_app("demo-app");
    p->set_env("production");
    p->set_version("v3");
    p->set_stable_release_id("r2");
    p->set_stable_version("v2");
    p->set_generation(1);
    for (std::uint32_t b = 0; b < 3; ++b) {
      auto* pb = p->add_batches();
      pb->set_index(b);
      pb->add_targets()->set_host("h" + std::to_string(2 * b + 1));
      pb->add_targets()->set_host("h" + std::to_string(2 * b + 2));
      pb->set_weight_percent(b == 2 ? 100 : 25 * (b + 1));
      if (kubernetes) add_k8s(pb->add_targets());
    }
    Handle(agent, planned);
    for (std::uint32_t b = 0; b < 2; ++b) {
      auto req = New();
      auto* r = req.mutable_batch_requested();
      r->set_deployment_id(deployment_);
      r->set_batch_index(b);
      r->set_generation(1);
      for (int i = 1; i <= 2; ++i) {
        r->add_targets()->set_host("h" + std::to_string(2 * b + i));
      }
      if (kubernetes) add_k8s(r->add_targets());
      Handle(agent, req);
      for (int i = 1; i <= 2; ++i) {
        auto inst = New("executor");
        auto* u = inst.mutable_instance_updated();
        u->set_deployment_id(deployment_);
        u->set_batch_index(b);
        u->set_host("h" + std::to_string(2 * b + i));
        u->set_status(v1::INSTANCE_STATUS_SUCCEEDED);
        u->set_version("v3");
        Handle(agent, inst);
      }
      auto ok = New("executor");
      ok.mutable_batch_succeeded()->set_deployment_id(deployment_);
      ok.mutable_batch_succeeded()->set_batch_index(b);
      if (kubernetes) ok.mutable_batch_succeeded()->add_hosts("web-canary-5d8f-x2k9q");
      ok.mutable_batch_succeeded()->set_generation(1);
      Handle(agent, ok);
    }
  }

  v1::Envelope AnalysisFailed() {
    auto e = New("metric-watcher");
    auto* a = e.mutable_analysis_failed();
    a->set_deployment_id(deployment_);
    a->set_batch_index(1);
    a->set_generation(1);
    auto* ev = a->add_evidence();
    ev->set_metric("error_rate");
    ev->set_query("sum(rate(errors{app=\"demo-app\"}[30s]))");
    ev->set_threshold(0.05);
    ev->set_observed(0.31);
    ev->set_comparator(">");
    ev->set_severity(v1::SEVERITY_CRITICAL);
    ev->add_affected_instances("h3");
    return e;
  }
  v1::Envelope Alert() {
    auto e = New("metric-watcher");
    auto* a = e.mutable_alert_raised();
    a->set_deployment_id(deployment_);
    a->set_alert_name("HighErrorRate");
    a->set_alert_id(core::NewUuid());
    return e;
  }
  v1::Envelope RevertCompleted(const std::string& rollback_id, std::uint64_t generation,
                               std::vector<std::string> reverted, std::vector<std::string> failed) {
    auto e = New("executor");
    auto* r = e.mutable_revert_completed();
    r->set_rollback_id(rollback_id);
    r->set_deployment_id(deployment_);
    r->set_generation(generation);
    r->set_target_version("v2");
    for (const auto& h : reverted) r->add_reverted_hosts(h);
    for (const auto& h : failed) r->add_failed_hosts(h);
    return e;
  }

  // The payload types in the outbox, in order.
  std::vector<v1::Envelope> Outbox() {
    return db_->WithTransaction([&](pqxx::work& tx) {
      std::vector<v1::Envelope> out;
      for (const auto& r : tx.exec("SELECT payload FROM outbox ORDER BY id")) {
        const pqxx::binarystring bytes(r[0]);
        v1::Envelope e;
        e.ParseFromString(bytes.str());
        out.push_back(e);
      }
      return out;
    });
  }
  std::vector<std::string> OutboxTypes() {
    std::vector<std::string> out;
    for (const auto& e : Outbox()) out.push_back(events::TypeName(e));
    return out;
  }

  std::string sfx_;
  std::string deployment_ = "dep-" + Suffix();
  core::testing::ManualClock clock_{core::SystemClock::Instance().Now()};
  FakeHistory history_;
  std::unique_ptr<pg::Database> db_;
  std::unique_ptr<lock::RedisClient> redis_;
  std::unique_ptr<lock::LeaseLock> locks_;
};

RollbackRow Row(const std::string& deployment, std::uint64_t from_generation) {
  RollbackRow row;
  row.rollback_id = core::NewUuid();
  row.deployment_id = deployment;
  row.plan.from_generation = from_generation;
  row.plan.new_generation = from_generation + 1;
  row.plan.hosts = {"h1"};
  row.plan.batches = {0};
  row.plan.target_version = "v2";
  row.trigger_kind = "alert";
  row.trigger_event_id = core::NewUuid();
  row.progress.hosts = {"h1"};
  row.progress.pending = {"h1"};
  row.started_at_ms = 1'700'000'000'000;
  return row;
}

TEST_F(RollbackItest, OneRollbackPerDeploymentAndGenerationUnderConcurrentTransactions) {
  std::barrier sync(2);
  std::atomic<int> inserted{0};
  std::atomic<int> refused{0};
  auto worker = [&](bool slow) {
    db_->WithTransaction([&](pqxx::work& tx) {
      sync.arrive_and_wait();
      const bool ok = RollbackRepository::InsertRollback(tx, Row("d1", 4));
      // The first keeps its transaction open a while: the other's insert waits on the
      // unique index and, once this commits, inserts nothing.
      if (slow && ok) std::this_thread::sleep_for(300ms);
      (ok ? inserted : refused)++;
    });
  };
  std::thread a(worker, true);
  std::thread b(worker, true);
  a.join();
  b.join();
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_EQ(refused.load(), 1);
  const auto rows = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::ListRollbacks(tx, "d1"); });
  ASSERT_EQ(rows.size(), 1u);
  // A new generation is a new incident.
  EXPECT_TRUE(db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::InsertRollback(tx, Row("d1", 5)); }));
  EXPECT_TRUE(db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::InsertRollback(tx, Row("d2", 4)); }));
}

TEST_F(RollbackItest, RollbackRowRoundTrips) {
  auto row = Row("d1", 1);
  row.plan.scope = Scope::kDeployment;
  row.plan.final_status = FinalStatus::kFailed;
  row.retry_at_ms = 1'700'000'001'000;
  row.evidence = nlohmann::json::array({{{"metric", "m"}}});
  ASSERT_TRUE(db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::InsertRollback(tx, row); }));
  const auto back = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::GetRollback(tx, row.rollback_id); });
  ASSERT_TRUE(back);
  EXPECT_EQ(back->plan.scope, Scope::kDeployment);
  EXPECT_EQ(back->plan.final_status, FinalStatus::kFailed);
  EXPECT_EQ(back->retry_at_ms, row.retry_at_ms);
  EXPECT_FALSE(back->timeout_at_ms);
  EXPECT_EQ(back->evidence, row.evidence);
  EXPECT_EQ(back->progress.pending, row.progress.pending);
}

TEST_F(RollbackItest, FenceRefusesAnOlderToken) {
  db_->WithTransaction([&](pqxx::work& tx) {
    EXPECT_TRUE(RollbackRepository::AdvanceFence(tx, "d1", 5, 0));
    EXPECT_TRUE(RollbackRepository::AdvanceFence(tx, "d1", 6, 0));
    EXPECT_FALSE(RollbackRepository::AdvanceFence(tx, "d1", 4, 0));
  });
}

TEST_F(RollbackItest, ConcurrentTriggersMakeExactlyOneRollback) {
  auto agent = Agent();
  FeedDeployment(agent);
  std::vector<v1::Envelope> triggers = {AnalysisFailed(), Alert(), Alert()};
  for (auto& t : triggers) events::Finalize(t);
  std::barrier sync(3);
  std::vector<std::thread> threads;
  for (const auto& t : triggers) {
    threads.emplace_back([&, t] {
      sync.arrive_and_wait();
      agent.Consume(*db_, t);
    });
  }
  for (auto& t : threads) t.join();
  const auto types = OutboxTypes();
  EXPECT_EQ(std::count(types.begin(), types.end(), "sluice.v1.RollbackStarted"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "sluice.v1.RevertRequested"), 1);
  const auto [rollbacks, recorded] = db_->WithTransaction([&](pqxx::work& tx) {
    return std::make_pair(RollbackRepository::ListRollbacks(tx, deployment_),
                          RollbackRepository::ListTriggers(tx, deployment_));
  });
  ASSERT_EQ(rollbacks.size(), 1u);
  ASSERT_EQ(recorded.size(), 3u);
  int acted = 0;
  for (const auto& t : recorded) {
    if (t.decision == "act") {
      ++acted;
      EXPECT_EQ(t.rollback_id, rollbacks[0].rollback_id);
    } else {
      EXPECT_EQ(t.reason, kReasonRollbackInProgress);
    }
  }
  EXPECT_EQ(acted, 1);
}

// DESIGN.md invariant 9: a trigger waits for its deployment's Redis lease with no transaction
// open, so the wait holds no pooled connection; once the lease is had, the rollback is written
// in the transaction with the lease's fencing token.
TEST_F(RollbackItest, TheLeaseWaitHoldsNoTransaction) {
  // The real clock: the wait runs out after lock_wait, also where the lease is never had.
  AgentOptions options;
  options.lock_wait = 3s;
  const AgentDeps deps{*db_, core::SystemClock::Instance(), locks_.get(), history_, nullptr};
  TestAgent agent{RollbackHandler(deps, options), RollbackWorker(deps, options)};
  FeedDeployment(agent);
  // Another replica holds the deployment's lease.
  auto other = locks_->TryAcquire(deployment_, "other-replica", 30s);
  ASSERT_TRUE(other);
  pg::PgConfig one = db_->Config();
  one.pool_size = 1;
  pg::Database narrow(one);
  auto trigger = AnalysisFailed();
  events::Finalize(trigger);
  std::thread consumer([&] { agent.Consume(narrow, trigger); });
  std::this_thread::sleep_for(500ms);  // the consumer is waiting for the lease by now
  // The pool's only connection is free while the trigger waits.
  const auto before = std::chrono::steady_clock::now();
  narrow.WithTransaction([](pqxx::work& tx) { tx.exec1("SELECT 1"); });
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  EXPECT_TRUE(Outbox().empty());
  ASSERT_TRUE(locks_->Release(*other));
  consumer.join();
  const auto rollbacks = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::ListRollbacks(tx, deployment_); });
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_GT(rollbacks[0].fence_token, other->token.Value());
  const auto later = locks_->TryAcquire(deployment_, "later", 1s);
  ASSERT_TRUE(later) << "the lease is given back after the commit";
  EXPECT_EQ(later->token.Value(), rollbacks[0].fence_token + 1);
}

TEST_F(RollbackItest, RevertNamesTheKubernetesTargetsWithTheirWorkloads) {
  auto agent = Agent(AgentOptions{});
  FeedDeployment(agent, /*kubernetes=*/true);
  Handle(agent, AnalysisFailed());
  const auto out = Outbox();
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[1].has_revert_requested());
  const auto& r = out[1].revert_requested();
  // The batch's hosts and the Deployment by name; the pod the executor reported is no target.
  EXPECT_THAT(r.hosts(), ElementsAre("h3", "h4", "web-k8s"));
  ASSERT_EQ(r.kubernetes_targets_size(), 1);
  EXPECT_EQ(r.kubernetes_targets(0).host(), "web-k8s");
  EXPECT_EQ(r.kubernetes_targets(0).driver(), "kubernetes");
  EXPECT_EQ(r.kubernetes_targets(0).kubernetes().name(), "web");
  EXPECT_EQ(r.kubernetes_targets(0).kubernetes().namespace_(), "shop");
  // Batch 1 (50%) is reverted: the Deployment falls back to batch 0's share.
  EXPECT_EQ(r.weight_percent(), 25u);
}

TEST_F(RollbackItest, RevertRetriesThenCompletesAndWritesTheIncident) {
  AgentOptions options;
  options.revert.max_attempts = 2;
  options.revert.backoff = 10s;
  options.public_url = "http://intake.example:8080/";
  auto agent = Agent(options);
  FeedDeployment(agent);
  Handle(agent, AnalysisFailed());
  auto out = Outbox();
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].has_rollback_started());
  const auto& started = out[0].rollback_started();
  EXPECT_EQ(started.generation(), 2u);
  EXPECT_EQ(started.scope(), v1::ROLLBACK_SCOPE_BATCHES);
  EXPECT_THAT(started.batches(), ElementsAre(1u));
  EXPECT_THAT(started.hosts(), ElementsAre("h3", "h4"));
  EXPECT_EQ(started.trigger_code(), v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED);
  EXPECT_EQ(started.from_version(), "v3");
  ASSERT_TRUE(out[1].has_revert_requested());
  EXPECT_THAT(out[1].revert_requested().hosts(), ElementsAre("h3", "h4"));
  EXPECT_EQ(out[1].revert_requested().target_version(), "v2");
  EXPECT_EQ(out[1].revert_requested().target_release_id(), "r2");
  const std::string rollback_id = started.rollback_id();

  // h4 fails its revert: a retry is due after the backoff, with a newer generation.
  Handle(agent, RevertCompleted(rollback_id, 2, {"h3"}, {"h4"}));
  EXPECT_EQ(agent.RunDue(), 0);
  clock_.Advance(11s);
  EXPECT_EQ(agent.RunDue(), 1);
  out = Outbox();
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[2].has_revert_requested());
  EXPECT_THAT(out[2].revert_requested().hosts(), ElementsAre("h4"));
  EXPECT_EQ(out[2].revert_requested().generation(), 3u);
  // A stale answer (the first attempt's generation) changes nothing.
  Handle(agent, RevertCompleted(rollback_id, 2, {"h4"}, {}));
  EXPECT_EQ(Outbox().size(), 3u);
  Handle(agent, RevertCompleted(rollback_id, 3, {"h4"}, {}));
  out = Outbox();
  ASSERT_EQ(out.size(), 4u);
  ASSERT_TRUE(out[3].has_rollback_completed());
  const auto& done = out[3].rollback_completed();
  EXPECT_TRUE(done.success());
  EXPECT_THAT(done.reverted_hosts(), ElementsAre("h3", "h4"));
  EXPECT_EQ(done.final_status(), v1::DEPLOYMENT_STATUS_FAILED);  // revert-batch in canary

  // Later triggers are recorded only.
  Handle(agent, Alert());
  EXPECT_EQ(Outbox().size(), 4u);

  EXPECT_EQ(agent.WriteIncidents(), 1);
  EXPECT_EQ(agent.WriteIncidents(), 0);
  out = Outbox();
  ASSERT_EQ(out.size(), 5u);
  ASSERT_TRUE(out[4].has_incident_reported());
  const auto& reported = out[4].incident_reported();
  EXPECT_EQ(reported.summary(),
            "demo-app production: v3 rolled back to v2 on 2 hosts after error_rate 0.31 > 0.05 "
            "(batch 2)");
  EXPECT_EQ(reported.report_url(),
            "http://intake.example:8080/v1/incidents/" + reported.incident_id());
  EXPECT_EQ(reported.chart_url(), reported.report_url() + "/chart.svg");
  EXPECT_EQ(reported.evidence().metric(), "error_rate");
  ASSERT_EQ(history_.queries.size(), 1u);
  EXPECT_EQ(history_.queries[0], "sum(rate(errors{app=\"demo-app\"}[30s]))");
  EXPECT_LE((history_.last_end - history_.last_start) / history_.last_step.count() + 1, 300);

  const auto row = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::GetIncident(tx, reported.incident_id()); });
  ASSERT_TRUE(row && row->report);
  const auto incident = IncidentFromJson(*row->report);
  EXPECT_TRUE(incident.snapshot.available);
  EXPECT_EQ(incident.result.at("h1"), "v3");
  EXPECT_EQ(incident.result.at("h3"), "v2");
  EXPECT_EQ(incident.result.at("h4"), "v2");
  EXPECT_EQ(incident.result.count("h5"), 0u);  // never deployed
  EXPECT_EQ(incident.batch_starts.size(), 2u);
  EXPECT_EQ(incident.deploy_log.size(), 4u);
  EXPECT_GE(incident.timeline.size(), 10u);
  EXPECT_THAT(RenderMarkdown(incident), HasSubstr("## Deploy log"));
}

TEST_F(RollbackItest, RevertThatNeverAnswersFailsAndIsReported) {
  AgentOptions options;
  options.revert.timeout = 60s;
  auto agent = Agent(options);
  FeedDeployment(agent);
  Handle(agent, AnalysisFailed());
  clock_.Advance(61s);
  EXPECT_EQ(agent.RunDue(), 1);
  const auto out = Outbox();
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[2].has_rollback_completed());
  EXPECT_FALSE(out[2].rollback_completed().success());
  EXPECT_THAT(out[2].rollback_completed().failed_hosts(), ElementsAre("h3", "h4"));
  EXPECT_EQ(out[2].rollback_completed().final_status(), v1::DEPLOYMENT_STATUS_FAILED);

  history_.fail = "Prometheus answered 503";
  EXPECT_EQ(agent.WriteIncidents(), 1);
  const auto incidents = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::ListIncidents(tx, deployment_); });
  ASSERT_EQ(incidents.size(), 1u);
  const auto incident = IncidentFromJson(*incidents[0].report);
  EXPECT_FALSE(incident.snapshot.available);
  EXPECT_EQ(incident.snapshot.unavailable_reason, "Prometheus answered 503");
  EXPECT_THAT(incident.summary, HasSubstr("failed on 2 of 2 hosts (h3, h4)"));
  EXPECT_THAT(RenderMarkdown(incident), HasSubstr("snapshot unavailable: Prometheus answered 503"));
}

// The evidence's query selects the canary hosts by name: the snapshot also holds the same
// query over the hosts still on the stable version (batch 3: h5, h6), drawn as the baseline.
TEST_F(RollbackItest, IncidentSnapshotHoldsTheBaselineSeries) {
  AgentOptions options;
  options.revert.timeout = 60s;
  auto agent = Agent(options);
  FeedDeployment(agent);
  auto failed = AnalysisFailed();
  failed.mutable_analysis_failed()->mutable_evidence(0)->set_query(
      R"(sum by (instance_name) (rate(errors{version="v3",instance_name=~"h3|h4"}[30s])))");
  Handle(agent, failed);
  clock_.Advance(61s);
  EXPECT_EQ(agent.RunDue(), 1);
  EXPECT_EQ(agent.WriteIncidents(), 1);
  ASSERT_EQ(history_.queries.size(), 2u);
  EXPECT_EQ(history_.queries[1],
            R"(sum by (instance_name) (rate(errors{version="v2",instance_name=~"h5|h6"}[30s])))");
  const auto incidents = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::ListIncidents(tx, deployment_); });
  ASSERT_EQ(incidents.size(), 1u);
  const auto incident = IncidentFromJson(*incidents[0].report);
  ASSERT_EQ(incident.snapshot.series.size(), 2u);
  EXPECT_EQ(incident.snapshot.series[0].role, SeriesRole::kCanary);
  EXPECT_EQ(incident.snapshot.series[1].role, SeriesRole::kBaseline);
  EXPECT_EQ(incident.snapshot.baseline_query, history_.queries[1]);
  EXPECT_THAT(RenderChartSvg(incident), HasSubstr("class=\"series baseline\""));
}

TEST_F(RollbackItest, UnknownDeploymentIsRecordedWithTheReason) {
  auto agent = Agent();
  Handle(agent, Alert());
  EXPECT_TRUE(Outbox().empty());
  const auto recorded = db_->WithTransaction(
      [&](pqxx::work& tx) { return RollbackRepository::ListTriggers(tx, deployment_); });
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].decision, "record");
  EXPECT_EQ(recorded[0].reason, kReasonUnknownDeployment);
}

TEST_F(RollbackItest, OperatorRollbackToAnEarlierRelease) {
  auto agent = Agent();
  // An earlier deployment of v1 of the same app and env.
  const std::string current = deployment_;
  deployment_ = "dep-old-" + sfx_;
  auto old = New();
  auto* p = old.mutable_deployment_planned();
  p->set_deployment_id(deployment_);
  p->set_release_id("r1");
  p->set_app("demo-app");
  p->set_env("production");
  p->set_version("v1");
  Handle(agent, old);
  deployment_ = current;
  FeedDeployment(agent);
  auto cmd = New("release-intake");
  auto* c = cmd.mutable_operator_command();
  c->set_deployment_id(deployment_);
  c->set_verb(v1::OperatorCommand::VERB_ROLLBACK);
  c->set_actor("alice");
  c->set_target_release_id("r1");
  Handle(agent, cmd);
  const auto out = Outbox();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rollback_started().trigger_code(), v1::ROLLBACK_TRIGGER_OPERATOR);
  EXPECT_EQ(out[0].rollback_started().scope(), v1::ROLLBACK_SCOPE_DEPLOYMENT);
  EXPECT_EQ(out[1].revert_requested().target_version(), "v1");
  EXPECT_THAT(out[1].revert_requested().hosts(), ElementsAre("h1", "h2", "h3", "h4"));
}

}  // namespace
}  // namespace sluice::rollback
