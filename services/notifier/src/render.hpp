#pragma once

// Wire formats of the channels: pure functions from a notice (and its rendered template text)
// to the exact payload a Slack / DingTalk / WeCom / e-mail / webhook receiver expects.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sluice/core/encoding.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "notification.hpp"
#include "templates.hpp"

namespace sluice::notifier {

// "#2eb886" (info), "#daa038" (warning), "#a30200" (critical).
std::string_view SeverityColor(Severity s);

// Slack incoming webhook: `text` (notification fallback), Block Kit `blocks` (header, section
// with the body, section fields, context, actions button to the console) inside one
// `attachments` entry whose `color` follows the severity.
nlohmann::json RenderSlack(const Notification& n, const RenderedText& text);

// Mentions in a DingTalk or WeCom group.
struct Mentions {
  std::vector<std::string> mobiles;   // DingTalk at.atMobiles / WeCom mentioned_mobile_list
  std::vector<std::string> user_ids;  // DingTalk at.atUserIds / WeCom mentioned_list
  bool all = false;                   // DingTalk at.isAtAll / WeCom "@all"
};

enum class DingTalkFormat { kMarkdown, kActionCard };

// DingTalk custom robot: {"msgtype":"markdown","markdown":{"title","text"},"at":{...}} or
// {"msgtype":"actionCard","actionCard":{"title","text","btnOrientation":"0","singleTitle",
// "singleURL"}}. Mentioned mobiles are also written as "@<mobile>" in the text (DingTalk
// only highlights mentions that appear there).
nlohmann::json RenderDingTalk(const Notification& n, const RenderedText& text,
                              DingTalkFormat format, const Mentions& mentions);

// base64(HMAC-SHA256(key = secret, message = "<timestamp_ms>\n<secret>")), not URL-encoded.
std::string DingTalkSignature(std::int64_t timestamp_ms, std::string_view secret);
// The webhook URL with "&timestamp=<ms>&sign=<url-encoded signature>" appended ("?" when the
// URL has no query yet).
std::string DingTalkSignedUrl(std::string_view url, std::string_view secret,
                              std::int64_t timestamp_ms);

inline constexpr std::size_t kWeComMarkdownMaxBytes = 4096;
inline constexpr std::size_t kWeComTextMaxBytes = 2048;

enum class WeComFormat { kMarkdown, kText };

// WeCom group robot: {"msgtype":"markdown","markdown":{"content"}} (content at most 4096 bytes)
// or {"msgtype":"text","text":{"content","mentioned_list","mentioned_mobile_list"}} (2048).
nlohmann::json RenderWeCom(const Notification& n, const RenderedText& text, WeComFormat format,
                           const Mentions& mentions);

// The longest prefix of `s` of at most `max_bytes` bytes that ends on a UTF-8 character
// boundary; when it had to cut, `marker` is appended within the limit.
std::string TruncateUtf8(std::string_view s, std::size_t max_bytes, std::string_view marker = "…");

// Generic webhook body: {"type":"sluice.notification","notification":{...},"title","text"}.
nlohmann::json RenderWebhook(const Notification& n, const RenderedText& text);
// "sha256=<lowercase hex HMAC-SHA256(secret, body)>", the X-Sluice-Signature header.
std::string WebhookSignature(std::string_view body, std::string_view secret);

// "Sluice" + the event kind in PascalCase: "SluiceRollbackStarted".
std::string AlertName(EventKind kind);

// Alertmanager API v2 (POST /api/v2/alerts): a list of one alert with labels {alertname, app,
// env, deployment_id, severity, sluice_event} (empty values left out), annotations {summary,
// description, console_url}, startsAt = when the event occurred (never after now), endsAt =
// now + resolve_timeout (a one-shot notice resolves by itself) and generatorURL = the console.
nlohmann::json RenderAlertmanager(const Notification& n, const RenderedText& text,
                                  core::SystemTime now, std::chrono::milliseconds resolve_timeout);
// The alerts endpoint under an Alertmanager base URL ("http://am:9093" or ".../api/v2/alerts").
std::string AlertmanagerAlertsUrl(std::string_view base_url);

// "2023-11-14T22:13:20.000Z"
std::string Rfc3339(core::SystemTime t);

struct EmailEnvelope {
  std::string from;
  std::vector<std::string> to;
  std::string date;        // RFC 5322 date, e.g. "Tue, 14 Nov 2023 22:13:20 +0000"
  std::string message_id;  // without angle brackets, e.g. "<uuid>@sluice"
  std::string boundary;    // MIME boundary (random per message)
};

// An RFC 5322 message, CRLF line endings: multipart/alternative with a text/plain and a
// text/html part (UTF-8, base64), subject RFC 2047-encoded when not ASCII.
std::string RenderEmail(const Notification& n, const RenderedText& text,
                        const EmailEnvelope& envelope);

// "Tue, 14 Nov 2023 22:13:20 +0000"
std::string Rfc5322Date(core::SystemTime t);

// Encodings and digests: one copy in libs/core.
using core::Base64Encode;
using core::HexEncode;
using core::HmacSha256;
using core::HtmlEscape;

}  // namespace sluice::notifier
