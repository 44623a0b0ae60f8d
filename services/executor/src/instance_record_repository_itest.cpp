// InstanceRecordRepository against the real PostgreSQL of the local stack
// (bash scripts/stack.sh up). Each test works in a schema of its own, dropped at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sluice/core/ids.hpp>
#include <sluice/pg/pg.hpp>

#include "command_repository.hpp"
#include "executor_migrations.hpp"
#include "instance_record_repository.hpp"

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;

std::string PgDsn() {
  const char* env = std::getenv("SLUICE_PG_DSN");
  return env && *env ? env : "postgresql://sluice:sluice@127.0.0.1:15432/sluice";
}

std::string RandomSuffix() {
  std::string id = core::NewUuid();
  id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
  return id.substr(0, 12);
}

class InstanceRecordRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.dsn = PgDsn();
    config_.schema = "itest_ex_" + RandomSuffix();
    try {
      pqxx::connection probe(pg::DsnWithConnectTimeout(config_.dsn, 3s));
    } catch (const std::exception& e) {
      FAIL() << "PostgreSQL is not reachable at SLUICE_PG_DSN (" << config_.dsn
             << "); start it with `bash scripts/stack.sh up`: " << e.what();
    }
    db_ = std::make_unique<pg::Database>(config_);
    ASSERT_GT(pg::ApplyMigrations(*db_, generated::ExecutorMigrations()), 0);
  }

  void TearDown() override {
    db_.reset();
    try {
      pqxx::connection conn(pg::DsnWithConnectTimeout(config_.dsn, 3s));
      pqxx::nontransaction tx(conn);
      tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(config_.schema) + " CASCADE");
    } catch (const std::exception&) {
    }
  }

  bool Upsert(const InstanceRecord& r) {
    return db_->WithTransaction(
        [&](pqxx::work& tx) { return InstanceRecordRepository::Upsert(tx, r); });
  }
  std::optional<InstanceRecord> Get(const std::string& deployment, const std::string& host,
                                    std::uint64_t generation) {
    return db_->WithTransaction([&](pqxx::work& tx) {
      return InstanceRecordRepository::Get(tx, core::DeploymentId(deployment), host,
                                           core::Generation(generation));
    });
  }

  pg::PgConfig config_;
  std::unique_ptr<pg::Database> db_;
};

InstanceRecord Record(const std::string& host, InstanceStatus status, std::uint64_t generation = 3,
                      std::uint32_t batch = 1) {
  InstanceRecord r;
  r.deployment_id = core::DeploymentId("dep-1");
  r.batch_index = core::BatchIndex(batch);
  r.host = host;
  r.ip = "10.0.0.9";
  r.status = status;
  r.version = "2.0.0";
  r.generation = core::Generation(generation);
  r.attempts = 1;
  r.updated_at_ms = 1'700'000'000'000;
  return r;
}

TEST_F(InstanceRecordRepositoryTest, StoresAndReadsBackEveryField) {
  auto r = Record("web-1", events::v1::INSTANCE_STATUS_SUCCEEDED);
  r.deployed_at_ms = 1'700'000'000'123;
  r.health = HostHealth::kHealthy;
  r.error_message = "none";
  r.attempts = 2;
  ASSERT_TRUE(Upsert(r));

  const auto got = Get("dep-1", "web-1", 3);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->deployment_id, r.deployment_id);
  EXPECT_EQ(got->batch_index, r.batch_index);
  EXPECT_EQ(got->host, "web-1");
  EXPECT_EQ(got->ip, "10.0.0.9");
  EXPECT_EQ(got->status, events::v1::INSTANCE_STATUS_SUCCEEDED);
  EXPECT_EQ(got->deployed_at_ms, std::optional<std::int64_t>(1'700'000'000'123));
  EXPECT_EQ(got->health, HostHealth::kHealthy);
  EXPECT_EQ(got->error_message, "none");
  EXPECT_EQ(got->version, "2.0.0");
  EXPECT_EQ(got->generation, core::Generation(3));
  EXPECT_EQ(got->attempts, 2u);
  EXPECT_EQ(got->updated_at_ms, 1'700'000'000'000);

  EXPECT_FALSE(Get("dep-1", "web-1", 4).has_value());
  EXPECT_FALSE(Get("dep-1", "web-2", 3).has_value());
}

