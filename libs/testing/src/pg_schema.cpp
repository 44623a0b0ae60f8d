#include "sluice/testing/pg_schema.hpp"

#include <chrono>
#include <exception>
#include <pqxx/pqxx>

#include "sluice/testing/stack.hpp"

namespace sluice::testing {

PgSchema::PgSchema(std::string_view prefix)
    : dsn_(PgDsn()), name_("itest_" + std::string(prefix) + "_" + RandomSuffix(12)) {}

PgSchema::~PgSchema() {
  try {
    Drop();
  } catch (const std::exception&) {
    // The stack may be down at the end of a failing test: nothing left to clean.
  }
}

pg::PgConfig PgSchema::Config(int pool_size) const {
  pg::PgConfig c;
  c.dsn = dsn_;
  c.schema = name_;
  c.pool_size = pool_size;
  return c;
}

std::string PgSchema::Unreachable() const {
  try {
    pqxx::connection probe(pg::DsnWithConnectTimeout(dsn_, std::chrono::seconds(3)));
    return "";
  } catch (const std::exception& e) {
    return "PostgreSQL is not reachable at SLUICE_PG_DSN (" + dsn_ +
           "); start it with `bash scripts/stack.sh up`: " + e.what();
  }
}

void PgSchema::Drop() {
  if (dropped_) return;
  pqxx::connection conn(pg::DsnWithConnectTimeout(dsn_, std::chrono::seconds(3)));
  pqxx::nontransaction tx(conn);
  tx.exec0("DROP SCHEMA IF EXISTS " + tx.quote_name(name_) + " CASCADE");
  dropped_ = true;
}

}  // namespace sluice::testing
