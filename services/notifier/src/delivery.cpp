#include "delivery.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sluice/core/strict_json.hpp>

#include "render.hpp"

namespace sluice::notifier {
namespace {

using Kind = Outcome::Kind;

std::string Snippet(std::string_view body) { return TruncateUtf8(body, 200); }

Outcome ErrcodeOutcome(ChannelType type, long status, std::string_view body) {
  if (status == 429 || status >= 500) {
    return {Kind::kRetry, std::nullopt, "HTTP " + std::to_string(status)};
  }
  if (status != 200) return {Kind::kPermanent, std::nullopt, "HTTP " + std::to_string(status)};
  nlohmann::json j;
  try {
    j = core::ParseStrictJson(body);
  } catch (const core::JsonInputError&) {
    j = nullptr;
  }
  if (!j.is_object() || !j.contains("errcode") || !j["errcode"].is_number_integer()) {
    return {Kind::kRetry, std::nullopt, "unreadable answer: " + Snippet(body)};
  }
  const auto code = j["errcode"].get<std::int64_t>();
  const std::string msg = j.value("errmsg", "");
  const std::string detail = "errcode " + std::to_string(code) + ": " + Snippet(msg);
  if (code == 0) return {Kind::kDelivered, std::nullopt, "ok"};
  if (code == -1) return {Kind::kRetry, std::nullopt, detail};
  const std::int64_t rate_code = type == ChannelType::kDingTalk ? 130101 : 45009;
  if (code == rate_code) return {Kind::kRetry, std::chrono::seconds(60), detail};
  return {Kind::kPermanent, std::nullopt, detail};
}

}  // namespace

http::ClientRequest BuildHttpRequest(const ChannelSpec& spec, const ChannelSecrets& secrets,
                                     const Notification& n, const RenderedText& text,
                                     core::SystemTime now) {
  http::ClientRequest req;
  req.method = "POST";
  req.timeout = spec.timeout;
  req.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  req.url = secrets.url;
  switch (spec.type) {
    case ChannelType::kSlack:
      req.body = RenderSlack(n, text).dump();
      break;
    case ChannelType::kDingTalk:
      req.body = RenderDingTalk(n, text, spec.dingtalk_format, spec.mentions).dump();
      if (!secrets.secret.empty()) {
        req.url = DingTalkSignedUrl(secrets.url, secrets.secret, core::ToUnixMillis(now));
      }
      break;
    case ChannelType::kWeCom:
      req.body = RenderWeCom(n, text, spec.wecom_format, spec.mentions).dump();
      break;
    case ChannelType::kWebhook:
    case ChannelType::kEmail:
      req.body = RenderWebhook(n, text).dump();
      req.headers.emplace_back("X-Sluice-Event-Id", n.event_id);
      if (!secrets.secret.empty()) {
        req.headers.emplace_back("X-Sluice-Signature", WebhookSignature(req.body, secrets.secret));
      }
      break;
    case ChannelType::kAlertmanager:
      req.url = AlertmanagerAlertsUrl(secrets.url);
      req.body = RenderAlertmanager(n, text, now, spec.resolve_timeout).dump();
      if (!secrets.secret.empty()) {
        req.headers.emplace_back("Authorization", "Bearer " + secrets.secret);
      }
      break;
  }
  return req;
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty() || value.size() > 9) return std::nullopt;
  std::int64_t s = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    s = s * 10 + (c - '0');
  }
  return std::chrono::seconds(s);
}

Outcome ClassifyHttpResponse(ChannelType type, long status, std::string_view body,
                             const std::optional<std::string>& retry_after_header) {
  const auto retry_after = retry_after_header ? ParseRetryAfter(*retry_after_header) : std::nullopt;
  switch (type) {
    case ChannelType::kSlack: {
      if (status == 200) {
        if (body == "ok") return {Kind::kDelivered, std::nullopt, "ok"};
        return {Kind::kPermanent, std::nullopt, "HTTP 200: " + Snippet(body)};
      }
      if (status == 429) return {Kind::kRetry, retry_after, "HTTP 429: rate limited"};
      if (status >= 500) {
        return {Kind::kRetry, retry_after, "HTTP " + std::to_string(status) + ": " + Snippet(body)};
      }
      return {Kind::kPermanent, std::nullopt,
              "HTTP " + std::to_string(status) + ": " + Snippet(body)};
    }
    case ChannelType::kDingTalk:
    case ChannelType::kWeCom:
      return ErrcodeOutcome(type, status, body);
    case ChannelType::kWebhook:
    case ChannelType::kEmail:
    case ChannelType::kAlertmanager:  // 200 accepted, 400 invalid alert, 5xx unavailable
      break;
  }
  if (status >= 200 && status < 300)
    return {Kind::kDelivered, std::nullopt, "HTTP " + std::to_string(status)};
  if (status == 408 || status == 425 || status == 429 || status >= 500) {
    return {Kind::kRetry, retry_after, "HTTP " + std::to_string(status) + ": " + Snippet(body)};
  }
  return {Kind::kPermanent, std::nullopt, "HTTP " + std::to_string(status) + ": " + Snippet(body)};
}

Outcome ClassifyTransportError(bool retryable, std::string_view what) {
  return {retryable ? Kind::kRetry : Kind::kPermanent, std::nullopt, Snippet(what)};
}

std::chrono::milliseconds Backoff(int attempt, std::chrono::milliseconds base,
                                  std::chrono::milliseconds max, double random01) {
  const int exponent = std::clamp(attempt, 1, 40) - 1;
  const double raw = static_cast<double>(base.count()) * std::pow(2.0, exponent);
  const double d = std::min(raw, static_cast<double>(max.count()));
  const double r = std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(d / 2 + r * d / 2));
}

core::SystemTime NextAttemptAt(core::SystemTime now, int attempt, const Outcome& outcome,
                               std::chrono::milliseconds base, std::chrono::milliseconds max,
                               double random01) {
  auto wait = Backoff(attempt, base, max, random01);
  if (outcome.retry_after) {
    const auto floor = Backoff(attempt, base, max, 0.0);
    wait = std::max(*outcome.retry_after, floor);
  }
  return now + wait;
}

RateWindow CurrentRateWindow(core::SystemTime now, std::chrono::milliseconds length) {
  const std::int64_t ms = core::ToUnixMillis(now);
  const std::int64_t len = std::max<std::int64_t>(1, length.count());
  const std::int64_t start = ms - (ms % len + len) % len;
  return {start, std::chrono::milliseconds(start + len - ms)};
}

std::string RateLimitKey(std::string_view prefix, std::string_view channel, const RateWindow& w) {
  return std::string(prefix) + "rate:" + std::string(channel) + ":" + std::to_string(w.start_ms);
}

bool WithinRateLimit(std::int64_t count, int limit) { return limit <= 0 || count <= limit; }

}  // namespace sluice::notifier
