#include "release_intake_component.hpp"

#include <google/protobuf/util/time_util.h>

#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>

#include "grant_repository.hpp"
#include "intake_actions.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;
namespace v1 = ::sluice::v1;

std::optional<std::string> Param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  return req.get_param_value(name);
}

http::ApiException Invalid(const FieldError& e) { return http::BadRequest(e.field, e.message); }

}  // namespace

v1::ArtifactKind ToProto(ArtifactKind k) {
  switch (k) {
    case ArtifactKind::kTarball:
      return v1::ARTIFACT_KIND_TARBALL;
    case ArtifactKind::kImage:
      return v1::ARTIFACT_KIND_IMAGE;
    case ArtifactKind::kModel:
      return v1::ARTIFACT_KIND_MODEL;
  }
  return v1::ARTIFACT_KIND_UNSPECIFIED;
}

ReleaseIntakeApi::ReleaseIntakeApi(ApiDeps deps, ApiOptions options)
    : deps_(deps), options_(std::move(options)) {}

void ReleaseIntakeApi::Register() {
  auto& s = deps_.server;
  s.Post("/v1/releases", [this](const auto& req, auto& res) { CreateRelease(req, res); });
  s.Get("/v1/releases", [this](const auto& req, auto& res) { ListReleases(req, res); });
  s.Get(R"(/v1/releases/([A-Za-z0-9-]+))",
        [this](const auto& req, auto& res) { GetRelease(req, res); });
  s.Post("/v1/hooks/github", [this](const auto& req, auto& res) { GithubHook(req, res); });
  s.Post("/v1/tokens", [this](const auto& req, auto& res) { CreateToken(req, res); });
  s.Get("/v1/tokens", [this](const auto& req, auto& res) { ListTokens(req, res); });
  s.Delete(R"(/v1/tokens/([A-Za-z0-9-]{1,64}))",
           [this](const auto& req, auto& res) { RevokeToken(req, res); });
  s.Put(R"(/v1/tokens/([A-Za-z0-9-]{1,64})/environments/([a-z][a-z0-9-]{0,62}))",
        [this](const auto& req, auto& res) { GrantRole(req, res, true); });
  s.Delete(R"(/v1/tokens/([A-Za-z0-9-]{1,64})/environments/([a-z][a-z0-9-]{0,62}))",
           [this](const auto& req, auto& res) { GrantRole(req, res, false); });
  s.Get("/v1/audit", [this](const auto& req, auto& res) { ListAudit(req, res); });
  RegisterDelivery();
  RegisterConsole();
  RegisterEvents();
  RegisterAgents();
}

void RequireRole(const std::string& token_name, Role has, Role needed) {
  if (!Allows(has, needed)) {
    throw http::Forbidden("token '" + token_name + "' has role " + std::string(ToString(has)) +
                          "; this call needs " + std::string(ToString(needed)) + " or higher");
  }
}

BearerLookup LookupBearer(pqxx::work& tx, std::string_view authorization, std::int64_t now_ms) {
  constexpr std::string_view kBearer = "Bearer ";
  BearerLookup out;
  if (authorization.rfind(kBearer, 0) != 0 || authorization.size() == kBearer.size()) return out;
  out.present = true;
  out.token = ReleaseRepository::FindToken(tx, HashToken(authorization.substr(kBearer.size())));
  if (out.token && !TokenRefusal(*out.token, now_ms)) {
    ReleaseRepository::TouchToken(tx, out.token->id, now_ms);
  }
  return out;
}

Caller CallerOf(const TokenRecord& token, std::string transport) {
  return Caller{token.name, std::move(transport), token.role, token.environments};
}

void RequireRoleIn(const Caller& caller, std::string_view env, Role needed, std::string_view what) {
  auto refusal = CheckRoleIn(caller.name, caller.role, caller.environments, env, needed, what);
  if (!refusal) return;
  http::ApiError error{403, "forbidden_in_environment", std::move(refusal->message), "env"};
  error.detail = std::move(refusal->detail);
  throw http::ApiException(std::move(error));
}

