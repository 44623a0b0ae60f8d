#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/core/config.hpp>

namespace sluice::core {
namespace {

using Env = std::map<std::string, std::string>;

using std::chrono::milliseconds;
using ::testing::HasSubstr;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

TEST(EnvConfigTest, StringReturnsValueOrDefault) {
  EnvConfig c(Env{{"SLUICE_LOG_LEVEL", "debug"}, {"SLUICE_EMPTY", ""}});
  EXPECT_EQ(c.String("SLUICE_LOG_LEVEL", "info"), "debug");
  EXPECT_EQ(c.String("SLUICE_OTHER", "info"), "info");
  EXPECT_EQ(c.String("SLUICE_EMPTY", "dflt"), "dflt");  // empty counts as unset
}

TEST(EnvConfigTest, IgnoresVariablesWithoutPrefix) {
  EnvConfig c(Env{{"HOME", "/root"}, {"PATH", "/bin"}});
  EXPECT_NO_THROW(c.RejectUnknown());
}

TEST(EnvConfigTest, KeysMustCarryThePrefix) {
  EnvConfig c(Env{});
  EXPECT_THROW(c.String("PG_DSN", "x"), std::logic_error);
}

TEST(EnvConfigTest, RequiredNamesTheMissingKey) {
  EnvConfig c(Env{{"SLUICE_PG_DSN", "postgresql://x"}});
  EXPECT_EQ(c.Required("SLUICE_PG_DSN"), "postgresql://x");
  EXPECT_THAT(ErrorOf([&] { c.Required("SLUICE_TOKEN"); }),
              HasSubstr("SLUICE_TOKEN is required but not set"));
}

TEST(EnvConfigTest, IntParsesAndChecksRange) {
  EnvConfig c(Env{{"SLUICE_A", "42"},
                  {"SLUICE_B", "-7"},
                  {"SLUICE_C", "+3"},
                  {"SLUICE_D", "12x"},
                  {"SLUICE_E", "70000"},
                  {"SLUICE_F", "99999999999999999999"}});
  EXPECT_EQ(c.Int("SLUICE_A", 0, 0, 100), 42);
  EXPECT_EQ(c.Int("SLUICE_B", 0, -10, 10), -7);
  EXPECT_EQ(c.Int("SLUICE_C", 0, 0, 10), 3);
  EXPECT_EQ(c.Int("SLUICE_UNSET", 9, 0, 10), 9);
  EXPECT_THAT(ErrorOf([&] { c.Int("SLUICE_D", 0, 0, 100); }),
              HasSubstr("SLUICE_D=\"12x\" is not an integer"));
  EXPECT_THAT(ErrorOf([&] { c.Int("SLUICE_E", 0, 1, 65535); }),
              HasSubstr("SLUICE_E=70000 is out of range: use a whole number between 1 and 65535"));
  EXPECT_THAT(ErrorOf([&] { c.Int("SLUICE_F", 0, 0, 10); }), HasSubstr("not an integer"));
}

TEST(EnvConfigTest, BoolAcceptsTheUsualSpellings) {
  EnvConfig c(Env{{"SLUICE_T1", "true"},
                  {"SLUICE_T2", "1"},
                  {"SLUICE_T3", "YES"},
                  {"SLUICE_F1", "false"},
                  {"SLUICE_F2", "0"},
                  {"SLUICE_F3", "No"},
                  {"SLUICE_BAD", "maybe"}});
  EXPECT_TRUE(c.Bool("SLUICE_T1", false));
  EXPECT_TRUE(c.Bool("SLUICE_T2", false));
  EXPECT_TRUE(c.Bool("SLUICE_T3", false));
  EXPECT_FALSE(c.Bool("SLUICE_F1", true));
  EXPECT_FALSE(c.Bool("SLUICE_F2", true));
  EXPECT_FALSE(c.Bool("SLUICE_F3", true));
  EXPECT_TRUE(c.Bool("SLUICE_UNSET", true));
  EXPECT_THAT(ErrorOf([&] { c.Bool("SLUICE_BAD", false); }),
              HasSubstr("SLUICE_BAD=\"maybe\" is not a boolean: use true or false"));
}

TEST(EnvConfigTest, DurationParsesUnitsAndSums) {
  EnvConfig c(Env{{"SLUICE_MS", "250ms"},
                  {"SLUICE_S", "5s"},
                  {"SLUICE_M", "2m"},
                  {"SLUICE_H", "1h"},
                  {"SLUICE_SUM", "1m30s"},
                  {"SLUICE_D", "1d"},
                  {"SLUICE_ZERO", "0s"}});
  EXPECT_EQ(c.Duration("SLUICE_MS", milliseconds(1)), milliseconds(250));
  EXPECT_EQ(c.Duration("SLUICE_S", milliseconds(1)), milliseconds(5000));
  EXPECT_EQ(c.Duration("SLUICE_M", milliseconds(1)), milliseconds(120000));
  EXPECT_EQ(c.Duration("SLUICE_H", milliseconds(1)), milliseconds(3600000));
  EXPECT_EQ(c.Duration("SLUICE_SUM", milliseconds(1)), milliseconds(90000));
  EXPECT_EQ(c.Duration("SLUICE_D", milliseconds(1)), milliseconds(86'400'000));
  EXPECT_EQ(c.Duration("SLUICE_ZERO", milliseconds(1)), milliseconds(0));
  EXPECT_EQ(c.Duration("SLUICE_UNSET", milliseconds(7)), milliseconds(7));
}

TEST(EnvConfigTest, DurationRejectsBareNumbersAndBadUnits) {
  EnvConfig c(Env{{"SLUICE_BARE", "5"},
                  {"SLUICE_NEG", "-5s"},
                  {"SLUICE_UNIT", "5w"},
                  {"SLUICE_MIN", "5min"},
                  {"SLUICE_FRAC", "1.5s"},
                  {"SLUICE_HUGE", "99999999999999h"}});
  const std::string bare = ErrorOf([&] { c.Duration("SLUICE_BARE", milliseconds(0)); });
  EXPECT_THAT(bare, HasSubstr("SLUICE_BARE=\"5\" is not a duration (missing unit)"));
  EXPECT_THAT(bare, HasSubstr("use a number with a unit, e.g. 5s or 250ms"));
  EXPECT_THAT(ErrorOf([&] { c.Duration("SLUICE_NEG", milliseconds(0)); }), HasSubstr("negative"));
  EXPECT_THAT(ErrorOf([&] { c.Duration("SLUICE_UNIT", milliseconds(0)); }),
              HasSubstr("unknown unit"));
  EXPECT_THAT(ErrorOf([&] { c.Duration("SLUICE_MIN", milliseconds(0)); }),
              HasSubstr("unknown unit"));
  EXPECT_THAT(ErrorOf([&] { c.Duration("SLUICE_FRAC", milliseconds(0)); }),
              HasSubstr("unknown unit"));
  EXPECT_THAT(ErrorOf([&] { c.Duration("SLUICE_HUGE", milliseconds(0)); }), HasSubstr("too large"));
}

TEST(EnvConfigTest, HostPortValidates) {
  EnvConfig c(Env{{"SLUICE_OK", "127.0.0.1:8080"},
                  {"SLUICE_NAME", "kafka-0.kafka:9092"},
                  {"SLUICE_V6", "[::1]:0"},
                  {"SLUICE_NOPORT", "127.0.0.1"},
                  {"SLUICE_BIGPORT", "127.0.0.1:70000"},
                  {"SLUICE_NOHOST", ":8080"},
                  {"SLUICE_SPACE", "a b:1"}});
  EXPECT_EQ(c.HostPort("SLUICE_OK", "x:1"), "127.0.0.1:8080");
  EXPECT_EQ(c.HostPort("SLUICE_NAME", "x:1"), "kafka-0.kafka:9092");
  EXPECT_EQ(c.HostPort("SLUICE_V6", "x:1"), "[::1]:0");
  EXPECT_EQ(c.HostPort("SLUICE_UNSET", "0.0.0.0:8080"), "0.0.0.0:8080");
  for (const char* key : {"SLUICE_NOPORT", "SLUICE_BIGPORT", "SLUICE_NOHOST", "SLUICE_SPACE"}) {
    EXPECT_THAT(ErrorOf([&] { c.HostPort(key, "x:1"); }), HasSubstr(std::string(key) + "=")) << key;
    EXPECT_THAT(ErrorOf([&] { c.HostPort(key, "x:1"); }), HasSubstr("is not a host:port address"))
        << key;
  }
}

TEST(ParseHostPortTest, SplitsHostAndPort) {
  auto hp = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 8080);
  hp = ParseHostPort("[::1]:9000");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 9000);
  EXPECT_FALSE(ParseHostPort("::1:9000"));
  EXPECT_FALSE(ParseHostPort("host:-1"));
  EXPECT_FALSE(ParseHostPort("host:"));
}

