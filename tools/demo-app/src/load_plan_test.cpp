#include "load_plan.hpp"

#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>

namespace sluice::demo {
namespace {

using namespace std::chrono_literals;

TEST(Pacer, SpacesStartsByTheInterval) {
  core::testing::ManualClock clock;
  Pacer pacer(10);
  EXPECT_EQ(pacer.Interval(), 100ms);
  const auto t0 = clock.Monotonic();
  // Four workers claim at once: they get consecutive slots, not the same one.
  EXPECT_EQ(pacer.Claim(t0), t0);
  EXPECT_EQ(pacer.Claim(t0), t0 + 100ms);
  EXPECT_EQ(pacer.Claim(t0), t0 + 200ms);
  EXPECT_EQ(pacer.Claim(t0), t0 + 300ms);
}

TEST(Pacer, NeverCatchesUpInABurst) {
  core::testing::ManualClock clock;
  Pacer pacer(5);  // 200 ms
  const auto t0 = clock.Monotonic();
  EXPECT_EQ(pacer.Claim(t0), t0);
  // The worker was stuck on a slow response for 2 s: the next slot is now, and the one after
  // is a full interval later, not the 9 missed slots at once.
  clock.Advance(2s);
  const auto t1 = clock.Monotonic();
  EXPECT_EQ(pacer.Claim(t1), t1);
  EXPECT_EQ(pacer.Claim(t1), t1 + 200ms);
}

TEST(Pacer, NoWindowExceedsTheRate) {
  core::testing::ManualClock clock;
  Pacer pacer(7);
  std::vector<core::MonotonicTime> starts;
  // Claims arrive irregularly (sometimes several at once, sometimes late).
  const std::chrono::milliseconds steps[] = {0ms, 0ms, 5ms, 300ms, 0ms, 0ms, 0ms, 50ms, 900ms, 1ms};
  for (int round = 0; round < 30; ++round) {
    for (const auto s : steps) {
      clock.Advance(s);
      const auto slot = pacer.Claim(clock.Monotonic());
      EXPECT_GE(slot, clock.Monotonic());
      starts.push_back(slot);
    }
  }
  std::sort(starts.begin(), starts.end());
  for (std::size_t i = 1; i < starts.size(); ++i) {
    EXPECT_GE(starts[i] - starts[i - 1], pacer.Interval());
  }
  // Any one-second window holds at most 7 starts.
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::size_t n = 0;
    for (std::size_t j = i; j < starts.size() && starts[j] < starts[i] + 1s; ++j) ++n;
    EXPECT_LE(n, 7u);
  }
}

TEST(Pacer, RefusesANonPositiveRate) {
  EXPECT_THROW(Pacer(0), std::invalid_argument);
  EXPECT_THROW(Pacer(-1), std::invalid_argument);
}

TEST(Pacer, FractionalRates) {
  Pacer pacer(0.5);
  EXPECT_EQ(pacer.Interval(), 2s);
}

TEST(ParseTargets, LinesCommentsAndUrls) {
  const auto t = ParseTargets(
      "# demo hosts\n"
      "10.77.0.11:8000\n"
      "\n"
      "  http://127.0.0.1:18001/   # loopback host\r\n"
      "localhost:80");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], "http://10.77.0.11:8000");
  EXPECT_EQ(t[1], "http://127.0.0.1:18001");
  EXPECT_EQ(t[2], "http://localhost:80");
}

TEST(ParseTargets, NamesTheBadLine) {
  try {
    ParseTargets("10.77.0.11:8000\nnot-an-address\n");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParseTargets("https://x:1\n"), std::invalid_argument);
  EXPECT_THROW(ParseTargets("x:0\n"), std::invalid_argument);
  EXPECT_TRUE(ParseTargets("# nothing\n\n").empty());
}

}  // namespace
}  // namespace sluice::demo
