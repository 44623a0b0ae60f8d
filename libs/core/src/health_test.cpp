#include <gtest/gtest.h>

#include <sluice/core/health.hpp>

namespace sluice::core {
namespace {

TEST(HealthTest, NotReadyWithoutChecks) {
  Health h;
  EXPECT_FALSE(h.Ready());
  EXPECT_EQ(h.ReportJson(), R"({"status":"not_ready","checks":{}})");
}

TEST(HealthTest, ReadyWhenAllChecksAreOk) {
  Health h;
  h.Set("postgres", true);
  h.Set("kafka", true, "assigned 3 partitions");
  EXPECT_TRUE(h.Ready());
  EXPECT_EQ(h.ReportJson(),
            R"({"status":"ready","checks":{"kafka":{"ok":true,"detail":"assigned 3 partitions"},)"
            R"("postgres":{"ok":true,"detail":""}}})");
}

TEST(HealthTest, OneFailingCheckMakesItNotReadyAndRecovers) {
  Health h;
  h.Set("postgres", true);
  h.Set("redis", false, "connection \"refused\"");
  EXPECT_FALSE(h.Ready());
  EXPECT_EQ(h.ReportJson(), R"({"status":"not_ready","checks":{"postgres":{"ok":true,"detail":""},)"
                            R"("redis":{"ok":false,"detail":"connection \"refused\""}}})");
  h.Set("redis", true);
  EXPECT_TRUE(h.Ready());
}

}  // namespace
}  // namespace sluice::core
