// sluice token create|list|revoke|grant|ungrant and sluice audit: API tokens, their roles per
// environment and the audit log (admin).
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../commands.hpp"
#include "../format.hpp"
#include "../render.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct CreateOptions {
  std::string name, role, expires_in, expires_at;
  std::vector<std::string> envs;  // --env staging=deployer
};

// --env ENV=ROLE (repeatable) as the API's "environments" object.
json Grants(const std::vector<std::string>& envs) {
  json out = json::object();
  for (const auto& e : envs) {
    const auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == e.size()) {
      throw UsageError("--env takes ENV=ROLE, e.g. --env staging=deployer (got '" + e + "')");
    }
    out[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return out;
}

int CreateToken(const Global& g, const CreateOptions& o) {
  if (!o.expires_in.empty() && !o.expires_at.empty()) {
    throw UsageError("pass --expires-in or --expires-at, not both");
  }
  if (o.role.empty() && o.envs.empty()) {
    throw UsageError("pass --role (its role everywhere) and/or --env ENV=ROLE (per environment)");
  }
  if (!o.expires_in.empty()) (void)Duration(o.expires_in, "--expires-in");
  json body = {{"name", o.name}};
  if (!o.role.empty()) body["role"] = o.role;
  if (!o.envs.empty()) body["environments"] = Grants(o.envs);
  if (!o.expires_in.empty()) body["expires_in"] = o.expires_in;
  if (!o.expires_at.empty()) body["expires_at"] = o.expires_at;
  const auto a = Request(g, "POST", "/v1/tokens", body.dump());
  if (a.status != 201) return PrintError(g, a);
  if (g.raw || g.format != Format::kTable) return Print(g, a.body, Fields);
  std::cout << "token " << a.body.value("name", "") << " (" << a.body.value("role", "") << ", id "
            << a.body.value("id", "") << ") created; store it now, it is not "
            << "shown again:\n"
            << a.body.value("token", "") << "\n";
  return 0;
}

// A token's id from its id or its name (GET /v1/tokens).
std::optional<std::string> TokenId(const Global& g, const std::string& id_or_name,
                                   Answer& listing) {
  listing = Request(g, "GET", "/v1/tokens");
  if (listing.status != 200) return std::nullopt;
  for (const auto& t : listing.body.value("items", json::array())) {
    if (t.value("id", "") == id_or_name || t.value("name", "") == id_or_name) {
      return t.value("id", "");
    }
  }
  return std::nullopt;
}

// sluice token grant TOKEN --env ENV=ROLE / sluice token ungrant TOKEN --env ENV.
int Grant(const Global& g, const std::string& token, const std::string& env, bool grant) {
  std::string name = env, role;
  if (grant) {
    const json one = Grants({env});
    name = one.begin().key();
    role = one.begin().value().get<std::string>();
  } else if (env.find('=') != std::string::npos) {
    throw UsageError("ungrant takes --env ENV (the grant there is removed)");
  }
  Answer listing;
  const auto id = TokenId(g, token, listing);
  if (listing.status != 200) return PrintError(g, listing);
  if (!id) {
    std::cerr << "error: no token with id or name '" << token
              << "'; list them with 'sluice token list'\n";
    return 3;  // not found
  }
  const std::string path = "/v1/tokens/" + Enc(*id) + "/environments/" + Enc(name);
  const auto a =
      grant ? Request(g, "PUT", path, json{{"role", role}}.dump()) : Request(g, "DELETE", path);
  if (a.status != 200) return PrintError(g, a);
  if (g.raw || g.format != Format::kTable) return Print(g, a.body, Fields);
  std::cout << "token " << a.body.value("name", "") << " is "
            << (grant ? role : "back to its global role") << " in " << name
            << "; its grants: " << a.body.value("environments", json::object()).dump() << "\n";
  return 0;
}

int RevokeToken(const Global& g, const std::string& id) {
  const auto a = Request(g, "DELETE", "/v1/tokens/" + Enc(id));
  if (a.status != 200) return PrintError(g, a);
  if (g.raw || g.format != Format::kTable) return Print(g, a.body, Fields);
  std::cout << "token " << a.body.value("name", "") << " (" << id << ") "
            << (a.body.value("already_revoked", false) ? "was already revoked" : "revoked") << "\n";
  return 0;
}

void AddTokenCommands(Commands& commands) {
  auto* token = commands.root().add_subcommand("token", "API tokens (admin)");
  token->require_subcommand(1);
  auto o = std::make_shared<CreateOptions>();
  auto* create = token->add_subcommand("create", "make a token; its secret is shown once");
  create->add_option("--name", o->name, "token name (unique)")->required();
  create->add_option("--role", o->role,
                     "viewer, deployer, approver or admin: its role everywhere (default with "
                     "--env: viewer)");
  create->add_option("--env", o->envs,
                     "ENV=ROLE, repeatable: its role in that environment instead, e.g. "
                     "--env staging=deployer");
  create->add_option("--expires-in", o->expires_in, "e.g. 12h, 90d, 1d12h");
  create->add_option("--expires-at", o->expires_at, "RFC 3339 time");
  commands.On(create, [o](Invocation& in) { return CreateToken(in.g, *o); });
  auto* list = token->add_subcommand("list", "every token (without secrets)");
  commands.On(list, [](Invocation& in) {
    return Show(in.g, "/v1/tokens",
                Items({{"ID", "id"},
                       {"NAME", "name"},
                       {"ROLE", "role"},
                       {"CREATED-BY", "created_by"},
                       {"EXPIRES", "expires_at_ms"},
                       {"LAST-USED", "last_used_at_ms"},
                       {"REVOKED", "revoked"},
                       {"ENVIRONMENTS", "environments"}},
                      "no tokens"));
  });
  for (const bool grant : {true, false}) {
    auto token_arg = std::make_shared<std::string>();
    auto env_arg = std::make_shared<std::string>();
    auto* cmd = token->add_subcommand(grant ? "grant" : "ungrant",
                                      grant ? "give a token a role in one environment"
                                            : "remove a token's role in one environment");
    cmd->add_option("token", *token_arg, "token id or name")->required();
    cmd->add_option("--env", *env_arg, grant ? "ENV=ROLE, e.g. production=deployer" : "ENV")
        ->required();
    commands.On(cmd, [token_arg, env_arg, grant](Invocation& in) {
      return Grant(in.g, *token_arg, *env_arg, grant);
    });
  }
  auto id = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "revoke a token from its next request on");
  revoke->add_option("id", *id, "token id")->required();
  commands.On(revoke, [id](Invocation& in) { return RevokeToken(in.g, *id); });
}

