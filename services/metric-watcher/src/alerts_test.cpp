#include "alerts.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace sluice::watcher {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const core::SystemTime kNow = core::SystemTime(std::chrono::seconds(1'700'000'000));

json Payload() {
  return json::parse(R"({
    "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
    "receiver": "sluice", "truncatedAlerts": 0, "externalURL": "http://am:9093",
    "commonLabels": {"alertname": "HighErrorRate", "app": "shop"},
    "commonAnnotations": {"summary": "error rate above 5%"},
    "alerts": [{
      "status": "firing",
      "labels": {"env": "production", "severity": "critical", "instance_name": "web-2",
                 "version": "2.0.0"},
      "annotations": {"value": "0.31", "threshold": "0.05"},
      "startsAt": "2026-11-25T10:00:00.123456789Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prom:9090/graph?g0.expr=sum%28rate%28errors%5B1m%5D%29%29+%3E+0.05&g0.tab=1",
      "fingerprint": "abc123",
      "somethingNew": {"ignored": true}
    }]
  })");
}

TEST(AlertPayloadTest, ReadsVersion4AndMergesCommonLabels) {
  const auto p = ParseAlertmanagerPayload(Payload());
  EXPECT_EQ(p.version, "4");
  ASSERT_EQ(p.alerts.size(), 1U);
  const auto& a = p.alerts[0];
  EXPECT_EQ(a.status, "firing");
  EXPECT_EQ(a.labels.at("alertname"), "HighErrorRate");
  EXPECT_EQ(a.labels.at("app"), "shop");
  EXPECT_EQ(a.labels.at("env"), "production");
  EXPECT_EQ(a.annotations.at("summary"), "error rate above 5%");
  EXPECT_EQ(a.fingerprint, "abc123");
  EXPECT_EQ(core::FormatRfc3339(a.starts_at), "2026-11-25T10:00:00.123Z");
}

TEST(AlertPayloadTest, MissingAlertsNamesTheField) {
  try {
    ParseAlertmanagerPayload(json::parse(R"({"version":"4","status":"firing"})"));
    FAIL() << "expected PayloadError";
  } catch (const PayloadError& e) {
    EXPECT_EQ(e.Field(), "alerts");
  }
  EXPECT_THROW(ParseAlertmanagerPayload(json::parse(R"({"alerts":{}})")), PayloadError);
}

TEST(AlertPayloadTest, BadStartsAtNamesTheAlert) {
  const auto p = ParseAlertmanagerPayload(
      json::parse(R"({"alerts":[{"labels":{"a":"b"},"startsAt":"yesterday"}]})"));
  EXPECT_TRUE(p.alerts.empty());
  ASSERT_EQ(p.rejected.size(), 1U);
  EXPECT_EQ(p.rejected[0].index, 0U);
  EXPECT_EQ(p.rejected[0].field, "alerts[0].startsAt");
}

// One bad alert is left out and reported; the rest of the batch is kept.
TEST(AlertPayloadTest, BadAlertIsRejectedAndTheOthersKept) {
  const std::string good = R"({"labels":{"app":"shop"},"startsAt":"2026-01-01T00:00:00Z"})";
  const json body =
      json::parse(R"({"alerts":[)" + good +
                  R"(,{"labels":{"app":"shop","foo":[[["x"]]]},"startsAt":"2026-01-01T00:00:00Z"},
           {"labels":{"app":"shop"},"annotations":{"n":3},"startsAt":"2026-01-01T00:00:00Z"},
           {"labels":{"app":"shop","bad":"a\u0000b"},"startsAt":"2026-01-01T00:00:00Z"},
           {"labels":{"app":"shop"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"\u0000"},
           {"labels":"x","startsAt":"2026-01-01T00:00:00Z"},
           7,)" + good +
                  "]}");
  const auto p = ParseAlertmanagerPayload(body);
  ASSERT_EQ(p.alerts.size(), 2U);
  ASSERT_EQ(p.rejected.size(), 6U);
  EXPECT_EQ(p.rejected[0].index, 1U);
  EXPECT_EQ(p.rejected[0].field, "alerts[1].labels.foo");
  EXPECT_THAT(p.rejected[0].reason, ::testing::HasSubstr("must be a string, not array"));
  EXPECT_EQ(p.rejected[1].field, "alerts[2].annotations.n");
  EXPECT_EQ(p.rejected[2].field, "alerts[3].labels.bad");
  EXPECT_THAT(p.rejected[2].reason, ::testing::HasSubstr("NUL"));
  EXPECT_EQ(p.rejected[3].field, "alerts[4].fingerprint");
  EXPECT_EQ(p.rejected[4].field, "alerts[5].labels");
  EXPECT_EQ(p.rejected[5].field, "alerts[6]");
}

