// Enrolled host agents (agent_enrollment.hpp):
//   POST   /v1/agents/enrollment-tokens  admin: {"expires_in"?, "name"?} -> a one-time token,
//                                        shown once, stored as its SHA-256
//   POST   /v1/agents/enroll             no API token: {"enrollment_token", "name", "address",
//                                        "labels"?} -> the host's credential, shown once
//   POST   /v1/agents/heartbeat          the host's credential as Bearer: records last seen
//   GET    /v1/agents                    viewer: every host, its labels, enrolled / last seen /
//                                        revoked
//   DELETE /v1/agents/{name}             admin: revokes the host's credential
// Every token creation, enrolment, refused reuse of a spent token and revocation is in the
// audit log (agent.enrollment_token.create, agent.enroll, agent.revoke).
#include <sluice/core/ids.hpp>
#include <sluice/http/errors.hpp>

#include "agent_enrollment.hpp"
#include "agent_repository.hpp"
#include "release_intake_component.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

http::ApiException InvalidEnrollmentToken(std::string message) {
  return http::ApiException(
      {401, "invalid_enrollment_token", std::move(message), "enrollment_token"});
}

}  // namespace

void ReleaseIntakeApi::RegisterAgents() {
  auto& s = deps_.server;
  s.Post("/v1/agents/enrollment-tokens",
         [this](const auto& req, auto& res) { CreateEnrollmentToken(req, res); });
  s.Post("/v1/agents/enroll", [this](const auto& req, auto& res) { EnrollAgent(req, res); });
  s.Post("/v1/agents/heartbeat", [this](const auto& req, auto& res) { AgentHeartbeat(req, res); });
  s.Get("/v1/agents", [this](const auto& req, auto& res) { ListAgents(req, res); });
  s.Delete(R"(/v1/agents/([a-z0-9][a-z0-9.-]{0,62}))",
           [this](const auto& req, auto& res) { RevokeAgent(req, res); });
}

void ReleaseIntakeApi::CreateEnrollmentToken(const httplib::Request& req, httplib::Response& res) {
  const auto caller = Authenticate(req, Role::kAdmin);
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  auto validated = ValidateEnrollmentTokenRequest(http::ParseJsonBody(req), now_ms);
  if (const auto* e = std::get_if<FieldError>(&validated)) {
    throw http::BadRequest(e->field, e->message);
  }
  const auto& request = std::get<EnrollmentTokenRequest>(validated);
  const std::string token = NewEnrollmentToken();
  const std::string id = core::NewUuid();
  const json name = request.host_name ? json(*request.host_name) : json(nullptr);
  Db([&](pqxx::work& tx) {
    AgentRepository::CreateEnrollmentToken(tx, id, HashToken(token), request, caller.name, now_ms);
    ReleaseRepository::Audit(
        tx,
        {caller.name,
         "agent.enrollment_token.create",
         request.host_name.value_or("*"),
         "created",
         core::TraceScope::Current(),
         {{"enrollment_id", id}, {"name", name}, {"expires_at_ms", request.expires_at_ms}}},
        now_ms);
    return 0;
  });
  http::WriteJson(res, 201,
                  {{"id", id},
                   {"name", name},
                   {"expires_at_ms", request.expires_at_ms},
                   {"token", token},
                   {"note", "one host may enrol with this token, once; it is not shown again"}});
}