TEST(EnvConfigTest, SecretFromTheEnvironment) {
  EnvConfig c(Env{{"SLUICE_TOKEN", "s3cret"}});
  EXPECT_EQ(c.Secret("SLUICE_TOKEN"), "s3cret");
  EXPECT_EQ(c.Secret("SLUICE_OTHER_TOKEN"), std::nullopt);
  EXPECT_NO_THROW(c.RejectUnknown());
}

TEST(EnvConfigTest, SecretRefusesBothSources) {
  EnvConfig c(Env{{"SLUICE_TOKEN", "a"}, {"SLUICE_TOKEN_FILE", "/run/secrets/token"}});
  EXPECT_THAT(ErrorOf([&] { c.Secret("SLUICE_TOKEN"); }),
              HasSubstr("both SLUICE_TOKEN and SLUICE_TOKEN_FILE are set"));
}

TEST(EnvConfigTest, RejectUnknownSuggestsTheClosestKey) {
  EnvConfig c(Env{{"SLUICE_PG_DNS", "postgresql://x"}, {"SLUICE_REDIS_URL", "redis://x"}});
  c.String("SLUICE_PG_DSN", "");
  c.String("SLUICE_REDIS_URL", "");
  c.String("SLUICE_KAFKA_BROKERS", "");
  const std::string err = ErrorOf([&] { c.RejectUnknown(); });
  EXPECT_THAT(err, HasSubstr("unknown setting SLUICE_PG_DNS: did you mean SLUICE_PG_DSN?"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("SLUICE_REDIS_URL")));
}

