#include <gtest/gtest.h>

#include <sluice/core/rfc3339.hpp>

namespace sluice::core {
namespace {

TEST(Rfc3339Test, ParseRfc3339ReadsWhatFormatRfc3339Writes) {
  for (const std::int64_t ms : {0LL, 1764064800123LL, 951782400000LL, 4102444799999LL}) {
    const auto t = FromUnixMillis(ms);
    EXPECT_EQ(ParseRfc3339(FormatRfc3339(t)), t) << FormatRfc3339(t);
  }
}

TEST(Rfc3339Test, ParseRfc3339ReadsFractionsAndOffsets) {
  const auto base = FromUnixMillis(1764064800000);  // 2025-11-25T10:00:00Z
  EXPECT_EQ(ParseRfc3339("2025-11-25T10:00:00Z"), base);
  EXPECT_EQ(ParseRfc3339("2025-11-25t10:00:00z"), base);
  EXPECT_EQ(ParseRfc3339("2025-11-25T10:00:00.5Z"), base + std::chrono::milliseconds(500));
  EXPECT_EQ(ParseRfc3339("2025-11-25T10:00:00.123456789Z"),
            base + std::chrono::nanoseconds(123456789));
  EXPECT_EQ(ParseRfc3339("2025-11-25T10:00:00.1234567891Z"),
            base + std::chrono::nanoseconds(123456789));
  EXPECT_EQ(ParseRfc3339("2025-11-25 10:00:00Z"), base);
  EXPECT_EQ(ParseRfc3339("2025-11-25T09:59:60Z"), base);  // a leap second
  EXPECT_EQ(ParseRfc3339("2025-11-25T18:00:00+08:00"), base);
  EXPECT_EQ(ParseRfc3339("2025-11-25T04:30:00-05:30"), base);
  EXPECT_EQ(ParseRfc3339("2024-02-29T00:00:00Z"), FromUnixMillis(1709164800000));
}

TEST(Rfc3339Test, ParseRfc3339RefusesWhatIsNotOne) {
  for (const char* bad :
       {"", "2025-11-25", "2025-11-25T10:00:00", "2025-11-25_10:00:00Z", "2025-13-01T00:00:00Z",
        "2025-11-25T10:00:61Z", "2025-02-29T00:00:00Z", "2025-11-31T00:00:00Z",
        "2025-11-25T24:00:00Z", "2025-11-25T10:60:00Z", "2025-11-25T10:00:00.Z",
        "2025-11-25T10:00:00Zjunk", "2025-11-25T10:00:00+0800", "2025-11-25T10:00:00+24:00",
        "20x5-11-25T10:00:00Z", "1764064800", "1677-12-31T23:59:59Z", "2262-04-12T00:00:00Z",
        "0000-01-01T00:00:00Z"}) {
    EXPECT_EQ(ParseRfc3339(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace sluice::core