TEST(AlertPayloadTest, BadCommonLabelRefusesTheBatch) {
  try {
    ParseAlertmanagerPayload(json::parse(
        R"({"commonLabels":{"app":{"x":1}},"alerts":[{"startsAt":"2026-01-01T00:00:00Z"}]})"));
    FAIL() << "expected PayloadError";
  } catch (const PayloadError& e) {
    EXPECT_EQ(e.Field(), "commonLabels.app");
  }
  EXPECT_THROW(ParseAlertmanagerPayload(json::parse(R"({"receiver":"a\u0000","alerts":[]})")),
               PayloadError);
}

TEST(AlertPayloadTest, FingerprintDerivedFromLabelsWhenAbsent) {
  const auto p = ParseAlertmanagerPayload(json::parse(
      R"({"alerts":[{"labels":{"a":"1","b":"2"},"startsAt":"2026-01-01T00:00:00Z"},
                    {"labels":{"b":"2","a":"1"},"startsAt":"2026-01-01T00:00:00Z"},
                    {"labels":{"a":"1","b":"3"},"startsAt":"2026-01-01T00:00:00Z"}]})"));
  ASSERT_EQ(p.alerts.size(), 3U);
  EXPECT_EQ(p.alerts[0].fingerprint.size(), 16U);
  EXPECT_EQ(p.alerts[0].fingerprint, p.alerts[1].fingerprint);
  EXPECT_NE(p.alerts[0].fingerprint, p.alerts[2].fingerprint);
  EXPECT_EQ(p.alerts[0].status, "firing");
}

// A system_clock time point counts nanoseconds in 64 bits: about 1678-2262. A year outside
// (valid RFC 3339) is refused, not overflowed into some other time (found by fuzz/alertmanager).
TEST(Rfc3339Test, RefusesTimesOutsideTheClocksRange) {
  EXPECT_FALSE(ParseRfc3339("1013-01-01T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("0000-01-01T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:59.999999999-23:59"));
  EXPECT_FALSE(ParseRfc3339("2263-01-01T00:00:00Z"));
  EXPECT_EQ(core::FormatRfc3339(*ParseRfc3339("1700-01-01T00:00:00Z")), "1700-01-01T00:00:00.000Z");
  EXPECT_EQ(core::FormatRfc3339(*ParseRfc3339("2200-01-01T00:00:00Z")), "2200-01-01T00:00:00.000Z");
  const auto p = ParseAlertmanagerPayload(
      json::parse(R"({"alerts":[{"startsAt":"1013-01-01T00:00:00Z","labels":{"app":"a"}}]})"));
  ASSERT_EQ(p.rejected.size(), 1U);
  EXPECT_EQ(p.rejected[0].field, "alerts[0].startsAt");
}

TEST(Rfc3339Test, ParsesOffsetsAndFractions) {
  EXPECT_EQ(core::ToUnixMillis(*ParseRfc3339("1970-01-01T00:00:01Z")), 1000);
  EXPECT_EQ(core::ToUnixMillis(*ParseRfc3339("1970-01-01T08:00:01.5+08:00")), 1500);
  EXPECT_FALSE(ParseRfc3339("2026-01-01 10:00"));
  EXPECT_FALSE(ParseRfc3339("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2026-01-01T00:00:00"));
}

WatchedDeployment Deployment(std::string id, std::string status, std::string version,
                             core::SystemTime started) {
  WatchedDeployment d;
  d.deployment_id = std::move(id);
  d.app = "shop";
  d.env = "production";
  d.version = std::move(version);
  d.status = std::move(status);
  d.started_at = started;
  return d;
}

TEST(MatchAlertTest, MatchesActiveDeploymentByAppEnvAndVersion) {
  const auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  const std::vector<WatchedDeployment> candidates = {
      Deployment("d-old", "running", "1.0.0", kNow - 1h),
      Deployment("d-new", "running", "2.0.0", kNow - 10min),
  };
  const auto m = MatchAlert(alert, candidates, kNow);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->deployment_id, "d-new");
}

TEST(MatchAlertTest, SucceededDeploymentMatchesOnlyWithinItsWindow) {
  const auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  auto d = Deployment("d1", "succeeded", "2.0.0", kNow - 2h);
  d.active_until = kNow + 1min;
  EXPECT_TRUE(MatchAlert(alert, {d}, kNow));
  d.active_until = kNow - 1s;
  EXPECT_FALSE(MatchAlert(alert, {d}, kNow));
  d.active_until.reset();
  EXPECT_FALSE(MatchAlert(alert, {d}, kNow));
  // A failed or rolled-back deployment too: the rollback-agent records the late alert.
  d.status = "rolled_back";
  d.active_until = kNow + 1min;
  EXPECT_TRUE(MatchAlert(alert, {d}, kNow));
  d.active_until = kNow - 1s;
  EXPECT_FALSE(MatchAlert(alert, {d}, kNow));
}

TEST(MatchAlertTest, FinishedOrOtherAppDoesNotMatch) {
  const auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  EXPECT_FALSE(MatchAlert(alert, {Deployment("d1", "rolled_back", "2.0.0", kNow)}, kNow));
  EXPECT_FALSE(MatchAlert(alert, {Deployment("d1", "failed", "2.0.0", kNow)}, kNow));
  auto other = Deployment("d2", "running", "2.0.0", kNow);
  other.app = "billing";
  EXPECT_FALSE(MatchAlert(alert, {other}, kNow));
  EXPECT_FALSE(MatchAlert(alert, {Deployment("d3", "running", "3.0.0", kNow)}, kNow));
}

TEST(MatchAlertTest, DeploymentLabelPicksThatDeployment) {
  auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  alert.labels.erase("version");
  alert.labels["deployment_id"] = "d-old";
  const std::vector<WatchedDeployment> candidates = {
      Deployment("d-old", "paused", "1.0.0", kNow - 1h),
      Deployment("d-new", "running", "2.0.0", kNow - 10min),
  };
  const auto m = MatchAlert(alert, candidates, kNow);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->deployment_id, "d-old");
  alert.labels.erase("deployment_id");
  alert.labels["deployment"] = "d-missing";
  EXPECT_FALSE(MatchAlert(alert, candidates, kNow));
}

