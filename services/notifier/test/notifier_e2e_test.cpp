// notifier end to end: the real binary against the stack's Kafka, PostgreSQL and Redis, with
// the capture server (sluice::capture, which checks payloads and signatures the way Slack,
// DingTalk, WeCom and a webhook receiver do, and stands in for a mail relay) in this process.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/capture/capture.hpp>
#include <sluice/capture/mime.hpp>
#include <sluice/capture/smtp.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <thread>

#include "render.hpp"
#include "test_events.hpp"

namespace sluice::notifier {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::PgDsn;
using st::RedisUrl;
using st::WaitFor;

std::vector<capture::Request> Of(const capture::CaptureServer& server, capture::Channel channel) {
  std::vector<capture::Request> out;
  for (auto& r : server.Seen()) {
    if (r.channel == channel) out.push_back(std::move(r));
  }
  return out;
}

http::ClientResponse Get(const std::string& url) {
  http::ClientRequest req;
  req.url = url;
  req.timeout = 5s;
  req.headers.emplace_back("Authorization", st::ServiceAuthorization());
  return http::Send(req);
}

std::string Serialize(const events::v1::Envelope& e) {
  std::string out;
  e.SerializeToString(&out);
  return out;
}

TEST(NotifierE2eTest, RollbackReachesEveryChannelOnceWithRetriesAndSignatures) {
  const std::string sfx = st::RandomSuffix();
  const std::string schema = "itest_notifier_" + sfx;
  const std::string deployments_topic = "itest.deployments." + sfx;
  const std::string rollbacks_topic = "itest.rollbacks." + sfx;
  const std::string ding_secret = "SEC" + st::RandomSuffix(24);
  const std::string hook_secret = "hook-" + st::RandomSuffix(16);
  const std::string app = "payments-" + sfx;

  // One stand-in for every HTTP receiver; it verifies the DingTalk signature and the webhook
  // HMAC itself. Slack: the first request is rate limited (429, Retry-After: 1); /slack/broken
  // is an unknown channel.
  capture::ServerOptions receiver_options;
  receiver_options.dingtalk_secret = ding_secret;
  receiver_options.webhook_secret = hook_secret;
  auto slack_requests = std::make_shared<std::atomic<int>>(0);
  receiver_options.intercept = [slack_requests](const capture::Request& r,
                                                int) -> std::optional<capture::Reply> {
    if (r.channel != capture::Channel::kSlack) return std::nullopt;
    if (r.path == "/slack/broken") {
      return capture::Reply{404, "channel_not_found", "text/plain", {}, false};
    }
    if (slack_requests->fetch_add(1) == 0) {
      return capture::Reply{429, "rate_limited", "text/plain", {{"Retry-After", "1"}}, false};
    }
    return std::nullopt;
  };
  capture::CaptureServer receivers(receiver_options);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("notifier-" + sfx);
  std::filesystem::create_directories(dir);
  // The mail relay, as on port 587: STARTTLS with a certificate of a private CA (self-signed
  // here, handed to the notifier as ca_file) before AUTH; only these credentials are accepted.
  const std::string relay_cert = (dir / "relay-cert.pem").string();
  const std::string relay_key = (dir / "relay-key.pem").string();
  ASSERT_EQ(st::Shell("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                      relay_key + " -out " + relay_cert + " >/dev/null 2>&1"),
            0);
  capture::SmtpOptions smtp_options;
  smtp_options.username = "mailer";
  smtp_options.password = "mail-password";
  smtp_options.tls_cert_file = relay_cert;
  smtp_options.tls_key_file = relay_key;
  smtp_options.require_tls = true;
  capture::SmtpServer smtp(smtp_options);
  const std::string config_path = (dir / "notifier.yaml").string();
  {
    std::ofstream out(config_path);
    out << "settings: {dedupe_window: 10m, max_attempts: 4, backoff_base: 200ms, backoff_max: 2s}\n"
        << "channels:\n"
        << "  slack-" << sfx << ": {type: slack, url_env: SLUICE_ITEST_SLACK_URL}\n"
        << "  broken-" << sfx << ": {type: slack, url_env: SLUICE_ITEST_BROKEN_URL}\n"
        << "  ding-" << sfx << ": {type: dingtalk, url_env: SLUICE_ITEST_DING_URL, "
        << "secret_env: SLUICE_ITEST_DING_SECRET, at_mobiles: ['13800000000']}\n"
        << "  wecom-" << sfx << ": {type: wecom, url_env: SLUICE_ITEST_WECOM_URL}\n"
        << "  mail-" << sfx << ": {type: email, smtp_url: 'smtp://127.0.0.1:" << smtp.Port()
        << "', starttls: true, ca_file: '" << relay_cert
        << "', from: 'Sluice <sluice@example.com>', to: [oncall@example.com], "
        << "username_env: SLUICE_ITEST_SMTP_USER, password_env: SLUICE_ITEST_SMTP_PASSWORD}\n"
        << "  hook-" << sfx << ": {type: webhook, url_env: SLUICE_ITEST_HOOK_URL, "
        << "secret_env: SLUICE_ITEST_HOOK_SECRET}\n"
        << "routes:\n"
        << "  - name: rollbacks\n"
        << "    match: {apps: [" << app << "], events: [rollback_started]}\n"
        << "    channels: [slack-" << sfx << ", ding-" << sfx << ", wecom-" << sfx << ", mail-"
        << sfx << ", hook-" << sfx << ", broken-" << sfx << "]\n"
        << "  - name: starts\n"
        << "    match: {apps: [" << app << "], events: [deployment_started]}\n"
        << "    channels: [slack-" << sfx << "]\n";
  }

  kafka::KafkaConfig kafka_config;
  kafka_config.brokers = KafkaBrokers();
  ASSERT_NO_THROW(kafka::EnsureTopics(kafka_config, {deployments_topic, rollbacks_topic}))
      << "Kafka at " << KafkaBrokers() << " is needed: bash scripts/stack.sh up";

  const int port = st::FreePort();
  std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
  st::ChildProcess service(
      {SLUICE_NOTIFIER_BIN},
      {{"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)},
       {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
       {"SLUICE_PG_DSN", PgDsn()},
       {"SLUICE_PG_SCHEMA", schema},
       {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
       {"SLUICE_KAFKA_GROUP", "itest-notifier-" + sfx},
       {"SLUICE_NOTIFIER_TOPICS", deployments_topic + "," + rollbacks_topic},
       {"SLUICE_REDIS_URL", RedisUrl()},
       {"SLUICE_NOTIFIER_CONFIG", config_path},
       {"SLUICE_NOTIFIER_POLL_INTERVAL", "100ms"},
       {"SLUICE_CONSOLE_URL", "https://console.example.com"},
       {"SLUICE_ITEST_SLACK_URL", receivers.Url("/slack/services/T0/B0/x")},
       {"SLUICE_ITEST_BROKEN_URL", receivers.Url("/slack/broken")},
       {"SLUICE_ITEST_DING_URL", receivers.Url("/dingtalk/robot/send?access_token=tok")},
       {"SLUICE_ITEST_DING_SECRET", ding_secret},
       {"SLUICE_ITEST_WECOM_URL", receivers.Url("/wecom/cgi-bin/webhook/send?key=k")},
       {"SLUICE_ITEST_HOOK_URL", receivers.Url("/webhook/hook")},
       {"SLUICE_ITEST_HOOK_SECRET", hook_secret},
       {"SLUICE_ITEST_SMTP_USER", "mailer"},
       {"SLUICE_ITEST_SMTP_PASSWORD", "mail-password"},
       {"SLUICE_LOG_LEVEL", "info"}},
      std::string(SLUICE_TEST_LOG_DIR) + "/notifier-" + sfx + ".log");
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(st::WaitForHttpOk(base + "/readyz", 60s)) << "notifier did not become ready; log:\n"
                                                        << service.LogTail();

  // The deployment starts (context: app, env, stable version), then is rolled back. Kafka
  // delivers the rollback twice (a producer retry): one notice per route and channel only.
  const std::string deployment_id = core::NewUuid();
  auto planned = test::Base(core::NewUuid(), deployment_id);
  planned.set_type("sluice.v1.DeploymentPlanned");
  auto* p = planned.mutable_deployment_planned();
  p->set_deployment_id(deployment_id);
  p->set_app(app);
  p->set_env("prod");
  p->set_stable_version("1.4.2");
  p->add_batches()->add_targets()->set_host("web-1");
  const auto rollback = test::RollbackStarted(core::NewUuid(), deployment_id, app, "prod");
  kafka::Producer producer(kafka_config);
  std::vector<kafka::OutgoingMessage> messages(3);
  messages[0].topic = deployments_topic;
  messages[0].key = deployment_id;
  messages[0].value = Serialize(planned);
  messages[1].topic = rollbacks_topic;
  messages[1].key = deployment_id;
  messages[1].value = Serialize(rollback);
  messages[2] = messages[1];
  producer.ProduceSync(messages, 20s);

  using capture::Channel;
  auto ok = [&](Channel c) { return receivers.Accepted(c); };
  ASSERT_TRUE(WaitFor(
      [&] {
        return ok(Channel::kSlack) >= 2 && ok(Channel::kDingTalk) >= 1 &&
               ok(Channel::kWeCom) >= 1 && ok(Channel::kWebhook) >= 1 && !smtp.Mails().empty();
      },
      60s))
      << "slack " << ok(Channel::kSlack) << " ding " << ok(Channel::kDingTalk) << " wecom "
      << ok(Channel::kWeCom) << " hook " << ok(Channel::kWebhook) << " mail " << smtp.Mails().size()
      << "\n"
      << service.LogTail();
  // Time for any duplicate to show up.
  std::this_thread::sleep_for(3s);

  // Slack: one 429, then each notice once; Block Kit shape.
  int rollback_posts = 0;
  int started_posts = 0;
  int rate_limited = 0;
  for (const auto& c : Of(receivers, Channel::kSlack)) {
    if (c.path == "/slack/broken") continue;
    if (c.status == 429) {
      ++rate_limited;
      continue;
    }
    EXPECT_TRUE(c.accepted) << c.status << " " << c.answer;
    const auto j = json::parse(c.body);
    const auto title = j["text"].get<std::string>();
    if (title.find("Rolling back") != std::string::npos) {
      ++rollback_posts;
      EXPECT_EQ(title, "⏪ Rolling back " + app + " in prod: 1.5.0 → 1.4.2");
      const auto& blocks = j["attachments"][0]["blocks"];
      EXPECT_EQ(j["attachments"][0]["color"], "#a30200");
      EXPECT_EQ(blocks[0]["type"], "header");
      EXPECT_EQ(blocks.back()["type"], "actions");
      EXPECT_EQ(blocks.back()["elements"][0]["url"],
                "https://console.example.com/deployments/" + deployment_id);
      EXPECT_NE(c.body.find("▁▁▁▂▅█"), std::string::npos);
    } else if (title.find("is rolling out") != std::string::npos) {
      ++started_posts;
    }
  }
  EXPECT_EQ(rate_limited, 1);
  EXPECT_EQ(rollback_posts, 1);
  EXPECT_EQ(started_posts, 1);

  // DingTalk: exactly one, signed with the secret (the receiver checked it, and so do we).
  const auto dings = Of(receivers, Channel::kDingTalk);
  ASSERT_EQ(dings.size(), 1u);
  EXPECT_TRUE(dings[0].accepted) << dings[0].answer;
  ASSERT_FALSE(dings[0].params.at("timestamp").empty());
  EXPECT_EQ(dings[0].params.at("sign"),
            DingTalkSignature(std::stoll(dings[0].params.at("timestamp")), ding_secret));
  const auto dj = json::parse(dings[0].body);
  EXPECT_EQ(dj["msgtype"], "markdown");
  EXPECT_EQ(dj["at"]["atMobiles"], json::array({"13800000000"}));
  EXPECT_EQ(dj["markdown"]["title"], "⏪ 正在回滚 " + app + "（prod）：1.5.0 → 1.4.2");

  // WeCom: exactly one markdown message within the size limit.
  const auto wecoms = Of(receivers, Channel::kWeCom);
  ASSERT_EQ(wecoms.size(), 1u);
  EXPECT_TRUE(wecoms[0].accepted) << wecoms[0].answer;
  const auto wj = json::parse(wecoms[0].body);
  EXPECT_EQ(wj["msgtype"], "markdown");
  EXPECT_LE(wj["markdown"]["content"].get<std::string>().size(), kWeComMarkdownMaxBytes);

  // Webhook: signed body.
  const auto hooks = Of(receivers, Channel::kWebhook);
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_TRUE(hooks[0].accepted) << hooks[0].answer;
  EXPECT_EQ(hooks[0].Header("X-Sluice-Signature"), WebhookSignature(hooks[0].body, hook_secret));
  EXPECT_EQ(json::parse(hooks[0].body)["notification"]["event_id"], rollback.event_id());

  // E-mail: one multipart/alternative message, over STARTTLS, authenticated.
  const auto mails = smtp.Mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_TRUE(mails[0].tls);
  EXPECT_EQ(mails[0].mail_from, "sluice@example.com");
  EXPECT_EQ(mails[0].rcpt_to, std::vector<std::string>{"oncall@example.com"});
  EXPECT_EQ(mails[0].auth_user, "mailer");
  EXPECT_EQ(mails[0].auth_password, "mail-password");
  EXPECT_NE(mails[0].data.find("Content-Type: multipart/alternative"), std::string::npos);
  EXPECT_NE(mails[0].data.find("text/plain; charset=UTF-8"), std::string::npos);
  EXPECT_NE(mails[0].data.find("text/html; charset=UTF-8"), std::string::npos);
  EXPECT_NE(mails[0].data.find("X-Sluice-Event-Id: " + rollback.event_id()), std::string::npos);
  // What a person reads, MIME decoded.
  const auto parsed = capture::ParseEmail(mails[0].data);
  EXPECT_EQ(parsed.subject.rfind("[Sluice][", 0), 0u) << parsed.subject;
  EXPECT_NE(parsed.subject.find("Rolling back " + app), std::string::npos) << parsed.subject;
  EXPECT_EQ(parsed.to, std::vector<std::string>{"oncall@example.com"});
  EXPECT_NE(parsed.text.find(app), std::string::npos) << parsed.text;
  EXPECT_NE(parsed.html.find(app), std::string::npos) << parsed.html;

  // The deliveries API records every attempt; the broken channel failed permanently at once.
  const auto resp = Get(base + "/v1/deliveries?event_id=" + rollback.event_id());
  ASSERT_EQ(resp.status, 200) << resp.body;
  const auto deliveries = json::parse(resp.body)["deliveries"];
  ASSERT_EQ(deliveries.size(), 6u) << deliveries.dump(2);
  for (const auto& d : deliveries) {
    const auto channel = d["channel"].get<std::string>();
    if (channel == "broken-" + sfx) {
      EXPECT_EQ(d["status"], "failed");
      EXPECT_EQ(d["attempts"], 1);
      EXPECT_EQ(d["last_status_code"], 404);
    } else {
      EXPECT_EQ(d["status"], "delivered") << d.dump();
    }
  }
  const auto failed = Get(base + "/v1/deliveries?status=bogus");
  EXPECT_EQ(failed.status, 400);

  // NotificationDelivered ×6 (5 rollback + 1 start) and NotificationFailed ×1 went to the outbox.
  {
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    const auto r = tx.exec1("SELECT count(*) FROM " + schema +
                            ".outbox WHERE topic = 'sluice.notifications.v1'");
    EXPECT_EQ(r[0].as<int>(), 7);
  }

  EXPECT_EQ(service.Terminate(), 0) << service.LogTail();
  {
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    tx.exec0("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    tx.commit();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice::notifier
