#include <gtest/gtest.h>

#include <sluice/pg/database.hpp>

namespace sluice::pg {
namespace {

TEST(ValidateSchemaName, AcceptsPlainLowercaseIdentifiers) {
  EXPECT_NO_THROW(ValidateSchemaName("release_intake"));
  EXPECT_NO_THROW(ValidateSchemaName("_x9"));
  EXPECT_NO_THROW(ValidateSchemaName(std::string(63, 'a')));
}

TEST(ValidateSchemaName, RejectsAnythingElse) {
  for (const std::string bad : {"", "Release", "9lives", "a-b", "a b", "a;drop", "x\"y"}) {
    EXPECT_THROW(ValidateSchemaName(bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(ValidateSchemaName(std::string(64, 'a')), std::invalid_argument);
}

TEST(DsnWithConnectTimeout, AppendsToUris) {
  using std::chrono::milliseconds;
  EXPECT_EQ(DsnWithConnectTimeout("postgresql://u:p@h:1/db", milliseconds(3000)),
            "postgresql://u:p@h:1/db?connect_timeout=3");
  EXPECT_EQ(DsnWithConnectTimeout("postgresql://h/db?sslmode=disable", milliseconds(2500)),
            "postgresql://h/db?sslmode=disable&connect_timeout=3");
}

TEST(DsnWithConnectTimeout, AppendsToKeywordValueStringsAndRoundsUpToOneSecond) {
  EXPECT_EQ(DsnWithConnectTimeout("host=h dbname=d", std::chrono::milliseconds(10)),
            "host=h dbname=d connect_timeout=1");
}

TEST(DsnWithConnectTimeout, KeepsAnExplicitTimeout) {
  EXPECT_EQ(DsnWithConnectTimeout("host=h connect_timeout=9", std::chrono::milliseconds(1000)),
            "host=h connect_timeout=9");
}

TEST(Database, ConstructionDoesNotConnectButValidates) {
  PgConfig config;
  config.dsn = "postgresql://nobody@127.0.0.1:1/none";
  config.schema = "svc";
  Database db(config);  // a closed port: fine until first use
  EXPECT_EQ(db.IdleConnections(), 0);
  EXPECT_EQ(db.Config().schema, "svc");

  config.schema = "";
  EXPECT_THROW(Database{config}, std::invalid_argument);
  config.schema = "svc";
  config.pool_size = 0;
  EXPECT_THROW(Database{config}, std::invalid_argument);
}

}  // namespace
}  // namespace sluice::pg
