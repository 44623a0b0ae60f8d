#include "artifact_access.hpp"

#include <algorithm>
#include <sluice/core/duration.hpp>

namespace sluice::executor {
namespace {

constexpr std::string_view kEndpointKey = "SLUICE_EXECUTOR_S3_ENDPOINT";
constexpr std::string_view kKeyIdKey = "SLUICE_EXECUTOR_S3_ACCESS_KEY_ID";
constexpr std::string_view kSecretKey = "SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY";
constexpr std::string_view kTtlKey = "SLUICE_EXECUTOR_S3_URL_TTL";

bool IsRegion(std::string_view r) {
  return !r.empty() && r.size() <= 64 && std::all_of(r.begin(), r.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsKeyId(std::string_view k) {
  return !k.empty() && k.size() <= 128 &&
         std::all_of(k.begin(), k.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

class ArtifactAccessDriver final : public TargetDriver {
 public:
  ArtifactAccessDriver(std::unique_ptr<TargetDriver> inner, std::optional<S3Settings> s3,
                       const core::Clock& clock)
      : inner_(std::move(inner)), s3_(std::move(s3)), clock_(clock) {}

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override {
    auto prepared = PrepareHostArtifact(artifact, s3_, clock_.Now());
    if (prepared.refused) {
      prepared.refused->message = "host " + host.host + ": " + prepared.refused->message;
      return *prepared.refused;
    }
    return inner_->Deploy(host, prepared.artifact, fence, deadline);
  }
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override {
    return inner_->Revert(host, std::move(version), fence, deadline);
  }
  HostState Status(const HostTarget& host, Deadline deadline) override {
    return inner_->Status(host, deadline);
  }

 private:
  std::unique_ptr<TargetDriver> inner_;
  const std::optional<S3Settings> s3_;
  const core::Clock& clock_;
};

}  // namespace

std::optional<S3Settings> ParseS3Settings(core::EnvConfig& env,
                                          std::chrono::milliseconds host_timeout) {
  using namespace std::chrono_literals;
  const std::string endpoint = env.String(kEndpointKey, "");
  const std::string key_id = env.String(kKeyIdKey, "");
  const auto secret = env.Secret(kSecretKey);
  const std::string region = env.String("SLUICE_EXECUTOR_S3_REGION", "us-east-1");
  const bool path_style = env.Bool("SLUICE_EXECUTOR_S3_PATH_STYLE", true);
  const auto ttl = env.Duration(kTtlKey, 15min);
  if (endpoint.empty() && key_id.empty() && !secret) return std::nullopt;

  const std::string all = std::string(kEndpointKey) + ", " + std::string(kKeyIdKey) + " and " +
                          std::string(kSecretKey) + " (or " + std::string(kSecretKey) +
                          "_FILE) go together";
  if (endpoint.empty()) throw core::ConfigError(std::string(kEndpointKey) + " is not set: " + all);
  if (key_id.empty()) throw core::ConfigError(std::string(kKeyIdKey) + " is not set: " + all);
  if (!secret || secret->empty()) {
    throw core::ConfigError(std::string(kSecretKey) + " is not set: " + all);
  }
  S3Settings s;
  try {
    s.signer.endpoint = ParseS3Endpoint(endpoint);
  } catch (const S3UrlError& e) {
    throw core::ConfigError(std::string(kEndpointKey) + ": " + e.what() +
                            "; give e.g. https://s3.example.internal:8333");
  }
  if (!IsRegion(region)) {
    throw core::ConfigError(
        "SLUICE_EXECUTOR_S3_REGION: give a region name such as us-east-1 (a-z, 0-9, '-')");
  }
  if (!IsKeyId(key_id)) {
    throw core::ConfigError(std::string(kKeyIdKey) +
                            ": at most 128 printable characters without blanks");
  }
  if (!path_style && (s.signer.endpoint.host.starts_with('[') ||
                      std::all_of(s.signer.endpoint.host.begin(), s.signer.endpoint.host.end(),
                                  [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))) {
    throw core::ConfigError(
        "SLUICE_EXECUTOR_S3_PATH_STYLE=false needs a DNS name in SLUICE_EXECUTOR_S3_ENDPOINT, "
        "not an IP address");
  }
  if (ttl < host_timeout) {
    throw core::ConfigError(std::string(kTtlKey) + ": " + core::FormatDuration(ttl) +
                            " is shorter than SLUICE_EXECUTOR_HOST_TIMEOUT (" +
                            core::FormatDuration(host_timeout) +
                            "): a host could be sent a URL that expires before it is done");
  }
  if (ttl > kS3MaxUrlTtl) {
    throw core::ConfigError(std::string(kTtlKey) + ": " + core::FormatDuration(ttl) +
                            " is longer than 7 days, the most a presigned URL may live");
  }
  if (ttl < 1s) throw core::ConfigError(std::string(kTtlKey) + ": at least 1s");
  s.signer.region = region;
  s.signer.credentials = {key_id, *secret};
  s.signer.path_style = path_style;
  s.endpoint_url = endpoint;
  s.url_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  return s;
}

HostArtifact PrepareHostArtifact(const ArtifactRef& artifact, const std::optional<S3Settings>& s3,
                                 core::SystemTime now) {
  HostArtifact out{artifact, std::nullopt};
  if (!IsS3Url(artifact.url)) return out;
  if (!s3) {
    out.refused = HostOutcome::Failure(
        OutcomeKind::kFailed, false, std::string(kReasonS3NotConfigured),
        "artifact " + artifact.url +
            " is in S3 storage, and the executor has no S3 settings to presign it: set "
            "SLUICE_EXECUTOR_S3_ENDPOINT, SLUICE_EXECUTOR_S3_ACCESS_KEY_ID and "
            "SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY_FILE");
    return out;
  }
  try {
    out.artifact.url = PresignS3(s3->signer, ParseS3Url(artifact.url), "GET", now, s3->url_ttl).url;
  } catch (const S3UrlError& e) {
    out.refused =
        HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonInvalidArtifactUrl),
                             "artifact " + artifact.url + ": " + e.what());
  }
  return out;
}

std::unique_ptr<TargetDriver> WithArtifactAccess(std::unique_ptr<TargetDriver> inner,
                                                 std::optional<S3Settings> s3,
                                                 const core::Clock& clock) {
  return std::make_unique<ArtifactAccessDriver>(std::move(inner), std::move(s3), clock);
}

}  // namespace sluice::executor
