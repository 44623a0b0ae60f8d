#pragma once

// A PostgreSQL schema of its own for a test: the local stack's database (SLUICE_PG_DSN), a
// fresh name per fixture, dropped with everything in it when the fixture goes. Used only by
// tests.

#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>

namespace sluice::testing {

class PgSchema {
 public:
  // Names the schema "itest_<prefix>_<random suffix>"; creates nothing yet (pg::Database makes
  // the schema when it first connects, a child service when it starts).
  explicit PgSchema(std::string_view prefix);
  ~PgSchema();  // DROP SCHEMA … CASCADE; errors are ignored (the stack may be gone)
  PgSchema(const PgSchema&) = delete;
  PgSchema& operator=(const PgSchema&) = delete;

  const std::string& Name() const { return name_; }
  const std::string& Dsn() const { return dsn_; }
  // The config of a pg::Database working in this schema.
  pg::PgConfig Config(int pool_size = 4) const;

  // Empty when PostgreSQL answers within 3 s; else one line naming the DSN and how to start
  // the stack, for FAIL() or ASSERT.
  std::string Unreachable() const;

  // Drops the schema now (the destructor then has nothing to do).
  void Drop();

 private:
  std::string dsn_;
  std::string name_;
  bool dropped_ = false;
};

}  // namespace sluice::testing
