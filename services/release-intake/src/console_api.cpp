// The console's half of release-intake's API: the web console's static assets under /console,
// the OpenAPI document, who the caller is (/v1/whoami), signed links (POST /v1/links) and the
// read authorization that lets a signed link open a page without an API token.
#include <algorithm>
#include <regex>
#include <sluice/core/duration.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/errors.hpp>

#include "console.hpp"
#include "console_session_repository.hpp"
#include "release_intake_component.hpp"

namespace sluice::generated {
const std::vector<std::pair<std::string_view, std::string_view>>& ConsoleFiles();
const std::vector<std::pair<std::string_view, std::string_view>>& ApiDocFiles();
}  // namespace sluice::generated

namespace sluice::release_intake {
namespace {

using nlohmann::json;

constexpr std::string_view kLinkHeader = "X-Sluice-Link";
// Paths a signed link may name: a deployment's console page, an incident's report and chart.
const std::regex kLinkablePath(
    R"(/console/deployments/[A-Za-z0-9-]{1,64}|/v1/incidents/[A-Za-z0-9-]{1,64}(/chart\.svg)?)");

std::string_view ApiDoc() {
  for (const auto& [name, data] : generated::ApiDocFiles()) {
    if (name == "openapi.json") return data;
  }
  return "{}";
}

void WriteStatic(httplib::Response& res, const StaticResponse& r) {
  res.status = r.status;
  for (const auto& [k, v] : r.headers) res.set_header(k, v);
  if (r.status == 304) return;
  res.set_content(std::string(r.body), r.content_type);
}

}  // namespace

void ReleaseIntakeApi::RegisterConsole() {
  auto& s = deps_.server;
  static const ConsoleAssets assets(generated::ConsoleFiles());
  const auto serve = [](const httplib::Request& req, httplib::Response& res) {
    WriteStatic(res, assets.Serve(req.path, req.get_header_value("If-None-Match")));
  };
  s.Get("/console", serve);
  s.Get(R"(/console/[A-Za-z0-9._/-]*)", serve);
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", "/console/");
  });
  s.Get("/v1/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(ApiDoc()), "application/json");
  });
  s.Get("/v1/whoami", [this](const httplib::Request& req, httplib::Response& res) {
    const auto token = Authenticate(req, Role::kViewer);
    http::WriteJson(res, 200,
                    {{"name", token.name},
                     {"role", ToString(token.role)},
                     {"environments", GrantsJson(token.environments)}});
  });
  s.Post("/v1/links", [this](const auto& req, auto& res) { CreateLink(req, res); });
  s.Post("/v1/sessions", [this](const auto& req, auto& res) { CreateSession(req, res); });
  s.Get("/v1/sessions/current", [this](const auto& req, auto& res) { GetSession(req, res); });
  s.Delete("/v1/sessions/current", [this](const auto& req, auto& res) { DeleteSession(req, res); });
}

SessionWithToken ReleaseIntakeApi::AuthenticateSession(const httplib::Request& req,
                                                       const std::string& session_id, Role needed) {
  const std::string hash = HashToken(session_id);
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const auto found = Db([&](pqxx::work& tx) {
    auto f = SessionRepository::Find(tx, hash);
    if (f && !SessionRefusal(f->session, now_ms, options_.sessions.idle_timeout) &&
        !TokenRefusal(f->token, now_ms)) {
      SessionRepository::Touch(tx, hash, now_ms);
    }
    return f;
  });
  if (!found) {
    throw http::Unauthorized(
        "the console session has ended (signed out, or unknown here); sign in again with an API "
        "token");
  }
  if (auto why = SessionRefusal(found->session, now_ms, options_.sessions.idle_timeout)) {
    throw http::Unauthorized(*why);
  }
  if (auto why = TokenRefusal(found->token, now_ms)) {
    throw http::Unauthorized("the console session's " + *why);
  }
  if (NeedsCsrf(req.method) &&
      !CsrfMatches(req.get_header_value(std::string(kCsrfHeader)), found->session.csrf_token)) {
    throw http::ApiException({403, "csrf",
                              "a change made with the console's session cookie must carry the "
                              "session's CSRF token in " +
                                  std::string(kCsrfHeader) +
                                  " (GET /v1/sessions/current has it); refused",
                              std::string(kCsrfHeader)});
  }
  RequireRole(found->token.name, found->token.role, needed);
  return *found;
}

