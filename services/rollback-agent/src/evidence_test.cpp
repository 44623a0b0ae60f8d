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

BaselineHosts Hosts() {
  BaselineHosts h;
  h.canary = {"h1", "h2", "h3", "h4"};
  h.baseline = {"h5", "web.6"};
  h.version = "v3";
  h.baseline_version = "v2";
  return h;
}

// The demo template's error rate as the watcher rendered it for batch 2.
constexpr const char* kCanaryQuery =
    R"((sum by (instance_name) (rate(req{app="demo",version="v3",code=~"5..",instance_name=~"h3|h4"}[30s]))) / sum by (instance_name) (rate(req{app="demo",version="v3",instance_name=~"h3|h4"}[30s])))";

TEST(BaselineQueryTest, SelectsTheStableHostsAndVersionInsteadOfTheCanary) {
  const auto b = BaselineQueryOf(kCanaryQuery, Hosts());
  EXPECT_EQ(b.reason, "");
  EXPECT_EQ(
      b.query,
      R"((sum by (instance_name) (rate(req{app="demo",version="v2",code=~"5..",instance_name=~"h5|web\\.6"}[30s]))) / sum by (instance_name) (rate(req{app="demo",version="v2",instance_name=~"h5|web\\.6"}[30s])))");
}

TEST(BaselineQueryTest, MatchesCanaryNamesAsTheWatcherEscapedThem) {
  auto hosts = Hosts();
  hosts.canary = {"web.1", "a|b"};
  const auto b = BaselineQueryOf(R"(up{instance_name=~"web\\.1|a\\|b"})", hosts);
  EXPECT_EQ(b.query, R"(up{instance_name=~"h5|web\\.6"})");
}

TEST(BaselineQueryTest, LeavesOtherMatchersAlone) {
  // A regex naming a host outside the canary is not the canary's selector.
  const auto b = BaselineQueryOf(
      R"(x{instance_name=~"h3|other",job=~"a|b",host=~"h4",env!="v3",v=="v3"})", Hosts());
  EXPECT_EQ(b.query,
            R"(x{instance_name=~"h3|other",job=~"a|b",host=~"h5|web\\.6",env!="v3",v=="v3"})");
}

TEST(BaselineQueryTest, SaysWhyWhenThereIsNone) {
  EXPECT_EQ(BaselineQueryOf(R"(sum(rate(errors{app="demo"}[30s])))", Hosts()).reason,
            "the query selects no canary host by name");
  auto hosts = Hosts();
  hosts.baseline.clear();  // full rollout: every host runs the new version
  EXPECT_EQ(BaselineQueryOf(kCanaryQuery, hosts).reason, "no host was still on the stable version");
  hosts = Hosts();
  hosts.baseline_version.clear();
  const auto b = BaselineQueryOf(kCanaryQuery, hosts);
  EXPECT_EQ(b.query, "");
  EXPECT_EQ(b.reason, "the query names the version and the stable version is not known");
  // An unclosed literal: what follows is not read as matchers.
  EXPECT_EQ(BaselineQueryOf(R"(x{instance_name=~"h3)", Hosts()).reason,
            "the query selects no canary host by name");
}

}  // namespace
}  // namespace sluice::rollback
