// sluice token create|list|revoke and sluice audit: API tokens and the audit log (admin).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct CreateOptions {
  std::string name, role, expires_in, expires_at;
};

int CreateToken(const Global& g, const CreateOptions& o) {
  if (!o.expires_in.empty() && !o.expires_at.empty()) {
    throw UsageError("pass --expires-in or --expires-at, not both");
  }
  if (!o.expires_in.empty()) (void)Duration(o.expires_in, "--expires-in");
  json body = {{"name", o.name}, {"role", o.role}};
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
  create->add_option("--role", o->role, "viewer, deployer, approver or admin")->required();
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
                       {"REVOKED", "revoked"}},
                      "no tokens"));
  });
  auto id = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "revoke a token from its next request on");
  revoke->add_option("id", *id, "token id")->required();
  commands.On(revoke, [id](Invocation& in) { return RevokeToken(in.g, *id); });
}

void AddAuditCommand(Commands& commands) {
  auto limit = std::make_shared<int>(50);
  auto* audit = commands.root().add_subcommand("audit", "the audit log of mutating calls (admin)");
  audit->add_option("--limit", *limit, "how many, newest first");
  commands.On(audit, [limit](Invocation& in) {
    return Show(in.g, "/v1/audit?limit=" + std::to_string(*limit),
                Items({{"AT", "at_ms"},
                       {"ACTOR", "actor"},
                       {"ACTION", "action"},
                       {"TARGET", "target"},
                       {"OUTCOME", "outcome"}},
                      "the audit log is empty"));
  });
}

}  // namespace

void AddAdminCommands(Commands& commands) {
  AddTokenCommands(commands);
  AddAuditCommand(commands);
}

}  // namespace sluice::cli