void ReleaseIntakeApi::CreateSession(const httplib::Request& req, httplib::Response& res) {
  if (!req.has_header("Authorization")) {
    throw http::Unauthorized(
        "POST /v1/sessions signs in with an API token: send 'Authorization: Bearer <token>'");
  }
  if (!req.body.empty()) {
    const json body = http::ParseJsonBody(req);
    for (const auto& [k, v] : body.items()) throw http::BadRequest(k, "unknown field '" + k + "'");
  }
  const auto token = Authenticate(req, Role::kViewer);
  const auto& opts = options_.sessions;
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const auto expires_ms =
      now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(opts.max_lifetime).count();
  const std::string id = NewSessionId();
  const std::string csrf = NewCsrfToken();
  Db([&](pqxx::work& tx) {
    SessionRepository::Create(
        tx, HashToken(id), token.id, csrf, now_ms, expires_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(opts.idle_timeout).count());
    ReleaseRepository::Audit(tx,
                             {token.name,
                              "session.create",
                              "console",
                              "created",
                              core::TraceScope::Current(),
                              {{"expires_at_ms", expires_ms}}},
                             now_ms);
    return 0;
  });
  res.set_header(
      "Set-Cookie",
      SessionCookie(id, opts.max_lifetime,
                    CookieSecure(opts.secure, req.get_header_value("X-Forwarded-Proto"))));
  res.set_header("Cache-Control", "no-store");
  http::WriteJson(res, 201,
                  {{"name", token.name},
                   {"role", ToString(token.role)},
                   {"csrf_token", csrf},
                   {"idle_timeout_s", opts.idle_timeout.count()},
                   {"expires_at_ms", expires_ms}});
}

void ReleaseIntakeApi::GetSession(const httplib::Request& req, httplib::Response& res) {
  const auto id = SessionIdFromCookie(req.get_header_value("Cookie"));
  if (!id) throw http::Unauthorized("no console session: sign in with POST /v1/sessions");
  const auto found = AuthenticateSession(req, *id, Role::kViewer);
  res.set_header("Cache-Control", "no-store");
  http::WriteJson(res, 200,
                  {{"name", found.token.name},
                   {"role", ToString(found.token.role)},
                   {"csrf_token", found.session.csrf_token},
                   {"idle_timeout_s", options_.sessions.idle_timeout.count()},
                   {"expires_at_ms", found.session.expires_at_ms}});
}

void ReleaseIntakeApi::DeleteSession(const httplib::Request& req, httplib::Response& res) {
  const auto id = SessionIdFromCookie(req.get_header_value("Cookie"));
  if (!id) throw http::Unauthorized("no console session to end (no sluice_session cookie)");
  const auto token = AuthenticateSession(req, *id, Role::kViewer).token;
  Db([&](pqxx::work& tx) {
    SessionRepository::Delete(tx, HashToken(*id));
    ReleaseRepository::Audit(tx,
                             {token.name, "session.delete", "console", "deleted",
                              core::TraceScope::Current(), json::object()},
                             core::ToUnixMillis(deps_.clock.Now()));
    return 0;
  });
  res.set_header("Set-Cookie",
                 SessionCookie("", std::chrono::seconds(0),
                               CookieSecure(options_.sessions.secure,
                                            req.get_header_value("X-Forwarded-Proto"))));
  res.status = 204;
}

