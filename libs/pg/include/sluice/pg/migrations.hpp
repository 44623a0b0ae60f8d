#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::pg {

class Database;

// One schema migration. Services embed their migrations/NNNN_*.sql files as a vector of these
// (cmake/EmbedMigrations.cmake), so the aggregate shape {version, name, sql} is load-bearing.
struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// A row of <schema>.schema_migrations, as read back before applying.
struct AppliedMigration {
  int version;
  std::string name;
  std::string checksum;
};

// A migration set that cannot be applied: duplicate or non-positive version, or an applied
// migration whose SQL has changed since. Not retryable: the binary and the database disagree.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The component names recorded in schema_migrations.
inline constexpr std::string_view kLibraryComponent = "sluice.pg";
inline constexpr std::string_view kServiceComponent = "service";

// Lowercase hex sha256 of the migration text: what schema_migrations.checksum holds.
std::string MigrationChecksum(std::string_view sql);

// Pure planning step: the migrations of `wanted` not yet in `applied`, in version order.
// Throws MigrationError naming the component and migration when a version repeats, is not
// positive, or an applied migration's checksum differs from the one in `wanted`. Applied
// versions unknown to `wanted` (a newer replica ran first) are left alone.
std::vector<Migration> PlanMigrations(std::string_view component,
                                      const std::vector<Migration>& wanted,
                                      const std::vector<AppliedMigration>& applied);

// The library's own tables (outbox, inbox, timers), applied as component "sluice.pg".
const std::vector<Migration>& LibraryMigrations();

// Creates the service schema if missing and, under a Postgres advisory lock (replicas that
// start together serialise), creates <schema>.schema_migrations, applies LibraryMigrations()
// as component "sluice.pg" and then `service_migrations` as component "service", each
// migration in its own transaction, in version order. Returns how many were applied.
// Throws MigrationError (see PlanMigrations), PgUnavailable, or the libpqxx error of a
// failing migration (which is then rolled back and not recorded).
int ApplyMigrations(Database& db, const std::vector<Migration>& service_migrations);

// ApplyMigrations for a service starting up: while PostgreSQL is unreachable (PgUnavailable) it
// waits and tries again, once a second, until `timeout` has passed; then it rethrows. Other
// errors (a failed or changed migration) are thrown at once. Logs the schema and the count.
int ApplyMigrationsWithin(Database& db, const std::vector<Migration>& service_migrations,
                          std::chrono::milliseconds timeout);

}  // namespace sluice::pg
