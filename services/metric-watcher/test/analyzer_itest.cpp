// The analyzer against the stack's PostgreSQL with a Prometheus stand-in that answers only when
// the test lets it: no database transaction (and so no pooled connection, no row lock) is held
// while a query is in flight, and a result is written only under the claim it was measured for.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/pg/migrations.hpp>
#include <sluice/spec/convert.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <thread>

#include "watcher_handler.hpp"
#include "watcher_repository.hpp"
#include "watcher_worker.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& MetricWatcherMigrations();
}

namespace sluice::watcher {
namespace {

using namespace std::chrono_literals;
namespace v1 = ::sluice::v1;

// Answers every query with a healthy value; while held, a query waits until released.
class GatedProvider final : public MetricProvider {
 public:
  explicit GatedProvider(bool held) : held_(held) {}
  prom::QueryResult Query(std::string_view, core::SystemTime at) override {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    // Bounded: a test that never releases still ends.
    cv_.wait_for(lock, 20s, [this] { return !held_; });
    prom::QueryResult r;
    r.series.push_back({{{"instance_name", "h1"}}, {{at, 0.01}}});
    return r;
  }
  prom::QueryResult QueryRange(std::string_view q, core::SystemTime, core::SystemTime end,
                               std::chrono::milliseconds) override {
    return Query(q, end);
  }
  bool WaitEntered(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return entered_ > 0; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_;
  int entered_ = 0;
};

class AnalyzerITest : public ::testing::Test {
 protected:
  void Open(int pool_size) {
    ASSERT_EQ(schema_.Unreachable(), "");
    db_ = std::make_unique<pg::Database>(schema_.Config(pool_size));
    pg::ApplyMigrations(*db_, generated::MetricWatcherMigrations());
  }

  // An analysis of one threshold rule (interval 1 s, 3 measurements), due now.
  void RequestAnalysis() {
    auto e = events::NewEnvelope("rollout-planner", clock_);
    e.set_deployment_id("dep-1");
    auto* r = e.mutable_analysis_requested();
    r->set_analysis_id(kAnalysis);
    r->set_deployment_id("dep-1");
    r->set_generation(1);
    r->set_app("shop");
    r->set_env("production");
    r->set_version("2.0.0");
    r->add_instances("h1");
    r->set_template_name("default");
    const std::string spec =
        "app: shop\nenvironments:\n  production:\n    analysis:\n      templates:\n"
        "        default:\n          interval: 1s\n          count: 3\n          metrics:\n"
        "            error_rate: {query: 'errors{instance=\"h1\"}'}\n          rules:\n"
        "            - {name: errors, failWhen: error_rate > 5%}\n";
    r->set_spec_yaml(spec);
    // As the planner sends it: the template resolved at intake.
    auto t = spec::ResolvedTemplateOf(spec, "production", "default");
    ASSERT_TRUE(t.has_value());
    *r->mutable_resolved_template() = *t;
    const bool due = db_->WithTransaction(
        [&](pqxx::work& tx) { return HandleEvent(tx, e, HandlerOptions{}, clock_); });
    ASSERT_TRUE(due);
  }

  std::size_t Measurements() {
    return db_->WithTransaction(
        [&](pqxx::work& tx) { return ListMeasurements(tx, kAnalysis, "", 100).size(); });
  }

  std::string Status() {
    return db_->WithTransaction([&](pqxx::work& tx) { return GetAnalysis(tx, kAnalysis)->status; });
  }

  static constexpr const char* kAnalysis = "an-1";
  testing::PgSchema schema_{"watcher_analyzer"};
  core::testing::ManualClock clock_;
  std::unique_ptr<pg::Database> db_;
};

// The rule of DESIGN.md (invariant 9): with one pooled connection, another transaction runs
// while the analyzer waits for Prometheus. Holding a transaction open across the query would
// hold the only connection until the query returned.
TEST_F(AnalyzerITest, NoTransactionIsOpenWhilePrometheusAnswers) {
  Open(1);
  RequestAnalysis();
  GatedProvider prometheus(/*held=*/true);
  Analyzer analyzer({*db_, prometheus, clock_, nullptr}, {});
  std::thread step([&] { EXPECT_TRUE(analyzer.StepOne()); });
  ASSERT_TRUE(prometheus.WaitEntered(10s));

  auto other = std::async(std::launch::async, [&] {
    return db_->WithTransaction([](pqxx::work& tx) { return CountRunning(tx); });
  });
  const auto other_done = other.wait_for(5s);
  prometheus.Release();
  step.join();
  EXPECT_EQ(other_done, std::future_status::ready)
      << "a transaction could not get the pool's one connection while a Prometheus query was in "
         "flight: the analyzer held a transaction open across it";
  EXPECT_EQ(other.get(), 1);
  EXPECT_EQ(Measurements(), 1u);  // and the step's result was written afterwards
}

// A claimer slower than its lease has its result refused: the analysis was claimed again (and
// measured) meanwhile, and only that claim's measurement counts.
TEST_F(AnalyzerITest, AStaleClaimersResultIsRefused) {
  Open(2);
  RequestAnalysis();
  AnalyzerOptions options;
  options.claim_lease = 5s;
  GatedProvider slow(/*held=*/true);
  Analyzer first({*db_, slow, clock_, nullptr}, options);
  std::thread step([&] { EXPECT_TRUE(first.StepOne()); });
  ASSERT_TRUE(slow.WaitEntered(10s));

  clock_.Advance(6s);  // the first claim's lease ran out: the analysis is due again
  GatedProvider fast(/*held=*/false);
  Analyzer second({*db_, fast, clock_, nullptr}, options);
  EXPECT_TRUE(second.StepOne());
  EXPECT_EQ(Measurements(), 1u);

  slow.Release();
  step.join();
  EXPECT_EQ(Measurements(), 1u) << "the stale claimer's measurement was written";
  const auto rules = db_->WithTransaction([&](pqxx::work& tx) { return LoadRules(tx, kAnalysis); });
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].progress.value("taken", 0), 1) << rules[0].progress.dump();
}

// An analysis cancelled (its generation rolled back) while it is being measured stays
// cancelled: the measurement that comes back afterwards is dropped.
TEST_F(AnalyzerITest, ACancelDuringTheQueryWins) {
  Open(1);
  RequestAnalysis();
  GatedProvider prometheus(/*held=*/true);
  Analyzer analyzer({*db_, prometheus, clock_, nullptr}, {});
  std::thread step([&] { EXPECT_TRUE(analyzer.StepOne()); });
  ASSERT_TRUE(prometheus.WaitEntered(10s));

  auto rollback = events::NewEnvelope("rollback-agent", clock_);
  rollback.set_deployment_id("dep-1");
  rollback.mutable_rollback_started()->set_deployment_id("dep-1");
  rollback.mutable_rollback_started()->set_generation(2);
  auto cancel = std::async(std::launch::async, [&] {
    db_->WithTransaction(
        [&](pqxx::work& tx) { HandleEvent(tx, rollback, HandlerOptions{}, clock_); });
  });
  const auto cancel_done = cancel.wait_for(5s);
  prometheus.Release();
  step.join();
  cancel.get();
  EXPECT_EQ(cancel_done, std::future_status::ready);
  EXPECT_EQ(Status(), "Cancelled");
  EXPECT_EQ(Measurements(), 0u);
}

}  // namespace
}  // namespace sluice::watcher