TokenRecord Authorize(const BearerLookup& lookup, Role needed, std::int64_t now_ms,
                      bool any_environment) {
  if (!lookup.present) {
    throw http::Unauthorized(
        "missing 'Authorization: Bearer <token>' header (a local admin token is in "
        "var/local/admin-token)");
  }
  const auto& token = lookup.token;
  if (!token) throw http::Unauthorized("unknown API token");
  if (auto why = TokenRefusal(*token, now_ms)) throw http::Unauthorized(*why);
  RequireRole(token->name,
              any_environment ? HighestRole(token->role, token->environments) : token->role,
              needed);
  return TokenRecord{token->id, token->name, token->role, token->environments};
}

TokenRecord ReleaseIntakeApi::Authenticate(const httplib::Request& req, Role needed,
                                           bool any_environment) {
  if (!req.has_header("Authorization")) {
    if (auto id = SessionIdFromCookie(req.get_header_value("Cookie"))) {
      const auto token = AuthenticateSession(req, *id, Role::kViewer).token;
      const auto grants = Db([&](pqxx::work& tx) { return GrantRepository::Of(tx, token.id); });
      RequireRole(token.name, any_environment ? HighestRole(token.role, grants) : token.role,
                  needed);
      return TokenRecord{token.id, token.name, token.role, grants};
    }
  }
  const std::string header = req.get_header_value("Authorization");
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const auto lookup = Db([&](pqxx::work& tx) { return LookupBearer(tx, header, now_ms); });
  return Authorize(lookup, needed, now_ms, any_environment);
}

InsertResult StoreRelease(pqxx::work& tx, const ReleaseInput& input, const std::string& source,
                          const std::string& actor, const core::Clock& clock) {
  const auto now_ms = core::ToUnixMillis(clock.Now());
  auto result = ReleaseRepository::Insert(tx, input, core::NewUuid(), now_ms, source);
  AuditEntry audit{actor,
                   "release.create",
                   input.app + "@" + input.version,
                   "",
                   core::TraceScope::Current(),
                   {{"source", source}, {"sha256", input.sha256}}};
  switch (result.outcome) {
    case InsertOutcome::kCreated: {
      audit.outcome = "created";
      auto e = events::NewEnvelope(kServiceName, clock);
      e.set_release_id(result.release.id);
      auto* rc = e.mutable_release_created();
      rc->set_release_id(result.release.id);
      rc->set_app(input.app);
      rc->set_tag(input.tag);
      rc->set_version(input.version);
      rc->mutable_artifact()->set_version(input.version);
      rc->mutable_artifact()->set_url(input.artifact_url);
      rc->mutable_artifact()->set_sha256(input.sha256);
      rc->mutable_artifact()->set_kind(ToProto(input.artifact_kind));
      if (input.image) rc->mutable_artifact()->set_image(*input.image);
      if (input.image_digest) rc->mutable_artifact()->set_image_digest(*input.image_digest);
      rc->set_created_by(input.created_by);
      *rc->mutable_created_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(now_ms);
      if (input.commit) rc->set_commit(*input.commit);
      if (input.repo) rc->set_repo(*input.repo);
      eventbus::Publish(tx, std::move(e));
      break;
    }
    case InsertOutcome::kExisting:
      audit.outcome = "existing";
      break;
    case InsertOutcome::kConflict:
      audit.outcome = "conflict";
      audit.detail["stored_sha256"] = result.release.input.sha256;
      break;
  }
  ReleaseRepository::Audit(tx, audit, now_ms, {input.app, std::nullopt});
  return result;
}

ReleaseInput ValidatedRelease(const json& body, const TokenRecord& token) {
  auto validated = ValidateRelease(body, token.name);
  if (validated.error) throw Invalid(*validated.error);
  return std::move(*validated.release);
}

Answer ReleaseAnswer(const InsertResult& result) {
  switch (result.outcome) {
    case InsertOutcome::kCreated:
      return {201, ToJson(result.release), "/v1/releases/" + result.release.id};
    case InsertOutcome::kExisting:
      return {200, ToJson(result.release), ""};
    case InsertOutcome::kConflict:
      break;
  }
  const auto& stored = result.release.input;
  return {409,
          {{"error",
            {{"code", "release_exists"},
             {"message", "release " + stored.app + "@" + stored.version +
                             " already exists with sha256 " + stored.sha256 +
                             "; a version's artifact never changes: publish a new version"},
             {"field", ""}}}},
          ""};
}

