// The sender and the event recorder against the real PostgreSQL and Redis of the local stack,
// with a fake channel and a manual clock: the per-channel rate limit (Redis fixed windows) makes
// a delivery wait for the next window without counting an attempt, a Redis that cannot be asked
// delays rate-limited channels, and notices about the same incident are suppressed within the
// dedupe window.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <sluice/core/ids.hpp>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <thread>

#include "notifier_component.hpp"
#include "test_events.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& NotifierMigrations();
}

namespace sluice::notifier {
namespace {

using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::RedisUrl;

class FakeChannel final : public Channel {
 public:
  explicit FakeChannel(ChannelSpec spec) : spec_(std::move(spec)) {}
  const ChannelSpec& Spec() const override { return spec_; }
  Attempt Deliver(const Notification& n, core::SystemTime) override {
    delivered.push_back(n.event_id);
    return {{Outcome::Kind::kDelivered, std::nullopt, "ok"}, 200, "ok"};
  }
  std::vector<std::string> delivered;

 private:
  ChannelSpec spec_;
};

struct Row {
  std::string event_id;
  std::string status;
  int attempts;
  std::int64_t due_at_ms;
  std::string last_response;
};

class SenderItest : public ::testing::Test {
 protected:
  void SetUp() override {
    sfx_ = st::RandomSuffix();
    const std::string down = schema_.Unreachable();
    if (!down.empty()) FAIL() << down;
    db_ = std::make_unique<pg::Database>(schema_.Config(2));
    pg::ApplyMigrations(*db_, generated::NotifierMigrations());
    lock::RedisConfig rc;
    rc.url = RedisUrl();
    redis_ = std::make_unique<lock::RedisClient>(rc);
    ASSERT_TRUE(redis_->Ping()) << "Redis is needed at " << RedisUrl()
                                << " (bash scripts/stack.sh up)";
    // A minute boundary plus 10 s: three sends fit in this window's remaining 50 s.
    const auto w = CurrentRateWindow(clock_.Now(), 1min);
    clock_.Set(core::FromUnixMillis(w.start_ms + 10'000));
  }
  void TearDown() override {
    db_.reset();
    if (redis_) {
      const auto keys = redis_->Command({"KEYS", Prefix() + "*"});
      for (const auto& k : keys.elements) redis_->Command({"DEL", k.str});
    }
  }

  std::string Prefix() const { return "itest:notifier:" + sfx_ + ":"; }

  RoutingConfig Routing(int rate_limit, std::vector<std::string> channels) {
    RoutingConfig c;
    for (const auto& name : channels) {
      ChannelSpec spec;
      spec.name = name;
      spec.type = ChannelType::kDingTalk;
      spec.rate_limit_per_minute = rate_limit;
      c.channels[name] = spec;
    }
    c.routes.push_back({"all", {}, channels});
    c.dedupe_window = 10min;
    return c;
  }

  int Record(const events::v1::Envelope& e, const RoutingConfig& routing) {
    return db_->WithTransaction(
        [&](pqxx::work& tx) { return RecordEvent(tx, e, routing, {}, clock_.Now()); });
  }

  std::vector<Row> Rows() {
    return db_->WithTransaction([&](pqxx::work& tx) {
      std::vector<Row> out;
      for (const auto& r : tx.exec(
               "SELECT event_id, status, attempts, (extract(epoch FROM due_at) * 1000)::bigint, "
               "coalesce(last_response, '') FROM deliveries ORDER BY id")) {
        out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int>(),
                       r[3].as<std::int64_t>(), r[4].as<std::string>()});
      }
      return out;
    });
  }

  events::v1::Envelope Rollback(const std::string& rollback_id) {
    auto e = test::RollbackStarted(core::NewUuid(), "dep-" + sfx_, "payments", "prod");
    e.mutable_rollback_started()->set_rollback_id(rollback_id);
    return e;
  }

  events::v1::Envelope AnalysisFailed() {
    auto e = test::Base(core::NewUuid(), "dep-" + sfx_);
    auto* p = e.mutable_analysis_failed();
    p->set_deployment_id("dep-" + sfx_);
    p->set_batch_index(1);
    events::SetReason(*p, v1::REASON_THRESHOLD_BREACHED);
    *p->add_evidence() = test::ErrorRateEvidence();
    return e;
  }

  std::string sfx_;
  st::PgSchema schema_{"notifier_sender"};  // dropped after db_ is gone
  core::testing::ManualClock clock_;
  std::unique_ptr<pg::Database> db_;
  std::unique_ptr<lock::RedisClient> redis_;
};

TEST_F(SenderItest, OverTheRateLimitWaitsForTheNextWindow) {
  const auto routing = Routing(2, {"ding"});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Record(Rollback("rb-" + std::to_string(i)), routing), 1);

  auto fake = std::make_unique<FakeChannel>(routing.channels.at("ding"));
  auto* channel = fake.get();
  std::map<std::string, std::unique_ptr<Channel>> channels;
  channels.emplace("ding", std::move(fake));
  SenderOptions options;
  options.redis_prefix = Prefix();
  Sender sender({*db_, redis_.get(), clock_, nullptr}, options, std::move(channels));

