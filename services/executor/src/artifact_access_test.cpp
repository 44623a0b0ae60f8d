// What a host is sent for an artifact in S3 storage (a URL presigned at the moment of each deploy
// call, or a clear refusal) and the SLUICE_EXECUTOR_S3_* settings.
#include "artifact_access.hpp"

#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

// Records the artifact of every deploy; answers success.
class RecordingDriver final : public TargetDriver {
 public:
  explicit RecordingDriver(std::vector<ArtifactRef>& seen) : seen_(seen) {}
  HostOutcome Deploy(const HostTarget&, const ArtifactRef& artifact, const CommandFence&,
                     Deadline) override {
    seen_.push_back(artifact);
    return HostOutcome::Success(artifact.version);
  }
  HostOutcome Revert(const HostTarget&, std::string version, const CommandFence&,
                     Deadline) override {
    reverted_ = version;
    return HostOutcome::Success(std::move(version));
  }
  HostState Status(const HostTarget&, Deadline) override {
    HostState s;
    s.reachable = true;
    s.current = "status-of-inner";
    return s;
  }
  std::string reverted_;

 private:
  std::vector<ArtifactRef>& seen_;
};

S3Settings Settings() {
  S3Settings s;
  s.signer.endpoint = ParseS3Endpoint("http://127.0.0.1:18333");
  s.signer.credentials = {"sluicekey", "sluicesecret"};
  s.endpoint_url = "http://127.0.0.1:18333";
  s.url_ttl = 600s;
  return s;
}

ArtifactRef S3Artifact(std::string url = "s3://artifacts/web/1.2.0.tar.gz") {
  return {.version = "1.2.0", .url = std::move(url), .sha256 = std::string(64, 'a')};
}

HostTarget Host(std::string name) {
  HostTarget h;
  h.host = std::move(name);
  h.address = "10.0.0.1";
  return h;
}

const core::SystemTime kNow = std::chrono::sys_days(std::chrono::year(2026) / 12 / 7) + 9h;

TEST(ArtifactAccessTest, HttpUrlsPassUnchanged) {
  for (const auto& url : {"https://dl.example.com/a.tgz", "http://10.0.0.1:8080/a?b=c"}) {
    const auto a = S3Artifact(url);
    const auto out = PrepareHostArtifact(a, Settings(), kNow);
    EXPECT_FALSE(out.refused);
    EXPECT_EQ(out.artifact.url, url);
    EXPECT_FALSE(PrepareHostArtifact(a, std::nullopt, kNow).refused);
  }
}

TEST(ArtifactAccessTest, S3UrlsArePresignedAtTheGivenTime) {
  const auto a = S3Artifact("s3://artifacts/web/app 1.2.0.tar.gz");
  const auto out = PrepareHostArtifact(a, Settings(), kNow);
  ASSERT_FALSE(out.refused) << out.refused->message;
  const auto expected =
      PresignS3(Settings().signer, {"artifacts", "web/app 1.2.0.tar.gz"}, "GET", kNow, 600s);
  EXPECT_EQ(out.artifact.url, expected.url);
  EXPECT_TRUE(
      out.artifact.url.starts_with("http://127.0.0.1:18333/artifacts/web/app%201.2.0.tar.gz?"))
      << out.artifact.url;
  EXPECT_NE(out.artifact.url.find("X-Amz-Date=20261207T090000Z&X-Amz-Expires=600&"),
            std::string::npos);
  // Everything else is the release's.
  EXPECT_EQ(out.artifact.version, a.version);
  EXPECT_EQ(out.artifact.sha256, a.sha256);
}

TEST(ArtifactAccessTest, S3WithoutSettingsIsRefusedNamingTheSettings) {
  const auto out = PrepareHostArtifact(S3Artifact(), std::nullopt, kNow);
  ASSERT_TRUE(out.refused);
  EXPECT_EQ(out.refused->kind, OutcomeKind::kFailed);
  EXPECT_FALSE(out.refused->retryable);
  EXPECT_EQ(out.refused->reason, kReasonS3NotConfigured);
  EXPECT_NE(out.refused->message.find("s3://artifacts/web/1.2.0.tar.gz"), std::string::npos);
  EXPECT_NE(out.refused->message.find("SLUICE_EXECUTOR_S3_ENDPOINT"), std::string::npos);
}

