#include "sluice/core/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace sluice::core {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDurationTest, EveryUnit) {
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("5s"), seconds(5));
  EXPECT_EQ(ParseDuration("2m"), minutes(2));
  EXPECT_EQ(ParseDuration("1h"), hours(1));
  EXPECT_EQ(ParseDuration("90d"), hours(90 * 24));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDurationTest, SumsOfTerms) {
  EXPECT_EQ(ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(ParseDuration("1m30s"), seconds(90));
  EXPECT_EQ(ParseDuration("1s250ms"), milliseconds(1250));
  EXPECT_EQ(ParseDuration("1d12h"), hours(36));
  EXPECT_EQ(ParseDuration("1m1ms"), milliseconds(60'001));
  // Terms may repeat and come in any order: the value is their sum.
  EXPECT_EQ(ParseDuration("30s1m"), seconds(90));
}

TEST(ParseDurationTest, SaysWhyItRefuses) {
  const auto why = [](std::string_view s) {
    std::string error;
    EXPECT_FALSE(ParseDuration(s, &error)) << s;
    return error;
  };
  EXPECT_EQ(why(""), "empty");
  EXPECT_EQ(why("-5s"), "negative");
  EXPECT_EQ(why("s"), "no number");
  EXPECT_EQ(why(" 5s"), "no number");
  EXPECT_EQ(why("5"), "missing unit");
  EXPECT_EQ(why("1m30"), "missing unit");
  EXPECT_EQ(why("5w"), "unknown unit");
  EXPECT_EQ(why("5min"), "unknown unit");
  EXPECT_EQ(why("5mss"), "unknown unit");
  EXPECT_EQ(why("1.5s"), "unknown unit");
  EXPECT_EQ(why("5s "), "unknown unit");
  EXPECT_EQ(why("5S"), "unknown unit");
  EXPECT_EQ(why("99999999999999h"), "too large");
  EXPECT_EQ(why("99999999999999999999ms"), "too large");
  EXPECT_EQ(why("9223372036854775807ms1ms"), "too large");
}

TEST(ParseDurationTest, ErrorIsOptional) {
  EXPECT_FALSE(ParseDuration("soon"));
  EXPECT_EQ(ParseDuration("9223372036854775807ms"), milliseconds(9223372036854775807));
}

TEST(FormatDurationTest, LargestUnitsFirstAndRoundTrips) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(milliseconds(20000)), "20s");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(60500)), "1m500ms");
  EXPECT_EQ(FormatDuration(milliseconds(129600000)), "36h");
  EXPECT_EQ(FormatDuration(milliseconds(-1500)), "-1s500ms");
  for (const auto ms : {1LL, 999LL, 1000LL, 61001LL, 3600000LL, 90061001LL}) {
    EXPECT_EQ(ParseDuration(FormatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
}

}  // namespace
}  // namespace sluice::core