void ReleaseIntakeApi::CreateRelease(const httplib::Request& req, httplib::Response& res) {
  const auto token = Authenticate(req, Role::kDeployer);
  const json body = http::ParseJsonBody(req);
  const ReleaseInput input = ValidatedRelease(body, token);
  const auto result =
      Db([&](pqxx::work& tx) { return StoreRelease(tx, input, "api", token.name, deps_.clock); });
  const Answer answer = ReleaseAnswer(result);
  if (!answer.location.empty()) res.set_header("Location", answer.location);
  http::WriteJson(res, answer.status, answer.body);
}

void ReleaseIntakeApi::GetRelease(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  const std::string id = req.matches[1];
  auto release = Db([&](pqxx::work& tx) { return ReleaseRepository::Get(tx, id); });
  if (!release) throw http::NotFound("no release with id " + id);
  http::WriteJson(res, 200, ToJson(*release));
}

void ReleaseIntakeApi::ListReleases(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  auto page = ParsePage(Param(req, "limit"), Param(req, "cursor"));
  if (auto* e = std::get_if<FieldError>(&page)) throw Invalid(*e);
  const auto app = Param(req, "app");
  if (app && !IsValidAppName(*app)) throw http::BadRequest("app", "app is not a valid app name");
  const auto tag = Param(req, "tag");
  if (tag) {
    if (auto e = CheckTagFilter(*tag)) throw Invalid(*e);
  }
  const auto created = http::TimeRangeParams(req, deps_.clock.Now());
  const auto& request = std::get<PageRequest>(page);
  auto releases =
      Db([&](pqxx::work& tx) { return ReleaseRepository::List(tx, app, request, tag, created); });
  json items = json::array();
  for (const auto& r : releases) items.push_back(ToJson(r));
  json body = {{"items", std::move(items)}};
  body["next_cursor"] = static_cast<int>(releases.size()) == request.limit && !releases.empty()
                            ? json(std::to_string(releases.back().seq))
                            : json(nullptr);
  http::WriteJson(res, 200, body);
}

void ReleaseIntakeApi::GithubHook(const httplib::Request& req, httplib::Response& res) {
  if (!options_.github_secret) {
    throw http::ApiException(
        {404, "not_configured", "the GitHub webhook is off: set SLUICE_GITHUB_WEBHOOK_SECRET", ""});
  }
  const std::string signature = req.get_header_value("X-Hub-Signature-256");
  if (!VerifyGithubSignature(*options_.github_secret, req.body, signature)) {
    throw http::ApiException({401, "bad_signature",
                              "X-Hub-Signature-256 does not match the body signed with the "
                              "configured secret",
                              "X-Hub-Signature-256"});
  }
  const std::string delivery = req.get_header_value("X-GitHub-Delivery");
  const std::string event = req.get_header_value("X-GitHub-Event");
  if (delivery.empty() || delivery.size() > 128) {
    throw http::BadRequest("X-GitHub-Delivery", "X-GitHub-Delivery header is required");
  }
  if (event.empty()) throw http::BadRequest("X-GitHub-Event", "X-GitHub-Event header is required");
  const json payload = http::ParseJsonBody(req);
  const auto outcome = InterpretGithubEvent(event, payload);
  if (outcome.kind == GithubOutcome::Kind::kInvalid) {
    throw http::ApiException({422, "unusable_release", outcome.reason, outcome.field});
  }
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  struct Result {
    bool replay = false;
    std::string first_delivery;  // set when the release event was accepted before
    std::optional<InsertResult> insert;
  };
  auto result = Db([&](pqxx::work& tx) {
    Result r;
    const char* label = outcome.kind == GithubOutcome::Kind::kRelease ? "release" : "ignored";
    if (!ReleaseRepository::RecordDelivery(tx, delivery, event, label, now_ms)) {
      r.replay = true;
      return r;
    }
    if (outcome.kind == GithubOutcome::Kind::kRelease) {
      if (!ReleaseRepository::RecordReleaseEvent(tx, outcome.event_key, delivery, now_ms,
                                                 r.first_delivery)) {
        return r;  // the same release event under a new delivery id: no second effect
      }
      r.insert =
          StoreRelease(tx, *outcome.release, "github", outcome.release->created_by, deps_.clock);
    }
    return r;
  });
  if (result.replay) {
    throw http::Conflict("replayed_delivery",
                         "delivery " + delivery + " was already processed; replays are refused");
  }
  if (!result.first_delivery.empty()) {
    throw http::Conflict("replayed_release_event",
                         "release event " + outcome.event_key + " was already accepted (delivery " +
                             result.first_delivery + "); a repeat has no effect");
  }
  if (!result.insert) {
    http::WriteJson(res, 202, {{"status", "ignored"}, {"reason", outcome.reason}});
    return;
  }
  if (result.insert->outcome == InsertOutcome::kConflict) {
    throw http::Conflict("release_exists", "release " + outcome.release->app + "@" +
                                               outcome.release->version +
                                               " already exists with another sha256");
  }
  http::WriteJson(res, result.insert->outcome == InsertOutcome::kCreated ? 201 : 200,
                  ToJson(result.insert->release));
}

