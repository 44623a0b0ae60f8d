#include "render.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <sluice/http/client.hpp>

#include "test_events.hpp"

namespace sluice::notifier {
namespace {

using nlohmann::json;

Notification Rollback() {
  return *BuildNotification(test::RollbackStarted("ev-1", "dep-1", "payments", "prod"), {},
                            {.console_base_url = "https://console"});
}

RenderedText Text(Language lang = Language::kEn) {
  return Templates::Defaults().Render(Rollback(), lang);
}

std::string Base64Decode(std::string_view b64) {
  std::string clean;
  for (char c : b64) {
    if (c != '\r' && c != '\n') clean += c;
  }
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()),
                                static_cast<int>(clean.size()));
  std::size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

TEST(RenderTest, SlackBlockKitShape) {
  const auto n = Rollback();
  const auto text = Text();
  const json j = RenderSlack(n, text);
  EXPECT_EQ(j["text"], text.title);
  ASSERT_EQ(j["attachments"].size(), 1u);
  const auto& a = j["attachments"][0];
  EXPECT_EQ(a["color"], "#a30200");
  const auto& blocks = a["blocks"];
  ASSERT_EQ(blocks.size(), 5u);
  EXPECT_EQ(blocks[0]["type"], "header");
  EXPECT_EQ(blocks[0]["text"]["type"], "plain_text");
  EXPECT_EQ(blocks[0]["text"]["text"], text.title);
  EXPECT_EQ(blocks[1]["type"], "section");
  EXPECT_EQ(blocks[1]["text"]["type"], "mrkdwn");
  EXPECT_EQ(blocks[2]["type"], "section");
  const auto& fields = blocks[2]["fields"];
  EXPECT_EQ(fields[0], (json{{"type", "mrkdwn"}, {"text", "*App*\npayments"}}));
  EXPECT_EQ(fields[1]["text"], "*Environment*\nprod");
  bool saw_trend = false, saw_hosts = false, saw_observed = false;
  for (const auto& f : fields) {
    const auto t = f["text"].get<std::string>();
    saw_trend |= t == "*Trend*\n▁▁▁▂▅█";
    saw_hosts |= t == "*Hosts*\nweb-1, web-2, web-3, web-4, web-5 +2 more";
    saw_observed |= t == "*Observed / threshold*\n0.21 &gt; 0.05";
  }
  EXPECT_TRUE(saw_trend && saw_hosts && saw_observed) << fields.dump();
  EXPECT_LE(fields.size(), 10u);
  EXPECT_EQ(blocks[3]["type"], "context");
  EXPECT_EQ(blocks[4]["type"], "actions");
  const auto& button = blocks[4]["elements"][0];
  EXPECT_EQ(button["type"], "button");
  EXPECT_EQ(button["url"], "https://console/deployments/dep-1");
  EXPECT_EQ(button["style"], "danger");
}

TEST(RenderTest, SlackEscapesAndColoursBySeverity) {
  auto n = Rollback();
  n.severity = Severity::kInfo;
  n.console_url.clear();
  const json j = RenderSlack(n, {"t", "a < b & c"});
  EXPECT_EQ(j["attachments"][0]["color"], "#2eb886");
  EXPECT_EQ(j["attachments"][0]["blocks"][1]["text"]["text"], "a &lt; b &amp; c");
  for (const auto& b : j["attachments"][0]["blocks"]) EXPECT_NE(b["type"], "actions");
  n.severity = Severity::kWarning;
  EXPECT_EQ(RenderSlack(n, {"t", ""})["attachments"][0]["color"], "#daa038");
}

TEST(RenderTest, DingTalkMarkdownWithMentions) {
  const auto text = Text(Language::kZh);
  const json j = RenderDingTalk(Rollback(), text, DingTalkFormat::kMarkdown,
                                {.mobiles = {"13800000000"}, .user_ids = {}, .all = false});
  EXPECT_EQ(j["msgtype"], "markdown");
  EXPECT_EQ(j["markdown"]["title"], text.title);
  const auto md = j["markdown"]["text"].get<std::string>();
  EXPECT_EQ(md.rfind("### " + text.title + "\n\n", 0), 0u);
  EXPECT_NE(md.find("[在控制台查看](https://console/deployments/dep-1)"), std::string::npos);
  EXPECT_EQ(md.substr(md.size() - 12), "@13800000000");
  EXPECT_EQ(j["at"]["atMobiles"], json::array({"13800000000"}));
  EXPECT_EQ(j["at"]["isAtAll"], false);
  EXPECT_EQ(md.find("\n\n\n"), std::string::npos);
}

TEST(RenderTest, DingTalkActionCard) {
  const auto text = Text(Language::kZh);
  const json j = RenderDingTalk(Rollback(), text, DingTalkFormat::kActionCard, {});
  EXPECT_EQ(j["msgtype"], "actionCard");
  EXPECT_EQ(j["actionCard"]["title"], text.title);
  EXPECT_EQ(j["actionCard"]["singleTitle"], "在控制台查看");
  EXPECT_EQ(j["actionCard"]["singleURL"], "https://console/deployments/dep-1");
  EXPECT_EQ(j["actionCard"]["btnOrientation"], "0");
  EXPECT_FALSE(j.contains("at"));
}

TEST(RenderTest, DingTalkSignatureMatchesIndependentVector) {
  // python3 -c "import hmac,hashlib,base64; s='SEC0123456789abcdef';
  //   print(base64.b64encode(hmac.new(s.encode(), ('1700000000000\n'+s).encode(),
  //   hashlib.sha256).digest()).decode())"
  EXPECT_EQ(DingTalkSignature(1700000000000, "SEC0123456789abcdef"),
            "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=");
  EXPECT_EQ(DingTalkSignedUrl("https://oapi.dingtalk.com/robot/send?access_token=abc",
                              "SEC0123456789abcdef", 1700000000000),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000"
            "&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D");
  EXPECT_EQ(DingTalkSignedUrl("http://h/x", "s", 1),
            "http://h/x?timestamp=1&sign=" + http::UrlEncode(DingTalkSignature(1, "s")));
}

TEST(RenderTest, HmacKnownAnswer) {
  // The published HMAC-SHA256 example (key "key", the quick brown fox).
  EXPECT_EQ(HexEncode(HmacSha256("key", "The quick brown fox jumps over the lazy dog")),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  EXPECT_EQ(WebhookSignature("{\"a\":1}", "key"),
            "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(RenderTest, TruncateUtf8NeverSplitsACharacter) {
  EXPECT_EQ(TruncateUtf8("hello", 10), "hello");
  EXPECT_EQ(TruncateUtf8("hello", 5), "hello");
  EXPECT_EQ(TruncateUtf8("hello world", 8, "..."), "hello...");
  const std::string zh = "回滚回滚";  // 3 bytes a character
  EXPECT_EQ(TruncateUtf8(zh, 7, ""), "回滚");
  EXPECT_EQ(TruncateUtf8(zh, 8, ""), "回滚");
  EXPECT_EQ(TruncateUtf8(zh, 9, ""), "回滚回");
  EXPECT_EQ(TruncateUtf8(zh, 9), "回滚…");  // the marker takes 3 bytes
  EXPECT_EQ(TruncateUtf8("😀😀", 5, ""), "😀");
  EXPECT_EQ(TruncateUtf8("abc", 2, "..."), "");
}

TEST(RenderTest, WeComMarkdownRespectsTheByteLimit) {
  auto n = Rollback();
  std::string long_body;
  for (int i = 0; i < 2000; ++i) long_body += "回";
  const json j = RenderWeCom(n, {"标题", long_body}, WeComFormat::kMarkdown,
                             {.mobiles = {}, .user_ids = {"alice"}, .all = false});
  EXPECT_EQ(j["msgtype"], "markdown");
  const auto content = j["markdown"]["content"].get<std::string>();
  EXPECT_LE(content.size(), kWeComMarkdownMaxBytes);
  EXPECT_GT(content.size(), kWeComMarkdownMaxBytes - 8);
  EXPECT_EQ(content.rfind("<font color=\"warning\">**标题**</font>\n", 0), 0u);
  EXPECT_NE(content.find("…\n[在控制台查看](https://console/deployments/dep-1)\n<@alice>"),
            std::string::npos);
  // Valid UTF-8 throughout: nlohmann would throw on dump otherwise.
  EXPECT_NO_THROW((void)j.dump());
}

TEST(RenderTest, WeComText) {
  auto n = Rollback();
  n.severity = Severity::kInfo;
  const json j = RenderWeCom(n, {"T", "B"}, WeComFormat::kText,
                             {.mobiles = {"13800000000"}, .user_ids = {"bob"}, .all = true});
  EXPECT_EQ(j, (json{{"msgtype", "text"},
                     {"text",
                      {{"content", "T\nB\nhttps://console/deployments/dep-1"},
                       {"mentioned_list", {"bob", "@all"}},
                       {"mentioned_mobile_list", {"13800000000"}}}}}));
  EXPECT_EQ(
      RenderWeCom(n, {"T", "B"}, WeComFormat::kMarkdown, {})["markdown"]["content"],
      "<font color=\"info\">**T**</font>\nB\n[在控制台查看](https://console/deployments/dep-1)");
}

TEST(RenderTest, WebhookBody) {
  const auto n = Rollback();
  const json j = RenderWebhook(n, {"T", "B"});
  EXPECT_EQ(j["type"], "sluice.notification");
  EXPECT_EQ(j["title"], "T");
  EXPECT_EQ(j["notification"]["kind"], "rollback_started");
  EXPECT_EQ(NotificationFromJson(j["notification"]), n);
}

TEST(RenderTest, AlertmanagerAlert) {
  using namespace std::chrono_literals;
  const auto n = Rollback();
  const auto now = core::FromUnixMillis(1'700'000'100'250);
  const auto j = RenderAlertmanager(n, Text(), now, 5min);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  const auto& a = j[0];
  EXPECT_EQ(a["labels"], json({{"alertname", "SluiceRollbackStarted"},
                               {"app", "payments"},
                               {"env", "prod"},
                               {"deployment_id", "dep-1"},
                               {"severity", "critical"},
                               {"sluice_event", "rollback_started"}}));
  EXPECT_EQ(a["annotations"]["summary"], Text().title);
  EXPECT_EQ(a["annotations"]["description"], Text().body);
  EXPECT_EQ(a["annotations"]["console_url"], "https://console/deployments/dep-1");
  EXPECT_EQ(a["generatorURL"], "https://console/deployments/dep-1");
  // The event occurred at 1'700'000'000'000 ms; the alert resolves 5 minutes after sending.
  EXPECT_EQ(a["startsAt"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(a["endsAt"], "2023-11-14T22:20:00.250Z");

  // No empty labels; an event stamped after `now` starts now.
  Notification bare;
  bare.kind = EventKind::kDeploymentSucceeded;
  bare.occurred_at = now + 1h;
  const auto b = RenderAlertmanager(bare, {"T", ""}, now, 1min)[0];
  EXPECT_EQ(b["labels"], json({{"alertname", "SluiceDeploymentSucceeded"},
                               {"severity", "info"},
                               {"sluice_event", "deployment_succeeded"}}));
  EXPECT_FALSE(b["annotations"].contains("description"));
  EXPECT_FALSE(b.contains("generatorURL"));
  EXPECT_EQ(b["startsAt"], "2023-11-14T22:15:00.250Z");
}

TEST(RenderTest, AlertNamesAndUrls) {
  EXPECT_EQ(AlertName(EventKind::kAnalysisFailed), "SluiceAnalysisFailed");
  EXPECT_EQ(AlertName(EventKind::kDeploymentStarted), "SluiceDeploymentStarted");
  EXPECT_EQ(AlertmanagerAlertsUrl("http://am:9093"), "http://am:9093/api/v2/alerts");
  EXPECT_EQ(AlertmanagerAlertsUrl("http://am:9093/"), "http://am:9093/api/v2/alerts");
  EXPECT_EQ(AlertmanagerAlertsUrl("http://am/prefix/api/v2/alerts"),
            "http://am/prefix/api/v2/alerts");
  EXPECT_EQ(Rfc3339(core::FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Rfc3339(core::FromUnixMillis(1'700'000'000'007)), "2023-11-14T22:13:20.007Z");
}

TEST(RenderTest, EmailIsMultipartAlternative) {
  const auto n = Rollback();
  const auto text = Text(Language::kZh);
  const std::string msg = RenderEmail(n, text,
                                      {.from = "sluice@example.com",
                                       .to = {"a@example.com", "b@example.com"},
                                       .date = Rfc5322Date(core::FromUnixMillis(1'700'000'000'000)),
                                       .message_id = "m1@sluice",
                                       .boundary = "b0undary"});
  EXPECT_NE(msg.find("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), std::string::npos);
  EXPECT_NE(msg.find("To: a@example.com, b@example.com\r\n"), std::string::npos);
  EXPECT_NE(msg.find("Content-Type: multipart/alternative; boundary=\"b0undary\"\r\n"),
            std::string::npos);
  EXPECT_NE(msg.find("Subject: =?UTF-8?B?"), std::string::npos);
  // Header and body separated by an empty line; lines end in CRLF and stay short.
  const auto header_end = msg.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos);
  std::size_t pos = 0;
  while (pos < msg.size()) {
    const auto eol = msg.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    EXPECT_LE(eol - pos, 78u) << msg.substr(pos, eol - pos);
    pos = eol + 2;
  }
  // Decode the subject's encoded words.
  std::string subject;
  const auto s = msg.find("Subject: ");
  const auto s_end = msg.find("\r\nMIME-Version");
  std::string raw = msg.substr(s + 9, s_end - s - 9);
  std::size_t w = 0;
  while ((w = raw.find("=?UTF-8?B?", w)) != std::string::npos) {
    const auto e = raw.find("?=", w + 10);
    subject += Base64Decode(raw.substr(w + 10, e - w - 10));
    w = e + 2;
  }
  EXPECT_EQ(subject, "[Sluice][critical] " + text.title);
  // Two parts: text and HTML.
  const auto p1 = msg.find("--b0undary\r\nContent-Type: text/plain; charset=UTF-8\r\n");
  const auto p2 = msg.find("--b0undary\r\nContent-Type: text/html; charset=UTF-8\r\n");
  const auto end = msg.find("--b0undary--\r\n");
  ASSERT_NE(p1, std::string::npos);
  ASSERT_NE(p2, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  ASSERT_LT(p1, p2);
  const auto body1 = msg.find("\r\n\r\n", p1) + 4;
  const std::string plain = Base64Decode(msg.substr(body1, p2 - body1));
  EXPECT_EQ(plain.rfind(text.title + "\n\n" + text.body, 0), 0u);
  EXPECT_NE(plain.find("Console: https://console/deployments/dep-1"), std::string::npos);
  const auto body2 = msg.find("\r\n\r\n", p2) + 4;
  const std::string html = Base64Decode(msg.substr(body2, end - body2));
  EXPECT_NE(html.find("<a href=\"https://console/deployments/dep-1\">"), std::string::npos);
  EXPECT_NE(html.find("sum(rate(http_errors{app=&quot;payments&quot;}[1m]))"), std::string::npos);
  EXPECT_NE(html.find("#a30200"), std::string::npos);
}

TEST(RenderTest, EmailAsciiSubjectIsPlainAndChartLinked) {
  auto n = Rollback();
  n.chart_url = "https://grafana/c.png?a=1&b=2";
  const std::string msg =
      RenderEmail(n, {"Plain title", "b"},
                  {.from = "f", .to = {"t"}, .date = "d", .message_id = "m", .boundary = "B"});
  EXPECT_NE(msg.find("Subject: [Sluice][critical] Plain title\r\n"), std::string::npos);
  const auto p2 = msg.find("text/html");
  const auto body2 = msg.find("\r\n\r\n", p2) + 4;
  const auto html = Base64Decode(msg.substr(body2, msg.find("--B--") - body2));
  EXPECT_NE(html.find("<img alt=\"trend\" src=\"https://grafana/c.png?a=1&amp;b=2\">"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::notifier
