#pragma once

// Stand-ins for the receivers the notifier talks to: Slack incoming webhooks, DingTalk custom
// robots, WeCom group robots, generic webhooks and (sluice/capture/smtp.hpp) a mail relay. Each
// check reads a request the way the real service does and answers the way it does (status, body,
// error codes), so a notice that would be refused in production is refused here too. Used by
// sluice-capture-server (the demo), the notifier's end-to-end test and its benchmark.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/capture/smtp.hpp"

namespace sluice::capture {

enum class Channel { kSlack, kDingTalk, kWeCom, kWebhook, kEmail };
std::string_view ChannelName(Channel c);  // "slack", "dingtalk", "wecom", "webhook", "email"

// One request as received and what it was answered. An e-mail (channel kEmail) is recorded as
// path "smtp", its top-level headers, body = EmailCaptureJson(mail), status 250.
struct Request {
  Channel channel = Channel::kWebhook;
  std::string path;                            // without the query
  std::map<std::string, std::string> params;   // query parameters
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::chrono::steady_clock::time_point received_at;
  int status = 0;         // answered
  std::string answer;     // answered body
  bool accepted = false;  // the receiver took the message
  std::string file;       // where it was written (empty when not written)

  std::string Header(std::string_view name) const;  // case-insensitive; "" when absent
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool accepted = false;
};

// Slack incoming webhook: 200 "ok"; 400 invalid_payload (not JSON / not an object),
// no_text (neither text nor blocks nor attachments), invalid_blocks (a block without a type, a
// header that is not plain_text or longer than 150 characters, a section text over 3000, more
// than 10 fields, an action button without a URL), invalid_attachments.
Reply CheckSlack(std::string_view body);

// DingTalk custom robot (/robot/send?access_token=..[&timestamp=..&sign=..]). Answers HTTP 200
// with {"errcode":0,"errmsg":"ok"}, or errcode 300001 (no access_token), 310000 (with a secret:
// timestamp missing or more than an hour from `now_ms`, or sign not matching
// base64(HMAC-SHA256(secret, "<timestamp>\n<secret>"))), 40035 (a bad message: unknown msgtype,
// markdown without title/text, actionCard without title/text/button, text without content).
Reply CheckDingTalk(const std::map<std::string, std::string>& params, std::string_view body,
                    const std::string& secret, std::int64_t now_ms);

// WeCom group robot (/cgi-bin/webhook/send?key=..): errcode 0, 93000 (no key), 40008 (unknown
// msgtype), 44004 (empty content), 40058 (markdown over 4096 bytes, text over 2048).
Reply CheckWeCom(const std::map<std::string, std::string>& params, std::string_view body);

// Sluice generic webhook: 204 for {"type":"sluice.notification","title","text","notification"}
// with an X-Sluice-Event-Id header; 400 for anything else; 401 when `secret` is set and
// X-Sluice-Signature is not "sha256=<hex HMAC-SHA256(secret, body)>".
Reply CheckWebhook(const Request& req, const std::string& secret);

// base64(HMAC-SHA256(secret, "<timestamp_ms>\n<secret>")), as DingTalk computes it.
std::string DingTalkSign(std::int64_t timestamp_ms, std::string_view secret);
// "sha256=<lowercase hex HMAC-SHA256(secret, body)>".
std::string WebhookSignature(std::string_view body, std::string_view secret);

// What an accepted e-mail is captured as (pretty JSON): {"channel":"email", "from", "to":[...],
// "cc":[...], "subject", "text", "html" (MIME decoded), "raw_size" (bytes of the message),
// "auth_user", "envelope_from", "envelope_to":[...], "message_id"}.
std::string EmailCaptureJson(const SmtpMail& mail);

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;     // 0: any free port
  std::string dir;  // accepted messages go to <dir>/<channel>-<n>.json; empty: kept in memory
  std::string dingtalk_secret;  // empty: DingTalk signatures are not required
  std::string webhook_secret;   // empty: webhook signatures are not required
  // Set: an SMTP listener too (its own host and port); every accepted mail is captured as
  // <dir>/email-<n>.json and listed like the other channels.
  std::optional<SmtpOptions> smtp;
  // Consulted before the channel's check; a reply it returns is answered instead (tests use it
  // to simulate rate limits and broken channels). `index` counts the channel's earlier requests.
  std::function<std::optional<Reply>(const Request&, int index)> intercept;
  // Called after every request is answered (benchmarks time deliveries with it).
  std::function<void(const Request&)> on_request;
};

// One HTTP server standing in for all four receivers:
//   POST /slack/...                               Slack incoming webhook
//   POST /dingtalk/robot/send?access_token=..     DingTalk custom robot
//   POST /wecom/cgi-bin/webhook/send?key=..       WeCom group robot
//   POST /webhook/...                             generic webhook
//   smtp://<smtp host>:<smtp port>                mail relay (when ServerOptions::smtp is set)
//   GET  /captures                                {"captures":[{channel, n, file, path}]}
//   GET  /captures/<file>                         one captured message
//   GET  /healthz
// Listens from construction until destruction (or Stop).
class CaptureServer {
 public:
  explicit CaptureServer(ServerOptions options);  // throws std::runtime_error when it cannot bind
  ~CaptureServer();
  CaptureServer(const CaptureServer&) = delete;
  CaptureServer& operator=(const CaptureServer&) = delete;

  int Port() const;
  int SmtpPort() const;  // 0 when there is no SMTP listener
  // "http://<host>:<port><path>"
  std::string Url(std::string_view path) const;
  std::vector<Request> Seen() const;  // every request, in arrival order
  int Accepted(Channel c) const;      // accepted messages of one channel
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::capture