TEST(MatchAlertTest, AlertWithoutAppOrEnvNeverMatches) {
  auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  alert.labels.erase("env");
  EXPECT_FALSE(MatchAlert(alert, {Deployment("d1", "running", "2.0.0", kNow)}, kNow));
}

TEST(AlertEvidenceTest, TakesEverythingTheAlertSays) {
  const auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  const auto e = AlertEvidence(alert);
  EXPECT_EQ(e.metric(), "HighErrorRate");
  EXPECT_EQ(e.query(), "sum(rate(errors[1m])) > 0.05");
  EXPECT_DOUBLE_EQ(e.observed(), 0.31);
  EXPECT_DOUBLE_EQ(e.threshold(), 0.05);
  EXPECT_EQ(e.severity(), v1::SEVERITY_CRITICAL);
  ASSERT_EQ(e.affected_instances_size(), 1);
  EXPECT_EQ(e.affected_instances(0), "web-2");
  EXPECT_EQ(e.message(), "error rate above 5%");
}

TEST(AlertEvidenceTest, QueryAnnotationWinsAndNonNumbersAreNaN) {
  auto alert = ParseAlertmanagerPayload(Payload()).alerts[0];
  alert.annotations["query"] = "up == 0";
  alert.annotations["value"] = "high";
  alert.annotations.erase("summary");
  alert.annotations["description"] = "down";
  alert.labels.erase("instance_name");
  alert.labels["instance"] = "10.0.0.5:9100";
  const auto e = AlertEvidence(alert);
  EXPECT_EQ(e.query(), "up == 0");
  EXPECT_TRUE(std::isnan(e.observed()));
  EXPECT_EQ(e.message(), "down");
  EXPECT_EQ(e.affected_instances(0), "10.0.0.5:9100");
}

TEST(GeneratorUrlTest, ExprOrEmpty) {
  EXPECT_EQ(ExprFromGeneratorUrl("http://p/graph?g0.expr=up%7Bjob%3D%22a%22%7D+%3D%3D+0"),
            "up{job=\"a\"} == 0");
  EXPECT_EQ(ExprFromGeneratorUrl("http://p/graph"), "");
  EXPECT_EQ(ExprFromGeneratorUrl("http://vm/vmalert?expr=up"), "up");
}

}  // namespace
}  // namespace sluice::watcher
