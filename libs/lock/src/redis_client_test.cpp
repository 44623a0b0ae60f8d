#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <sluice/lock/redis_client.hpp>

namespace sluice::lock {
namespace {

TEST(ParseRedisUrl, DefaultsOfTheLocalStack) {
  const auto c = ParseRedisUrl("redis://127.0.0.1:16379/0");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 16379);
  EXPECT_EQ(c.db, 0);
  EXPECT_EQ(c.username, "");
  EXPECT_EQ(c.password, "");
  EXPECT_EQ(c.url, "redis://127.0.0.1:16379/0");
}

TEST(ParseRedisUrl, PortAndDatabaseDefault) {
  const auto c = ParseRedisUrl("redis://cache.internal");
  EXPECT_EQ(c.host, "cache.internal");
  EXPECT_EQ(c.port, 6379);
  EXPECT_EQ(c.db, 0);
  EXPECT_EQ(ParseRedisUrl("redis://h/").db, 0);
  EXPECT_EQ(ParseRedisUrl("redis://h:7000/12").db, 12);
}

TEST(ParseRedisUrl, PasswordOnlyAndUserPasswordPercentDecoded) {
  const auto a = ParseRedisUrl("redis://:s3cr%40t@h:1/2");
  EXPECT_EQ(a.username, "");
  EXPECT_EQ(a.password, "s3cr@t");
  EXPECT_EQ(a.host, "h");
  EXPECT_EQ(a.port, 1);
  EXPECT_EQ(a.db, 2);
  const auto b = ParseRedisUrl("redis://svc:pw@h");
  EXPECT_EQ(b.username, "svc");
  EXPECT_EQ(b.password, "pw");
  EXPECT_EQ(ParseRedisUrl("redis://svc@h").username, "svc");
}

TEST(ParseRedisUrl, Ipv6Host) {
  const auto c = ParseRedisUrl("redis://[::1]:6380/3");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 6380);
  EXPECT_EQ(c.db, 3);
  EXPECT_EQ(ParseRedisUrl("redis://[::1]").port, 6379);
}

void ExpectInvalid(const std::string& url, const std::string& problem) {
  try {
    ParseRedisUrl(url);
    ADD_FAILURE() << url << " was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(problem), std::string::npos) << url << " -> " << what;
    EXPECT_EQ(what.find("hunter2"), std::string::npos) << "password leaked: " << what;
  }
}

TEST(ParseRedisUrl, RejectsBadUrlsNamingTheProblem) {
  ExpectInvalid("http://h:6379", "must start with redis://");
  ExpectInvalid("127.0.0.1:6379", "must start with redis://");
  ExpectInvalid("rediss://h", "TLS");
  ExpectInvalid("redis://", "missing host");
  ExpectInvalid("redis://:hunter2@:6379", "missing host");
  ExpectInvalid("redis://h:port", "port");
  ExpectInvalid("redis://h:0", "port");
  ExpectInvalid("redis://h:70000", "port");
  ExpectInvalid("redis://h:", "empty port");
  ExpectInvalid("redis://:hunter2@h:99999/0", "port");
  ExpectInvalid("redis://h/x", "database");
  ExpectInvalid("redis://h/-1", "database");
  ExpectInvalid("redis://h/0?timeout=1", "query");
  ExpectInvalid("redis://[::1", "IPv6");
  ExpectInvalid("redis://:hunter2%4@h", "%-escape");
}

TEST(RedactRedisUrl, MasksThePassword) {
  EXPECT_EQ(RedactRedisUrl("redis://u:hunter2@h:1/0"), "redis://u:***@h:1/0");
  EXPECT_EQ(RedactRedisUrl("redis://:hunter2@h"), "redis://:***@h");
  EXPECT_EQ(RedactRedisUrl("redis://h:1/0"), "redis://h:1/0");
}

TEST(ConvertReply, ScalarsAndNestedArrays) {
  char ok[] = "OK";
  char bulk[] = {'a', '\0', 'b'};
  char err[] = "WRONGTYPE nope";
  redisReply status{REDIS_REPLY_STATUS, 0, 2, ok, 0, nullptr};
  redisReply string{REDIS_REPLY_STRING, 0, 3, bulk, 0, nullptr};
  redisReply error{REDIS_REPLY_ERROR, 0, sizeof(err) - 1, err, 0, nullptr};
  redisReply integer{REDIS_REPLY_INTEGER, 42, 0, nullptr, 0, nullptr};
  redisReply nil{REDIS_REPLY_NIL, 0, 0, nullptr, 0, nullptr};
  redisReply* inner_items[] = {&integer, &nil};
  redisReply inner{REDIS_REPLY_ARRAY, 0, 0, nullptr, 2, inner_items};
  redisReply* items[] = {&status, &string, &inner};
  redisReply array{REDIS_REPLY_ARRAY, 0, 0, nullptr, 3, items};

  EXPECT_TRUE(ConvertReply(status).IsOk());
  EXPECT_EQ(ConvertReply(string).str, std::string("a\0b", 3));
  EXPECT_TRUE(ConvertReply(error).IsError());
  EXPECT_EQ(ConvertReply(error).str, "WRONGTYPE nope");
  EXPECT_EQ(ConvertReply(integer).integer, 42);
  EXPECT_TRUE(ConvertReply(nil).IsNil());

  const auto r = ConvertReply(array);
  ASSERT_EQ(r.type, RedisReply::Type::kArray);
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(r.elements[1].type, RedisReply::Type::kString);
  ASSERT_EQ(r.elements[2].elements.size(), 2u);
  EXPECT_EQ(r.elements[2].elements[0].integer, 42);
  EXPECT_TRUE(r.elements[2].elements[1].IsNil());
}

TEST(RedisClient, ConstructionParsesTheUrlAndDoesNotConnect) {
  RedisConfig config;
  config.url = "redis://:pw@10.255.255.1:7000/4";
  config.timeout = std::chrono::milliseconds(250);
  RedisClient client(config);
  EXPECT_EQ(client.Config().host, "10.255.255.1");
  EXPECT_EQ(client.Config().port, 7000);
  EXPECT_EQ(client.Config().db, 4);
  EXPECT_EQ(client.Config().timeout, std::chrono::milliseconds(250));
  config.url = "nonsense";
  EXPECT_THROW(RedisClient{config}, std::invalid_argument);
}

}  // namespace
}  // namespace sluice::lock