TEST(ArtifactAccessTest, MalformedS3UrlsAreRefused) {
  for (const auto& url : {"s3://artifacts", "s3://Artifacts/a", "s3://artifacts/a/../b"}) {
    const auto out = PrepareHostArtifact(S3Artifact(url), Settings(), kNow);
    ASSERT_TRUE(out.refused) << url;
    EXPECT_EQ(out.refused->reason, kReasonInvalidArtifactUrl);
    EXPECT_FALSE(out.refused->retryable);
    EXPECT_NE(out.refused->message.find(url), std::string::npos) << out.refused->message;
  }
}

TEST(ArtifactAccessTest, TheDriverPresignsEachDeployCallAfresh) {
  core::testing::ManualClock clock(kNow);
  std::vector<ArtifactRef> seen;
  auto inner = std::make_unique<RecordingDriver>(seen);
  auto* recording = inner.get();
  auto driver = WithArtifactAccess(std::move(inner), Settings(), clock);
  const HostTarget host = Host("web-1");
  const CommandFence fence{"d-1", core::Generation(1)};
  EXPECT_TRUE(driver->Deploy(host, S3Artifact(), fence, {}).Succeeded());
  clock.Advance(90s);  // a retry, later
  EXPECT_TRUE(driver->Deploy(host, S3Artifact(), fence, {}).Succeeded());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0].url.find("X-Amz-Date=20261207T090000Z"), std::string::npos) << seen[0].url;
  EXPECT_NE(seen[1].url.find("X-Amz-Date=20261207T090130Z"), std::string::npos) << seen[1].url;

  // Revert and status go straight through.
  EXPECT_TRUE(driver->Revert(host, "1.1.0", fence, {}).Succeeded());
  EXPECT_EQ(recording->reverted_, "1.1.0");
  EXPECT_EQ(driver->Status(host, {}).current, "status-of-inner");
}

TEST(ArtifactAccessTest, TheDriverRefusesWithoutCallingTheHost) {
  core::testing::ManualClock clock(kNow);
  std::vector<ArtifactRef> seen;
  auto driver = WithArtifactAccess(std::make_unique<RecordingDriver>(seen), std::nullopt, clock);
  const auto out = driver->Deploy(Host("web-1"), S3Artifact(), {"d-1", core::Generation(1)}, {});
  EXPECT_EQ(out.reason, kReasonS3NotConfigured);
  EXPECT_TRUE(out.message.starts_with("host web-1: ")) << out.message;
  EXPECT_TRUE(seen.empty());
}

// ---------------------------------------------------------------------------------------------
// Settings

Env Full() {
  return {{"SLUICE_EXECUTOR_S3_ENDPOINT", "http://127.0.0.1:18333"},
          {"SLUICE_EXECUTOR_S3_ACCESS_KEY_ID", "sluicekey"},
          {"SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY", "sluicesecret"}};
}

std::string ConfigErrorOf(Env env, std::chrono::milliseconds host_timeout = 5min) {
  core::EnvConfig c(std::move(env));
  try {
    ParseS3Settings(c, host_timeout);
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(S3SettingsTest, NoneSetMeansNoS3) {
  core::EnvConfig c(Env{});
  EXPECT_FALSE(ParseS3Settings(c, 5min));
}

TEST(S3SettingsTest, Defaults) {
  core::EnvConfig c(Full());
  const auto s = ParseS3Settings(c, 5min);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signer.endpoint.host, "127.0.0.1");
  EXPECT_EQ(s->signer.endpoint.port, "18333");
  EXPECT_EQ(s->signer.region, "us-east-1");
  EXPECT_TRUE(s->signer.path_style);
  EXPECT_EQ(s->url_ttl, 15min);
  EXPECT_EQ(s->signer.credentials.access_key_id, "sluicekey");
  EXPECT_EQ(s->signer.credentials.secret_access_key, "sluicesecret");
  EXPECT_NO_THROW(c.RejectUnknown());
}

TEST(S3SettingsTest, EverySetting) {
  Env env = Full();
  env["SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY"] = "another-secret";
  env["SLUICE_EXECUTOR_S3_ENDPOINT"] = "https://s3.store.internal/";
  env["SLUICE_EXECUTOR_S3_REGION"] = "eu-west-3";
  env["SLUICE_EXECUTOR_S3_PATH_STYLE"] = "false";
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "2h";
  core::EnvConfig c(env);
  const auto s = ParseS3Settings(c, 5min);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signer.credentials.secret_access_key, "another-secret");
  EXPECT_EQ(s->signer.endpoint.scheme, "https");
  EXPECT_EQ(s->signer.endpoint.port, "");
  EXPECT_EQ(s->signer.region, "eu-west-3");
  EXPECT_FALSE(s->signer.path_style);
  EXPECT_EQ(s->url_ttl, 2h);
}

