#include "audit.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <utility>

namespace sluice::release_intake {
namespace {

using P = AuditQueryParams;
const core::SystemTime kNow = core::FromUnixMillis(1'801'389'600'000);  // 2027-01-31T10:00:00Z
using Param = std::optional<std::string> P::*;

// Parameters with only the named ones set.
AuditQueryParams With(std::initializer_list<std::pair<Param, std::string>> set) {
  AuditQueryParams p;
  for (const auto& [member, value] : set) p.*member = value;
  return p;
}

std::string Refused(const AuditQueryParams& p) {
  const auto q = ParseAuditQuery(p, kNow);
  return std::holds_alternative<FieldError>(q) ? std::get<FieldError>(q).field : "";
}

TEST(ParseAuditQuery, NoParametersIsTheNewestPageUnfiltered) {
  const auto q = std::get<AuditQuery>(ParseAuditQuery({}, kNow));
  EXPECT_EQ(q.page.limit, 50);
  EXPECT_FALSE(q.page.after_seq);
  EXPECT_FALSE(q.actor || q.action || q.app || q.env || q.at.since_us || q.at.until_us);
}

TEST(ParseAuditQuery, TakesEveryFilterAndTheCursor) {
  AuditQueryParams p;
  p.limit = "1";
  p.cursor = "42";
  p.actor = "agent:web-1";
  p.action = "deployment.request";
  p.app = "shop";
  p.env = "production";
  p.since = "2027-01-31T10:00:00Z";
  p.until = "2027-01-31T12:00:00.5+02:00";
  const auto q = std::get<AuditQuery>(ParseAuditQuery(p, kNow));
  EXPECT_EQ(q.page.limit, 1);
  EXPECT_EQ(q.page.after_seq, 42);
  EXPECT_EQ(q.actor, "agent:web-1");
  EXPECT_EQ(q.action, "deployment.request");
  EXPECT_EQ(q.app, "shop");
  EXPECT_EQ(q.env, "production");
  EXPECT_EQ(q.at.since_us, 1'801'389'600'000'000);
  EXPECT_EQ(q.at.until_us, 1'801'389'600'500'000);
}

TEST(ParseAuditQuery, EachRefusedValueNamesItsField) {
  EXPECT_EQ(Refused(With({{&P::limit, "0"}})), "limit");
  EXPECT_EQ(Refused(With({{&P::cursor, "-1"}})), "cursor");
  EXPECT_EQ(Refused(With({{&P::cursor, "MTc5Ni5kMQ"}})), "cursor");
  EXPECT_EQ(Refused(With({{&P::cursor, ""}})), "cursor");
  EXPECT_EQ(Refused(With({{&P::actor, ""}})), "actor");
  EXPECT_EQ(Refused(With({{&P::actor, std::string(201, 'a')}})), "actor");
  EXPECT_EQ(Refused(With({{&P::actor, "ops\x1b[31m"}})), "actor");
  EXPECT_EQ(Refused(With({{&P::actor, "ops\xe2\x80\xae"}})), "actor");  // U+202E
  EXPECT_EQ(Refused(With({{&P::action, ""}})), "action");
  EXPECT_EQ(Refused(With({{&P::action, "deployment"}})), "action");
  EXPECT_EQ(Refused(With({{&P::action, "Deployment.Request"}})), "action");
  EXPECT_EQ(Refused(With({{&P::action, "deployment.request%"}})), "action");
  EXPECT_EQ(Refused(With({{&P::action, "a." + std::string(63, 'b')}})), "action");
  EXPECT_EQ(Refused(With({{&P::app, "Shop"}})), "app");
  EXPECT_EQ(Refused(With({{&P::app, "shop/production"}})), "app");
  EXPECT_EQ(Refused(With({{&P::env, ""}})), "env");
  EXPECT_EQ(Refused(With({{&P::env, "prod-"}})), "env");
  EXPECT_EQ(Refused(With({{&P::since, "yesterday"}})), "since");
  EXPECT_EQ(Refused(With({{&P::until, "2027-01-31"}})), "until");
}

TEST(ParseAuditQuery, UntilBeforeSinceIsRefusedNamingUntil) {
  EXPECT_EQ(
      Refused(With({{&P::since, "2027-01-31T10:00:00Z"}, {&P::until, "2027-01-31T09:59:59.999Z"}})),
      "until");
  // The same instant is an empty range, not an error (core::ParseTimeRange, as every list).
  EXPECT_EQ(Refused(With(
                {{&P::since, "2027-01-31T10:00:00Z"}, {&P::until, "2027-01-31T11:00:00+01:00"}})),
            "");
}

TEST(ParseAuditQuery, ADurationCountsBackFromNowAsInTheOtherLists) {
  const auto q = std::get<AuditQuery>(ParseAuditQuery(With({{&P::since, "1h30m"}}), kNow));
  EXPECT_EQ(q.at.since_us, 1'801'389'600'000'000 - 5'400'000'000);
  EXPECT_FALSE(q.at.until_us);
  EXPECT_EQ(
      Refused(With({{&P::action, "deployment.approve"}, {&P::until, "2027-01-31T10:00:00Z"}})), "");
}

}  // namespace
}  // namespace sluice::release_intake