struct AuditOptions {
  std::string actor, action, app, env, since, until, cursor;
  int limit = 50;
};

void AddAuditCommand(Commands& commands) {
  auto o = std::make_shared<AuditOptions>();
  auto* audit = commands.root().add_subcommand("audit", "the audit log of mutating calls (admin)");
  audit->add_option("--actor", o->actor, "only entries by this actor (a token name, agent:<name>)");
  audit->add_option("--action", o->action, "only this action, e.g. deployment.request");
  audit->add_option("--app", o->app, "only entries about this application");
  audit->add_option("--env", o->env, "only entries about this environment");
  audit->add_option("--since", o->since,
                    "only entries at or after this: an RFC 3339 time or a duration before now "
                    "(2h, 1h30m, 7d)");
  audit->add_option("--until", o->until, "only entries before this (as --since)");
  audit->add_option("--limit", o->limit, "how many, newest first");
  audit->add_option("--cursor", o->cursor,
                    "the page after the previous one (its next_cursor; the table prints the "
                    "command for the next page)");
  commands.On(audit, [o](Invocation& in) {
    // A duration becomes a time here, so the next page's command names the same range.
    std::string error;
    const auto range =
        ResolveTimeRange(o->since, o->until, std::chrono::system_clock::now(), error);
    if (!range) throw UsageError(error);
    const std::pair<const char*, const std::string*> filters[] = {
        {"actor", &o->actor}, {"action", &o->action},   {"app", &o->app},
        {"env", &o->env},     {"since", &range->since}, {"until", &range->until}};
    std::string path = "/v1/audit?limit=" + std::to_string(o->limit);
    // The table ends with the command for the next page, when there is one.
    std::vector<std::string> again = {"sluice", "audit"};
    for (const auto& [name, value] : filters) {
      if (value->empty()) continue;
      path += std::string("&") + name + "=" + Enc(*value);
      again.insert(again.end(), {std::string("--") + name, *value});
    }
    if (!o->cursor.empty()) path += "&cursor=" + Enc(o->cursor);
    again.insert(again.end(), {"--limit", std::to_string(o->limit)});
    const Table entries = Items({{"AT", "at_ms"},
                                 {"ACTOR", "actor"},
                                 {"ACTION", "action"},
                                 {"TARGET", "target"},
                                 {"OUTCOME", "outcome"}},
                                "no audit entries");
    return Show(in.g, path, [entries, again](const json& answer) {
      auto lines = entries(answer);
      if (auto next = NextPageLine(answer, again); !next.empty()) lines.push_back(std::move(next));
      return lines;
    });
  });
}

}  // namespace

void AddAdminCommands(Commands& commands) {
  AddTokenCommands(commands);
  AddAuditCommand(commands);
}

}  // namespace sluice::cli
