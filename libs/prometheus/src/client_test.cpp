#include "sluice/prometheus/client.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <sluice/http/testing/serve.hpp>
#include <thread>

namespace sluice::prometheus {
namespace {

TEST(ParseQueryResponse, Vector) {
  const auto r = ParseQueryResponse(R"({"status":"success","data":{"resultType":"vector","result":[
    {"metric":{"instance_name":"h1","version":"v2"},"value":[1700000000.5,"0.25"]},
    {"metric":{"instance_name":"h2"},"value":[1700000000.5,"NaN"]}]}})");
  ASSERT_EQ(r.type, ResultType::kVector);
  ASSERT_EQ(r.series.size(), 2u);
  EXPECT_EQ(r.series[0].labels.at("instance_name"), "h1");
  ASSERT_EQ(r.series[0].points.size(), 1u);
  EXPECT_DOUBLE_EQ(r.series[0].points[0].value, 0.25);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(
                r.series[0].points[0].at.time_since_epoch())
                .count(),
            1700000000500);
  EXPECT_TRUE(std::isnan(r.series[1].points[0].value));
}

TEST(ParseQueryResponse, MatrixWithInfinities) {
  const auto r = ParseQueryResponse(R"({"status":"success","data":{"resultType":"matrix","result":[
    {"metric":{},"values":[[1,"1"],[2,"+Inf"],[3,"-Inf"]]}]},"warnings":["w1"]})");
  ASSERT_EQ(r.type, ResultType::kMatrix);
  ASSERT_EQ(r.series.at(0).points.size(), 3u);
  EXPECT_TRUE(std::isinf(r.series[0].points[1].value));
  EXPECT_LT(r.series[0].points[2].value, 0);
  EXPECT_EQ(r.warnings, std::vector<std::string>{"w1"});
}

TEST(ParseQueryResponse, Scalar) {
  const auto r = ParseQueryResponse(
      R"({"status":"success","data":{"resultType":"scalar","result":[5,"42"]}})");
  ASSERT_EQ(r.type, ResultType::kScalar);
  EXPECT_DOUBLE_EQ(r.series.at(0).points.at(0).value, 42);
}

TEST(ParseQueryResponse, ErrorNamesTypeAndMessage) {
  try {
    ParseQueryResponse(
        R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})");
    FAIL() << "no throw";
  } catch (const QueryError& e) {
    EXPECT_FALSE(e.IsRetryable());
    EXPECT_NE(std::string(e.what()).find("bad_data: parse error at char 5"), std::string::npos);
  }
}

TEST(ParseQueryResponse, GarbageIsNotRetryable) {
  EXPECT_THROW(ParseQueryResponse("<html>"), QueryError);
  EXPECT_THROW(ParseQueryResponse(R"({"status":"success","data":{"resultType":"vector",
    "result":[{"metric":{},"value":[1,"abc"]}]}})"),
               QueryError);
}

TEST(EscapeRegex, MetacharactersAndQuotes) {
  EXPECT_EQ(EscapeRegex("web-1"), "web-1");
  EXPECT_EQ(EscapeRegex("a.b"), "a\\\\.b");
  EXPECT_EQ(EscapeRegex("x\"y"), "x\\\"y");
}

// A loopback stand-in that fails twice with 503, then answers: the client retries.
TEST(Client, RetriesServerErrorsThenSucceeds) {
  httplib::Server server;
  std::atomic<int> calls{0};
  std::string seen_query;
  std::string seen_auth;
  server.Get("/api/v1/query", [&](const httplib::Request& req, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 503;
      return;
    }
    seen_query = req.get_param_value("query");
    seen_auth = req.get_header_value("Authorization");
    res.set_content(
        R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"7"]}]}})",
        "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t = http::testing::ServeInBackground(server);

  Client c({.base_url = "http://127.0.0.1:" + std::to_string(port) + "/",
            .authorization = "Bearer t0k",
            .timeout = std::chrono::milliseconds(2000),
            .attempts = 3,
            .retry_backoff = std::chrono::milliseconds(1)});
  const auto r = c.Query(R"(sum(rate(x{a=~"b|c"}[1m])) > 0.5 & 1)");
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(seen_query, R"(sum(rate(x{a=~"b|c"}[1m])) > 0.5 & 1)");
  EXPECT_EQ(seen_auth, "Bearer t0k");
  EXPECT_DOUBLE_EQ(r.series.at(0).points.at(0).value, 7);

  calls = -100;  // every answer is now 503: the error is retryable and names the attempts
  try {
    c.Query("up");
    FAIL() << "no throw";
  } catch (const QueryError& e) {
    EXPECT_TRUE(e.IsRetryable());
    EXPECT_NE(std::string(e.what()).find("3 attempt(s)"), std::string::npos) << e.what();
  }
  server.stop();
  t.join();
}

}  // namespace
}  // namespace sluice::prometheus
