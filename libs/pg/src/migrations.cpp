#include <algorithm>
#include <map>
#include <set>
#include <sluice/core/encoding.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>
#include <thread>

namespace sluice::pg {
namespace {

constexpr const char* kLockSql = "SELECT pg_advisory_lock(hashtext($1))";
constexpr const char* kUnlockSql = "SELECT pg_advisory_unlock(hashtext($1))";
constexpr const char* kAppliedSql =
    "SELECT version, name, checksum FROM schema_migrations WHERE component = $1";
constexpr const char* kRecordSql =
    "INSERT INTO schema_migrations (component, version, name, checksum, applied_at) "
    "VALUES ($1, $2, $3, $4, now())";

std::string CreateMigrationsTableSql(pqxx::connection& conn, const std::string& schema) {
  return "CREATE TABLE IF NOT EXISTS " + conn.quote_name(schema) +
         ".schema_migrations ("
         " component text NOT NULL,"
         " version int NOT NULL,"
         " name text NOT NULL,"
         " checksum text NOT NULL,"
         " applied_at timestamptz NOT NULL DEFAULT now(),"
         " PRIMARY KEY (component, version))";
}

std::vector<AppliedMigration> ReadApplied(pqxx::connection& conn, std::string_view component) {
  pqxx::work tx(conn);
  const auto rows = tx.exec_params(kAppliedSql, std::string(component));
  std::vector<AppliedMigration> applied;
  for (const auto& row : rows) {
    applied.push_back({row[0].as<int>(), row[1].as<std::string>(), row[2].as<std::string>()});
  }
  tx.commit();
  return applied;
}

int ApplyComponent(pqxx::connection& conn, std::string_view component,
                   const std::vector<Migration>& wanted) {
  static const auto log = core::Logger("migrations");
  const auto pending = PlanMigrations(component, wanted, ReadApplied(conn, component));
  for (const auto& m : pending) {
    try {
      pqxx::work tx(conn);
      tx.exec(m.sql);
      tx.exec_params(kRecordSql, std::string(component), m.version, m.name,
                     MigrationChecksum(m.sql));
      tx.commit();
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      throw MigrationError("migration " + std::string(component) + "/" + m.name + " (version " +
                           std::to_string(m.version) + ") failed: " + e.what());
    }
    log->info("applied migration {}/{} (version {})", component, m.name, m.version);
  }
  return static_cast<int>(pending.size());
}

}  // namespace

std::string MigrationChecksum(std::string_view sql) { return core::Sha256Hex(sql); }

std::vector<Migration> PlanMigrations(std::string_view component,
                                      const std::vector<Migration>& wanted,
                                      const std::vector<AppliedMigration>& applied) {
  const std::string prefix = "migrations of " + std::string(component) + ": ";
  std::set<int> versions;
  for (const auto& m : wanted) {
    if (m.version <= 0) {
      throw MigrationError(prefix + m.name + " has version " + std::to_string(m.version) +
                           "; versions start at 1");
    }
    if (!versions.insert(m.version).second) {
      throw MigrationError(prefix + "version " + std::to_string(m.version) +
                           " appears more than once (" + m.name + ")");
    }
  }
  std::map<int, const AppliedMigration*> done;
  for (const auto& a : applied) done[a.version] = &a;

  std::vector<Migration> pending;
  for (const auto& m : wanted) {
    const auto it = done.find(m.version);
    if (it == done.end()) {
      pending.push_back(m);
      continue;
    }
    if (it->second->checksum != MigrationChecksum(m.sql)) {
      throw MigrationError(prefix + m.name + " (version " + std::to_string(m.version) +
                           ") was changed after it was applied as " + it->second->name +
                           "; add a new migration instead of editing an applied one");
    }
  }
  std::sort(pending.begin(), pending.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return pending;
}

const std::vector<Migration>& LibraryMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "0001_outbox",
       R"sql(CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  topic text NOT NULL,
  key text NOT NULL DEFAULT '',
  payload bytea NOT NULL,
  headers jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  attempts int NOT NULL DEFAULT 0,
  last_error text
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
)sql"},
      {2, "0002_inbox",
       R"sql(CREATE TABLE inbox (
  consumer text NOT NULL,
  event_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_received_at_idx ON inbox (received_at);
)sql"},
      {3, "0003_timers",
       R"sql(CREATE TABLE timers (
  id bigserial PRIMARY KEY,
  key text NOT NULL UNIQUE,
  kind text NOT NULL,
  due_at timestamptz NOT NULL,
  payload jsonb,
  claimed_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timers_due_at_idx ON timers (due_at);
)sql"},
      // dead_at: refused for good by the broker (dead-lettered; kept until an operator acts).
      // failed_at: the last attempt failed for this row alone; later rows of its key wait.
      {4, "0004_outbox_dead_letters",
       R"sql(ALTER TABLE outbox ADD COLUMN dead_at timestamptz, ADD COLUMN failed_at timestamptz;
CREATE INDEX outbox_failed_key_idx ON outbox (key, id)
  WHERE published_at IS NULL AND dead_at IS NULL AND failed_at IS NOT NULL;
CREATE INDEX outbox_dead_idx ON outbox (id) WHERE dead_at IS NOT NULL;
)sql"},
  };
  return kMigrations;
}

int ApplyMigrations(Database& db, const std::vector<Migration>& service_migrations) {
  const auto& config = db.Config();
  // Fail on a bad migration set before touching the database.
  PlanMigrations(kServiceComponent, service_migrations, {});
  // A dedicated session: the advisory lock is held across the per-migration transactions.
  auto conn = OpenConnection(config);
  const std::string lock_key = "sluice.pg.migrations:" + config.schema;
  try {
    {
      pqxx::nontransaction ntx(*conn);
      ntx.exec_params(kLockSql, lock_key);
      ntx.exec("CREATE SCHEMA IF NOT EXISTS " + conn->quote_name(config.schema));
      ntx.exec(CreateMigrationsTableSql(*conn, config.schema));
    }
    int applied = ApplyComponent(*conn, kLibraryComponent, LibraryMigrations());
    applied += ApplyComponent(*conn, kServiceComponent, service_migrations);
    {
      pqxx::nontransaction ntx(*conn);
      ntx.exec_params(kUnlockSql, lock_key);
    }
    return applied;
  } catch (const pqxx::broken_connection& e) {
    // The server released the advisory lock with the session.
    throw PgUnavailable(std::string("PostgreSQL connection lost while migrating: ") + e.what());
  }
}

int ApplyMigrationsWithin(Database& db, const std::vector<Migration>& service_migrations,
                          std::chrono::milliseconds timeout) {
  const auto log = core::Logger("migrations");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int attempt = 1;; ++attempt) {
    try {
      const int applied = ApplyMigrations(db, service_migrations);
      log->info("schema {} ready ({} migration(s) applied)", db.Config().schema, applied);
      return applied;
    } catch (const PgUnavailable& e) {
      if (std::chrono::steady_clock::now() >= deadline) throw;
      if (attempt == 1) log->warn("waiting for PostgreSQL: {}", e.what());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

}  // namespace sluice::pg
