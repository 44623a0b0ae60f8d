#pragma once

// How a host gets at a release's artifact. Hosts (sluice-agent, and agentless hosts through the
// ssh step script) download an http(s) URL and check its sha256; they hold no storage
// credentials. An artifact kept in S3-compatible storage (s3://bucket/key) is therefore turned
// by the executor, just before each deploy command is sent, into a presigned GET URL that
// expires after SLUICE_EXECUTOR_S3_URL_TTL (s3_presign.hpp): the host sees an ordinary https
// URL it may use for that object, for that long, and nothing else.

#include <chrono>
#include <memory>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/config.hpp>
#include <string>
#include <string_view>

#include "s3_presign.hpp"
#include "target_driver.hpp"

namespace sluice::executor {

// SLUICE_EXECUTOR_S3_*: where s3:// artifacts live and the key the executor signs with.
struct S3Settings {
  S3Signer signer;
  std::string endpoint_url;  // as configured, for messages
  std::chrono::seconds url_ttl{15 * 60};
};

// Reads SLUICE_EXECUTOR_S3_ENDPOINT, _REGION (us-east-1), _ACCESS_KEY_ID,
// _SECRET_ACCESS_KEY[_FILE] (a secret), _PATH_STYLE (true) and _URL_TTL (15m). nullopt when
// none is set: s3:// artifacts are then refused. Throws core::ConfigError (one line naming the
// key) when one is malformed, when some but not all of endpoint, key id and secret are set, or
// when the TTL is below `host_timeout` (a host could be sent a URL that dies before it is done
// with it) or above 7 days (SigV4's limit).
std::optional<S3Settings> ParseS3Settings(core::EnvConfig& env,
                                          std::chrono::milliseconds host_timeout);

// Reasons of an artifact the executor cannot hand to a host (not retryable).
inline constexpr std::string_view kReasonS3NotConfigured = "s3_not_configured";
inline constexpr std::string_view kReasonInvalidArtifactUrl = "invalid_artifact_url";

// The artifact as a host must receive it: an s3:// URL replaced by a URL presigned at `now`,
// anything else unchanged. A failure outcome (kFailed, not retryable) when the URL is s3:// and
// `s3` is nullopt (naming the setting to set) or the s3:// URL is malformed.
struct HostArtifact {
  ArtifactRef artifact;
  std::optional<HostOutcome> refused;
};
HostArtifact PrepareHostArtifact(const ArtifactRef& artifact, const std::optional<S3Settings>& s3,
                                 core::SystemTime now);

// The TargetDriver of hosts that download the artifact themselves (agent, ssh): each Deploy
// goes to `inner` with PrepareHostArtifact's artifact, presigned at the moment of the call (a
// retry gets a fresh URL); a refusal is the outcome without calling `inner`. Revert and Status
// pass through.
std::unique_ptr<TargetDriver> WithArtifactAccess(std::unique_ptr<TargetDriver> inner,
                                                 std::optional<S3Settings> s3,
                                                 const core::Clock& clock);

}  // namespace sluice::executor
