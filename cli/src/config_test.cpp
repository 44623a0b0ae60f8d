#include "config.hpp"

#include <gtest/gtest.h>

namespace sluice::cli {
namespace {

Config TwoContexts() {
  Config c;
  c.current = "prod";
  c.contexts["prod"] = {"https://sluice.example.com", "prod-token"};
  c.contexts["dev"] = {"http://dev:8080", "dev-token"};
  return c;
}

TEST(Config, SerializesAndParsesBack) {
  const Config c = TwoContexts();
  const std::string text = SerializeConfig(c);
  EXPECT_NE(text.find("current-context: prod"), std::string::npos) << text;
  EXPECT_NE(text.find("api-url: https://sluice.example.com"), std::string::npos) << text;
  EXPECT_EQ(ParseConfig(text), c);
  EXPECT_EQ(ParseConfig(""), Config{});
}

TEST(Config, RefusesWhatItCannotUse) {
  EXPECT_THROW(ParseConfig("- a\n- b\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("contexts: [a]\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("contexts:\n  a: 3\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("current-context: x\ncontexts: {}\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("contexts: {a: {api-url: [1]}}\n"), std::runtime_error);
  EXPECT_THROW(ParseConfig("a: [\n"), std::runtime_error);
}

TEST(ConfigPath, OverrideThenXdgThenHome) {
  EXPECT_EQ(ConfigPath("/tmp/c.yaml", "/x", "/h"), "/tmp/c.yaml");
  EXPECT_EQ(ConfigPath(nullptr, "/x", "/h"), "/x/sluice/config.yaml");
  EXPECT_EQ(ConfigPath("", "", "/h"), "/h/.config/sluice/config.yaml");
  EXPECT_EQ(ConfigPath(nullptr, nullptr, nullptr), "");
}

TEST(ResolveSettings, DefaultsWithoutAnything) {
  const auto s = ResolveSettings({});
  EXPECT_EQ(s.api, "http://127.0.0.1:8080");
  EXPECT_EQ(s.api_from, "default");
  EXPECT_EQ(s.token, "");
  EXPECT_EQ(s.token_file, "var/local/admin-token");
  EXPECT_EQ(s.context, "");
}

TEST(ResolveSettings, TheCurrentContextBeatsDefaults) {
  SettingSources src;
  src.config = TwoContexts();
  const auto s = ResolveSettings(src);
  EXPECT_EQ(s.api, "https://sluice.example.com");
  EXPECT_EQ(s.token, "prod-token");
  EXPECT_EQ(s.context, "prod");
  EXPECT_EQ(s.api_from, "context prod");
}

TEST(ResolveSettings, EnvironmentBeatsContextAndFlagsBeatEnvironment) {
  SettingSources src;
  src.config = TwoContexts();
  src.env_api = "http://env:1/";
  src.env_token = "env-token";
  auto s = ResolveSettings(src);
  EXPECT_EQ(s.api, "http://env:1");  // trailing slash dropped
  EXPECT_EQ(s.token, "env-token");
  src.flag_api = "http://flag:2";
  src.flag_token = "flag-token";
  s = ResolveSettings(src);
  EXPECT_EQ(s.api, "http://flag:2");
  EXPECT_EQ(s.api_from, "--api-url");
  EXPECT_EQ(s.token, "flag-token");
  // --token-file (a flag) beats SLUICE_TOKEN too.
  src.flag_token.reset();
  src.flag_token_file = "/run/token";
  s = ResolveSettings(src);
  EXPECT_EQ(s.token, "");
  EXPECT_EQ(s.token_file, "/run/token");
}

TEST(ResolveSettings, ContextFlagBeatsEnvAndCurrent) {
  SettingSources src;
  src.config = TwoContexts();
  src.env_context = "prod";
  src.flag_context = "dev";
  auto s = ResolveSettings(src);
  EXPECT_EQ(s.context, "dev");
  EXPECT_EQ(s.api, "http://dev:8080");
  EXPECT_EQ(s.token, "dev-token");
  src.flag_context = "nope";
  EXPECT_THROW(ResolveSettings(src), std::runtime_error);
}

}  // namespace
}  // namespace sluice::cli
