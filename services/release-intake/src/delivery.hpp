#pragma once

// release-intake's decisions about delivery: what a delivery-spec upload is, what a deployment
// request and an operator command are, how a dry-run plan is shown. Pure functions over plain
// values: no I/O, no clock. The spec itself is parsed and planned by the rollout-planner's pure
// code (delivery_spec.hpp, plan.hpp), so intake and planner never disagree about a spec.

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/events/vocabulary.hpp>
#include <sluice/spec/delivery_spec.hpp>
#include <sluice/spec/plan.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "release.hpp"

namespace sluice::release_intake {

// --- Delivery specs -------------------------------------------------------------------------

// The spec text of a PUT /v1/apps/{app} body: the raw body for application/yaml, text/yaml,
// application/x-yaml and text/plain (and no Content-Type), the "spec" string of a JSON object
// for application/json. 415 is the caller's answer to kUnsupportedMediaType, 413 to kTooLarge
// (a spec text over kMaxSpecBytes).
//
// The spec travels whole in the AppSpecApplied event (and in the planner's events), so it is
// bounded far under the broker's message.max.bytes (1 MiB by default; librdkafka's own limit is
// 1,000,000 bytes): one oversized event would otherwise be refused by Kafka.
inline constexpr std::size_t kMaxSpecBytes = 256 * 1024;
struct SpecBodyError {
  enum class Kind { kUnsupportedMediaType, kInvalid, kTooLarge } kind = Kind::kInvalid;
  FieldError error;
};
std::variant<std::string, SpecBodyError> SpecTextFromBody(std::string_view content_type,
                                                          std::string_view body);

// The bytes a spec may hold: what is stored is exactly what was validated, so a NUL byte (which
// would cut the stored text short) or a byte that is not UTF-8 (which PostgreSQL refuses) is
// refused up front, naming its byte offset in the spec text. SpecTextFromBody applies it.
std::optional<FieldError> CheckSpecBytes(std::string_view text);

// The media type of a Content-Type header: lowercase, parameters and blanks removed.
std::string MediaTypeOf(std::string_view content_type);

// Hex SHA-256 of a text (the stored and announced checksum of a spec version).
std::string Sha256Hex(std::string_view text);

// The name errors give the spec: "<app>.yaml".
std::string SpecOrigin(std::string_view app);

// The 422 body for a spec that does not parse:
// {"error":{"code":"invalid_spec","message":"<app>.yaml:12:7: <path>: <what>","field":<path>,
//           "line":12,"column":7}}
nlohmann::json SpecErrorBody(const spec::SpecError& e);

// The environment names of a spec, in file order.
std::vector<std::string> EnvironmentNames(const spec::DeliverySpec& spec);

// --- Deployment requests --------------------------------------------------------------------

// A POST /v1/deployments body after validation. `override`: {"reason": "<1-1000 characters>"},
// an admin's override of the promotion gate (an admin of the environment deploys past a
// promotion_*, environment_frozen or outside_window refusal; anyone else is refused with 403).
struct DeploymentRequest {
  std::string release_id;
  std::string env;
  std::optional<std::int64_t> spec_version;         // nullopt: the app's latest
  std::optional<std::string> override_reason = {};  // the override's reason, when it has one
};
std::variant<DeploymentRequest, FieldError> ValidateDeploymentRequest(const nlohmann::json& body);

// The fingerprint an Idempotency-Key is bound to: the hex SHA-256 of the validated request
// (key order and blanks of the body do not matter).
std::string RequestFingerprint(const DeploymentRequest& request);

// Idempotency-Key: 1-200 printable ASCII characters.
bool IsValidIdempotencyKey(std::string_view key);

// The body of a dry run (POST /v1/deployments?dry_run=true): the batches `PlanRollout` cuts.
// Batch "index" counts from 0, as in BatchRequested; a gate is {"kind":"pause","duration":"2m"}
// (duration null: until resumed) or {"kind":"approval"}.
struct DryRunInput {
  std::string app;
  std::string env;
  std::string release_id;
  std::string version;
  std::int64_t spec_version = 0;
  const spec::Environment* environment = nullptr;
  std::vector<spec::Batch> batches;
};
nlohmann::json DryRunJson(const DryRunInput& input);

// --- Operator commands ----------------------------------------------------------------------

// sluice.v1.OperatorCommand.Verb; the <verb> of the path is its text (events::Name).
using OperatorCommand = events::v1::OperatorCommand;
using Verb = OperatorCommand::Verb;
// nullopt for anything but the text of a verb.
std::optional<Verb> ParseVerb(std::string_view s);
// pause, resume, abort, promote: deployer; approve, rollback: approver.
Role RequiredRole(Verb verb);

// The optional body of POST /v1/deployments/{id}:<verb>: {"reason", "generation",
// "target_release_id" (rollback only)}. An empty body is an empty command.
struct CommandInput {
  std::string reason;
  std::uint64_t generation = 0;  // 0 = current
  std::optional<std::string> target_release_id;
};
std::variant<CommandInput, FieldError> ValidateCommand(Verb verb, const nlohmann::json& body);

// --- External alerts ------------------------------------------------------------------------

// An external alert about an app in an environment (an `alert` on the inbound topic), as
// {"app", "env", "alertname", "severity", "summary", "status"}: app and env are names
// (^[a-z][a-z0-9-]{0,62}$), alertname 1-200 characters, severity at most 64, summary at most
// 1000 (text that passes UnsafeTextReason), status "firing" (the default) or "resolved".
struct AlertInput {
  std::string app;
  std::string env;
  std::string alert_name;
  std::string severity;
  std::string summary;
  bool resolved = false;
};
std::variant<AlertInput, FieldError> ValidateAlert(const nlohmann::json& body);

// --- Proxies --------------------------------------------------------------------------------

// An upstream base URL (SLUICE_PLANNER_URL, SLUICE_EXECUTOR_URL): http(s)://host[:port] with an
// optional path; returned without a trailing slash, or nullopt when it is not such a URL.
std::optional<std::string> NormalizeBaseUrl(std::string_view url);

// "?a=1&b=x%20y" of the parameters in `params` whose names are in `allowed` (percent-encoded,
// in the order of `allowed`); "" when none is set.
std::string ForwardQuery(const std::multimap<std::string, std::string>& params,
                         const std::vector<std::string>& allowed);

// application/json or any +json type (parameters and case ignored).
bool IsJsonMediaType(std::string_view content_type);

// Deployment ids in paths: UUIDs, or ids of 1-64 characters of [A-Za-z0-9-].
bool IsValidDeploymentId(std::string_view id);

}  // namespace sluice::release_intake
