#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::kube {

// A credential that cannot be used: the message names the file (or the variable) and the key,
// e.g. "kubeconfig /etc/k.yaml: users[ci].user.exec: exec plugins are not supported ...".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where to reach one cluster and how to prove who we are. The TLS material is either PEM in
// memory (*_pem, from a kubeconfig's *-data keys) or a file path; a bearer token is either
// literal or a file re-read when it changes (projected service-account tokens rotate).
struct Credentials {
  std::string server;  // https://host:port, no trailing slash
  std::string ca_pem;
  std::string ca_file;
  std::string token;
  std::string token_file;
  std::string client_cert_pem;
  std::string client_cert_file;
  std::string client_key_pem;
  std::string client_key_file;
  std::string default_namespace = "default";
  // For messages: "kubeconfig /path (context ci)" or "in-cluster service account".
  std::string source;
};

// The parts of a kubeconfig Sluice reads. `context` empty = current-context. Relative file
// paths resolve against the kubeconfig's directory (as kubectl does). Refuses exec plugins,
// auth-provider, username/password, insecure-skip-tls-verify, tls-server-name and proxy-url,
// naming the key.
Credentials ParseKubeconfig(std::string_view yaml, const std::string& path,
                            const std::string& context = "");
Credentials LoadKubeconfig(const std::filesystem::path& path, const std::string& context = "");

// The service account a pod runs as: KUBERNETES_SERVICE_HOST / _PORT from `getenv`, and the
// token, ca.crt and namespace files under `dir`.
inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
Credentials InClusterCredentials(const EnvLookup& getenv,
                                 const std::filesystem::path& dir = kServiceAccountDir);
// The process environment, for InClusterCredentials.
std::optional<std::string> ProcessEnv(const std::string& name);

// Decodes standard base64 (padding optional, whitespace ignored); nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view in);

// The bearer token of a Credentials: the literal one, or the file's content (trimmed), read
// again whenever the file's inode, size or modification time changes. Thread-safe.
class TokenSource {
 public:
  explicit TokenSource(const Credentials& creds);
  // Empty when the credentials carry no token (client certificates). Throws ConfigError when
  // the token file cannot be read or is empty.
  std::string Token();

 private:
  std::string literal_;
  std::filesystem::path file_;
  std::mutex mu_;
  std::string cached_;
  std::string stamp_;  // inode:size:mtime of the file when cached_ was read
};

}  // namespace sluice::kube
