#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <fstream>
#include <map>
#include <sluice/core/config.hpp>
#include <sluice/kafka/config.hpp>
#include <string>

#include "rd_util.hpp"

namespace sluice::kafka {
namespace {

using Env = std::map<std::string, std::string>;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPassword = "s3cret-Pa55word";

// A file under the test's temporary directory holding `content`; its path.
std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "sluice-kafka-security-" + name;
  std::ofstream(path, std::ios::trunc) << content;
  return path;
}

KafkaSecurity Read(Env env) {
  core::EnvConfig e(std::move(env));
  auto s = ReadSecurity(e);
  e.RejectUnknown();
  return s;
}

std::string ErrorOf(Env env) {
  try {
    Read(std::move(env));
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

Env SaslSsl() {
  return {{"SLUICE_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"},
          {"SLUICE_KAFKA_SASL_USERNAME", "executor"},
          {"SLUICE_KAFKA_SASL_PASSWORD_FILE", WriteFile("password", std::string(kPassword) + "\n")},
          {"SLUICE_KAFKA_SSL_CA_LOCATION", WriteFile("ca.pem", "-----BEGIN CERTIFICATE-----\n")}};
}

TEST(ReadSecurityTest, DefaultIsPlaintextWithNothingElse) {
  const auto s = Read({});
  EXPECT_EQ(s.protocol, "plaintext");
  EXPECT_FALSE(s.Sasl());
  EXPECT_EQ(SecurityProperties(s),
            (std::map<std::string, std::string>{{"security.protocol", "plaintext"}}));
}

TEST(ReadSecurityTest, SaslSslReadsThePasswordFromItsFileAndDefaultsToScramSha512) {
  const auto env = SaslSsl();
  const auto s = Read(env);
  EXPECT_EQ(s.protocol, "sasl_ssl");
  EXPECT_EQ(s.sasl_mechanism, "SCRAM-SHA-512");
  EXPECT_EQ(s.sasl_username, "executor");
  EXPECT_EQ(s.sasl_password, kPassword);  // the trailing newline trimmed
  EXPECT_EQ(s.ssl_ca_location, env.at("SLUICE_KAFKA_SSL_CA_LOCATION"));
  EXPECT_EQ(SecurityProperties(s),
            (std::map<std::string, std::string>{
                {"security.protocol", "sasl_ssl"},
                {"sasl.mechanism", "SCRAM-SHA-512"},
                {"sasl.username", "executor"},
                {"sasl.password", kPassword},
                {"ssl.ca.location", env.at("SLUICE_KAFKA_SSL_CA_LOCATION")}}));
}

TEST(ReadSecurityTest, OtherMechanismsAndSslWithoutCa) {
  auto env = SaslSsl();
  env["SLUICE_KAFKA_SASL_MECHANISM"] = "SCRAM-SHA-256";
  env.erase("SLUICE_KAFKA_SSL_CA_LOCATION");
  const auto s = Read(env);
  EXPECT_EQ(s.sasl_mechanism, "SCRAM-SHA-256");
  EXPECT_FALSE(SecurityProperties(s).contains("ssl.ca.location"));  // the system CAs
  EXPECT_EQ(Read({{"SLUICE_KAFKA_SECURITY_PROTOCOL", "ssl"}}).protocol, "ssl");
}

TEST(ReadSecurityTest, BadProtocolOrMechanismNamesTheKey) {
  EXPECT_THAT(ErrorOf({{"SLUICE_KAFKA_SECURITY_PROTOCOL", "SASL-SSL"}}),
              HasSubstr("SLUICE_KAFKA_SECURITY_PROTOCOL=SASL-SSL: use plaintext, ssl"));
  auto env = SaslSsl();
  env["SLUICE_KAFKA_SASL_MECHANISM"] = "GSSAPI";
  EXPECT_THAT(ErrorOf(env), HasSubstr("SLUICE_KAFKA_SASL_MECHANISM=GSSAPI"));
}

TEST(ReadSecurityTest, SaslNeedsAUsernameAndAPasswordFile) {
  auto env = SaslSsl();
  env.erase("SLUICE_KAFKA_SASL_USERNAME");
  EXPECT_THAT(
      ErrorOf(env),
      HasSubstr("SLUICE_KAFKA_SECURITY_PROTOCOL=sasl_ssl needs SLUICE_KAFKA_SASL_USERNAME"));
  env = SaslSsl();
  env.erase("SLUICE_KAFKA_SASL_PASSWORD_FILE");
  EXPECT_THAT(ErrorOf(env), HasSubstr("SLUICE_KAFKA_SECURITY_PROTOCOL=sasl_ssl needs "
                                      "SLUICE_KAFKA_SASL_PASSWORD_FILE"));
}

TEST(ReadSecurityTest, PasswordInThePlainEnvironmentIsRefusedWithoutEchoingIt) {
  auto env = SaslSsl();
  env["SLUICE_KAFKA_SASL_PASSWORD"] = "plain-" + std::string(kPassword);
  const auto error = ErrorOf(env);
  EXPECT_THAT(error, HasSubstr("SLUICE_KAFKA_SASL_PASSWORD is set: give the password in a file"));
  EXPECT_THAT(error, Not(HasSubstr(kPassword)));
  env.erase("SLUICE_KAFKA_SASL_PASSWORD_FILE");  // refused alone too, not used as a fallback
  EXPECT_THAT(ErrorOf(env), HasSubstr("SLUICE_KAFKA_SASL_PASSWORD is set"));
}

TEST(ReadSecurityTest, UnreadableOrEmptyPasswordFileNamesTheSetting) {
  auto env = SaslSsl();
  env["SLUICE_KAFKA_SASL_PASSWORD_FILE"] = ::testing::TempDir() + "no-such-dir/password";
  EXPECT_THAT(ErrorOf(env), HasSubstr("SLUICE_KAFKA_SASL_PASSWORD_FILE=\""));
  EXPECT_THAT(ErrorOf(env), HasSubstr("cannot be read"));
  env["SLUICE_KAFKA_SASL_PASSWORD_FILE"] = WriteFile("empty", "\n");
  EXPECT_THAT(ErrorOf(env), HasSubstr("names an empty file"));
}

TEST(ReadSecurityTest, SaslSettingsWithoutSaslAreRefusedNotIgnored) {
  for (const char* key : {"SLUICE_KAFKA_SASL_USERNAME", "SLUICE_KAFKA_SASL_MECHANISM",
                          "SLUICE_KAFKA_SASL_PASSWORD_FILE"}) {
    EXPECT_THAT(ErrorOf({{key, "x"}}),
                HasSubstr(std::string(key) + " is set but SLUICE_KAFKA_SECURITY_PROTOCOL="
                                             "plaintext uses no SASL"))
        << key;
  }
}

TEST(ReadSecurityTest, CaNeedsTlsAndAReadableFile) {
  auto env = SaslSsl();
  env["SLUICE_KAFKA_SECURITY_PROTOCOL"] = "sasl_plaintext";
  EXPECT_THAT(ErrorOf(env), HasSubstr("SLUICE_KAFKA_SSL_CA_LOCATION is set but "
                                      "SLUICE_KAFKA_SECURITY_PROTOCOL=sasl_plaintext uses no TLS"));
  env = SaslSsl();
  env["SLUICE_KAFKA_SSL_CA_LOCATION"] = ::testing::TempDir() + "no-such-ca.pem";
  EXPECT_THAT(ErrorOf(env), HasSubstr("SLUICE_KAFKA_SSL_CA_LOCATION=\""));
}

std::string Get(const RdKafka::Conf& conf, const std::string& name) {
  std::string value;
  EXPECT_EQ(conf.get(name, value), RdKafka::Conf::CONF_OK) << name;
  return value;
}

TEST(MakeConfTest, SecurityIsAppliedAfterExtraSoExtraCannotWeakenIt) {
  KafkaConfig config;
  config.security = Read(SaslSsl());
  config.extra["security.protocol"] = "plaintext";
  config.extra["sasl.username"] = "someone-else";
  const auto conf = internal::MakeConf(config, {}, {});
  EXPECT_EQ(Get(*conf, "security.protocol"), "sasl_ssl");
  EXPECT_EQ(Get(*conf, "sasl.mechanisms"), "SCRAM-SHA-512");
  EXPECT_EQ(Get(*conf, "sasl.username"), "executor");
  EXPECT_EQ(Get(*conf, "ssl.ca.location"), config.security.ssl_ca_location);
}

}  // namespace
}  // namespace sluice::kafka