TEST_F(InstanceRecordRepositoryTest, NullDeployedAtStaysNull) {
  ASSERT_TRUE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_DEPLOYING)));
  const auto got = Get("dep-1", "web-1", 3);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->deployed_at_ms.has_value());
  EXPECT_EQ(got->health, HostHealth::kUnknown);
}

TEST_F(InstanceRecordRepositoryTest, UpdatesInFlightRowsButNeverReopensATerminalOne) {
  ASSERT_TRUE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_PENDING)));
  auto deploying = Record("web-1", events::v1::INSTANCE_STATUS_DEPLOYING);
  deploying.attempts = 2;
  ASSERT_TRUE(Upsert(deploying));
  EXPECT_EQ(Get("dep-1", "web-1", 3)->attempts, 2u);

  auto failed = Record("web-1", events::v1::INSTANCE_STATUS_FAILED);
  failed.error_message = "health check failed";
  ASSERT_TRUE(Upsert(failed));

  // A late in-flight write after the result changes nothing.
  EXPECT_FALSE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_DEPLOYING)));
  const auto got = Get("dep-1", "web-1", 3);
  EXPECT_EQ(got->status, events::v1::INSTANCE_STATUS_FAILED);
  EXPECT_EQ(got->error_message, "health check failed");

  // A terminal write over a terminal row applies (a resumed command confirming its result).
  auto succeeded = Record("web-1", events::v1::INSTANCE_STATUS_SUCCEEDED);
  succeeded.deployed_at_ms = 1'700'000'000'999;
  EXPECT_TRUE(Upsert(succeeded));
  EXPECT_EQ(Get("dep-1", "web-1", 3)->status, events::v1::INSTANCE_STATUS_SUCCEEDED);
}

// A group of results in one statement keeps the per-row rule: the terminal row is not reopened,
// the others are written.
TEST_F(InstanceRecordRepositoryTest, UpsertAllWritesEachRowByTheSameRule) {
  ASSERT_TRUE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_SUCCEEDED)));
  auto a = Record("web-1", events::v1::INSTANCE_STATUS_DEPLOYING);
  auto b = Record("web-2", events::v1::INSTANCE_STATUS_FAILED);
  b.error_message = "agent answered 500";
  auto c = Record("web-3", events::v1::INSTANCE_STATUS_SUCCEEDED);
  c.deployed_at_ms = 1'700'000'000'500;
  const auto changed = db_->WithTransaction([&](pqxx::work& tx) {
    return InstanceRecordRepository::UpsertAll(tx, {a, b, c});
  });
  EXPECT_EQ(changed, 2u);
  EXPECT_EQ(Get("dep-1", "web-1", 3)->status, events::v1::INSTANCE_STATUS_SUCCEEDED);
  EXPECT_EQ(Get("dep-1", "web-2", 3)->error_message, "agent answered 500");
  EXPECT_EQ(Get("dep-1", "web-3", 3)->deployed_at_ms, c.deployed_at_ms);
}

// Host fences in one statement: only the hosts whose stored token is not higher are raised.
TEST_F(InstanceRecordRepositoryTest, HostFencesRiseOnlyForTheNewestHolder) {
  const auto raise = [&](const std::map<std::string, std::int64_t>& tokens) {
    return db_->WithTransaction(
        [&](pqxx::work& tx) { return CommandRepository::AdvanceHostFences(tx, tokens); });
  };
  EXPECT_EQ(raise({{"web-1", 5}, {"web-2", 7}}), (std::set<std::string>{"web-1", "web-2"}));
  // web-1 by a stale holder (4 < 5), web-2 again by its holder, web-3 new.
  EXPECT_EQ(raise({{"web-1", 4}, {"web-2", 7}, {"web-3", 1}}),
            (std::set<std::string>{"web-2", "web-3"}));
  EXPECT_FALSE(db_->WithTransaction(
      [&](pqxx::work& tx) { return CommandRepository::AdvanceHostFence(tx, "web-1", 3); }));
  EXPECT_TRUE(db_->WithTransaction(
      [&](pqxx::work& tx) { return CommandRepository::AdvanceHostFence(tx, "web-1", 6); }));
}

