#include <gtest/gtest.h>

#include <sluice/pg/migrations.hpp>

namespace sluice::pg {
namespace {

TEST(MigrationChecksum, IsLowercaseHexSha256) {
  EXPECT_EQ(MigrationChecksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(MigrationChecksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(PlanMigrations, ReturnsUnappliedInVersionOrder) {
  const std::vector<Migration> wanted = {
      {3, "0003_c", "SELECT 3"}, {1, "0001_a", "SELECT 1"}, {2, "0002_b", "SELECT 2"}};
  const auto plan = PlanMigrations("service", wanted, {});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].version, 1);
  EXPECT_EQ(plan[1].version, 2);
  EXPECT_EQ(plan[2].version, 3);
}

TEST(PlanMigrations, SkipsAppliedWithMatchingChecksum) {
  const std::vector<Migration> wanted = {{1, "0001_a", "SELECT 1"}, {2, "0002_b", "SELECT 2"}};
  const std::vector<AppliedMigration> applied = {{1, "0001_a", MigrationChecksum("SELECT 1")}};
  const auto plan = PlanMigrations("service", wanted, applied);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].name, "0002_b");
}

TEST(PlanMigrations, NothingToDoWhenAllApplied) {
  const std::vector<Migration> wanted = {{1, "0001_a", "SELECT 1"}};
  EXPECT_TRUE(
      PlanMigrations("service", wanted, {{1, "0001_a", MigrationChecksum("SELECT 1")}}).empty());
}

TEST(PlanMigrations, ChangedMigrationIsAnErrorNamingIt) {
  const std::vector<Migration> wanted = {{1, "0001_a", "SELECT 1 -- edited"}};
  try {
    PlanMigrations("service", wanted, {{1, "0001_a", MigrationChecksum("SELECT 1")}});
    FAIL() << "expected MigrationError";
  } catch (const MigrationError& e) {
    EXPECT_NE(std::string(e.what()).find("0001_a"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("service"), std::string::npos) << e.what();
  }
}

TEST(PlanMigrations, DuplicateVersionIsAnError) {
  const std::vector<Migration> wanted = {{1, "0001_a", "SELECT 1"}, {1, "0001_b", "SELECT 2"}};
  EXPECT_THROW(PlanMigrations("service", wanted, {}), MigrationError);
}

TEST(PlanMigrations, NonPositiveVersionIsAnError) {
  EXPECT_THROW(PlanMigrations("service", {{0, "0000_zero", "SELECT 1"}}, {}), MigrationError);
}

TEST(PlanMigrations, AppliedVersionsUnknownToThisBinaryAreLeftAlone) {
  const std::vector<Migration> wanted = {{1, "0001_a", "SELECT 1"}};
  const std::vector<AppliedMigration> applied = {{1, "0001_a", MigrationChecksum("SELECT 1")},
                                                 {2, "0002_newer", "abc"}};
  EXPECT_TRUE(PlanMigrations("service", wanted, applied).empty());
}

TEST(LibraryMigrations, AreValidAndCreateTheLibraryTables) {
  const auto& library = LibraryMigrations();
  EXPECT_EQ(PlanMigrations(kLibraryComponent, library, {}).size(), library.size());
  std::string all;
  for (const auto& m : library) all += m.sql;
  for (const char* table : {"CREATE TABLE outbox", "CREATE TABLE inbox", "CREATE TABLE timers"}) {
    EXPECT_NE(all.find(table), std::string::npos) << table;
  }
}

TEST(Migration, BraceInitialisesInVersionNameSqlOrder) {
  const Migration m{7, "0007_x", "SELECT 7"};
  EXPECT_EQ(m.version, 7);
  EXPECT_EQ(m.name, "0007_x");
  EXPECT_EQ(m.sql, "SELECT 7");
}

}  // namespace
}  // namespace sluice::pg
