#include "intake.hpp"

#include <google/protobuf/util/json_util.h>

#include <sluice/core/strict_json.hpp>

#include "delivery.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

// The fields of a sub-message that are set, as the JSON body of the HTTP API: every non-empty
// string under its own name.
void PutString(json& body, std::string_view name, const std::string& value) {
  if (!value.empty()) body[std::string(name)] = value;
}

json ReleaseBody(const v1::ReleaseSubmission& r) {
  json b = json::object();
  PutString(b, "app", r.app());
  PutString(b, "tag", r.tag());
  PutString(b, "version", r.version());
  PutString(b, "artifact_kind", r.artifact_kind());
  PutString(b, "artifact_url", r.artifact_url());
  PutString(b, "sha256", r.sha256());
  PutString(b, "created_by", r.created_by());
  PutString(b, "commit", r.commit());
  PutString(b, "repo", r.repo());
  PutString(b, "image", r.image());
  PutString(b, "image_digest", r.image_digest());
  return b;
}

Submission FromProto(const v1::IntakeSubmission& s) {
  Submission out;
  out.id = s.submission_id();
  switch (s.request_case()) {
    case v1::IntakeSubmission::kRelease:
      out.kind = SubmissionKind::kRelease;
      out.body = ReleaseBody(s.release());
      break;
    case v1::IntakeSubmission::kDeployment: {
      const auto& d = s.deployment();
      out.kind = SubmissionKind::kDeployment;
      PutString(out.body, "release_id", d.release_id());
      PutString(out.body, "env", d.env());
      if (d.has_spec_version()) out.body["spec_version"] = d.spec_version();
      if (!d.idempotency_key().empty()) out.idempotency_key = d.idempotency_key();
      // Present (even with no reason, which the validator then refuses as it refuses the HTTP
      // body's {"override": {}}): the body's "override".
      if (d.has_override()) {
        json o = json::object();
        PutString(o, "reason", d.override().reason());
        out.body["override"] = std::move(o);
      }
      break;
    }
    case v1::IntakeSubmission::kCommand: {
      const auto& c = s.command();
      out.kind = SubmissionKind::kCommand;
      out.deployment_id = c.deployment_id();
      out.verb = c.verb();
      PutString(out.body, "reason", c.reason());
      if (c.generation() != 0) out.body["generation"] = c.generation();
      PutString(out.body, "target_release_id", c.target_release_id());
      break;
    }
    case v1::IntakeSubmission::kAlert: {
      const auto& a = s.alert();
      out.kind = SubmissionKind::kAlert;
      PutString(out.body, "app", a.app());
      PutString(out.body, "env", a.env());
      PutString(out.body, "alertname", a.alertname());
      PutString(out.body, "severity", a.severity());
      PutString(out.body, "summary", a.summary());
      PutString(out.body, "status", a.status());
      break;
    }
    case v1::IntakeSubmission::REQUEST_NOT_SET:
      break;
  }
  return out;
}

constexpr std::string_view kKinds[] = {"release", "deployment", "command", "alert"};

// A JSON submission: {"submission_id": "...", "<kind>": {...}} with exactly one kind.
std::variant<Submission, Malformed> FromJson(const json& doc) {
  Malformed bad;
  if (!doc.is_object()) return Malformed{"", "the record is not a JSON object"};
  if (const auto it = doc.find("submission_id"); it != doc.end() && it->is_string()) {
    bad.id = it->get<std::string>();
  }
  Submission out;
  out.id = bad.id;
  int kinds = 0;
  for (const auto& [key, value] : doc.items()) {
    if (key == "submission_id") continue;
    std::size_t k = 0;
    while (k < std::size(kKinds) && kKinds[k] != key) ++k;
    if (k == std::size(kKinds)) {
      bad.reason = "unknown field '" + key.substr(0, 80) +
                   "': a submission is {\"submission_id\", and one of release, deployment, "
                   "command, alert}";
      return bad;
    }
    if (!value.is_object()) {
      bad.reason = "'" + key + "' must be a JSON object";
      return bad;
    }
    ++kinds;
    out.kind = static_cast<SubmissionKind>(k);
    out.body = value;
  }
  if (kinds != 1) {
    bad.reason = "a submission carries exactly one of release, deployment, command, alert";
    return bad;
  }
  if (out.kind == SubmissionKind::kDeployment) {
    if (const auto it = out.body.find("idempotency_key"); it != out.body.end()) {
      if (!it->is_string()) {
        bad.reason = "deployment.idempotency_key must be a string";
        return bad;
      }
      out.idempotency_key = it->get<std::string>();
      out.body.erase(it);
    }
  }
  if (out.kind == SubmissionKind::kCommand) {
    for (auto* field : {&out.deployment_id, &out.verb}) {
      const char* name = field == &out.deployment_id ? "deployment_id" : "verb";
      if (const auto it = out.body.find(name); it != out.body.end()) {
        if (!it->is_string()) {
          bad.reason = std::string("command.") + name + " must be a string";
          return bad;
        }
        *field = it->get<std::string>();
        out.body.erase(it);
      }
    }
  }
  return out;
}

}  // namespace

