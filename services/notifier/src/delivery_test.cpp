#include "delivery.hpp"

#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>

#include "render.hpp"
#include "test_events.hpp"

namespace sluice::notifier {
namespace {

using namespace std::chrono_literals;
using Kind = Outcome::Kind;

Notification Rollback() {
  return *BuildNotification(test::RollbackStarted("ev-1", "dep-1", "payments", "prod"), {},
                            {.console_base_url = "https://console"});
}

ChannelSecrets Secrets(std::string url, std::string secret = "") {
  ChannelSecrets s;
  s.url = std::move(url);
  s.secret = std::move(secret);
  return s;
}

TEST(DeliveryTest, SlackResponses) {
  EXPECT_EQ(ClassifyHttpResponse(ChannelType::kSlack, 200, "ok", std::nullopt).kind,
            Kind::kDelivered);
  const auto invalid =
      ClassifyHttpResponse(ChannelType::kSlack, 400, "invalid_payload", std::nullopt);
  EXPECT_EQ(invalid.kind, Kind::kPermanent);
  EXPECT_EQ(invalid.detail, "HTTP 400: invalid_payload");
  EXPECT_EQ(ClassifyHttpResponse(ChannelType::kSlack, 404, "channel_not_found", std::nullopt).kind,
            Kind::kPermanent);
  EXPECT_EQ(
      ClassifyHttpResponse(ChannelType::kSlack, 410, "channel_is_archived", std::nullopt).kind,
      Kind::kPermanent);
  EXPECT_EQ(ClassifyHttpResponse(ChannelType::kSlack, 200, "no_text", std::nullopt).kind,
            Kind::kPermanent);
  const auto limited = ClassifyHttpResponse(ChannelType::kSlack, 429, "", std::string("30"));
  EXPECT_EQ(limited.kind, Kind::kRetry);
  EXPECT_EQ(limited.retry_after, 30s);
  EXPECT_EQ(ClassifyHttpResponse(ChannelType::kSlack, 429, "", std::nullopt).retry_after,
            std::nullopt);
  EXPECT_EQ(ClassifyHttpResponse(ChannelType::kSlack, 500, "rollup_error", std::nullopt).kind,
            Kind::kRetry);
}

TEST(DeliveryTest, DingTalkErrcodes) {
  const auto t = ChannelType::kDingTalk;
  EXPECT_EQ(ClassifyHttpResponse(t, 200, R"({"errcode":0,"errmsg":"ok"})", std::nullopt).kind,
            Kind::kDelivered);
  const auto fast =
      ClassifyHttpResponse(t, 200, R"({"errcode":130101,"errmsg":"send too fast"})", std::nullopt);
  EXPECT_EQ(fast.kind, Kind::kRetry);
  EXPECT_EQ(fast.retry_after, 60s);
  EXPECT_EQ(fast.detail, "errcode 130101: send too fast");
  EXPECT_EQ(ClassifyHttpResponse(t, 200, R"({"errcode":-1,"errmsg":"busy"})", std::nullopt).kind,
            Kind::kRetry);
  EXPECT_EQ(
      ClassifyHttpResponse(t, 200, R"({"errcode":310000,"errmsg":"sign not match"})", std::nullopt)
          .kind,
      Kind::kPermanent);
  EXPECT_EQ(
      ClassifyHttpResponse(t, 200, R"({"errcode":300001,"errmsg":"token"})", std::nullopt).kind,
      Kind::kPermanent);
  EXPECT_EQ(ClassifyHttpResponse(t, 200, "<html>", std::nullopt).kind, Kind::kRetry);
  EXPECT_EQ(ClassifyHttpResponse(t, 502, "", std::nullopt).kind, Kind::kRetry);
  EXPECT_EQ(ClassifyHttpResponse(t, 404, "", std::nullopt).kind, Kind::kPermanent);
  // WeCom's rate-limit code means nothing special to DingTalk.
  EXPECT_EQ(ClassifyHttpResponse(t, 200, R"({"errcode":45009})", std::nullopt).kind,
            Kind::kPermanent);
}

TEST(DeliveryTest, WeComErrcodes) {
  const auto t = ChannelType::kWeCom;
  EXPECT_EQ(ClassifyHttpResponse(t, 200, R"({"errcode":0,"errmsg":"ok"})", std::nullopt).kind,
            Kind::kDelivered);
  const auto limited = ClassifyHttpResponse(
      t, 200, R"({"errcode":45009,"errmsg":"api freq out of limit"})", std::nullopt);
  EXPECT_EQ(limited.kind, Kind::kRetry);
  EXPECT_EQ(limited.retry_after, 60s);
  EXPECT_EQ(ClassifyHttpResponse(t, 200, R"({"errcode":93000,"errmsg":"invalid webhook url"})",
                                 std::nullopt)
                .kind,
            Kind::kPermanent);
  EXPECT_EQ(ClassifyHttpResponse(t, 200, R"({"errcode":-1})", std::nullopt).kind, Kind::kRetry);
}

TEST(DeliveryTest, WebhookStatuses) {
  const auto t = ChannelType::kWebhook;
  EXPECT_EQ(ClassifyHttpResponse(t, 204, "", std::nullopt).kind, Kind::kDelivered);
  EXPECT_EQ(ClassifyHttpResponse(t, 429, "", std::string("7")).retry_after, 7s);
  EXPECT_EQ(ClassifyHttpResponse(t, 503, "", std::nullopt).kind, Kind::kRetry);
  EXPECT_EQ(ClassifyHttpResponse(t, 408, "", std::nullopt).kind, Kind::kRetry);
  EXPECT_EQ(ClassifyHttpResponse(t, 400, "bad", std::nullopt).kind, Kind::kPermanent);
  EXPECT_EQ(ClassifyHttpResponse(t, 301, "", std::nullopt).kind, Kind::kPermanent);
  EXPECT_EQ(ClassifyTransportError(true, "timeout").kind, Kind::kRetry);
  EXPECT_EQ(ClassifyTransportError(false, "bad url").kind, Kind::kPermanent);
}

TEST(DeliveryTest, RetryAfter) {
  EXPECT_EQ(ParseRetryAfter("120"), 120s);
  EXPECT_EQ(ParseRetryAfter(" 3 "), 3s);
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(ParseRetryAfter("-1"));
  EXPECT_FALSE(ParseRetryAfter(""));
}

TEST(DeliveryTest, BackoffDoublesWithEqualJitterAndCaps) {
  EXPECT_EQ(Backoff(1, 2s, 60s, 0.0), 1s);
  EXPECT_EQ(Backoff(1, 2s, 60s, 0.5), 1500ms);
  EXPECT_EQ(Backoff(2, 2s, 60s, 0.0), 2s);
  EXPECT_EQ(Backoff(3, 2s, 60s, 0.999), 7996ms);
  EXPECT_EQ(Backoff(10, 2s, 60s, 0.0), 30s);
  EXPECT_EQ(Backoff(10, 2s, 60s, 1.0), 60s);
  EXPECT_EQ(Backoff(1000, 2s, 60s, 0.5), 45s);
  EXPECT_EQ(Backoff(0, 2s, 60s, 0.0), 1s);
  for (int a = 1; a < 20; ++a) {
    for (double r : {0.0, 0.3, 0.99}) {
      const auto d = Backoff(a, 100ms, 10s, r);
      EXPECT_GE(d, Backoff(a, 100ms, 10s, 0.0));
      EXPECT_LE(d, 10s);
    }
  }
}

TEST(DeliveryTest, NextAttemptHonoursTheReceiversWait) {
  core::testing::ManualClock clock;
  const auto now = clock.Now();
  EXPECT_EQ(NextAttemptAt(now, 1, {Kind::kRetry, std::nullopt, ""}, 2s, 60s, 0.0), now + 1s);
  EXPECT_EQ(NextAttemptAt(now, 1, {Kind::kRetry, 30s, ""}, 2s, 60s, 0.9), now + 30s);
  // A Retry-After of 0 still waits the backoff's floor.
  EXPECT_EQ(NextAttemptAt(now, 3, {Kind::kRetry, 0s, ""}, 2s, 60s, 0.9), now + 4s);
}

TEST(DeliveryTest, RateWindows) {
  const auto t = core::FromUnixMillis(1'700'000'012'345);
  const auto w = CurrentRateWindow(t, 60s);
  EXPECT_EQ(w.start_ms, 1'699'999'980'000);
  EXPECT_EQ(w.remaining, 27655ms);
  EXPECT_EQ(RateLimitKey("sluice:notifier:", "ops-ding", w),
            "sluice:notifier:rate:ops-ding:1699999980000");
  EXPECT_EQ(CurrentRateWindow(core::FromUnixMillis(1'699'999'980'000), 60s).remaining, 60s);
  EXPECT_TRUE(WithinRateLimit(20, 20));
  EXPECT_FALSE(WithinRateLimit(21, 20));
  EXPECT_TRUE(WithinRateLimit(1000, 0));
}

TEST(DeliveryTest, BuildsSignedDingTalkRequest) {
  ChannelSpec spec;
  spec.type = ChannelType::kDingTalk;
  spec.timeout = 3s;
  const auto n = Rollback();
  const auto req = BuildHttpRequest(
      spec, Secrets("https://ding/robot/send?access_token=t", "SEC0123456789abcdef"), n, {"T", "B"},
      core::FromUnixMillis(1700000000000));
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.timeout, 3s);
  EXPECT_EQ(req.url,
            "https://ding/robot/send?access_token=t&timestamp=1700000000000"
            "&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D");
  EXPECT_EQ(nlohmann::json::parse(req.body)["msgtype"], "markdown");
  // Without a secret the URL is used as given.
  EXPECT_EQ(BuildHttpRequest(spec, Secrets("https://ding/x"), n, {"T", "B"}, {}).url,
            "https://ding/x");
}

TEST(DeliveryTest, BuildsSignedWebhookRequest) {
  ChannelSpec spec;
  spec.type = ChannelType::kWebhook;
  const auto req =
      BuildHttpRequest(spec, Secrets("http://h/hook", "k"), Rollback(), {"T", "B"}, {});
  bool signed_ok = false;
  for (const auto& [k, v] : req.headers) {
    if (k == "X-Sluice-Signature") signed_ok = v == WebhookSignature(req.body, "k");
  }
  EXPECT_TRUE(signed_ok);
  ChannelSpec slack;
  slack.type = ChannelType::kSlack;
  const auto s = BuildHttpRequest(slack, Secrets("http://h/slack"), Rollback(), {"T", "B"}, {});
  EXPECT_EQ(nlohmann::json::parse(s.body)["text"], "T");
  for (const auto& [k, v] : s.headers) EXPECT_NE(k, "X-Sluice-Signature");
}

TEST(DeliveryTest, BuildsAlertmanagerRequest) {
  ChannelSpec spec;
  spec.type = ChannelType::kAlertmanager;
  spec.resolve_timeout = 10min;
  const auto now = core::FromUnixMillis(1'700'000'000'000);
  const auto req = BuildHttpRequest(spec, Secrets("http://127.0.0.1:19094/", "tok"), Rollback(),
                                    {"T", "B"}, now);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "http://127.0.0.1:19094/api/v2/alerts");
  const auto body = nlohmann::json::parse(req.body);
  EXPECT_EQ(body[0]["labels"]["alertname"], "SluiceRollbackStarted");
  EXPECT_EQ(body[0]["endsAt"], "2023-11-14T22:23:20.000Z");
  bool bearer = false;
  for (const auto& [k, v] : req.headers)
    bearer = bearer || (k == "Authorization" && v == "Bearer tok");
  EXPECT_TRUE(bearer);
  const auto plain = BuildHttpRequest(spec, Secrets("http://am:9093"), Rollback(), {"T", "B"}, now);
  for (const auto& [k, v] : plain.headers) EXPECT_NE(k, "Authorization");
}

TEST(DeliveryTest, AlertmanagerResponses) {
  const auto t = ChannelType::kAlertmanager;
  EXPECT_EQ(ClassifyHttpResponse(t, 200, "", std::nullopt).kind, Kind::kDelivered);
  EXPECT_EQ(ClassifyHttpResponse(t, 400, "start time must be before end time", std::nullopt).kind,
            Kind::kPermanent);
  EXPECT_EQ(ClassifyHttpResponse(t, 404, "", std::nullopt).kind, Kind::kPermanent);
  EXPECT_EQ(ClassifyHttpResponse(t, 503, "", std::nullopt).kind, Kind::kRetry);
  EXPECT_EQ(ClassifyTransportError(true, "timeout").kind, Kind::kRetry);
}

}  // namespace
}  // namespace sluice::notifier
