#include "revalidate.hpp"

#include <gtest/gtest.h>

namespace sluice::cli {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

Answer Ok(const std::string& raw, std::string etag) {
  return {200, nlohmann::json::parse(raw), raw, std::move(etag)};
}

Answer NotModified(std::string etag) { return {304, nlohmann::json(), "", std::move(etag)}; }

TEST(RevalidatorTest, TheFirstReadIsUnconditional) {
  const Revalidator r;
  EXPECT_EQ(r.Headers(), Headers());
}

TEST(RevalidatorTest, A304IsAnsweredFromTheKeptCopy) {
  Revalidator r;
  const auto first = r.Take(Ok(R"({"status":"running"})", "\"t1\""));
  EXPECT_FALSE(first.not_modified);
  EXPECT_EQ(r.Headers(), Headers({{"If-None-Match", "\"t1\""}}));
  const auto second = r.Take(NotModified("\"t1\""));
  EXPECT_EQ(second.status, 200);
  EXPECT_TRUE(second.not_modified);
  EXPECT_EQ(second.body.at("status"), "running");
  EXPECT_EQ(second.raw, R"({"status":"running"})");
  EXPECT_EQ(r.Headers(), Headers({{"If-None-Match", "\"t1\""}}));
  // A changed body replaces the copy and its tag.
  const auto third = r.Take(Ok(R"({"status":"succeeded"})", "\"t2\""));
  EXPECT_FALSE(third.not_modified);
  EXPECT_EQ(third.body.at("status"), "succeeded");
  EXPECT_EQ(r.Headers(), Headers({{"If-None-Match", "\"t2\""}}));
  EXPECT_EQ(r.Take(NotModified("\"t2\"")).body.at("status"), "succeeded");
}

TEST(RevalidatorTest, AnUntaggedOrFailedAnswerDropsTheCopy) {
  Revalidator r;
  r.Take(Ok(R"({"a":1})", "\"t1\""));
  const auto failed = r.Take({503, nlohmann::json::object(), "{}", ""});
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(r.Headers(), Headers());
  r.Take(Ok(R"({"a":1})", "\"t1\""));
  r.Take(Ok(R"({"a":2})", ""));  // a server that does not tag
  EXPECT_EQ(r.Headers(), Headers());
  // A 304 nobody asked for is not turned into anything.
  EXPECT_EQ(r.Take(NotModified("\"t1\"")).status, 304);
}

}  // namespace
}  // namespace sluice::cli