std::string_view ContentType(Encoding encoding) {
  return encoding == Encoding::kJson ? "application/json" : "application/protobuf";
}

std::string_view ToString(SubmissionKind kind) { return kKinds[static_cast<int>(kind)]; }

Decoded DecodeSubmission(std::string_view value, std::optional<std::string_view> content_type,
                         std::optional<std::string_view> header_id) {
  Decoded out;
  std::variant<Submission, Malformed> result = Malformed{};
  const std::string media = content_type ? MediaTypeOf(*content_type) : "";
  const bool json_media = content_type && IsJsonMediaType(*content_type);
  if (json_media) out.encoding = Encoding::kJson;
  if (!json_media && !media.empty() && media != "application/protobuf" &&
      media != "application/x-protobuf") {
    result = Malformed{"", "content-type '" + std::string(content_type->substr(0, 100)) +
                               "' is neither application/protobuf nor application/json"};
  } else if (value.size() > kMaxSubmissionBytes) {
    result = Malformed{"", "the record's value has " + std::to_string(value.size()) +
                               " bytes; a submission has at most " +
                               std::to_string(kMaxSubmissionBytes)};
  } else if (json_media) {
    try {
      result = FromJson(core::ParseStrictJson(value));
    } catch (const core::JsonInputError& e) {
      result = Malformed{"", std::string("the record is not valid JSON: ") + e.what()};
    }
  } else {
    v1::IntakeSubmission proto;
    if (!proto.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      result = Malformed{"", "the record is not a serialized sluice.v1.IntakeSubmission"};
    } else if (proto.request_case() == v1::IntakeSubmission::REQUEST_NOT_SET) {
      result = Malformed{proto.submission_id(),
                         "the submission carries none of release, deployment, command, alert"};
    } else {
      result = FromProto(proto);
    }
  }
  // The id: the value's, else the header's; an unusable one makes the record malformed.
  std::string& id = std::visit([](auto& r) -> std::string& { return r.id; }, result);
  if (!IsValidIdempotencyKey(id)) {
    const std::string given = id;
    id = header_id && IsValidIdempotencyKey(*header_id) ? std::string(*header_id) : "";
    if (std::holds_alternative<Submission>(result)) {
      result = Malformed{id, given.empty() ? "submission_id is missing"
                                           : "submission_id must be 1-200 printable "
                                             "characters without spaces"};
    }
  }
  out.result = std::move(result);
  return out;
}

std::string PrincipalTopic(std::string_view principal) {
  return std::string(kPrincipalTopicPrefix) + std::string(principal) +
         std::string(kPrincipalTopicSuffix);
}

std::string PrincipalActor(std::string_view principal) { return "kafka:" + std::string(principal); }

