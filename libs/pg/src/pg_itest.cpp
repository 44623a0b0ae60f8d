// Integration tests against the real PostgreSQL of the local stack (scripts/stack.sh up).
// Each test works in a schema of its own, dropped at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sluice/core/ids.hpp>
#include <sluice/pg/pg.hpp>
#include <sluice/pg/retention.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <thread>

namespace sluice::pg {
namespace {

using namespace std::chrono_literals;

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string down = schema_.Unreachable();
    if (!down.empty()) FAIL() << down;
    config_ = schema_.Config();
    db_ = std::make_unique<Database>(config_);
  }

  void TearDown() override { db_.reset(); }

  // A direct connection with the test schema on its search_path.
  std::unique_ptr<pqxx::connection> Direct() { return OpenConnection(config_); }

  int64_t QueryInt(const std::string& sql) {
    return db_->WithTransaction([&](pqxx::work& tx) { return tx.exec1(sql)[0].as<int64_t>(); });
  }

  void AddMessages(int n, const std::string& key = "k") {
    db_->WithTransaction([&](pqxx::work& tx) {
      for (int i = 0; i < n; ++i) {
        AddToOutbox(tx, {"sluice.test.v1", key, "payload-" + std::to_string(i), {}});
      }
    });
  }

  sluice::testing::PgSchema schema_{"pg"};  // dropped after everything below is gone
  PgConfig config_;
  std::unique_ptr<Database> db_;
};

const std::vector<Migration> kServiceMigrations = {
    {1, "0001_widgets", "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text NOT NULL);"},
    {2, "0002_widget_color", "ALTER TABLE widgets ADD COLUMN color text;"},
};

// --- migrations ---------------------------------------------------------------------------

TEST_F(PgTest, MigrationsApplyOnceAndAreIdempotent) {
  const int library = static_cast<int>(LibraryMigrations().size());
  EXPECT_EQ(ApplyMigrations(*db_, kServiceMigrations), library + 2);
  EXPECT_EQ(ApplyMigrations(*db_, kServiceMigrations), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM schema_migrations WHERE component = 'service'"), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM schema_migrations WHERE component = 'sluice.pg'"),
            library);
  // The service tables landed in the service schema.
  db_->WithTransaction([&](pqxx::work& tx) {
    tx.exec("INSERT INTO widgets (name, color) VALUES ('a', 'red')");
    EXPECT_EQ(
        tx.exec1("SELECT count(*) FROM " + tx.quote_name(config_.schema) + ".widgets")[0].as<int>(),
        1);
  });

  // A later migration is applied on the next start, alone.
  auto more = kServiceMigrations;
  more.push_back({3, "0003_widget_size", "ALTER TABLE widgets ADD COLUMN size int;"});
  EXPECT_EQ(ApplyMigrations(*db_, more), 1);
}

TEST_F(PgTest, ChangedMigrationIsDetected) {
  ApplyMigrations(*db_, kServiceMigrations);
  auto changed = kServiceMigrations;
  changed[1].sql = "ALTER TABLE widgets ADD COLUMN colour text;";
  try {
    ApplyMigrations(*db_, changed);
    FAIL() << "expected MigrationError";
  } catch (const MigrationError& e) {
    EXPECT_NE(std::string(e.what()).find("0002_widget_color"), std::string::npos) << e.what();
  }
}

TEST_F(PgTest, FailingMigrationIsRolledBackAndNotRecorded) {
  auto broken = kServiceMigrations;
  broken.push_back({3, "0003_broken", "CREATE TABLE gadgets (id int); SELECT no_such_column;"});
  EXPECT_THROW(ApplyMigrations(*db_, broken), MigrationError);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM schema_migrations WHERE component = 'service'"), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
                     "AND tablename = 'gadgets'"),
            0);
}

