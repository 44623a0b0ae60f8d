#pragma once

// The public inbound contract (sluice.intake.v1, schemas/sluice/v1/intake.proto): what a Kafka
// producer's record asks, decoded into the body the HTTP API would get for the same request, and
// the answer written back on sluice.intake.results.v1. Pure functions: no I/O, no clock. The
// consumer that acts on them is intake_consumer.cpp; docs/kafka-producers.md is the user's view.

#include <sluice/v1/intake.pb.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "release.hpp"

namespace sluice::release_intake {

inline constexpr std::string_view kIntakeTopic = "sluice.intake.v1";
inline constexpr std::string_view kIntakeResultsTopic = "sluice.intake.results.v1";
// The most a submission record's value may weigh (a release is a few hundred bytes).
inline constexpr std::size_t kMaxSubmissionBytes = 64 * 1024;
// Record headers of the contract.
inline constexpr std::string_view kAuthorizationHeader = "authorization";
inline constexpr std::string_view kContentTypeHeader = "content-type";
// Optional: names the submission when its value cannot be decoded, so it is still answered.
inline constexpr std::string_view kSubmissionIdHeader = "submission-id";

enum class Encoding { kProtobuf, kJson };
std::string_view ContentType(Encoding encoding);  // "application/protobuf", "application/json"

enum class SubmissionKind { kRelease, kDeployment, kCommand, kAlert };
std::string_view ToString(SubmissionKind kind);

// A well-formed submission: its id, what it asks, and the body the HTTP API would get for it
// (the same field names; validated afterwards by the API's own validators).
struct Submission {
  std::string id;
  SubmissionKind kind = SubmissionKind::kRelease;
  nlohmann::json body = nlohmann::json::object();
  std::optional<std::string> idempotency_key;  // deployment: as the Idempotency-Key header
  std::string deployment_id;                   // command
  std::string verb;                            // command
};

// A record that cannot be read as a submission: why, and its id when one is readable (from
// the value, else the submission-id header), so it can still be answered.
struct Malformed {
  std::string id;  // empty: none readable
  std::string reason;
};

struct Decoded {
  Encoding encoding = Encoding::kProtobuf;  // of the record, and so of its answer
  std::variant<Submission, Malformed> result;
};

// Decodes a record value. `content_type`: the content-type header (absent: protobuf);
// `header_id`: the submission-id header.
Decoded DecodeSubmission(std::string_view value, std::optional<std::string_view> content_type,
                         std::optional<std::string_view> header_id);

// Kafka producers' principals (SLUICE_INTAKE_KAFKA_PRINCIPALS). The broker does not pass a
// record's authenticated principal to its consumer; what it enforces is which topics a principal
// may write (its ACLs). So each mapped principal P gets an inbound topic of its own,
// PrincipalTopic(P) = "sluice.intake.p.<P>.v1", that only P may write, and a record read from it
// carries P's authority: a token-like record named "kafka:<P>" (PrincipalActor) with the mapped
// role and grants, checked by the same Authorize / RequireRoleIn as an API token's. A record on
// the public topic (sluice.intake.v1) still needs its `authorization` header.
inline constexpr std::string_view kPrincipalTopicPrefix = "sluice.intake.p.";
inline constexpr std::string_view kPrincipalTopicSuffix = ".v1";
inline constexpr std::size_t kMaxKafkaPrincipals = 64;
struct KafkaPrincipal {
  std::string name;   // the SASL user name: a-z, 0-9 and '-', starting with a letter, <= 63
  std::string topic;  // PrincipalTopic(name)
  Role role = Role::kViewer;
  EnvGrants environments = {};  // its grants: the role it holds there instead (RoleIn)
};
std::string PrincipalTopic(std::string_view principal);
std::string PrincipalActor(std::string_view principal);  // "kafka:<principal>"
// The setting's value: comma-separated entries PRINCIPAL=ROLE[@ENV:ROLE[+ENV:ROLE...]], e.g.
// "ci=deployer@production:viewer,approver=approver" (ci: deployer everywhere but production,
// where it is a viewer; as `sluice token create --role deployer --env production=viewer`). An
// empty value maps none. The error (std::string) names the entry and what is wrong.
std::variant<std::vector<KafkaPrincipal>, std::string> ParseKafkaPrincipals(std::string_view value);
// The authority of a record read from `topic`: the mapped principal's, as a stored token that
// is never revoked nor expires; nullopt when no principal owns the topic (its token decides).
std::optional<StoredToken> PrincipalAuthority(const std::vector<KafkaPrincipal>& principals,
                                              std::string_view topic);

// The answer, from the status and body the HTTP API gives the same request: accepted (2xx, with
// the release / deployment id of the body) or refused (the body's error). `kind` is empty for a
// malformed record.
v1::IntakeResult MakeResult(const std::string& submission_id, std::string_view kind, int status,
                            const nlohmann::json& body);
// The answer to a malformed record: refused, 400 malformed_record, the reason.
v1::IntakeResult MalformedResult(const Malformed& malformed);

// The answer as a record value in `encoding`. JSON: {"submission_id", "outcome" ("accepted" or
// "refused"), "kind", "http_status", "release_id"?, "deployment_id"?, "error"? {code, message,
// field}, "body": the API's answer body}.
std::string EncodeResult(const v1::IntakeResult& result, Encoding encoding);
nlohmann::json ResultJson(const v1::IntakeResult& result);

}  // namespace sluice::release_intake
