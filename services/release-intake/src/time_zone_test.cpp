#include "time_zone.hpp"

#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>

#include "promotion.hpp"

namespace sluice::release_intake {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

// 2026-12-07 (a Monday) 00:00:00 UTC.
constexpr std::int64_t kMonday = 1796601600;
constexpr std::int64_t kHour = 3600;

std::int64_t Ms(std::int64_t s) { return s * 1000; }

spec::DeploymentWindow Window(std::vector<int> days, int start, int end, std::string zone) {
  return spec::DeploymentWindow{std::move(days), start, end, std::move(zone)};
}

std::map<std::string, TimeZone> Zones() {
  std::map<std::string, TimeZone> z;
  z.emplace("UTC", TimeZone::Fixed("UTC", seconds(0)));
  z.emplace("Europe/Berlin", TimeZone::Fixed("Europe/Berlin", hours(1)));
  return z;
}

TEST(DeploymentWindowTest, NoWindowsMeansAnyTime) {
  EXPECT_TRUE(CheckWindows({}, Zones(), Ms(kMonday)).open);
}

TEST(DeploymentWindowTest, InsideAndOutsideAWeekdayWindowInItsZone) {
  // Mon-Fri 09:00-17:00 Berlin (UTC+1): 08:00-16:00 UTC.
  const std::vector<spec::DeploymentWindow> w = {
      Window({1, 2, 3, 4, 5}, 540, 1020, "Europe/Berlin")};
  EXPECT_TRUE(CheckWindows(w, Zones(), Ms(kMonday + 8 * kHour)).open);
  EXPECT_TRUE(CheckWindows(w, Zones(), Ms(kMonday + 16 * kHour - 1)).open);
  auto s = CheckWindows(w, Zones(), Ms(kMonday + 7 * kHour));  // 08:00 Berlin
  EXPECT_FALSE(s.open);
  EXPECT_EQ(s.next_open_ms, Ms(kMonday + 8 * kHour));
  EXPECT_EQ(s.next_open_local, "Mon 09:00 Europe/Berlin");
  s = CheckWindows(w, Zones(), Ms(kMonday + 16 * kHour));  // 17:00 Berlin: closed till Tuesday
  EXPECT_FALSE(s.open);
  EXPECT_EQ(s.next_open_ms, Ms(kMonday + 32 * kHour));
  // Friday evening: next Monday.
  s = CheckWindows(w, Zones(), Ms(kMonday + 4 * 24 * kHour + 20 * kHour));
  EXPECT_EQ(s.next_open_ms, Ms(kMonday + 7 * 24 * kHour + 8 * kHour));
  EXPECT_EQ(s.next_open_local, "Mon 09:00 Europe/Berlin");
}

TEST(DeploymentWindowTest, AWindowPastMidnightBelongsToTheDayItStarts) {
  // Fri 22:00-02:00 UTC: open Friday 23:00 and Saturday 01:00, closed Saturday 03:00.
  const std::vector<spec::DeploymentWindow> w = {Window({5}, 1320, 120, "UTC")};
  const std::int64_t friday = kMonday + 4 * 24 * kHour;
  EXPECT_TRUE(CheckWindows(w, Zones(), Ms(friday + 23 * kHour)).open);
  EXPECT_TRUE(CheckWindows(w, Zones(), Ms(friday + 25 * kHour)).open);
  const auto s = CheckWindows(w, Zones(), Ms(friday + 27 * kHour));
  EXPECT_FALSE(s.open);
  EXPECT_EQ(s.next_open_ms, Ms(friday + 7 * 24 * kHour + 22 * kHour));
}

TEST(DeploymentWindowTest, TheEarliestOfSeveralWindowsOpensNext) {
  const std::vector<spec::DeploymentWindow> w = {Window({3}, 600, 660, "UTC"),
                                                 Window({2}, 900, 960, "UTC")};
  const auto s = CheckWindows(w, Zones(), Ms(kMonday));
  EXPECT_EQ(s.next_open_ms, Ms(kMonday + 24 * kHour + 15 * kHour));  // Tuesday 15:00
}

TEST(DeploymentWindowTest, AZoneChangingItsOffsetIsFollowed) {
  // UTC+1, then UTC+2 from Monday 01:00 UTC (as at a DST change).
  std::map<std::string, TimeZone> zones;
  zones.emplace("X/Y", TimeZone::FromTransitions("X/Y", hours(1), {kMonday + kHour}, {hours(2)}));
  const std::vector<spec::DeploymentWindow> w = {Window({1}, 540, 600, "X/Y")};
  const auto s = CheckWindows(w, zones, Ms(kMonday));
  EXPECT_EQ(s.next_open_ms, Ms(kMonday + 7 * kHour));  // 09:00 at UTC+2
}

TEST(DeploymentWindowTest, AMissingZoneNeverOpens) {
  const std::vector<spec::DeploymentWindow> w = {
      Window({0, 1, 2, 3, 4, 5, 6}, 0, 1439, "No/Where")};
  const auto s = CheckWindows(w, Zones(), Ms(kMonday + kHour));
  EXPECT_FALSE(s.open);
  EXPECT_FALSE(s.next_open_ms);
}

TEST(DeploymentWindowTest, TheGateRefusesOutsideAWindowNamingTheNextOpening) {
  spec::Environment env;
  env.name = "production";
  env.windows = {Window({1, 2, 3, 4, 5}, 540, 1020, "Europe/Berlin")};
  const auto zones = Zones();
  GateInput in{"shop", "production", "rel-1", "1.0.0", &env, {}, std::nullopt};
  in.zones = &zones;
  in.now_ms = Ms(kMonday + 7 * kHour);
  const auto r = CheckGate(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "outside_window");
  EXPECT_EQ(r->detail["next_open_ms"], Ms(kMonday + 8 * kHour));
  EXPECT_EQ(r->detail["next_open"], "2026-12-07T08:00:00.000Z");
  EXPECT_EQ(r->detail["windows"][0], "mon-fri 09:00-17:00 Europe/Berlin");
  EXPECT_NE(r->message.find("Mon 09:00 Europe/Berlin"), std::string::npos) << r->message;
  in.now_ms = Ms(kMonday + 9 * kHour);
  EXPECT_FALSE(CheckGate(in));
}

// A deployment requested outside the windows waits (promotion_waits.hpp); each time its timer
// fires the gate is checked again at the clock's time.
struct WaitingDeployment {
  spec::Environment env;
  std::map<std::string, TimeZone> zones = Zones();
  core::testing::ManualClock clock{core::SystemTime(std::chrono::seconds(kMonday + 7 * kHour))};
  std::optional<EnvFreeze> freeze;

