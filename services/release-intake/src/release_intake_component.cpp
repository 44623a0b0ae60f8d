#include "release_intake_component.hpp"

#include <google/protobuf/util/time_util.h>

#include <regex>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>

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
  s.Get("/v1/audit", [this](const auto& req, auto& res) { ListAudit(req, res); });
  RegisterDelivery();
}

TokenRecord ReleaseIntakeApi::Authenticate(const httplib::Request& req, Role needed) {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.rfind(kBearer, 0) != 0 || header.size() == kBearer.size()) {
    throw http::Unauthorized(
        "missing 'Authorization: Bearer <token>' header (a local admin token is in "
        "var/local/admin-token)");
  }
  const std::string hash = HashToken(std::string_view(header).substr(kBearer.size()));
  auto token = Db([&](pqxx::work& tx) { return ReleaseRepository::FindToken(tx, hash); });
  if (!token) throw http::Unauthorized("unknown or revoked API token");
  if (!Allows(token->role, needed)) {
    throw http::Forbidden("token '" + token->name + "' has role " +
                          std::string(ToString(token->role)) + "; this call needs " +
                          std::string(ToString(needed)) + " or higher");
  }
  return *token;
}

InsertResult ReleaseIntakeApi::StoreRelease(pqxx::work& tx, const ReleaseInput& input,
                                            const std::string& source, const std::string& actor) {
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
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
      auto e = events::NewEnvelope(kServiceName, deps_.clock);
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
  ReleaseRepository::Audit(tx, audit, now_ms);
  return result;
}

void ReleaseIntakeApi::CreateRelease(const httplib::Request& req, httplib::Response& res) {
  const auto token = Authenticate(req, Role::kDeployer);
  const json body = http::ParseJsonBody(req);
  auto validated = ValidateRelease(body, token.name);
  if (validated.error) throw Invalid(*validated.error);
  const auto result =
      Db([&](pqxx::work& tx) { return StoreRelease(tx, *validated.release, "api", token.name); });
  switch (result.outcome) {
    case InsertOutcome::kCreated:
      res.set_header("Location", "/v1/releases/" + result.release.id);
      http::WriteJson(res, 201, ToJson(result.release));
      return;
    case InsertOutcome::kExisting:
      http::WriteJson(res, 200, ToJson(result.release));
      return;
    case InsertOutcome::kConflict:
      throw http::Conflict("release_exists",
                           "release " + result.release.input.app + "@" +
                               result.release.input.version + " already exists with sha256 " +
                               result.release.input.sha256 +
                               "; a version's artifact never changes: publish a new version");
  }
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
  const auto& request = std::get<PageRequest>(page);
  auto releases = Db([&](pqxx::work& tx) { return ReleaseRepository::List(tx, app, request); });
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
      r.insert = StoreRelease(tx, *outcome.release, "github", outcome.release->created_by);
    }
    return r;
  });
  if (result.replay) {
    throw http::Conflict("replayed_delivery",
                         "delivery " + delivery + " was already processed; replays are refused");
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
  if (!body.is_object()) throw http::BadRequest("body", "body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "name" && key != "role") {
      throw http::BadRequest(key, "unknown field '" + key + "'; known fields: name, role");
    }
  }
  const std::string name = http::RequireString(body, "name");
  static const std::regex kName("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  if (!std::regex_match(name, kName)) {
    throw http::BadRequest("name", "name must be 1-64 characters of letters, digits, . _ -");
  }
  const auto role = ParseRole(http::RequireString(body, "role"));
  if (!role) throw http::BadRequest("role", "role must be viewer, deployer, approver or admin");
  const std::string token = NewToken();
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const bool created = Db([&](pqxx::work& tx) {
    bool ok =
        ReleaseRepository::CreateToken(tx, name, HashToken(token), *role, caller.name, now_ms);
    ReleaseRepository::Audit(tx,
                             {caller.name,
                              "token.create",
                              name,
                              ok ? "created" : "conflict",
                              core::TraceScope::Current(),
                              {{"role", ToString(*role)}}},
                             now_ms);
    return ok;
  });
  if (!created) throw http::Conflict("token_exists", "a token named '" + name + "' exists");
  http::WriteJson(res, 201,
                  {{"name", name},
                   {"role", ToString(*role)},
                   {"token", token},
                   {"note", "store this token now; it is not shown again"}});
}

void ReleaseIntakeApi::ListAudit(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kAdmin);
  auto page = ParsePage(Param(req, "limit"), std::nullopt);
  if (auto* e = std::get_if<FieldError>(&page)) throw Invalid(*e);
  const int limit = std::get<PageRequest>(page).limit;
  auto items = Db([&](pqxx::work& tx) { return ReleaseRepository::ListAudit(tx, limit); });
  http::WriteJson(res, 200, {{"items", items}});
}

void EnsureAdminToken(pg::Database& db, const core::Clock& clock, const std::string& token) {
  db.WithTransaction([&](pqxx::work& tx) {
    ReleaseRepository::UpsertToken(tx, "local-admin", HashToken(token), Role::kAdmin, "bootstrap",
                                   core::ToUnixMillis(clock.Now()));
    return 0;
  });
}

}  // namespace sluice::release_intake