void ReleaseIntakeApi::CreateToken(const httplib::Request& req, httplib::Response& res) {
  const auto caller = Authenticate(req, Role::kAdmin);
  const json body = http::ParseJsonBody(req);
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  auto validated = ValidateTokenRequest(body, now_ms);
  if (const auto* e = std::get_if<FieldError>(&validated)) throw Invalid(*e);
  const auto& request = std::get<TokenRequest>(validated);
  const std::string token = NewToken();
  const json expires = request.expires_at_ms ? json(*request.expires_at_ms) : json(nullptr);
  const auto id = Db([&](pqxx::work& tx) {
    auto created =
        ReleaseRepository::CreateToken(tx, request, HashToken(token), caller.name, now_ms);
    if (created) {
      for (const auto& [env, role] : request.environments) {
        GrantRepository::Set(tx, *created, env, role, caller.name, now_ms);
      }
    }
    json detail = {{"role", ToString(request.role)},
                   {"expires_at_ms", expires},
                   {"environments", GrantsJson(request.environments)}};
    if (created) detail["token_id"] = *created;
    ReleaseRepository::Audit(
        tx,
        {caller.name, "token.create", request.name, created ? "created" : "conflict",
         core::TraceScope::Current(), detail},
        now_ms);
    return created;
  });
  if (!id) {
    throw http::Conflict("token_exists", "a token named '" + request.name +
                                             "' exists (revoked tokens keep their names)");
  }
  http::WriteJson(res, 201,
                  {{"id", *id},
                   {"name", request.name},
                   {"role", ToString(request.role)},
                   {"environments", GrantsJson(request.environments)},
                   {"expires_at_ms", expires},
                   {"token", token},
                   {"note", "store this token now; it is not shown again"}});
}

void ReleaseIntakeApi::ListTokens(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kAdmin);
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  auto items = Db([&](pqxx::work& tx) {
    auto tokens = ReleaseRepository::ListTokens(tx, now_ms);
    const auto grants = GrantRepository::All(tx);
    for (auto& t : tokens) {
      const auto it = grants.find(t["id"].get<std::string>());
      t["environments"] = GrantsJson(it == grants.end() ? EnvGrants{} : it->second);
    }
    return tokens;
  });
  http::WriteJson(res, 200, {{"items", items}});
}

void ReleaseIntakeApi::RevokeToken(const httplib::Request& req, httplib::Response& res) {
  const auto caller = Authenticate(req, Role::kAdmin);
  const std::string id = req.matches[1];
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  std::string name;
  const auto outcome = Db([&](pqxx::work& tx) {
    auto o = ReleaseRepository::RevokeToken(tx, id, caller.name, now_ms, name);
    if (o != ReleaseRepository::RevokeOutcome::kNotFound) {
      ReleaseRepository::Audit(
          tx,
          {caller.name,
           "token.revoke",
           name,
           o == ReleaseRepository::RevokeOutcome::kRevoked ? "revoked" : "already_revoked",
           core::TraceScope::Current(),
           {{"token_id", id}}},
          now_ms);
    }
    return o;
  });
  if (outcome == ReleaseRepository::RevokeOutcome::kNotFound) {
    throw http::NotFound("no API token with id " + id + "; list them with GET /v1/tokens");
  }
  http::WriteJson(
      res, 200,
      {{"id", id},
       {"name", name},
       {"revoked", true},
       {"already_revoked", outcome == ReleaseRepository::RevokeOutcome::kAlreadyRevoked}});
}