TEST_F(PgTest, ConcurrentApplyAppliesOnce) {
  constexpr int kReplicas = 4;
  std::atomic<int> total{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&] {
      try {
        Database replica(config_);
        total += ApplyMigrations(replica, kServiceMigrations);
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  const int expected = static_cast<int>(LibraryMigrations().size()) + 2;
  EXPECT_EQ(total.load(), expected);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM schema_migrations"), expected);
}

// --- outbox -------------------------------------------------------------------------------

class Recorder {
 public:
  std::vector<OutboxResult> operator()(const std::vector<OutboxRow>& batch) {
    std::lock_guard lock(mu_);
    if (fail_) throw std::runtime_error("kafka is down");
    for (const auto& row : batch) rows_.push_back(row);
    return std::vector<OutboxResult>(batch.size());
  }
  void SetFailing(bool fail) {
    std::lock_guard lock(mu_);
    fail_ = fail;
  }
  std::vector<OutboxRow> Rows() {
    std::lock_guard lock(mu_);
    return rows_;
  }

 private:
  std::mutex mu_;
  bool fail_ = false;
  std::vector<OutboxRow> rows_;
};

TEST_F(PgTest, OutboxRelaysCommittedRowsExactlyOnceAndSkipsRolledBack) {
  ApplyMigrations(*db_, {});
  // Rolled back: the exception escapes the transaction.
  EXPECT_THROW(db_->WithTransaction([](pqxx::work& tx) {
    AddToOutbox(tx, {"sluice.test.v1", "k", "never", {}});
    throw std::runtime_error("handler failed");
  }),
               std::runtime_error);

  const std::string payload("\x00\x01\xff binary \x00\0", 13);  // NULs inside and at the end
  db_->WithTransaction([&](pqxx::work& tx) {
    AddToOutbox(tx, {"sluice.test.v1",
                     "deploy-1",
                     payload,
                     {{"ce_id", "e1"}, {"ce_type", "sluice.test"}, {"ce_id", "dup-name-kept"}}});
    AddToOutbox(tx, {"sluice.other.v1", "deploy-2", "second", {}});
  });

  Recorder recorder;
  OutboxRelay relay(*db_, std::ref(recorder));
  EXPECT_EQ(relay.Pending(), 2);
  EXPECT_EQ(relay.RelayOnce(), 2);
  EXPECT_EQ(relay.RelayOnce(), 0);
  EXPECT_EQ(relay.Pending(), 0);

  const auto rows = recorder.Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_LT(rows[0].id, rows[1].id);
  EXPECT_EQ(rows[0].message.topic, "sluice.test.v1");
  EXPECT_EQ(rows[0].message.key, "deploy-1");
  EXPECT_EQ(rows[0].message.payload, payload);
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"ce_id", "e1"}, {"ce_type", "sluice.test"}, {"ce_id", "dup-name-kept"}};
  EXPECT_EQ(rows[0].message.headers, headers);
  EXPECT_EQ(rows[1].message.payload, "second");
  EXPECT_EQ(rows[1].attempts, 0);
}

TEST_F(PgTest, FailingPublisherLeavesRowsPendingWithAttemptsThenRecovers) {
  ApplyMigrations(*db_, {});
  AddMessages(3);
  Recorder recorder;
  recorder.SetFailing(true);
  OutboxRelay relay(*db_, std::ref(recorder));
  EXPECT_THROW(relay.RelayOnce(), std::runtime_error);
  EXPECT_THROW(relay.RelayOnce(), std::runtime_error);
  EXPECT_EQ(relay.Pending(), 3);
  EXPECT_EQ(QueryInt("SELECT min(attempts) FROM outbox"), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE last_error = 'kafka is down'"), 3);

  recorder.SetFailing(false);
  EXPECT_EQ(relay.RelayOnce(), 3);
  EXPECT_EQ(relay.Pending(), 0);
  const auto rows = recorder.Rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].attempts, 2);  // the publisher sees how often it failed before
}

void RunConcurrentRelays(Database& db, bool single_active_relay) {
  constexpr int kRows = 400;
  std::mutex mu;
  std::map<int64_t, int> published;
  std::atomic<int> total{0};
  auto publisher = [&](const std::vector<OutboxRow>& batch) {
    std::this_thread::sleep_for(2ms);  // widen the window in which both relays hold rows
    std::lock_guard lock(mu);
    for (const auto& row : batch) ++published[row.id];
    return std::vector<OutboxResult>(batch.size());
  };
  OutboxRelayOptions options;
  options.batch_size = 25;
  options.single_active_relay = single_active_relay;
  OutboxRelay a(db, publisher, options);
  OutboxRelay b(db, publisher, options);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto loop = [&](OutboxRelay& relay) {
    while (total.load() < kRows && std::chrono::steady_clock::now() < deadline) {
      total += relay.RelayOnce();
    }
  };
  std::thread ta(loop, std::ref(a));
  std::thread tb(loop, std::ref(b));
  ta.join();
  tb.join();
  EXPECT_EQ(total.load(), kRows);
  EXPECT_EQ(published.size(), static_cast<size_t>(kRows));
  for (const auto& [id, count] : published) EXPECT_EQ(count, 1) << "row " << id;
  EXPECT_EQ(a.Pending(), 0);
}

