#include "sluice/core/duration.hpp"

#include <cstdint>
#include <limits>
#include <utility>

namespace sluice::core {

namespace {

// The unit at the front of `s` in milliseconds and its length, or {0, 0}.
std::pair<std::int64_t, std::size_t> Unit(std::string_view s) {
  if (s.substr(0, 2) == "ms") return {1, 2};
  if (s.empty()) return {0, 0};
  switch (s.front()) {
    case 'd':
      return {std::int64_t{86'400'000}, 1};
    case 'h':
      return {std::int64_t{3'600'000}, 1};
    case 'm':
      return {std::int64_t{60'000}, 1};
    case 's':
      return {std::int64_t{1'000}, 1};
    default:
      return {0, 0};
  }
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string* error) {
  const auto fail = [&](const char* why) -> std::optional<std::chrono::milliseconds> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  if (text.empty()) return fail("empty");
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  std::string_view s = text;
  while (!s.empty()) {
    if (!IsDigit(s.front())) {
      if (s.front() == '-') return fail("negative");
      // After a term a letter is the tail of a unit this grammar does not know ("5min").
      return fail(s.size() < text.size() ? "unknown unit" : "no number");
    }
    std::int64_t n = 0;
    while (!s.empty() && IsDigit(s.front())) {
      const int digit = s.front() - '0';
      if (n > (kMax - digit) / 10) return fail("too large");
      n = n * 10 + digit;
      s.remove_prefix(1);
    }
    if (s.empty()) return fail("missing unit");
    const auto [unit, length] = Unit(s);
    if (unit == 0) return fail("unknown unit");
    s.remove_prefix(length);
    if (n > (kMax - total) / unit) return fail("too large");
    total += n * unit;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() < 0) return "-" + FormatDuration(-d);
  if (d.count() == 0) return "0s";
  static constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  std::string out;
  auto left = static_cast<std::int64_t>(d.count());
  for (const auto& [size, unit] : kUnits) {
    if (left >= size) {
      out += std::to_string(left / size) + unit;
      left %= size;
    }
  }
  return out;
}

}  // namespace sluice::core
