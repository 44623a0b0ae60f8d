#include "faults.hpp"

#include <gtest/gtest.h>

namespace sluice::demo {
namespace {

using namespace std::chrono_literals;

TEST(ApplyFaults, TheReleaseDefaults) {
  const auto f =
      ApplyFaultsText(Faults{}, std::string_view(R"({"error_rate":0.0,"latency_ms":20})"));
  EXPECT_EQ(f.error_rate, 0.0);
  EXPECT_EQ(f.latency_ms, 20);
  EXPECT_EQ(f.EffectiveJitterMs(), 2);
  EXPECT_TRUE(f.healthy);
}

TEST(ApplyFaults, OnlyTheGivenKeysChange) {
  Faults base;
  base.error_rate = 0.1;
  base.latency_ms = 50;
  base.jitter_ms = 7;
  const auto f = ApplyFaultsText(base, std::string_view(R"({"healthy":false})"));
  EXPECT_EQ(f.error_rate, 0.1);
  EXPECT_EQ(f.latency_ms, 50);
  EXPECT_EQ(f.jitter_ms, 7);
  EXPECT_FALSE(f.healthy);
  const auto g = ApplyFaultsText(
      f, std::string_view(R"({"error_rate":0.3,"latency_ms":800,"jitter_ms":null})"));
  EXPECT_DOUBLE_EQ(g.error_rate, 0.3);
  EXPECT_EQ(g.latency_ms, 800);
  EXPECT_EQ(g.jitter_ms, std::nullopt);
  EXPECT_EQ(g.EffectiveJitterMs(), 80);
  EXPECT_FALSE(g.healthy);
}

TEST(ApplyFaults, AcceptsTheBounds) {
  const auto f = ApplyFaultsText(
      Faults{}, std::string_view(R"({"error_rate":1,"latency_ms":0,"jitter_ms":0})"));
  EXPECT_EQ(f.error_rate, 1.0);
  EXPECT_EQ(f.latency_ms, 0);
  EXPECT_EQ(f.EffectiveJitterMs(), 0);
  EXPECT_EQ(ApplyFaultsText(Faults{}, std::string_view(R"({"latency_ms":60000})")).latency_ms,
            60000);
}

struct BadCase {
  const char* body;
  const char* field;
};

class ApplyFaultsRefuses : public ::testing::TestWithParam<BadCase> {};

TEST_P(ApplyFaultsRefuses, NamingTheField) {
  Faults base;
  base.latency_ms = 33;
  try {
    ApplyFaultsText(base, std::string_view(GetParam().body));
    FAIL() << "accepted " << GetParam().body;
  } catch (const FaultError& e) {
    EXPECT_EQ(e.Field(), GetParam().field) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ApplyFaultsRefuses,
                         ::testing::Values(BadCase{R"({"error_rate":1.5})", "error_rate"},
                                           BadCase{R"({"error_rate":-0.1})", "error_rate"},
                                           BadCase{R"({"error_rate":"0.3"})", "error_rate"},
                                           BadCase{R"({"latency_ms":-1})", "latency_ms"},
                                           BadCase{R"({"latency_ms":60001})", "latency_ms"},
                                           BadCase{R"({"latency_ms":1.5})", "latency_ms"},
                                           BadCase{R"({"jitter_ms":"5"})", "jitter_ms"},
                                           BadCase{R"({"healthy":"yes"})", "healthy"},
                                           BadCase{R"({"latency":800})", "latency"},
                                           BadCase{R"([1,2])", "body"},
                                           BadCase{R"({"error_rate":)", "body"},
                                           BadCase{"", "body"}));

TEST(ToJson, ShowsTheEffectiveJitter) {
  Faults f;
  f.latency_ms = 800;
  const auto j = ToJson(f);
  EXPECT_EQ(j["latency_ms"], 800);
  EXPECT_EQ(j["jitter_ms"], 80);
  EXPECT_EQ(j["error_rate"], 0.0);
  EXPECT_EQ(j["healthy"], true);
  // What GET /admin/faults shows can be posted back unchanged.
  Faults same = ApplyFaults(Faults{}, j);
  EXPECT_EQ(same.latency_ms, 800);
  EXPECT_EQ(same.EffectiveJitterMs(), 80);
}

TEST(Sampler, SameSeedSameOutcomes) {
  Faults f;
  f.error_rate = 0.4;
  f.latency_ms = 100;
  f.jitter_ms = 30;
  Sampler a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 200; ++i) {
    const auto x = a.Next(f), y = b.Next(f), z = c.Next(f);
    EXPECT_EQ(x.latency, y.latency);
    EXPECT_EQ(x.fail, y.fail);
    differs = differs || x.latency != z.latency || x.fail != z.fail;
  }
  EXPECT_TRUE(differs) << "another seed gives another sequence";
}

TEST(Sampler, LatencyStaysWithinTheJitter) {
  Faults f;
  f.latency_ms = 100;
  f.jitter_ms = 20;
  Sampler s(7);
  auto lo = 1000ms, hi = 0ms;
  for (int i = 0; i < 5000; ++i) {
    const auto o = s.Next(f);
    lo = std::min(lo, o.latency);
    hi = std::max(hi, o.latency);
    EXPECT_FALSE(o.fail);
  }
  EXPECT_GE(lo, 80ms);
  EXPECT_LE(hi, 120ms);
  // The whole range is used, not one point.
  EXPECT_LE(lo, 82ms);
  EXPECT_GE(hi, 118ms);
}

TEST(Sampler, NoJitterIsExact) {
  Faults f;
  f.latency_ms = 9;  // default jitter = 0 (9/10)
  Sampler s(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.Next(f).latency, 9ms);
}

TEST(Sampler, LatencyNeverNegative) {
  Faults f;
  f.latency_ms = 5;
  f.jitter_ms = 50;
  Sampler s(3);
  for (int i = 0; i < 1000; ++i) EXPECT_GE(s.Next(f).latency, 0ms);
}

TEST(Sampler, ErrorRateIsHonoured) {
  Faults f;
  f.latency_ms = 0;
  f.error_rate = 0.3;
  Sampler s(2024);
  int failures = 0;
  constexpr int kN = 20000;
  for (int i = 0; i < kN; ++i) failures += s.Next(f).fail ? 1 : 0;
  // 0.3 ± 5 standard deviations (sd = sqrt(n p (1-p)) ~ 65).
  EXPECT_NEAR(failures, 6000, 330);
}

TEST(Sampler, ZeroAndOneAreExact) {
  Faults f;
  f.latency_ms = 0;
  Sampler s(5);
  f.error_rate = 0.0;
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(s.Next(f).fail);
  f.error_rate = 1.0;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(s.Next(f).fail);
}

TEST(LatencyBuckets, SpanFiveMillisecondsToFiveSeconds) {
  const auto& b = LatencyBuckets();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 0.005);
  EXPECT_DOUBLE_EQ(b.back(), 5.0);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

TEST(ParseProcStat, ReadsCpuAndMemory) {
  // comm with spaces and a ')' inside, as a process may name itself.
  const std::string stat =
      "1234 (demo app) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 7000 "
      "123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  const auto s = ParseProcStat(stat, 100, 4096);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);  // (250 + 50) / 100
  EXPECT_DOUBLE_EQ(s->resident_bytes, 2048.0 * 4096);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 70.0);  // 7000 / 100
}

TEST(ParseProcStat, RefusesTruncatedText) {
  EXPECT_FALSE(ParseProcStat("1234 (x) S 1 2 3", 100, 4096));
  EXPECT_FALSE(ParseProcStat("garbage", 100, 4096));
  EXPECT_FALSE(ParseProcStat("", 100, 4096));
}

TEST(RenderProcessMetrics, PrometheusTextWithTypes) {
  ProcessStats s;
  s.cpu_seconds = 1.25;
  s.resident_bytes = 8388608;
  const auto text = RenderProcessMetrics(s);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("\nprocess_cpu_seconds_total 1.25\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE process_resident_memory_bytes gauge\n"), std::string::npos);
  EXPECT_NE(text.find("\nprocess_resident_memory_bytes 8388608\n"), std::string::npos);
}

TEST(ResolveVersion, AgentVariableFirstThenFile) {
  EXPECT_EQ(ResolveVersion("v2", std::string("v1\n")), "v2");
  EXPECT_EQ(ResolveVersion(std::nullopt, std::string(" v1 \nrest\n")), "v1");
  EXPECT_EQ(ResolveVersion(std::string(""), std::string("v1")), "v1");
  EXPECT_EQ(ResolveVersion(std::nullopt, std::nullopt), "unknown");
  EXPECT_EQ(ResolveVersion(std::nullopt, std::string("\n")), "unknown");
}

}  // namespace
}  // namespace sluice::demo