TEST_F(PgTest, TwoRelaysSharingRowsNeverPublishARowTwice) {
  ApplyMigrations(*db_, {});
  AddMessages(400);
  RunConcurrentRelays(*db_, /*single_active_relay=*/false);
}

TEST_F(PgTest, TwoRelaysWithTheRelayLockNeverPublishARowTwice) {
  ApplyMigrations(*db_, {});
  AddMessages(400);
  RunConcurrentRelays(*db_, /*single_active_relay=*/true);
}

TEST_F(PgTest, RelaySkipsRowsLockedByAnotherRelayInsteadOfWaiting) {
  ApplyMigrations(*db_, {});
  AddMessages(3);
  auto other = Direct();
  pqxx::work held(*other);
  const auto first =
      held.exec1("SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE")[0].as<int64_t>();
  Recorder recorder;
  OutboxRelayOptions options;
  options.single_active_relay = false;
  OutboxRelay relay(*db_, std::ref(recorder), options);
  // Were the rows waited for instead of skipped, the relay's (only, pooled) session fails.
  db_->WithTransaction([](pqxx::work& tx) { tx.exec("SET lock_timeout = '2s'"); });
  EXPECT_EQ(relay.RelayOnce(), 2);
  for (const auto& row : recorder.Rows()) EXPECT_NE(row.id, first);
  held.abort();
  EXPECT_EQ(relay.RelayOnce(), 1);
  EXPECT_EQ(relay.Pending(), 0);
}

TEST_F(PgTest, PublishedRowsAndOldInboxRecordsArePruned) {
  ApplyMigrations(*db_, {});
  AddMessages(2);
  Recorder recorder;
  OutboxRelay relay(*db_, std::ref(recorder));
  ASSERT_EQ(relay.RelayOnce(), 2);
  AddMessages(1);  // unpublished: never pruned
  db_->WithTransaction([](pqxx::work& tx) { RecordInbox(tx, "c", "e"); });
  const auto later = std::chrono::system_clock::now() + 1h;
  EXPECT_EQ(db_->WithTransaction([&](pqxx::work& tx) { return DeletePublishedOutbox(tx, later); }),
            2);
  EXPECT_EQ(relay.Pending(), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox"), 1);
  const auto earlier = std::chrono::system_clock::now() - 1h;
  EXPECT_EQ(db_->WithTransaction([&](pqxx::work& tx) { return DeleteInboxBefore(tx, earlier); }),
            0);
  EXPECT_EQ(db_->WithTransaction([&](pqxx::work& tx) { return DeleteInboxBefore(tx, later); }), 1);
}

// Housekeeping: what is past its retention goes in batches; unpublished and dead outbox rows,
// and what is younger, stay.
TEST_F(PgTest, PurgeExpiredDeletesInBatchesAndKeepsWhatIsYoungOrUndelivered) {
  ApplyMigrations(*db_, {});
  AddMessages(7);
  Recorder recorder;
  OutboxRelay relay(*db_, std::ref(recorder));
  ASSERT_EQ(relay.RelayOnce(), 7);
  AddMessages(2);  // unpublished
  db_->WithTransaction([](pqxx::work& tx) {
    tx.exec(
        "UPDATE outbox SET published_at = now() - interval '2 days' "
        "WHERE published_at IS NOT NULL AND id IN (SELECT id FROM outbox "
        "WHERE published_at IS NOT NULL ORDER BY id LIMIT 6)");
    tx.exec(
        "UPDATE outbox SET dead_at = now() - interval '30 days', "
        "created_at = now() - interval '30 days' WHERE id = (SELECT max(id) FROM outbox)");
    for (int i = 0; i < 12; ++i) RecordInbox(tx, "c", "old-" + std::to_string(i));
    tx.exec("UPDATE inbox SET received_at = now() - interval '15 days'");
    for (int i = 0; i < 3; ++i) RecordInbox(tx, "c", "new-" + std::to_string(i));
  });
  RetentionOptions options;  // inbox 14 days, published outbox rows 1 day
  const auto tables = LibraryRetention(options);
  ASSERT_EQ(tables.size(), 2U);
  const auto deleted = PurgeExpired(*db_, std::chrono::system_clock::now(), tables, 5);
  EXPECT_EQ(deleted, (std::vector<int64_t>{6, 12}));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE published_at IS NULL"), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM inbox"), 3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM inbox WHERE event_id LIKE 'new-%'"), 3);
  // A second round finds nothing.
  EXPECT_EQ(PurgeExpired(*db_, std::chrono::system_clock::now(), tables, 5),
            (std::vector<int64_t>{0, 0}));
}

