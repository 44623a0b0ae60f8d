#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <sluice/core/ids.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>
#include <sluice/http/service_auth.hpp>
#include <stdexcept>

namespace sluice::http {
namespace {

using Digest = std::array<unsigned char, 32>;

Digest Sha256(std::string_view s) {
  Digest d{};
  unsigned int len = 0;
  if (EVP_Digest(s.data(), s.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != d.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  return d;
}

}  // namespace

std::string ServiceTokenFromEnv(core::EnvConfig& env) {
  const auto token = env.Secret("SLUICE_SERVICE_TOKEN");
  if (!token || token->size() < kMinServiceTokenLength) {
    throw core::ConfigError(
        "SLUICE_SERVICE_TOKEN is not set or shorter than " +
        std::to_string(kMinServiceTokenLength) +
        " characters: set it, or SLUICE_SERVICE_TOKEN_FILE, to the random token the internal "
        "APIs share with release-intake (e.g. openssl rand -hex 24)");
  }
  return *token;
}

bool BearerMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (token.empty() || authorization.substr(0, kBearer.size()) != kBearer) return false;
  const Digest given = Sha256(authorization.substr(kBearer.size()));
  const Digest expected = Sha256(token);
  return CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

const std::vector<std::string>& OpsPaths() {
  static const std::vector<std::string> kPaths = {"/healthz", "/readyz", "/metrics"};
  return kPaths;
}

void RequireServiceToken(Server& server, std::string token, std::vector<std::string> open_paths) {
  if (token.size() < kMinServiceTokenLength) {
    throw std::invalid_argument("the " + std::string(server.Name()) +
                                " server's service token is shorter than " +
                                std::to_string(kMinServiceTokenLength) + " characters");
  }
  open_paths.insert(open_paths.end(), OpsPaths().begin(), OpsPaths().end());
  const std::string name(server.Name());
  server.Raw().set_pre_routing_handler([token = std::move(token),
                                        open_paths = std::move(open_paths),
                                        name](const httplib::Request& req, httplib::Response& res) {
    if (std::find(open_paths.begin(), open_paths.end(), req.path) != open_paths.end() ||
        BearerMatches(req.get_header_value("Authorization"), token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("X-Trace-Id", core::NewTraceId());
    // The body is not read: close the connection rather than parse it as the next request.
    res.set_header("Connection", "close");
    WriteError(res, {401, "unauthorized",
                     "the " + name +
                         " API needs 'Authorization: Bearer <service token>' "
                         "(SLUICE_SERVICE_TOKEN, shared with release-intake)",
                     ""});
    return httplib::Server::HandlerResponse::Handled;
  });
}

}  // namespace sluice::http
