#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sluice/capture/capture.hpp>

namespace sluice::capture {
namespace {

using nlohmann::json;
using Params = std::map<std::string, std::string>;

int Errcode(const Reply& r) { return json::parse(r.body)["errcode"].get<int>(); }

TEST(CaptureTest, SlackAcceptsBlockKitAndRefusesWhatSlackRefuses) {
  const json good = {
      {"text", "title"},
      {"attachments",
       {{{"color", "#a30200"},
         {"blocks",
          {{{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", "Rolling back"}}}},
           {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", "body"}}}},
           {{"type", "actions"},
            {"elements", {{{"type", "button"}, {"url", "https://console"}}}}}}}}}}};
  const auto ok = CheckSlack(good.dump());
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok");
  EXPECT_TRUE(ok.accepted);
  EXPECT_EQ(CheckSlack("not json").body, "invalid_payload");
  EXPECT_EQ(CheckSlack("[1]").body, "invalid_payload");
  EXPECT_EQ(CheckSlack("{}").body, "no_text");
  EXPECT_EQ(CheckSlack("{}").status, 400);
  json long_header = good;
  long_header["attachments"][0]["blocks"][0]["text"]["text"] = std::string(151, 'x');
  EXPECT_EQ(CheckSlack(long_header.dump()).body, "invalid_blocks");
  json mrkdwn_header = good;
  mrkdwn_header["attachments"][0]["blocks"][0]["text"]["type"] = "mrkdwn";
  EXPECT_EQ(CheckSlack(mrkdwn_header.dump()).body, "invalid_blocks");
  json no_url = good;
  no_url["attachments"][0]["blocks"][2]["elements"][0].erase("url");
  EXPECT_EQ(CheckSlack(no_url.dump()).body, "invalid_blocks");
  EXPECT_EQ(CheckSlack(R"({"text":"t","attachments":{}})").body, "invalid_attachments");
  // 150 characters of CJK text is within the header limit although it is 450 bytes.
  json cjk = good;
  std::string title;
  for (int i = 0; i < 150; ++i) title += "回";
  cjk["attachments"][0]["blocks"][0]["text"]["text"] = title;
  EXPECT_TRUE(CheckSlack(cjk.dump()).accepted);
}

TEST(CaptureTest, DingTalkSignatureMatchesIndependentVector) {
  // The same vector the notifier's own tests use (computed with another HMAC implementation).
  EXPECT_EQ(DingTalkSign(1700000000000, "SEC0123456789abcdef"),
            "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=");
}

TEST(CaptureTest, DingTalkChecksTokenSignatureTimeAndMessage) {
  const std::string secret = "SEC0123456789abcdef";
  const std::int64_t now = 1700000000000;
  const std::string body = R"({"msgtype":"markdown","markdown":{"title":"t","text":"x"}})";
  const Params signed_ok = {{"access_token", "tok"},
                            {"timestamp", "1700000000000"},
                            {"sign", "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="}};
  const auto ok = CheckDingTalk(signed_ok, body, secret, now);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(Errcode(ok), 0);
  EXPECT_TRUE(ok.accepted);

  auto bad_sign = signed_ok;
  bad_sign["sign"] = "AAAA";
  const auto refused = CheckDingTalk(bad_sign, body, secret, now);
  EXPECT_EQ(refused.status, 200);
  EXPECT_EQ(Errcode(refused), 310000);
  EXPECT_FALSE(refused.accepted);
  EXPECT_EQ(Errcode(CheckDingTalk(signed_ok, body, "other-secret", now)), 310000);
  EXPECT_EQ(Errcode(CheckDingTalk(signed_ok, body, secret, now + 3'600'001)), 310000);
  EXPECT_EQ(Errcode(CheckDingTalk({{"access_token", "tok"}}, body, secret, now)), 310000);
  EXPECT_EQ(Errcode(CheckDingTalk({{"timestamp", "1"}}, body, "", now)), 300001);
  // Without a configured secret a signature is not required.
  EXPECT_EQ(Errcode(CheckDingTalk({{"access_token", "tok"}}, body, "", now)), 0);

  const Params token = {{"access_token", "tok"}};
  EXPECT_EQ(Errcode(CheckDingTalk(token, "nope", "", now)), 40035);
  EXPECT_EQ(
      Errcode(CheckDingTalk(token, R"({"msgtype":"markdown","markdown":{"title":"t"}})", "", now)),
      40035);
  EXPECT_EQ(Errcode(CheckDingTalk(token, R"({"msgtype":"carousel"})", "", now)), 40035);
  EXPECT_EQ(
      Errcode(CheckDingTalk(
          token, R"({"msgtype":"actionCard","actionCard":{"title":"t","text":"x"}})", "", now)),
      40035);
  EXPECT_EQ(Errcode(CheckDingTalk(token,
                                  R"({"msgtype":"actionCard","actionCard":{"title":"t","text":"x",)"
                                  R"("singleTitle":"open","singleURL":"https://c"}})",
                                  "", now)),
            0);
  EXPECT_EQ(
      Errcode(CheckDingTalk(
          token, R"({"msgtype":"text","text":{"content":"c"},"at":{"isAtAll":"y"}})", "", now)),
      40035);
}

TEST(CaptureTest, WeComChecksKeyTypeAndSize) {
  const Params key = {{"key", "k"}};
  EXPECT_EQ(Errcode(CheckWeCom(key, R"({"msgtype":"markdown","markdown":{"content":"x"}})")), 0);
  EXPECT_EQ(Errcode(CheckWeCom({}, R"({"msgtype":"markdown","markdown":{"content":"x"}})")), 93000);
  EXPECT_EQ(Errcode(CheckWeCom(key, R"({"msgtype":"card"})")), 40008);
  EXPECT_EQ(Errcode(CheckWeCom(key, R"({"msgtype":"text","text":{"content":""}})")), 44004);
  const json big_md = {{"msgtype", "markdown"},
                       {"markdown", {{"content", std::string(4097, 'x')}}}};
  EXPECT_EQ(Errcode(CheckWeCom(key, big_md.dump())), 40058);
  const json max_md = {{"msgtype", "markdown"},
                       {"markdown", {{"content", std::string(4096, 'x')}}}};
  EXPECT_EQ(Errcode(CheckWeCom(key, max_md.dump())), 0);
  const json big_text = {{"msgtype", "text"}, {"text", {{"content", std::string(2049, 'x')}}}};
  EXPECT_EQ(Errcode(CheckWeCom(key, big_text.dump())), 40058);
}

TEST(CaptureTest, WebhookChecksShapeEventIdAndSignature) {
  Request r;
  r.body =
      R"({"type":"sluice.notification","title":"t","text":"b","notification":{"event_id":"e"}})";
  r.headers = {{"x-sluice-event-id", "e"}};
  EXPECT_EQ(CheckWebhook(r, "").status, 204);
  EXPECT_TRUE(CheckWebhook(r, "").accepted);
  EXPECT_EQ(CheckWebhook(r, "key").status, 401);
  r.headers["x-sluice-signature"] = WebhookSignature(r.body, "key");
  EXPECT_EQ(CheckWebhook(r, "key").status, 204);
  EXPECT_EQ(WebhookSignature("", "key"),
            "sha256=5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
  Request no_id = r;
  no_id.headers.erase("x-sluice-event-id");
  EXPECT_EQ(CheckWebhook(no_id, "").status, 400);
  Request wrong = r;
  wrong.body = R"({"type":"other"})";
  EXPECT_EQ(CheckWebhook(wrong, "").status, 400);
  EXPECT_EQ(r.Header("X-Sluice-Event-Id"), "e");
}

}  // namespace
}  // namespace sluice::capture