// Many messages in one statement: each row as given, in the order given.
TEST_F(PgTest, AddAllToOutboxKeepsOrderBytesAndHeaders) {
  ApplyMigrations(*db_, {});
  const std::string binary("\x00\x01\xff\\x27 '\"\x00", 10);
  db_->WithTransaction([&](pqxx::work& tx) {
    AddAllToOutbox(tx, {{"sluice.a.v1", "k1", "first", {{"ce_id", "1"}}},
                        {"sluice.b.v1", "k2", binary, {{"ce_id", "2"}, {"x", "\"q\""}}},
                        {"sluice.a.v1", "k1", "third", {}}});
  });
  Recorder recorder;
  OutboxRelay relay(*db_, std::ref(recorder));
  EXPECT_EQ(relay.RelayOnce(), 3);
  const auto rows = recorder.Rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_LT(rows[0].id, rows[1].id);
  EXPECT_LT(rows[1].id, rows[2].id);
  EXPECT_EQ(rows[0].message.payload, "first");
  EXPECT_EQ(rows[1].message.topic, "sluice.b.v1");
  EXPECT_EQ(rows[1].message.payload, binary);
  const std::vector<std::pair<std::string, std::string>> headers = {{"ce_id", "2"}, {"x", "\"q\""}};
  EXPECT_EQ(rows[1].message.headers, headers);
  EXPECT_EQ(rows[2].message.payload, "third");
  EXPECT_TRUE(rows[2].message.headers.empty());
}

