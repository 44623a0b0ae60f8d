#pragma once

// The `since` and `until` filters of the public lists (GET /v1/deployments, GET /v1/releases): a
// half-open range of creation times, [since, until). One reading for every list and every
// service, so release-intake and the rollout-planner filter on the same instants. Pure: the time
// a duration counts back from is an argument.

#include <cstdint>
#include <optional>
#include <sluice/core/clock.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace sluice::core {

// Bounds in microseconds since the epoch (PostgreSQL's timestamptz precision), each rounded up
// to a whole microsecond: a stored time t is in the range when since_us <= t and t < until_us,
// which for microsecond times is exactly since <= t < until at the precision given.
struct TimeRange {
  std::optional<std::int64_t> since_us;
  std::optional<std::int64_t> until_us;

  bool Contains(std::int64_t t_us) const {
    return (!since_us || t_us >= *since_us) && (!until_us || t_us < *until_us);
  }
  bool operator==(const TimeRange&) const = default;
};

// The longest duration a bound may count back from now (ten years).
inline constexpr std::int64_t kMaxTimeRangeLookbackMs = 3650LL * 24 * 3600 * 1000;
// The longest bound text read; longer is malformed.
inline constexpr std::size_t kMaxTimeRangeBoundChars = 64;

struct TimeRangeError {
  std::string field;  // "since" or "until"
  std::string message;
};

// `since` and `until` as given (nullopt: absent). Each is an RFC 3339 time (core::ParseRfc3339:
// "2026-12-01T00:00:00Z", an offset, a fraction) or a duration in core::ParseDuration's grammar
// ("24h", "1h30m", "7d", at most ten years) meaning that long before `now`. An empty value, any
// other text or one longer than kMaxTimeRangeBoundChars is an error naming its field; since
// later than until is an error naming "until" (equal bounds are an empty range, not an error).
std::variant<TimeRange, TimeRangeError> ParseTimeRange(std::optional<std::string_view> since,
                                                       std::optional<std::string_view> until,
                                                       SystemTime now);

// A bound as RFC 3339 UTC with microseconds ("2026-12-01T00:00:00.000000Z"), the form a service
// forwards to another: ParseTimeRange reads it back to the same microsecond.
std::string FormatTimeRangeBound(std::int64_t us);

}  // namespace sluice::core
