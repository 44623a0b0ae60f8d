#include "evidence.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using ::testing::ElementsAre;

v1::Evidence Sample() {
  v1::Evidence e;
  e.set_metric("error_rate");
  e.set_query("sum(rate(errors[30s]))");
  e.set_threshold(0.05);
  e.set_observed(0.31);
  e.set_comparator(">");
  e.set_severity(v1::SEVERITY_CRITICAL);
  e.add_affected_instances("h3");
  e.add_affected_instances("h4");
  auto* p = e.add_recent();
  p->set_unix_ms(1000);
  p->set_value(std::nan(""));
  e.set_message("too many errors");
  e.mutable_window()->set_seconds(30);
  return e;
}

TEST(EvidenceTest, RoundTripsThroughTheStoredJson) {
  const auto j = EvidenceToJson(Sample());
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_TRUE(j["recent"][0][1].is_null());  // NaN is stored as null
  const auto back = EvidenceFromJson(j);
  EXPECT_EQ(back.metric(), "error_rate");
  EXPECT_EQ(back.query(), "sum(rate(errors[30s]))");
  EXPECT_DOUBLE_EQ(back.observed(), 0.31);
  EXPECT_EQ(back.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_THAT(back.affected_instances(), ElementsAre("h3", "h4"));
  ASSERT_EQ(back.recent_size(), 1);
  EXPECT_TRUE(std::isnan(back.recent(0).value()));
  EXPECT_EQ(back.window().seconds(), 30);
}

TEST(EvidenceTest, MissingObservedIsNotANumber) {
  auto e = Sample();
  e.set_observed(std::nan(""));
  const auto j = EvidenceToJson(e);
  EXPECT_TRUE(j["observed"].is_null());
  EXPECT_TRUE(std::isnan(EvidenceFromJson(j).observed()));
  EXPECT_TRUE(std::isnan(EvidenceViewOf(j).observed));
  EXPECT_EQ(EvidenceViewOf(j).severity, "critical");
}

TEST(EvidenceTest, AffectedInstancesAreUnitedInOrder) {
  auto other = Sample();
  other.clear_affected_instances();
  other.add_affected_instances("h4");
  other.add_affected_instances("h5");
  const nlohmann::json all = {EvidenceToJson(Sample()), EvidenceToJson(other)};
  EXPECT_THAT(AffectedOf(all), ElementsAre("h3", "h4", "h5"));
}

}  // namespace
}  // namespace sluice::rollback