TEST_F(PgTest, BackgroundRelayWakesOnNotify) {
  ApplyMigrations(*db_, {});
  Recorder recorder;
  OutboxRelayOptions options;
  options.idle_poll = 30s;  // only a NOTIFY can wake it within the test's wait
  OutboxRelay relay(*db_, std::ref(recorder), options);
  AddMessages(1);
  relay.Start();
  auto wait_for = [&](size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (recorder.Rows().size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    return recorder.Rows().size();
  };
  EXPECT_EQ(wait_for(1), 1u);          // the first pass
  std::this_thread::sleep_for(500ms);  // the relay is now waiting on LISTEN
  const auto start = std::chrono::steady_clock::now();
  AddMessages(1);
  EXPECT_EQ(wait_for(2), 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  relay.Stop();
  EXPECT_EQ(relay.Pending(), 0);
}

TEST_F(PgTest, BackgroundRelayBacksOffWhileFailingAndCatchesUp) {
  ApplyMigrations(*db_, {});
  Recorder recorder;
  recorder.SetFailing(true);
  OutboxRelayOptions options;
  options.idle_poll = 20ms;
  options.max_backoff = 100ms;
  OutboxRelay relay(*db_, std::ref(recorder), options);
  AddMessages(5);
  relay.Start();
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(relay.Pending(), 5);
  // Backing off: far fewer attempts than 400ms / 20ms polls without backoff would give.
  const auto attempts = QueryInt("SELECT max(attempts) FROM outbox");
  EXPECT_GE(attempts, 2);
  EXPECT_LE(attempts, 8);
  recorder.SetFailing(false);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (relay.Pending() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  relay.Stop();
  EXPECT_EQ(relay.Pending(), 0);
  EXPECT_EQ(recorder.Rows().size(), 5u);
}

// A publisher whose broker refuses some payloads for good and fails others for a while.
class PickyPublisher {
 public:
  std::vector<OutboxResult> operator()(const std::vector<OutboxRow>& batch) {
    std::lock_guard lock(mu_);
    std::vector<OutboxResult> results;
    offered_.emplace_back();
    for (const auto& row : batch) {
      offered_.back().push_back(row.message.payload);
      if (row.message.payload.starts_with("huge")) {
        results.push_back({OutboxOutcome::kRefused, "Broker: Message size too large"});
      } else if (failing_.contains(row.message.payload)) {
        results.push_back({OutboxOutcome::kRetry, "Broker: Leader not available"});
      } else {
        results.push_back({});
        published_.push_back(row.message.payload);
      }
    }
    return results;
  }
  void SetFailing(std::set<std::string> payloads) {
    std::lock_guard lock(mu_);
    failing_ = std::move(payloads);
  }
  // The payloads of each batch offered, and of each row published, in order.
  std::vector<std::vector<std::string>> Offered() {
    std::lock_guard lock(mu_);
    return offered_;
  }
  std::vector<std::string> Published() {
    std::lock_guard lock(mu_);
    return published_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> failing_;
  std::vector<std::vector<std::string>> offered_;
  std::vector<std::string> published_;
};

TEST_F(PgTest, RefusedRowIsDeadLetteredAndTheRowsBehindItArePublished) {
  ApplyMigrations(*db_, {});
  db_->WithTransaction([](pqxx::work& tx) {
    AddAllToOutbox(tx, {{"sluice.a.v1", "k1", "a1", {}},
                        {"sluice.a.v1", "k2", "huge", {}},
                        {"sluice.a.v1", "k2", "b2", {}},
                        {"sluice.a.v1", "k3", "c1", {}}});
  });
  PickyPublisher publisher;
  OutboxRelay relay(*db_, std::ref(publisher));
  EXPECT_EQ(relay.RelayOnce(), 3);
  EXPECT_EQ(publisher.Published(), (std::vector<std::string>{"a1", "b2", "c1"}));
  EXPECT_EQ(relay.Pending(), 0);
  EXPECT_EQ(relay.DeadLettered(), 1u);
  const auto stats = relay.Stats();
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.dead, 1);
  EXPECT_EQ(stats.oldest_pending_age_seconds, 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL AND key = 'k2' "
                     "AND payload = 'huge' AND last_error = 'Broker: Message size too large'"),
            1);
  // The dead row is never offered again.
  EXPECT_EQ(relay.RelayOnce(), 0);
  EXPECT_EQ(publisher.Offered().size(), 1u);
}

TEST_F(PgTest, RetryableFailureOfOneRowHoldsOnlyTheRowsOfItsKey) {
  ApplyMigrations(*db_, {});
  db_->WithTransaction([](pqxx::work& tx) {
    AddAllToOutbox(tx, {{"sluice.a.v1", "k2", "b1", {}},
                        {"sluice.a.v1", "k2", "b2", {}},
                        {"sluice.a.v1", "k2", "b3", {}},
                        {"sluice.a.v1", "k1", "a1", {}},
                        {"sluice.a.v1", "k3", "c1", {}}});
  });
  PickyPublisher publisher;
  publisher.SetFailing({"b1"});
  OutboxRelayOptions options;
  options.batch_size = 3;
  OutboxRelay relay(*db_, std::ref(publisher), options);
  // The first batch is all key k2: b1 fails, b2 and b3 (accepted by the broker) stay pending
  // behind it; no row published, so the relay backs off.
  EXPECT_THROW(relay.RelayOnce(), OutboxStalled);
  EXPECT_EQ(relay.Pending(), 5);
  EXPECT_EQ(QueryInt("SELECT attempts FROM outbox WHERE payload = 'b1'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outbox WHERE payload = 'b1' "
                     "AND last_error = 'Broker: Leader not available'"),
            1);
  // Then only k2's failing row is offered with the other keys' rows, which are published.
  EXPECT_EQ(relay.RelayOnce(), 2);
  EXPECT_EQ(publisher.Offered().back(), (std::vector<std::string>{"b1", "a1", "c1"}));
  EXPECT_EQ(relay.Pending(), 3);
  EXPECT_GT(relay.Stats().oldest_pending_age_seconds, 0);
  EXPECT_EQ(QueryInt("SELECT attempts FROM outbox WHERE payload = 'b1'"), 2);
  EXPECT_EQ(relay.DeadLettered(), 0u);
  // Once it passes, k2's rows follow in order.
  publisher.SetFailing({});
  EXPECT_EQ(relay.RelayOnce(), 1);
  EXPECT_EQ(relay.RelayOnce(), 2);
  EXPECT_EQ(relay.Pending(), 0);
  const auto published = publisher.Published();
  std::vector<std::string> k2;
  for (const auto& p : published) {
    if (p.starts_with("b")) k2.push_back(p);
  }
  // b2 and b3 were sent once before b1 got through (the broker took them): they are sent
  // again after it, so the last copies a consumer sees are in order.
  ASSERT_GE(k2.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(k2.end() - 3, k2.end()),
            (std::vector<std::string>{"b1", "b2", "b3"}));
}

// --- inbox --------------------------------------------------------------------------------

TEST_F(PgTest, InboxDuplicateIsFalse) {
  ApplyMigrations(*db_, {});
  EXPECT_TRUE(db_->WithTransaction([](pqxx::work& tx) { return RecordInbox(tx, "c1", "e1"); }));
  EXPECT_FALSE(db_->WithTransaction([](pqxx::work& tx) { return RecordInbox(tx, "c1", "e1"); }));
  EXPECT_TRUE(db_->WithTransaction([](pqxx::work& tx) { return RecordInbox(tx, "c2", "e1"); }));
  // A rolled-back handler leaves no record: the redelivery is processed.
  EXPECT_THROW(db_->WithTransaction([](pqxx::work& tx) {
    RecordInbox(tx, "c1", "e2");
    throw std::runtime_error("handler failed");
  }),
               std::runtime_error);
  EXPECT_TRUE(db_->WithTransaction([](pqxx::work& tx) { return RecordInbox(tx, "c1", "e2"); }));
}

// --- timers -------------------------------------------------------------------------------

TEST_F(PgTest, TimersDueNotDueRescheduleAndCancel) {
  ApplyMigrations(*db_, {});
  const core::SystemTime now = core::FromUnixMillis(1'800'000'000'000) + 123456us;
  db_->WithTransaction([&](pqxx::work& tx) {
    ScheduleTimer(tx, "pause:d1", "pause", now - 1s, R"({"deployment":"d1"})");
    ScheduleTimer(tx, "analysis:d2", "analysis", now + 1min, "");
    ScheduleTimer(tx, "timeout:d3", "timeout", now, "{}");
  });
  auto due = db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now, 10); });
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].key, "pause:d1");
  EXPECT_EQ(due[0].kind, "pause");
  EXPECT_EQ(due[0].due_at, now - 1s);                         // exact to the microsecond
  EXPECT_EQ(due[0].payload_json, R"({"deployment": "d1"})");  // jsonb normalises spacing
  EXPECT_EQ(due[1].key, "timeout:d3");

  // Limit is honoured.
  EXPECT_EQ(db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now, 1); }).size(),
            1u);

  // Rescheduling by key moves the timer instead of adding one.
  db_->WithTransaction(
      [&](pqxx::work& tx) { ScheduleTimer(tx, "pause:d1", "pause", now + 1h, "{}"); });
  due = db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now, 10); });
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key, "timeout:d3");

  // Completing deletes; cancelling deletes by key.
  db_->WithTransaction([&](pqxx::work& tx) { CompleteTimer(tx, due[0].id); });
  EXPECT_TRUE(db_->WithTransaction([](pqxx::work& tx) { return CancelTimer(tx, "pause:d1"); }));
  EXPECT_FALSE(db_->WithTransaction([](pqxx::work& tx) { return CancelTimer(tx, "pause:d1"); }));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM timers"), 1);  // analysis:d2, not yet due
  due = db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now + 2min, 10); });
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key, "analysis:d2");
  EXPECT_EQ(due[0].payload_json, "");

  // A timer claimed beyond the transaction (claimed_until in the future) is skipped.
  db_->WithTransaction([&](pqxx::work& tx) {
    tx.exec("UPDATE timers SET claimed_until = to_timestamp(" +
            std::to_string(core::ToUnixMillis(now + 3min) / 1000) + ")");
  });
  EXPECT_TRUE(
      db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now + 2min, 10); })
          .empty());
  EXPECT_EQ(db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now + 4min, 10); })
                .size(),
            1u);
}

