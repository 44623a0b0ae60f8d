// Against the real Prometheus of the local stack (scripts/stack.sh): SLUICE_PROMETHEUS_URL,
// default http://127.0.0.1:19090. Prometheus scrapes itself, so `up{job="prometheus"}` exists.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "sluice/prometheus/client.hpp"

namespace sluice::prometheus {
namespace {

std::string BaseUrl() {
  const char* v = std::getenv("SLUICE_PROMETHEUS_URL");
  return v && *v ? v : "http://127.0.0.1:19090";
}

Client Make() {
  ClientOptions o;
  o.base_url = BaseUrl();
  o.timeout = std::chrono::milliseconds(3000);
  return Client(o);
}

// The self-scrape needs one scrape interval after a fresh start.
QueryResult WaitForUp(const Client& c) {
  for (int i = 0; i < 60; ++i) {
    QueryResult r = c.Query(R"(up{job="prometheus"})");
    if (!r.series.empty()) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ADD_FAILURE() << "Prometheus at " << BaseUrl() << " never reported up{job=\"prometheus\"}";
  return {};
}

TEST(PrometheusClientIT, InstantQuery) {
  const Client c = Make();
  const QueryResult r = WaitForUp(c);
  ASSERT_EQ(r.type, ResultType::kVector);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].labels.at("job"), "prometheus");
  EXPECT_DOUBLE_EQ(r.series[0].points.at(0).value, 1.0);

  const QueryResult s = c.Query("scalar(vector(2)) * 3");
  ASSERT_EQ(s.type, ResultType::kScalar);
  EXPECT_DOUBLE_EQ(s.series.at(0).points.at(0).value, 6.0);
}

TEST(PrometheusClientIT, RangeQueryHasOnePointPerStep) {
  const Client c = Make();
  const auto end = std::chrono::system_clock::now();
  const auto start = end - std::chrono::seconds(20);
  const QueryResult r = c.QueryRange("vector(1)", start, end, std::chrono::seconds(5));
  ASSERT_EQ(r.type, ResultType::kMatrix);
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].points.size(), 5u);  // 20 s / 5 s + 1
}

TEST(PrometheusClientIT, BadQueryIsNotRetryableAndSaysWhy) {
  const Client c = Make();
  try {
    c.Query("sum(rate(x[1m])");
    FAIL() << "a malformed query was accepted";
  } catch (const QueryError& e) {
    EXPECT_FALSE(e.IsRetryable());
    EXPECT_NE(std::string(e.what()).find("bad_data"), std::string::npos) << e.what();
  }
}

TEST(PrometheusClientIT, UnreachableServerIsRetryable) {
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.timeout = std::chrono::milliseconds(500);
  o.attempts = 2;
  o.retry_backoff = std::chrono::milliseconds(1);
  const Client c(o);
  try {
    c.Query("up");
    FAIL() << "no throw";
  } catch (const QueryError& e) {
    EXPECT_TRUE(e.IsRetryable());
  }
}

}  // namespace
}  // namespace sluice::prometheus