void ReleaseIntakeApi::GrantRole(const httplib::Request& req, httplib::Response& res, bool grant) {
  const auto caller = Authenticate(req, Role::kAdmin);
  const std::string id = req.matches[1];
  const std::string env = req.matches[2];
  std::optional<Role> role;
  if (grant) {
    auto parsed = ParseGrantBody(http::ParseJsonBody(req));
    if (const auto* e = std::get_if<FieldError>(&parsed)) throw Invalid(*e);
    role = std::get<Role>(parsed);
  }
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  struct Outcome {
    std::string name;
    std::optional<Role> before;
    EnvGrants after;
  };
  const auto outcome = Db([&](pqxx::work& tx) -> std::optional<Outcome> {
    auto name = GrantRepository::LockToken(tx, id);
    if (!name) return std::nullopt;
    Outcome o{std::move(*name), std::nullopt, {}};
    o.before = role ? GrantRepository::Set(tx, id, env, *role, caller.name, now_ms)
                    : GrantRepository::Remove(tx, id, env);
    o.after = GrantRepository::Of(tx, id);
    if (o.after.size() > kMaxGrantsPerToken) {
      throw http::BadRequest("env", "a token has grants in at most " +
                                        std::to_string(kMaxGrantsPerToken) + " environments");
    }
    const auto text = [](const std::optional<Role>& r) {
      return r ? json(ToString(*r)) : json(nullptr);
    };
    ReleaseRepository::Audit(
        tx,
        {caller.name,
         grant ? "token.grant" : "token.ungrant",
         o.name + "/" + env,
         grant ? (o.before ? "replaced" : "granted") : (o.before ? "removed" : "unchanged"),
         core::TraceScope::Current(),
         {{"token_id", id}, {"env", env}, {"role", text(role)}, {"previous_role", text(o.before)}}},
        now_ms, {std::nullopt, env});
    return o;
  });
  if (!outcome) {
    throw http::NotFound("no API token with id " + id + "; list them with GET /v1/tokens");
  }
  http::WriteJson(
      res, 200,
      {{"id", id},
       {"name", outcome->name},
       {"env", env},
       {"role", role ? json(ToString(*role)) : json(nullptr)},
       {"previous_role", outcome->before ? json(ToString(*outcome->before)) : json(nullptr)},
       {"environments", GrantsJson(outcome->after)}});
}

void ReleaseIntakeApi::ListAudit(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kAdmin);
  auto query = ParseAuditQuery(
      {Param(req, "limit"), Param(req, "cursor"), Param(req, "actor"), Param(req, "action"),
       Param(req, "app"), Param(req, "env"), Param(req, "since"), Param(req, "until")},
      deps_.clock.Now());
  if (auto* e = std::get_if<FieldError>(&query)) throw Invalid(*e);
  const auto& q = std::get<AuditQuery>(query);
  auto page = Db([&](pqxx::work& tx) { return ReleaseRepository::ListAudit(tx, q); });
  // Older entries match too: the last id continues the listing (null on the last page).
  json next = page.more && !page.items.empty()
                  ? json(std::to_string(page.items.back()["id"].get<std::int64_t>()))
                  : json(nullptr);
  http::WriteJson(res, 200, {{"items", std::move(page.items)}, {"next_cursor", std::move(next)}});
}

void EnsureAdminToken(pg::Database& db, const core::Clock& clock, const std::string& token) {
  db.WithTransaction([&](pqxx::work& tx) {
    ReleaseRepository::UpsertToken(tx, "local-admin", HashToken(token), Role::kAdmin, "bootstrap",
                                   core::ToUnixMillis(clock.Now()));
    return 0;
  });
}

}  // namespace sluice::release_intake
