#include "agent_api.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <sluice/http/errors.hpp>

namespace sluice::agent {
namespace {

std::string Digest(std::string_view s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

// The body, checked against the bounds of every JSON input (depth, a key given twice, NUL,
// UTF-8) before the contract's parser reads it.
std::string_view Body(const httplib::Request& req) {
  (void)http::ParseJsonBody(req);
  return req.body;
}

void WriteMessage(httplib::Response& res, const google::protobuf::Message& m) {
  res.status = 200;
  res.set_content(agentapi::ToWireJson(m), "application/json");
}

template <typename F>
void Guarded(httplib::Response& res, F&& f) {
  try {
    WriteMessage(res, f());
  } catch (const ValidationError& e) {
    throw http::BadRequest(e.Field(), e.what());
  } catch (const Refused& e) {
    throw http::ApiException(http::ApiError{e.Status(), e.Code(), e.what(), "", 0});
  }
}

}  // namespace

AgentApi::AgentApi(AgentApiDeps deps, std::string token)
    : deps_(deps), token_digest_(Digest(token)) {}

void AgentApi::Authenticate(const httplib::Request& req) const {
  static constexpr std::string_view kPrefix = "Bearer ";
  const std::string header = req.get_header_value("Authorization");
  if (!std::string_view(header).starts_with(kPrefix)) {
    throw http::Unauthorized("send Authorization: Bearer <token>");
  }
  const std::string got = Digest(std::string_view(header).substr(kPrefix.size()));
  if (CRYPTO_memcmp(got.data(), token_digest_.data(), got.size()) != 0) {
    throw http::Unauthorized("invalid token");
  }
}

void AgentApi::CheckNotRevoked() const {
  if (!deps_.refusal) return;
  if (auto why = deps_.refusal()) {
    throw http::ApiException(http::ApiError{
        403, "agent_revoked",
        *why + "; this host takes no deploy or revert until it is enrolled again", "", 0});
  }
}

void AgentApi::Register() {
  deps_.server.Post("/v1/deploy", [this](const httplib::Request& req, httplib::Response& res) {
    Authenticate(req);
    CheckNotRevoked();
    Guarded(res, [&] { return deps_.agent.Deploy(ParseDeployRequest(Body(req))); });
  });
  deps_.server.Post("/v1/revert", [this](const httplib::Request& req, httplib::Response& res) {
    Authenticate(req);
    CheckNotRevoked();
    Guarded(res, [&] { return deps_.agent.Revert(ParseRevertRequest(Body(req))); });
  });
  deps_.server.Get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
    Authenticate(req);
    WriteMessage(res, deps_.agent.Status());
  });
}

}  // namespace sluice::agent