void ReleaseIntakeApi::EnrollAgent(const httplib::Request& req, httplib::Response& res) {
  auto validated = ValidateEnrollRequest(http::ParseJsonBody(req));
  if (const auto* e = std::get_if<FieldError>(&validated)) {
    throw http::BadRequest(e->field, e->message);
  }
  const auto& request = std::get<EnrollRequest>(validated);
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const std::string credential = NewAgentCredential();
  struct Outcome {
    std::optional<EnrollmentRefusal> refusal;
    std::string enrollment_id;
  };
  // A refusal of a known token is committed (its audit entry) without spending the token; a
  // name already enrolled throws inside the transaction, so the token stays unspent.
  const auto outcome = Db([&](pqxx::work& tx) {
    const auto token =
        AgentRepository::LockEnrollmentToken(tx, HashToken(request.enrollment_token));
    if (!token) throw InvalidEnrollmentToken("unknown enrolment token");
    Outcome o{EnrollmentTokenRefusal(*token, request.name, now_ms), token->id};
    if (o.refusal) {
      if (token->used_at_ms) {
        ReleaseRepository::Audit(tx,
                                 {"agent:" + request.name,
                                  "agent.enroll",
                                  request.name,
                                  "refused_token_reused",
                                  core::TraceScope::Current(),
                                  {{"enrollment_id", token->id}, {"used_by", token->used_by}}},
                                 now_ms);
      }
      return o;
    }
    if (!AgentRepository::Enroll(tx, request, HashToken(credential), token->id, now_ms)) {
      throw http::Conflict("agent_enrolled",
                           "host '" + request.name +
                               "' is enrolled; revoke it first (DELETE /v1/agents/" + request.name +
                               ") to enrol it again");
    }
    AgentRepository::MarkEnrollmentTokenUsed(tx, token->id, request.name, now_ms);
    ReleaseRepository::Audit(tx,
                             {"agent:" + request.name,
                              "agent.enroll",
                              request.name,
                              "enrolled",
                              core::TraceScope::Current(),
                              {{"enrollment_id", token->id},
                               {"token_created_by", token->created_by},
                               {"address", request.address},
                               {"labels", request.labels}}},
                             now_ms);
    return o;
  });
  if (outcome.refusal) {
    if (outcome.refusal->name_mismatch) {
      throw http::ApiException(
          {403, "enrollment_token_name_mismatch", outcome.refusal->message, "name"});
    }
    throw InvalidEnrollmentToken(outcome.refusal->message);
  }
  res.set_header("Location", "/v1/agents");
  http::WriteJson(res, 201,
                  {{"name", request.name},
                   {"address", request.address},
                   {"labels", request.labels},
                   {"enrolled_at_ms", now_ms},
                   {"enrollment_id", outcome.enrollment_id},
                   {"credential", credential},
                   {"note", "the host's credential: store it now (0600); it is not shown again"}});
}

void ReleaseIntakeApi::AgentHeartbeat(const httplib::Request& req, httplib::Response& res) {
  constexpr std::string_view kBearer = "Bearer ";
  const std::string header = req.get_header_value("Authorization");
  if (!std::string_view(header).starts_with(kBearer) || header.size() == kBearer.size()) {
    throw http::Unauthorized("send the host's credential as 'Authorization: Bearer slh_...'");
  }
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const auto agent = Db([&](pqxx::work& tx) {
    auto a = AgentRepository::FindByCredential(
        tx, HashToken(std::string_view(header).substr(kBearer.size())));
    if (a && !a->revoked_at_ms) {
      AgentRepository::Touch(tx, a->name, now_ms);
      a->last_seen_at_ms = now_ms;
    }
    return a;
  });
  if (!agent) throw http::Unauthorized("unknown agent credential");
  if (agent->revoked_at_ms) {
    throw http::ApiException({401, "agent_revoked",
                              "host '" + agent->name + "' was revoked by " + agent->revoked_by +
                                  "; enrol it again with a new enrolment token",
                              ""});
  }
  http::WriteJson(res, 200, ToJson(*agent));
}

void ReleaseIntakeApi::ListAgents(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  const auto agents = Db([&](pqxx::work& tx) { return AgentRepository::List(tx); });
  json items = json::array();
  for (const auto& a : agents) items.push_back(ToJson(a));
  http::WriteJson(res, 200, {{"items", std::move(items)}});
}

void ReleaseIntakeApi::RevokeAgent(const httplib::Request& req, httplib::Response& res) {
  const auto caller = Authenticate(req, Role::kAdmin);
  const std::string name = req.matches[1];
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  using O = AgentRepository::RevokeOutcome;
  const auto outcome = Db([&](pqxx::work& tx) {
    const auto o = AgentRepository::Revoke(tx, name, caller.name, now_ms);
    if (o != O::kNotFound) {
      ReleaseRepository::Audit(
          tx,
          {caller.name, "agent.revoke", name, o == O::kRevoked ? "revoked" : "already_revoked",
           core::TraceScope::Current(), json::object()},
          now_ms);
    }
    return o;
  });
  if (outcome == O::kNotFound) {
    throw http::NotFound("no enrolled host named '" + name + "'; list them with GET /v1/agents");
  }
  http::WriteJson(
      res, 200,
      {{"name", name}, {"revoked", true}, {"already_revoked", outcome == O::kAlreadyRevoked}});
}

}  // namespace sluice::release_intake