TEST_F(PgTest, DueTimerIsClaimedByOneOfTwoConcurrentTransactions) {
  ApplyMigrations(*db_, {});
  const auto now = std::chrono::system_clock::now();
  db_->WithTransaction([&](pqxx::work& tx) {
    ScheduleTimer(tx, "t1", "pause", now - 1s, "");
    ScheduleTimer(tx, "t2", "pause", now - 1s, "");
  });
  auto conn_a = Direct();
  auto conn_b = Direct();
  pqxx::work tx_a(*conn_a);
  pqxx::work tx_b(*conn_b);
  const auto claimed_a = ClaimDueTimers(tx_a, now, 1);
  const auto claimed_b = ClaimDueTimers(tx_b, now, 10);  // does not block: SKIP LOCKED
  ASSERT_EQ(claimed_a.size(), 1u);
  ASSERT_EQ(claimed_b.size(), 1u);
  EXPECT_NE(claimed_a[0].key, claimed_b[0].key);
  CompleteTimer(tx_a, claimed_a[0].id);
  tx_a.commit();
  tx_b.abort();  // b crashed: its timer is claimable again
  const auto again =
      db_->WithTransaction([&](pqxx::work& tx) { return ClaimDueTimers(tx, now, 10); });
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].key, claimed_b[0].key);
}