// The per-host writes of a run check the claim under a share lock: many of them at once do not
// wait for each other, while taking the command again (an UPDATE of its row) waits for them.
TEST_F(InstanceRecordRepositoryTest, ClaimCheckedSharedByManyWritersButNotByAClaimAgain) {
  Command command;
  command.deployment_id = core::DeploymentId("dep-share");
  command.generation = core::Generation(1);
  command.app = "web";
  command.env = "production";
  command.artifact.version = "2.0.0";
  const auto id = db_->WithTransaction(
      [&](pqxx::work& tx) { return CommandRepository::InsertAccepted(tx, command); });
  ASSERT_TRUE(id.has_value());
  const auto claimed = db_->WithTransaction(
      [&](pqxx::work& tx) { return CommandRepository::ClaimNext(tx, "worker-a", 60s); });
  ASSERT_TRUE(claimed.has_value());
  const std::int64_t claim = claimed->claim;

  const auto open = [&] {
    auto conn = std::make_unique<pqxx::connection>(config_.dsn);
    pqxx::nontransaction(*conn).exec("SET search_path TO " + conn->quote_name(config_.schema));
    return conn;
  };
  auto first_conn = open();
  auto second_conn = open();
  pqxx::work first(*first_conn);
  ASSERT_TRUE(CommandRepository::HoldsShared(first, *id, claim));
  EXPECT_FALSE(CommandRepository::HoldsShared(first, *id, claim + 1)) << "another claim";
  {
    // A second writer gets its share at once (a 1 s lock timeout would fail it otherwise).
    pqxx::work second(*second_conn);
    second.exec("SET LOCAL lock_timeout = '1s'");
    EXPECT_TRUE(CommandRepository::HoldsShared(second, *id, claim));
    second.commit();
  }
  {
    // Re-claiming writes the row: it has to wait for the share holder.
    pqxx::work second(*second_conn);
    second.exec("SET LOCAL lock_timeout = '300ms'");
    EXPECT_THROW(CommandRepository::Renew(second, *id, claim, 60s), pqxx::sql_error);
  }
  first.commit();
  EXPECT_TRUE(db_->WithTransaction(
      [&](pqxx::work& tx) { return CommandRepository::Renew(tx, *id, claim, 60s); }));
}

TEST_F(InstanceRecordRepositoryTest, GenerationsKeepRowsOfTheirOwn) {
  ASSERT_TRUE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_SUCCEEDED, 3)));
  ASSERT_TRUE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_REVERTING, 4)));
  EXPECT_EQ(Get("dep-1", "web-1", 3)->status, events::v1::INSTANCE_STATUS_SUCCEEDED);
  EXPECT_EQ(Get("dep-1", "web-1", 4)->status, events::v1::INSTANCE_STATUS_REVERTING);
  const auto highest = db_->WithTransaction([](pqxx::work& tx) {
    return InstanceRecordRepository::HighestGeneration(tx, core::DeploymentId("dep-1"));
  });
  EXPECT_EQ(highest, std::optional<std::uint64_t>(4));
  const auto none = db_->WithTransaction([](pqxx::work& tx) {
    return InstanceRecordRepository::HighestGeneration(tx, core::DeploymentId("dep-other"));
  });
  EXPECT_FALSE(none.has_value());
}

