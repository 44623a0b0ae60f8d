#pragma once

// Delivery decisions, pure: what request a channel sends, what a receiver's answer means
// (delivered / try again later / give up), how long to wait before the next attempt, and the
// fixed windows of the per-channel rate limits.

#include <chrono>
#include <cstdint>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/http/client.hpp>
#include <string>
#include <string_view>

#include "notification.hpp"
#include "routing.hpp"
#include "templates.hpp"

namespace sluice::notifier {

// Resolved secrets of one channel (from the environment or mounted files). Never logged.
struct ChannelSecrets {
  std::string url;
  std::string secret;
  std::string username;
  std::string password;
};

// The HTTP request a slack / dingtalk / wecom / webhook / alertmanager channel sends for a
// notice at `now` (DingTalk signs with now's Unix milliseconds; Alertmanager's endsAt counts
// from now). Not for email channels.
http::ClientRequest BuildHttpRequest(const ChannelSpec& spec, const ChannelSecrets& secrets,
                                     const Notification& n, const RenderedText& text,
                                     core::SystemTime now);

struct Outcome {
  enum class Kind { kDelivered, kRetry, kPermanent };
  Kind kind = Kind::kDelivered;
  // For kRetry: the receiver's own wait (Slack Retry-After, DingTalk/WeCom rate limits).
  std::optional<std::chrono::milliseconds> retry_after;
  std::string detail;  // short, safe to store and log (no URL, no secret)
  bool operator==(const Outcome&) const = default;
};

// Reads a receiver's answer.
//  slack:    200 with body "ok" delivered; 429 retry (Retry-After seconds); 5xx retry; other
//            statuses and error bodies (invalid_payload, channel_not_found, no_service, ...)
//            permanent.
//  dingtalk: HTTP 200 with {"errcode":0} delivered; errcode 130101 (too fast) retry after 60 s;
//            -1 (busy) retry; other errcodes permanent (310000 signature / keyword / IP, 300001
//            bad token, ...).
//  wecom:    {"errcode":0} delivered; 45009 (frequency limit) retry after 60 s; -1 retry;
//            other errcodes permanent (93000 bad webhook key, 40008 bad message type, ...).
//  webhook and alertmanager: 2xx delivered; 408, 425, 429 (Retry-After honoured) and 5xx retry;
//            others permanent (Alertmanager answers 400 to an alert it refuses).
Outcome ClassifyHttpResponse(ChannelType type, long status, std::string_view body,
                             const std::optional<std::string>& retry_after_header);
// A transport failure (no HTTP status).
Outcome ClassifyTransportError(bool retryable, std::string_view what);

// Retry-After as delta-seconds; nullopt for anything else (HTTP dates are not honoured).
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value);

// Exponential backoff with equal jitter: d = min(max, base * 2^(attempt-1)); the wait is
// d/2 + random01 * d/2 (random01 in [0, 1)). attempt counts from 1.
std::chrono::milliseconds Backoff(int attempt, std::chrono::milliseconds base,
                                  std::chrono::milliseconds max, double random01);

// When the next attempt is due after a retryable outcome: the receiver's wait when it gave one
// (but at least the backoff's lower half), else the backoff.
core::SystemTime NextAttemptAt(core::SystemTime now, int attempt, const Outcome& outcome,
                               std::chrono::milliseconds base, std::chrono::milliseconds max,
                               double random01);

// A fixed rate-limit window: the Redis key suffix (window start in ms) and how long is left.
struct RateWindow {
  std::int64_t start_ms;
  std::chrono::milliseconds remaining;
};
RateWindow CurrentRateWindow(core::SystemTime now, std::chrono::milliseconds length);
// "sluice:notifier:rate:<channel>:<window start ms>"
std::string RateLimitKey(std::string_view prefix, std::string_view channel, const RateWindow& w);
// Whether the count returned by INCR (this send included) is within `limit` (0 = unlimited).
bool WithinRateLimit(std::int64_t count, int limit);

}  // namespace sluice::notifier