std::variant<std::vector<KafkaPrincipal>, std::string> ParseKafkaPrincipals(
    std::string_view value) {
  std::vector<KafkaPrincipal> out;
  const auto split = [](std::string_view s, char sep) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= s.size()) {
      const auto end = std::min(s.find(sep, start), s.size());
      std::string part(s.substr(start, end - start));
      part.erase(0, part.find_first_not_of(' '));
      part.erase(part.find_last_not_of(' ') + 1);
      parts.push_back(std::move(part));
      start = end + 1;
    }
    return parts;
  };
  constexpr std::string_view kForm =
      "use PRINCIPAL=ROLE[@ENV:ROLE[+ENV:ROLE...]], e.g. ci=deployer@production:viewer";
  for (const std::string& entry : split(value, ',')) {
    if (entry.empty()) continue;
    const std::string shown = "'" + entry.substr(0, 100) + "'";
    const auto eq = entry.find('=');
    if (eq == std::string::npos) return shown + ": " + std::string(kForm);
    KafkaPrincipal p;
    p.name = entry.substr(0, eq);
    p.name.erase(p.name.find_last_not_of(' ') + 1);
    if (!IsValidAppName(p.name)) {
      return shown + ": '" + p.name.substr(0, 64) +
             "' is not a principal name (a-z, 0-9 and '-', starting with a letter, at most 63 "
             "characters)";
    }
    for (const auto& known : out) {
      if (known.name == p.name) return shown + ": principal '" + p.name + "' is mapped twice";
    }
    std::string rest = entry.substr(eq + 1);
    rest.erase(0, rest.find_first_not_of(' '));
    const auto at = rest.find('@');
    const std::string role = rest.substr(0, at);
    const auto parsed = ParseRole(role);
    if (!parsed) {
      return shown + ": role '" + role.substr(0, 40) +
             "' is none of viewer, deployer, approver, admin";
    }
    p.role = *parsed;
    if (at != std::string::npos) {
      // The grants, checked as a token's "environments" are (ParseGrants).
      nlohmann::json grants = nlohmann::json::object();
      for (const std::string& grant : split(std::string_view(rest).substr(at + 1), '+')) {
        const auto colon = grant.find(':');
        if (colon == std::string::npos || colon == 0) {
          return shown + ": '" + grant.substr(0, 64) + "' is not ENV:ROLE; " + std::string(kForm);
        }
        const std::string env = grant.substr(0, colon);
        if (grants.contains(env)) return shown + ": environment '" + env + "' is named twice";
        grants[env] = grant.substr(colon + 1);
      }
      auto checked = ParseGrants(grants, "environments");
      if (const auto* e = std::get_if<FieldError>(&checked)) return shown + ": " + e->message;
      p.environments = std::get<EnvGrants>(std::move(checked));
    }
    p.topic = PrincipalTopic(p.name);
    out.push_back(std::move(p));
    if (out.size() > kMaxKafkaPrincipals) {
      return "at most " + std::to_string(kMaxKafkaPrincipals) + " principals may be mapped";
    }
  }
  return out;
}

std::optional<StoredToken> PrincipalAuthority(const std::vector<KafkaPrincipal>& principals,
                                              std::string_view topic) {
  for (const auto& p : principals) {
    if (p.topic == topic) {
      const std::string actor = PrincipalActor(p.name);
      return StoredToken{actor, actor, p.role, false, std::nullopt, p.environments};
    }
  }
  return std::nullopt;
}

v1::IntakeResult MakeResult(const std::string& submission_id, std::string_view kind, int status,
                            const json& body) {
  v1::IntakeResult r;
  r.set_submission_id(submission_id);
  r.set_kind(std::string(kind));
  r.set_http_status(status);
  const bool ok = status >= 200 && status < 300;
  r.set_outcome(ok ? v1::INTAKE_OUTCOME_ACCEPTED : v1::INTAKE_OUTCOME_REFUSED);
  const auto text = [&body](const char* name) {
    const auto it = body.find(name);
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (ok && body.is_object()) {
    r.set_deployment_id(text("deployment_id"));
    // A release's answer is the release itself ({"id", ...}); a deployment's names its release.
    r.set_release_id(kind == "release" ? text("id") : text("release_id"));
  }
  if (!ok && body.is_object() && body.contains("error") && body["error"].is_object()) {
    const json& e = body["error"];
    const auto field = [&e](const char* name) {
      const auto it = e.find(name);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    r.mutable_error()->set_code(field("code"));
    r.mutable_error()->set_message(field("message"));
    r.mutable_error()->set_field(field("field"));
  }
  r.set_body_json(body.dump(-1, ' ', false, json::error_handler_t::replace));
  return r;
}

v1::IntakeResult MalformedResult(const Malformed& malformed) {
  return MakeResult(
      malformed.id, "", 400,
      {{"error", {{"code", "malformed_record"}, {"message", malformed.reason}, {"field", ""}}}});
}

json ResultJson(const v1::IntakeResult& r) {
  json out = {{"submission_id", r.submission_id()},
              {"outcome", r.outcome() == v1::INTAKE_OUTCOME_ACCEPTED ? "accepted" : "refused"},
              {"kind", r.kind()},
              {"http_status", r.http_status()}};
  if (!r.release_id().empty()) out["release_id"] = r.release_id();
  if (!r.deployment_id().empty()) out["deployment_id"] = r.deployment_id();
  if (r.has_error()) {
    out["error"] = {
        {"code", r.error().code()}, {"message", r.error().message()}, {"field", r.error().field()}};
  }
  out["body"] = json::parse(r.body_json(), nullptr, /*allow_exceptions=*/false);
  return out;
}

std::string EncodeResult(const v1::IntakeResult& result, Encoding encoding) {
  if (encoding == Encoding::kJson) {
    return ResultJson(result).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return result.SerializeAsString();
}

}  // namespace sluice::release_intake