TEST_F(InstanceRecordRepositoryTest, ListsBatchDeploymentAndInFlightRows) {
  ASSERT_TRUE(Upsert(Record("web-2", events::v1::INSTANCE_STATUS_DEPLOYING, 3, 1)));
  ASSERT_TRUE(Upsert(Record("web-1", events::v1::INSTANCE_STATUS_SUCCEEDED, 3, 1)));
  ASSERT_TRUE(Upsert(Record("web-3", events::v1::INSTANCE_STATUS_PENDING, 3, 2)));
  auto older = Record("web-4", events::v1::INSTANCE_STATUS_REVERTING, 4, 0);
  older.updated_at_ms = 1'600'000'000'000;
  ASSERT_TRUE(Upsert(older));
  auto other = Record("db-1", events::v1::INSTANCE_STATUS_FAILED, 1, 0);
  other.deployment_id = core::DeploymentId("dep-2");
  ASSERT_TRUE(Upsert(other));

  db_->WithTransaction([](pqxx::work& tx) {
    const auto batch = InstanceRecordRepository::ListBatch(
        tx, core::DeploymentId("dep-1"), core::BatchIndex(1), core::Generation(3));
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[0].host, "web-1");
    EXPECT_EQ(batch[1].host, "web-2");

    const auto all = InstanceRecordRepository::ListDeployment(tx, core::DeploymentId("dep-1"));
    std::vector<std::string> hosts;
    for (const auto& r : all) hosts.push_back(r.host);
    EXPECT_EQ(hosts, (std::vector<std::string>{"web-1", "web-2", "web-3", "web-4"}));

    const auto in_flight = InstanceRecordRepository::ListInFlight(tx, 10);
    hosts.clear();
    for (const auto& r : in_flight) hosts.push_back(r.host);
    EXPECT_EQ(hosts, (std::vector<std::string>{"web-4", "web-2", "web-3"}));
    EXPECT_EQ(InstanceRecordRepository::ListInFlight(tx, 1).size(), 1u);
  });
}

TEST_F(InstanceRecordRepositoryTest, SchemaRefusesUnknownStatusAndDuplicateKeys) {
  EXPECT_THROW(db_->WithTransaction([](pqxx::work& tx) {
    tx.exec(
        "INSERT INTO instance_deployment_records (deployment_id, batch_index, host, status, "
        "version, generation, updated_at) VALUES ('d', 0, 'h', 'done', '1', 1, now())");
  }),
               pqxx::check_violation);
  EXPECT_THROW(db_->WithTransaction([](pqxx::work& tx) {
    for (int i = 0; i < 2; ++i) {
      tx.exec(
          "INSERT INTO instance_deployment_records (deployment_id, batch_index, host, status, "
          "version, generation, updated_at) VALUES ('d', 0, 'h', 'pending', '1', 1, now())");
    }
  }),
               pqxx::unique_violation);
}

// A deploy that starts on a host makes its deployment the host's owner; a revert of another
// deployment is refused there (issue 13: an older deployment's rollback under a newer one).
TEST_F(InstanceRecordRepositoryTest, AHostBelongsToTheLastDeploymentThatDeployedIt) {
  const core::DeploymentId a("dep-a");
  const core::DeploymentId b("dep-b");
  const auto refused_by = [&](const std::string& host, const core::DeploymentId& d) {
    return db_->WithTransaction(
        [&](pqxx::work& tx) { return InstanceRecordRepository::RevertRefusedBy(tx, host, d); });
  };
  const auto claim = [&](const std::string& host, const core::DeploymentId& d, std::uint64_t g) {
    db_->WithTransaction([&](pqxx::work& tx) {
      InstanceRecordRepository::ClaimHost(tx, host, d, core::Generation(g), 1'700'000'000'000);
    });
  };
  // No deployment has deployed the host (a record from before the owners table): allowed.
  EXPECT_EQ(refused_by("web-1", a), std::nullopt);
  claim("web-1", a, 1);
  claim("web-2", a, 1);
  EXPECT_EQ(refused_by("web-1", a), std::nullopt);
  // B's batch deploys web-1: A's revert (any generation) must leave web-1 alone, not web-2.
  claim("web-1", b, 1);
  EXPECT_EQ(refused_by("web-1", a), b);
  EXPECT_EQ(refused_by("web-2", a), std::nullopt);
  EXPECT_EQ(refused_by("web-1", b), std::nullopt);  // B may revert its own host
  EXPECT_EQ(db_->WithTransaction(
                [&](pqxx::work& tx) { return InstanceRecordRepository::HostOwner(tx, "web-1"); }),
            b);
}

TEST_F(InstanceRecordRepositoryTest, MigrationsAreIdempotent) {
  EXPECT_EQ(pg::ApplyMigrations(*db_, generated::ExecutorMigrations()), 0);
}

}  // namespace
}  // namespace sluice::executor