TEST(EnvConfigTest, RejectUnknownWithoutACloseKey) {
  EnvConfig c(Env{{"SLUICE_SOMETHING_ELSE_ENTIRELY", "1"}});
  c.String("SLUICE_PG_DSN", "");
  EXPECT_THAT(
      ErrorOf([&] { c.RejectUnknown(); }),
      HasSubstr("unknown setting SLUICE_SOMETHING_ELSE_ENTIRELY: remove it or fix its name"));
}

TEST(EnvConfigTest, MarkKnownCountsAsKnown) {
  EnvConfig c(Env{{"SLUICE_GITHUB_WEBHOOK_SECRET", "x"}});
  EXPECT_THROW(c.RejectUnknown(), ConfigError);
  c.MarkKnown("SLUICE_GITHUB_WEBHOOK_SECRET");
  EXPECT_NO_THROW(c.RejectUnknown());
}

TEST(EnvConfigTest, ReadsTheProcessEnvironment) {
  // The default constructor sees only SLUICE_* variables; none are required for this check.
  EnvConfig c;
  EXPECT_EQ(c.String("SLUICE_SURELY_NOT_SET_ANYWHERE", "d"), "d");
}

TEST(LogLevelFromEnvTest, AcceptsTheFiveLevelsAndNamesTheKeyOtherwise) {
  EnvConfig none(Env{});
  EXPECT_EQ(LogLevelFromEnv(none), "info");
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    EnvConfig env(Env{{"SLUICE_LOG_LEVEL", level}});
    EXPECT_EQ(LogLevelFromEnv(env), level);
  }
  EnvConfig bad(Env{{"SLUICE_LOG_LEVEL", "verbose"}});
  try {
    LogLevelFromEnv(bad);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "SLUICE_LOG_LEVEL=verbose: use trace, debug, info, warn or error");
  }
}

TEST(ExitOnConfigErrorTest, PrintsOneLineAndExitsTwo) {
  EXPECT_EXIT(ExitOnConfigError("release-intake", ConfigError("SLUICE_X is bad\nreally")),
              ::testing::ExitedWithCode(2),
              "^release-intake: configuration error: SLUICE_X is bad really\n$");
}

}  // namespace
}  // namespace sluice::core

namespace sluice::core {
namespace {

TEST(EnvConfigSuiteWideTest, SharedAddressesAreAcceptedUnreadButTyposAreNot) {
  EnvConfig c(Env{{"SLUICE_PROMETHEUS_URL", "http://p"},
                  {"SLUICE_ALERTMANAGER_URL", "http://a"},
                  {"SLUICE_REDIS_URL", "redis://r"},
                  {"SLUICE_KAFKA_SASL_BROKERS", "127.0.0.1:19095"},
                  {"SLUICE_KAFKA_SASL_CA", "/var/local/kafka-ca.pem"}});
  EXPECT_NO_THROW(c.RejectUnknown());
  EnvConfig typo(Env{{"SLUICE_PROMETHEUS_URI", "http://p"}});
  EXPECT_THAT(
      ErrorOf([&] { typo.RejectUnknown(); }),
      HasSubstr("unknown setting SLUICE_PROMETHEUS_URI: did you mean SLUICE_PROMETHEUS_URL?"));
}

}  // namespace
}  // namespace sluice::core