// --- Database -----------------------------------------------------------------------------

TEST_F(PgTest, ReconnectsAfterTheBackendIsTerminated) {
  ApplyMigrations(*db_, {});
  const auto pid = db_->WithTransaction(
      [](pqxx::work& tx) { return tx.exec1("SELECT pg_backend_pid()")[0].as<int>(); });
  ASSERT_EQ(db_->IdleConnections(), 1);
  {
    pqxx::connection admin(config_.dsn);
    pqxx::nontransaction tx(admin);
    ASSERT_TRUE(tx.exec_params1("SELECT pg_terminate_backend($1)", pid)[0].as<bool>());
    // Wait until the backend is really gone.
    for (int i = 0; i < 100; ++i) {
      if (tx.exec_params1("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)[0]
              .as<int>() == 0) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  const auto new_pid = db_->WithTransaction(
      [](pqxx::work& tx) { return tx.exec1("SELECT pg_backend_pid()")[0].as<int>(); });
  EXPECT_NE(new_pid, pid);
  // The new session still works in the service schema.
  EXPECT_EQ(db_->WithTransaction([](pqxx::work& tx) {
    return tx.exec1("SELECT current_schema()")[0].as<std::string>();
  }),
            config_.schema);
  EXPECT_TRUE(db_->Ping());
}

TEST_F(PgTest, UnreachableServerIsPgUnavailableWithinConnectTimeout) {
  PgConfig closed = config_;
  closed.dsn = "postgresql://sluice:sluice@127.0.0.1:1/sluice";
  closed.connect_timeout = 2000ms;
  Database db(closed);
  const auto start = std::chrono::steady_clock::now();
  try {
    db.WithTransaction([](pqxx::work& tx) { tx.exec("SELECT 1"); });
    FAIL() << "expected PgUnavailable";
  } catch (const PgUnavailable& e) {
    EXPECT_EQ(std::string(e.what()).find(":sluice@"), std::string::npos)
        << "password leaked: " << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, closed.connect_timeout);
  EXPECT_FALSE(db.Ping());
}

TEST_F(PgTest, SerializationFailuresAreRetriedThreeTimes) {
  int calls = 0;
  EXPECT_THROW(db_->WithTransaction([&](pqxx::work&) {
    ++calls;
    throw pqxx::serialization_failure("could not serialize access");
  }),
               pqxx::serialization_failure);
  EXPECT_EQ(calls, 4);

  calls = 0;
  EXPECT_EQ(db_->WithTransaction([&](pqxx::work& tx) {
    if (++calls < 3) throw pqxx::deadlock_detected("deadlock detected");
    return tx.exec1("SELECT 42")[0].as<int>();
  }),
            42);
  EXPECT_EQ(calls, 3);
}

TEST_F(PgTest, SqlErrorsPassThroughAndTheConnectionIsReused) {
  int calls = 0;
  EXPECT_THROW(db_->WithTransaction([&](pqxx::work& tx) {
    ++calls;
    tx.exec("SELECT * FROM no_such_table");
  }),
               pqxx::undefined_table);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(db_->IdleConnections(), 1);
  EXPECT_TRUE(db_->Ping());
}

}  // namespace
}  // namespace sluice::pg
