// sluice agent enrollment-token|list|revoke: enrolled host agents (release-intake's
// /v1/agents; the host side is `sluice-agent enroll`).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct EnrollmentTokenOptions {
  std::string name, expires_in;
};

int CreateEnrollmentToken(const Global& g, const EnrollmentTokenOptions& o) {
  json body = json::object();
  if (!o.name.empty()) body["name"] = o.name;
  if (!o.expires_in.empty()) {
    (void)Duration(o.expires_in, "--expires-in");
    body["expires_in"] = o.expires_in;
  }
  const auto a = Request(g, "POST", "/v1/agents/enrollment-tokens", body.dump());
  if (a.status != 201) return PrintError(g, a);
  if (g.raw || g.format != Format::kTable) return Print(g, a.body, Fields);
  const auto& name = a.body["name"];
  std::cout << "enrolment token " << a.body.value("id", "") << " created for "
            << (name.is_string() ? "host '" + name.get<std::string>() + "'" : "any one host")
            << "; it enrols one host once and is not shown again:\n"
            << a.body.value("token", "") << "\n"
            << "on the host: sluice-agent enroll --server " << g.api
            << " --token-file FILE --name NAME --address ADDRESS [--label KEY=VALUE ...]\n";
  return 0;
}

int RevokeAgent(const Global& g, const std::string& name) {
  const auto a = Request(g, "DELETE", "/v1/agents/" + Enc(name));
  if (a.status != 200) return PrintError(g, a);
  if (g.raw || g.format != Format::kTable) return Print(g, a.body, Fields);
  std::cout << "host " << name << " "
            << (a.body.value("already_revoked", false) ? "was already revoked" : "revoked") << "\n";
  return 0;
}

}  // namespace

void AddAgentCommands(Commands& commands) {
  auto* agent = commands.root().add_subcommand("agent", "enrolled host agents");
  agent->require_subcommand(1);
  auto o = std::make_shared<EnrollmentTokenOptions>();
  auto* token = agent->add_subcommand(
      "enrollment-token", "make a one-time enrolment token for a host (admin); shown once");
  token->add_option("--name", o->name, "the one host name it may enrol (default: any)");
  token->add_option("--expires-in", o->expires_in, "default 1h, at most 7d");
  commands.On(token, [o](Invocation& in) { return CreateEnrollmentToken(in.g, *o); });
  auto* list = agent->add_subcommand("list", "every enrolled host (viewer)");
  commands.On(list, [](Invocation& in) {
    return Show(in.g, "/v1/agents",
                Items({{"NAME", "name"},
                       {"ADDRESS", "address"},
                       {"LABELS", "labels"},
                       {"ENROLLED", "enrolled_at_ms"},
                       {"LAST-SEEN", "last_seen_at_ms"},
                       {"REVOKED", "revoked"}},
                      "no enrolled hosts"));
  });
  auto name = std::make_shared<std::string>();
  auto* revoke = agent->add_subcommand("revoke", "revoke a host's credential (admin)");
  revoke->add_option("name", *name, "host name")->required();
  commands.On(revoke, [name](Invocation& in) { return RevokeAgent(in.g, *name); });
}

}  // namespace sluice::cli