void ReleaseIntakeApi::AuthorizeRead(const httplib::Request& req,
                                     const std::vector<std::string>& link_paths) {
  if (req.has_header("Authorization") || link_paths.empty()) {
    Authenticate(req, Role::kViewer);
    return;
  }
  core::ParsedLink link;
  if (req.has_header(std::string(kLinkHeader))) {
    link = core::ParseLinkTarget(req.get_header_value(std::string(kLinkHeader)));
  } else if (req.has_param("link")) {
    // The same, for a client that cannot set headers (the browser's EventSource).
    link = core::ParseLinkTarget(req.get_param_value("link"));
  } else {
    link.path = req.path;
    for (const char* name : {"exp", "kid", "sig"}) {
      if (!req.has_param(name)) continue;
      auto& slot = std::string_view(name) == "exp"   ? link.params.exp
                   : std::string_view(name) == "kid" ? link.params.kid
                                                     : link.params.sig;
      slot = req.get_param_value(name);
    }
    if (!link.params.exp && !link.params.kid && !link.params.sig) {
      Authenticate(req, Role::kViewer);  // the usual 401 for a missing token
      return;
    }
  }
  if (options_.link_keys.empty()) {
    throw http::Unauthorized("signed links are not enabled on this server (SLUICE_LINK_KEYS)");
  }
  if (std::find(link_paths.begin(), link_paths.end(), link.path) == link_paths.end()) {
    throw http::Unauthorized("this signed link opens " + link.path + ", not this resource");
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(deps_.clock.Now().time_since_epoch())
          .count();
  const auto check = core::VerifyLink(options_.link_keys, link.path, link.params, now,
                                      options_.link_max_lifetime.count());
  if (check.verdict != core::LinkVerdict::kOk) throw http::Unauthorized(check.message);
}

void ReleaseIntakeApi::CreateLink(const httplib::Request& req, httplib::Response& res) {
  const auto token = Authenticate(req, Role::kDeployer);
  const json body = http::ParseJsonBody(req);
  for (const auto& [k, v] : body.items()) {
    if (k != "path" && k != "expires_in") throw http::BadRequest(k, "unknown field '" + k + "'");
  }
  const std::string path = http::RequireString(body, "path");
  if (!std::regex_match(path, kLinkablePath)) {
    throw http::BadRequest("path",
                           "a signed link opens /console/deployments/<id>, /v1/incidents/<id> or "
                           "/v1/incidents/<id>/chart.svg");
  }
  const auto max = options_.link_max_lifetime;
  std::chrono::seconds lifetime = std::min<std::chrono::seconds>(std::chrono::hours(24), max);
  if (auto text = http::OptionalString(body, "expires_in")) {
    auto d = core::ParseDuration(*text);
    if (!d || *d < std::chrono::seconds(1) || *d > max) {
      throw http::BadRequest("expires_in", "expires_in must be a duration from 1s to " +
                                               std::to_string(max.count()) + "s, e.g. 12h");
    }
    lifetime = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }
  if (options_.link_keys.empty()) {
    throw http::ApiException({422, "links_disabled",
                              "signed links are not enabled on this server; set SLUICE_LINK_KEYS",
                              ""});
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(deps_.clock.Now().time_since_epoch())
          .count();
  const auto expires = now + lifetime.count();
  const auto& key = options_.link_keys.front();
  Db([&](pqxx::work& tx) {
    ReleaseRepository::Audit(tx,
                             {token.name,
                              "link.create",
                              path,
                              "created",
                              core::TraceScope::Current(),
                              {{"expires_at_ms", expires * 1000}, {"kid", key.id}}},
                             core::ToUnixMillis(deps_.clock.Now()));
    return 0;
  });
  http::WriteJson(res, 201,
                  {{"path", path},
                   {"url", path + "?" + core::SignLinkQuery(key, path, expires)},
                   {"expires_at_ms", expires * 1000},
                   {"kid", key.id}});
}

}  // namespace sluice::release_intake