  WaitingDeployment() {
    env.name = "production";
    env.windows = {Window({1, 2, 3, 4, 5}, 540, 1020, "Europe/Berlin")};
  }
  WaitStep Look() {
    GateInput in{"shop", "production", "rel-1", "1.0.0", &env, {}, freeze};
    in.zones = &zones;
    in.now_ms = core::ToUnixMillis(clock.Now());
    return NextWaitStep(in);
  }
  // The clock moved to when the timer is due.
  WaitStep FireAt(std::int64_t due_ms) {
    clock.Set(core::SystemTime(std::chrono::milliseconds(due_ms)));
    return Look();
  }
};

TEST(DeploymentWaitTest, OutsideTheWindowsItWaitsWithTheReasonUntilTheNextOpening) {
  WaitingDeployment d;  // Monday 08:00 Berlin: the window opens at 09:00
  const auto step = d.Look();
  ASSERT_FALSE(step.start);
  ASSERT_TRUE(step.reason);
  EXPECT_TRUE(WaitsForWindow(*step.reason));
  EXPECT_EQ(step.reason->code, "outside_window");
  EXPECT_EQ(step.wake_at_ms, Ms(kMonday + 8 * kHour));
  const auto waiting = WaitingJson(GateRefusalBody(*step.reason)["error"]);
  EXPECT_EQ(waiting["code"], "outside_window");
  EXPECT_EQ(waiting["next_open_ms"], Ms(kMonday + 8 * kHour));
  EXPECT_EQ(waiting["next_open"], "2026-12-07T08:00:00.000Z");
  EXPECT_NE(waiting["message"].get<std::string>().find("Mon 09:00 Europe/Berlin"),
            std::string::npos);
}

TEST(DeploymentWaitTest, ItStartsWhenTheWindowOpens) {
  WaitingDeployment d;
  const auto waiting = d.Look();
  // A timer firing a little early finds it still closed and looks again at the opening.
  const auto early = d.FireAt(waiting.wake_at_ms - 500);
  ASSERT_FALSE(early.start);
  EXPECT_EQ(early.wake_at_ms, waiting.wake_at_ms);
  EXPECT_TRUE(d.FireAt(waiting.wake_at_ms).start);
}

TEST(DeploymentWaitTest, FrozenAtTheOpeningItKeepsWaitingWithThatReason) {
  WaitingDeployment d;
  const auto waiting = d.Look();
  d.freeze = EnvFreeze{"shop", "production", "incident 42", "alice-admin", 1000};
  auto step = d.FireAt(waiting.wake_at_ms);
  ASSERT_FALSE(step.start);
  ASSERT_TRUE(step.reason);
  EXPECT_EQ(step.reason->code, "environment_frozen");
  EXPECT_FALSE(WaitsForWindow(*step.reason));
  EXPECT_EQ(step.wake_at_ms, waiting.wake_at_ms + kWaitRecheckMs);
  // Still frozen at the next look; lifted at the one after, inside the window: it starts.
  step = d.FireAt(step.wake_at_ms);
  ASSERT_FALSE(step.start);
  d.freeze.reset();
  EXPECT_TRUE(d.FireAt(step.wake_at_ms).start);
}

TEST(DeploymentWaitTest, AFreezeLiftedAfterTheWindowClosedWaitsForTheNextOpening) {
  WaitingDeployment d;
  d.freeze = EnvFreeze{"shop", "production", "incident 42", "alice-admin", 1000};
  auto step = d.FireAt(Ms(kMonday + 15 * kHour + 59 * 60 + 45));  // 16:59:45 Berlin, frozen
  EXPECT_EQ(step.reason->code, "environment_frozen");
  d.freeze.reset();
  step = d.FireAt(step.wake_at_ms);  // 17:00:15: closed till Tuesday 09:00
  ASSERT_FALSE(step.start);
  EXPECT_EQ(step.reason->code, "outside_window");
  EXPECT_EQ(step.wake_at_ms, Ms(kMonday + 24 * kHour + 8 * kHour));
}

TEST(DeploymentWaitTest, OnlyAWindowWithANextOpeningWaits) {
  spec::Environment env;
  env.name = "production";
  env.windows = {Window({1}, 540, 600, "Mars/Olympus")};  // a zone that never opens
  const auto zones = Zones();
  GateInput in{"shop", "production", "rel-1", "1.0.0", &env, {}, std::nullopt};
  in.zones = &zones;
  in.now_ms = Ms(kMonday);
  const auto r = CheckGate(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "outside_window");
  EXPECT_FALSE(WaitsForWindow(*r));
  EXPECT_EQ(NextWaitStep(in).wake_at_ms, Ms(kMonday) + kWaitNoOpeningRecheckMs);
}

TEST(TimeZoneTest, ATzifFileIsRead) {
  // A version-1 TZif file: UTC+1 ("CET"), UTC+2 ("CEST") from 1000000000.
  std::string b = "TZif";
  b += std::string(16, '\0');
  auto be32 = [&](std::uint32_t v) {
    for (int i = 3; i >= 0; --i) b += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  be32(0);  // isutcnt
  be32(0);  // isstdcnt
  be32(0);  // leapcnt
  be32(1);  // timecnt
  be32(2);  // typecnt
  be32(4);  // charcnt
  be32(1000000000);
  b += '\1';
  be32(3600);
  b += '\0';
  b += '\0';
  be32(7200);
  b += '\1';
  b += '\0';
  b += "CET";
  b += '\0';
  const auto z = TimeZone::FromTzif("X/Y", b);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->OffsetAt(999999999), hours(1));
  EXPECT_EQ(z->OffsetAt(1000000000), hours(2));
  EXPECT_FALSE(TimeZone::FromTzif("X/Y", b.substr(0, 50)));
  EXPECT_FALSE(TimeZone::FromTzif("X/Y", "not a zone"));
}

}  // namespace
}  // namespace sluice::release_intake
