#include <gtest/gtest.h>

#include <sluice/core/rfc3339.hpp>
#include <sluice/core/time_range.hpp>
#include <string>

namespace sluice::core {
namespace {

const SystemTime kNow = FromUnixMillis(1796119200000);  // 2026-12-01T10:00:00Z
constexpr std::int64_t kNowUs = 1796119200000LL * 1000;

TimeRange Range(std::optional<std::string_view> since, std::optional<std::string_view> until) {
  auto r = ParseTimeRange(since, until, kNow);
  if (auto* e = std::get_if<TimeRangeError>(&r)) {
    ADD_FAILURE() << e->field << ": " << e->message;
    return {};
  }
  return std::get<TimeRange>(r);
}

std::string RefusedField(std::optional<std::string_view> since,
                         std::optional<std::string_view> until) {
  auto r = ParseTimeRange(since, until, kNow);
  const auto* e = std::get_if<TimeRangeError>(&r);
  return e == nullptr ? "(accepted)" : e->field;
}

TEST(TimeRangeTest, AbsentBoundsAreAnOpenRange) {
  EXPECT_EQ(Range(std::nullopt, std::nullopt), TimeRange{});
  EXPECT_TRUE(TimeRange{}.Contains(0));
}

TEST(TimeRangeTest, ReadsRfc3339TimesAsMicroseconds) {
  const auto r = Range("2026-12-01T09:00:00Z", "2026-12-01T12:00:00+02:00");
  EXPECT_EQ(r.since_us, kNowUs - 3600LL * 1000000);
  EXPECT_EQ(r.until_us, kNowUs);
}

TEST(TimeRangeTest, ReadsADurationAsThatLongBeforeNow) {
  EXPECT_EQ(Range("24h", std::nullopt).since_us, kNowUs - 24LL * 3600 * 1000000);
  EXPECT_EQ(Range("1h30m", "30m").since_us, kNowUs - 90LL * 60 * 1000000);
  EXPECT_EQ(Range("1h30m", "30m").until_us, kNowUs - 30LL * 60 * 1000000);
  EXPECT_EQ(Range("0s", std::nullopt).since_us, kNowUs);
  EXPECT_EQ(Range("3650d", std::nullopt).since_us, kNowUs - 3650LL * 86400 * 1000000);
}

TEST(TimeRangeTest, SinceIsInclusiveAndUntilExclusive) {
  const auto r = Range("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z");
  EXPECT_TRUE(r.Contains(kNowUs - 3600LL * 1000000));
  EXPECT_FALSE(r.Contains(kNowUs - 3600LL * 1000000 - 1));
  EXPECT_TRUE(r.Contains(kNowUs - 1));
  EXPECT_FALSE(r.Contains(kNowUs));
}

TEST(TimeRangeTest, AFractionFinerThanAMicrosecondRoundsUp) {
  // 09:00:00.0000005: a row stored at 09:00:00.000000 is before it, one at .000001 is not.
  const auto r = Range("2026-12-01T09:00:00.0000005Z", "2026-12-01T09:00:00.0000015Z");
  EXPECT_EQ(r.since_us, kNowUs - 3600LL * 1000000 + 1);
  EXPECT_EQ(r.until_us, kNowUs - 3600LL * 1000000 + 2);
}

TEST(TimeRangeTest, MalformedBoundsNameTheirField) {
  for (const char* bad : {"", "yesterday", "2026-12-01", "2026-12-01T09:00:00", "-1h", "1.5h", "24",
                          "2026-13-01T00:00:00Z", "3651d", "1h 30m", "2026-12-01T09:00:00Z "}) {
    EXPECT_EQ(RefusedField(bad, std::nullopt), "since") << bad;
    EXPECT_EQ(RefusedField(std::nullopt, bad), "until") << bad;
  }
  EXPECT_EQ(RefusedField(std::string(65, '1') + "s", std::nullopt), "since");
  // since is read first: both wrong names since.
  EXPECT_EQ(RefusedField("x", "y"), "since");
}

TEST(TimeRangeTest, SinceAfterUntilNamesUntilAndEqualBoundsAreEmpty) {
  EXPECT_EQ(RefusedField("2026-12-01T10:00:00Z", "2026-12-01T09:00:00Z"), "until");
  EXPECT_EQ(RefusedField("1h", "2h"), "until");
  const auto empty = Range("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z");
  EXPECT_FALSE(empty.Contains(kNowUs));
}

TEST(TimeRangeTest, FormattedBoundsReadBackToTheSameMicrosecond) {
  for (const std::int64_t us : {kNowUs, kNowUs + 1, kNowUs - 999999, std::int64_t{0},
                                std::int64_t{-1}, std::int64_t{-1500000}}) {
    const std::string text = FormatTimeRangeBound(us);
    EXPECT_EQ(Range(text, std::nullopt).since_us, us) << text;
  }
  EXPECT_EQ(FormatTimeRangeBound(kNowUs + 5), "2026-12-01T10:00:00.000005Z");
  EXPECT_EQ(FormatTimeRangeBound(-1), "1969-12-31T23:59:59.999999Z");
}

}  // namespace
}  // namespace sluice::core