  const auto window = CurrentRateWindow(clock_.Now(), 1min);
  EXPECT_EQ(sender.SendOnce(), 3);
  EXPECT_EQ(channel->delivered.size(), 2u);
  auto rows = Rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].status, "delivered");
  EXPECT_EQ(rows[1].status, "delivered");
  // The third waits for the next window; no attempt is counted.
  EXPECT_EQ(rows[2].status, "pending");
  EXPECT_EQ(rows[2].attempts, 0);
  EXPECT_EQ(rows[2].due_at_ms, window.start_ms + 60'000);
  EXPECT_NE(rows[2].last_response.find("rate limited"), std::string::npos);
  // The counter lives in Redis, with an expiry.
  const auto key = RateLimitKey(Prefix(), "ding", window);
  EXPECT_EQ(redis_->Command({"GET", key}).str, "3");
  EXPECT_GT(redis_->Command({"PTTL", key}).integer, 0);

  // Still the same window: nothing is due.
  clock_.Advance(49s);
  EXPECT_EQ(sender.SendOnce(), 0);
  EXPECT_EQ(channel->delivered.size(), 2u);
  // The next window: it goes, at its first attempt.
  clock_.Advance(1s);
  EXPECT_EQ(sender.SendOnce(), 1);
  ASSERT_EQ(channel->delivered.size(), 3u);
  EXPECT_EQ(channel->delivered[2], rows[2].event_id);
  rows = Rows();
  EXPECT_EQ(rows[2].status, "delivered");
  EXPECT_EQ(rows[2].attempts, 1);
}

TEST_F(SenderItest, WithoutRedisRateLimitedChannelsWait) {
  const auto routing = Routing(20, {"ding"});
  ASSERT_EQ(Record(Rollback("rb-1"), routing), 1);
  lock::RedisConfig rc;
  rc.url = "redis://127.0.0.1:" + std::to_string(st::FreePort()) + "/0";
  rc.timeout = 300ms;
  lock::RedisClient dead(rc);
  auto fake = std::make_unique<FakeChannel>(routing.channels.at("ding"));
  auto* channel = fake.get();
  std::map<std::string, std::unique_ptr<Channel>> channels;
  channels.emplace("ding", std::move(fake));
  SenderOptions options;
  options.redis_prefix = Prefix();
  options.redis_retry = 5s;
  Sender sender({*db_, &dead, clock_, nullptr}, options, std::move(channels));
  EXPECT_EQ(sender.SendOnce(), 1);
  EXPECT_TRUE(channel->delivered.empty());
  const auto rows = Rows();
  EXPECT_EQ(rows[0].status, "pending");
  EXPECT_EQ(rows[0].attempts, 0);
  EXPECT_EQ(rows[0].due_at_ms, core::ToUnixMillis(clock_.Now() + 5s));
  EXPECT_NE(rows[0].last_response.find("Redis unavailable"), std::string::npos);
}

TEST_F(SenderItest, WakeSendsWithoutWaitingForThePoll) {
  const auto routing = Routing(0, {"slack"});
  auto fake = std::make_unique<FakeChannel>(routing.channels.at("slack"));
  auto* channel = fake.get();
  std::map<std::string, std::unique_ptr<Channel>> channels;
  channels.emplace("slack", std::move(fake));
  SenderOptions options;
  options.poll = 10min;  // only a wake can make it send again within the test
  options.redis_prefix = Prefix();
  Sender sender({*db_, redis_.get(), clock_, nullptr}, options, std::move(channels));
  sender.Start();
  // The first pass (at start) finds nothing; the sender then idles for the poll.
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(Record(Rollback("rb-1"), routing), 1);
  sender.Wake();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (Rows()[0].status != "delivered" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  sender.Stop();
  EXPECT_EQ(Rows()[0].status, "delivered");
  EXPECT_EQ(channel->delivered.size(), 1u);
}

TEST_F(SenderItest, SameIncidentIsSuppressedWithinTheDedupeWindow) {
  const auto routing = Routing(0, {"slack", "mail"});
  // First AnalysisFailed of (deployment, batch 1, error_rate): one pending row per channel.
  EXPECT_EQ(Record(AnalysisFailed(), routing), 2);
  // The same incident again (another event id) five minutes later: recorded, not sent.
  clock_.Advance(5min);
  EXPECT_EQ(Record(AnalysisFailed(), routing), 0);
  // Another incident of the same deployment is not affected.
  EXPECT_EQ(Record(Rollback("rb-9"), routing), 2);
  // After the window the incident is told again.
  clock_.Advance(5min + 1s);
  EXPECT_EQ(Record(AnalysisFailed(), routing), 2);
  const auto rows = Rows();
  ASSERT_EQ(rows.size(), 8u);
  const std::vector<std::string> expected = {"pending", "pending", "suppressed", "suppressed",
                                             "pending", "pending", "pending",    "pending"};
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].status, expected[i]) << i;
}

}  // namespace
}  // namespace sluice::notifier