TEST(S3SettingsTest, PartialSettingsNameWhatIsMissing) {
  for (const auto& key : {"SLUICE_EXECUTOR_S3_ENDPOINT", "SLUICE_EXECUTOR_S3_ACCESS_KEY_ID",
                          "SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY"}) {
    Env env = Full();
    env.erase(key);
    const auto error = ConfigErrorOf(env);
    EXPECT_TRUE(error.starts_with(std::string(key) + " is not set")) << error;
  }
  // The secret is a core::EnvConfig::Secret: the variable or a _FILE, not both.
  Env both = Full();
  both["SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY_FILE"] = "/run/secrets/s3";
  EXPECT_TRUE(ConfigErrorOf(both).starts_with("both SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY and"));
  // A region alone turns nothing on.
  core::EnvConfig c(Env{{"SLUICE_EXECUTOR_S3_REGION", "eu-west-3"}});
  EXPECT_FALSE(ParseS3Settings(c, 5min));
}

TEST(S3SettingsTest, TtlBounds) {
  Env env = Full();
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "4m";
  auto error = ConfigErrorOf(env, 5min);
  EXPECT_TRUE(
      error.starts_with("SLUICE_EXECUTOR_S3_URL_TTL: 4m is shorter than "
                        "SLUICE_EXECUTOR_HOST_TIMEOUT (5m)"))
      << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "5m";
  EXPECT_EQ(ConfigErrorOf(env, 5min), "");
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "7d";
  EXPECT_EQ(ConfigErrorOf(env, 5min), "");
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "7d1s";
  error = ConfigErrorOf(env, 5min);
  EXPECT_TRUE(error.starts_with("SLUICE_EXECUTOR_S3_URL_TTL: 168h1s is longer than 7 days"))
      << error;
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "15";
  EXPECT_NE(ConfigErrorOf(env), "");
}

TEST(S3SettingsTest, MalformedValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SLUICE_EXECUTOR_S3_ENDPOINT", "s3.example.com"},
      {"SLUICE_EXECUTOR_S3_ENDPOINT", "https://s3.example.com/prefix"},
      {"SLUICE_EXECUTOR_S3_ENDPOINT", "http://h:99999"},
      {"SLUICE_EXECUTOR_S3_REGION", "US East"},
      {"SLUICE_EXECUTOR_S3_ACCESS_KEY_ID", "two words"},
      {"SLUICE_EXECUTOR_S3_PATH_STYLE", "maybe"},
  };
  for (const auto& [key, value] : cases) {
    Env env = Full();
    env[key] = value;
    const auto error = ConfigErrorOf(env);
    EXPECT_TRUE(error.starts_with(key)) << key << "=" << value << ": " << error;
  }
  Env env = Full();
  env["SLUICE_EXECUTOR_S3_PATH_STYLE"] = "false";  // with an IP endpoint
  EXPECT_TRUE(ConfigErrorOf(env).starts_with("SLUICE_EXECUTOR_S3_PATH_STYLE=false needs a DNS"));
}

TEST(S3SettingsTest, TheSecretIsInNoMessage) {
  Env env = Full();
  env["SLUICE_EXECUTOR_S3_ENDPOINT"] = "bad";
  EXPECT_EQ(ConfigErrorOf(env).find("sluicesecret"), std::string::npos);
  env = Full();
  env["SLUICE_EXECUTOR_S3_URL_TTL"] = "1m";
  EXPECT_EQ(ConfigErrorOf(env).find("sluicesecret"), std::string::npos);
}

}  // namespace
}  // namespace sluice::executor
