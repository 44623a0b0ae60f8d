#include <chrono>
#include <cstdio>
#include <ctime>
#include <sluice/core/duration.hpp>
#include <sluice/core/rfc3339.hpp>
#include <sluice/core/time_range.hpp>

namespace sluice::core {
namespace {

// Microseconds since the epoch, rounded up (a time between two microseconds belongs to the later
// one: since <= t and t < until then hold for the microsecond times a database stores).
std::int64_t CeilMicros(SystemTime t) {
  return std::chrono::ceil<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::variant<std::int64_t, TimeRangeError> ParseBound(std::string_view field, std::string_view text,
                                                      SystemTime now) {
  const auto refuse = [&] {
    return TimeRangeError{std::string(field),
                          std::string(field) +
                              " must be an RFC 3339 time such as 2026-12-01T00:00:00Z or a "
                              "duration before now such as 24h or 1h30m (at most 3650d)"};
  };
  if (text.empty() || text.size() > kMaxTimeRangeBoundChars) return refuse();
  if (const auto t = ParseRfc3339(text)) return CeilMicros(*t);
  // A duration: digits first, never a date's "YYYY-" (ParseDuration refuses those anyway).
  const auto d = ParseDuration(text);
  if (!d || d->count() > kMaxTimeRangeLookbackMs) return refuse();
  return CeilMicros(now) - d->count() * 1000;
}

}  // namespace

std::variant<TimeRange, TimeRangeError> ParseTimeRange(std::optional<std::string_view> since,
                                                       std::optional<std::string_view> until,
                                                       SystemTime now) {
  TimeRange range;
  if (since) {
    auto bound = ParseBound("since", *since, now);
    if (auto* e = std::get_if<TimeRangeError>(&bound)) return std::move(*e);
    range.since_us = std::get<std::int64_t>(bound);
  }
  if (until) {
    auto bound = ParseBound("until", *until, now);
    if (auto* e = std::get_if<TimeRangeError>(&bound)) return std::move(*e);
    range.until_us = std::get<std::int64_t>(bound);
  }
  if (range.since_us && range.until_us && *range.since_us > *range.until_us) {
    return TimeRangeError{"until", "until must not be earlier than since"};
  }
  return range;
}

std::string FormatTimeRangeBound(std::int64_t us) {
  // Floor division: a time before the epoch still has a fraction in [0, 1 s).
  std::int64_t secs = us / 1000000;
  std::int64_t micros = us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --secs;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

}  // namespace sluice::core
