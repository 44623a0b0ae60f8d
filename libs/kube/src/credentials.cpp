#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sluice/kube/credentials.hpp>
#include <sstream>

namespace sluice::kube {
namespace {

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

std::optional<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

// Reads one kubeconfig: every message starts with "kubeconfig <path>: <key>: ".
class Kubeconfig {
 public:
  Kubeconfig(std::string_view yaml, const std::string& path) : path_(path) {
    try {
      root_ = YAML::Load(std::string(yaml));
    } catch (const YAML::Exception& e) {
      throw ConfigError("kubeconfig " + path_ + ": not valid YAML: " + e.what());
    }
    if (!root_.IsMap()) throw ConfigError("kubeconfig " + path_ + ": not a YAML mapping");
  }

  [[noreturn]] void Fail(const std::string& key, const std::string& what) const {
    throw ConfigError("kubeconfig " + path_ + ": " + key + ": " + what);
  }

  // The `inner` mapping of the entry named `name` in the list `list` (clusters, users, contexts).
  YAML::Node Entry(const std::string& list, const std::string& inner, const std::string& name,
                   const std::string& wanted_by) const {
    const YAML::Node items = root_[list];
    const bool present = items && !items.IsNull();
    if (present && !items.IsSequence()) Fail(list, "must be a list");
    if (present) {
      for (const auto& item : items) {
        if (item.IsMap() && item["name"] && item["name"].IsScalar() &&
            item["name"].as<std::string>() == name) {
          const YAML::Node node = item[inner];
          if (!node || !node.IsMap())
            Fail(list + "[" + name + "]." + inner, "missing or not a mapping");
          return node;
        }
      }
    }
    Fail(list, "no entry named '" + name + "' (named by " + wanted_by + ")");
  }

  std::string String(const YAML::Node& map, const std::string& key,
                     const std::string& where) const {
    const YAML::Node v = map[key];
    if (!v || v.IsNull()) return "";
    if (!v.IsScalar()) Fail(where + "." + key, "must be a string");
    return v.as<std::string>();
  }

  std::string Data(const YAML::Node& map, const std::string& key, const std::string& where) const {
    const std::string encoded = String(map, key, where);
    if (encoded.empty()) return "";
    auto decoded = Base64Decode(encoded);
    if (!decoded || decoded->empty()) Fail(where + "." + key, "not valid base64");
    return *decoded;
  }

  std::string Path(const YAML::Node& map, const std::string& key, const std::string& where) const {
    std::string p = String(map, key, where);
    if (p.empty()) return "";
    std::filesystem::path fp(p);
    if (fp.is_relative()) fp = std::filesystem::path(path_).parent_path() / fp;
    return fp.string();
  }

  const YAML::Node& Root() const { return root_; }
  const std::string& FilePath() const { return path_; }

 private:
  std::string path_;
  YAML::Node root_;
};

}  // namespace

std::optional<std::string> Base64Decode(std::string_view in) {
  static constexpr std::array<int, 256> kTable = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
  }();
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0 || kTable[c] < 0) return std::nullopt;  // data after padding, or not base64
    buffer = (buffer << 6) | static_cast<unsigned>(kTable[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || padding > 2) return std::nullopt;  // a dangling sextet
  return out;
}

namespace {

// The cluster's server (an https:// URL, without trailing slashes) and CA into `c`.
void ReadCluster(const Kubeconfig& kc, const std::string& cluster_name, const std::string& ctx_key,
                 Credentials& c) {
  const YAML::Node cluster = kc.Entry("clusters", "cluster", cluster_name, ctx_key + ".cluster");
  const std::string cl_key = "clusters[" + cluster_name + "].cluster";
  c.server = kc.String(cluster, "server", cl_key);
  if (c.server.empty()) kc.Fail(cl_key + ".server", "missing");
  if (c.server.rfind("https://", 0) != 0) {
    kc.Fail(cl_key + ".server",
            "'" + c.server + "' is not an https:// URL (Sluice talks TLS only)");
  }
  while (c.server.size() > 8 && c.server.back() == '/') c.server.pop_back();
  if (const YAML::Node v = cluster["insecure-skip-tls-verify"];
      v && v.IsScalar() && v.as<std::string>() == "true") {
    kc.Fail(cl_key + ".insecure-skip-tls-verify",
            "not supported: give the cluster's CA (certificate-authority or "
            "certificate-authority-data)");
  }
  for (const char* unsupported : {"tls-server-name", "proxy-url"}) {
    if (cluster[unsupported]) kc.Fail(cl_key + "." + unsupported, "not supported");
  }
  c.ca_pem = kc.Data(cluster, "certificate-authority-data", cl_key);
  if (c.ca_pem.empty()) c.ca_file = kc.Path(cluster, "certificate-authority", cl_key);
}

// Fails on the ways of authenticating Sluice does not support: plugins that run commands and
// basic authentication.
void RefuseUnsupportedAuth(const Kubeconfig& kc, const YAML::Node& user, const std::string& u_key) {
  if (user["exec"]) {
    kc.Fail(u_key + ".exec",
            "exec credential plugins are not supported (Sluice runs no commands for credentials): "
            "use a service-account token (token or tokenFile) or a client certificate");
  }
  if (user["auth-provider"]) {
    kc.Fail(u_key + ".auth-provider",
            "auth-provider plugins are not supported: use a service-account token (token or "
            "tokenFile) or a client certificate");
  }
  if (user["username"] || user["password"]) {
    kc.Fail(u_key + (user["username"] ? ".username" : ".password"),
            "basic authentication is not supported: use a token or a client certificate");
  }
}

// The user's token or client certificate and key into `c`; exactly one way to authenticate.
void ReadUser(const Kubeconfig& kc, const std::string& user_name, const std::string& ctx_key,
              Credentials& c) {
  const YAML::Node user = kc.Entry("users", "user", user_name, ctx_key + ".user");
  const std::string u_key = "users[" + user_name + "].user";
  RefuseUnsupportedAuth(kc, user, u_key);
  c.token = kc.String(user, "token", u_key);
  if (c.token.empty()) c.token_file = kc.Path(user, "tokenFile", u_key);
  c.client_cert_pem = kc.Data(user, "client-certificate-data", u_key);
  if (c.client_cert_pem.empty()) c.client_cert_file = kc.Path(user, "client-certificate", u_key);
  c.client_key_pem = kc.Data(user, "client-key-data", u_key);
  if (c.client_key_pem.empty()) c.client_key_file = kc.Path(user, "client-key", u_key);

  const bool has_cert = !c.client_cert_pem.empty() || !c.client_cert_file.empty();
  const bool has_key = !c.client_key_pem.empty() || !c.client_key_file.empty();
  if (has_cert != has_key) {
    kc.Fail(u_key + (has_cert ? ".client-key" : ".client-certificate"),
            "missing: a client certificate needs its key (client-certificate[-data] and "
            "client-key[-data] together)");
  }
  if (!has_cert && c.token.empty() && c.token_file.empty()) {
    kc.Fail(
        u_key,
        "no credential: set token, tokenFile, or client-certificate[-data] with client-key[-data]");
  }
}

}  // namespace

Credentials ParseKubeconfig(std::string_view yaml, const std::string& path,
                            const std::string& context) {
  const Kubeconfig kc(yaml, path);
  const YAML::Node& root = kc.Root();

  std::string context_name = context;
  std::string named_by = "the requested context";
  if (context_name.empty()) {
    context_name = kc.String(root, "current-context", "");
    named_by = "current-context";
    if (context_name.empty()) {
      kc.Fail("current-context", "not set and no context was named (set one, or pass a context)");
    }
  }
  const YAML::Node ctx = kc.Entry("contexts", "context", context_name, named_by);
  const std::string ctx_key = "contexts[" + context_name + "].context";
  const std::string cluster_name = kc.String(ctx, "cluster", ctx_key);
  const std::string user_name = kc.String(ctx, "user", ctx_key);
  if (cluster_name.empty()) kc.Fail(ctx_key + ".cluster", "missing");
  if (user_name.empty()) kc.Fail(ctx_key + ".user", "missing");

  Credentials c;
  c.source = "kubeconfig " + path + " (context " + context_name + ")";
  if (const std::string ns = kc.String(ctx, "namespace", ctx_key); !ns.empty()) {
    c.default_namespace = ns;
  }
  ReadCluster(kc, cluster_name, ctx_key, c);
  ReadUser(kc, user_name, ctx_key, c);
  return c;
}

Credentials LoadKubeconfig(const std::filesystem::path& path, const std::string& context) {
  const auto text = ReadFile(path);
  if (!text) throw ConfigError("kubeconfig " + path.string() + ": cannot be read");
  return ParseKubeconfig(*text, path.string(), context);
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

Credentials InClusterCredentials(const EnvLookup& getenv, const std::filesystem::path& dir) {
  const auto host = getenv("KUBERNETES_SERVICE_HOST");
  const auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    throw ConfigError(
        "in-cluster service account: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
        "be set (they are inside a pod); outside a cluster give a kubeconfig");
  }
  Credentials c;
  c.source = "in-cluster service account";
  // An IPv6 service address needs brackets in a URL.
  const bool v6 = host->find(':') != std::string::npos;
  c.server = "https://" + (v6 ? "[" + *host + "]" : *host) + ":" + *port;
  c.token_file = (dir / "token").string();
  c.ca_file = (dir / "ca.crt").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(c.token_file, ec)) {
    throw ConfigError("in-cluster service account: " + c.token_file +
                      ": missing (is automountServiceAccountToken off?)");
  }
  if (!std::filesystem::is_regular_file(c.ca_file, ec)) {
    throw ConfigError("in-cluster service account: " + c.ca_file + ": missing");
  }
  if (const auto ns = ReadFile(dir / "namespace"); ns && !Trim(*ns).empty()) {
    c.default_namespace = Trim(*ns);
  }
  return c;
}

TokenSource::TokenSource(const Credentials& creds)
    : literal_(creds.token), file_(creds.token.empty() ? creds.token_file : "") {}

std::string TokenSource::Token() {
  if (file_.empty()) return literal_;
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0) {
    throw ConfigError("token file " + file_.string() + ": cannot be read");
  }
  const std::string stamp = std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
                            std::to_string(st.st_mtim.tv_sec) + "." +
                            std::to_string(st.st_mtim.tv_nsec);
  std::lock_guard lock(mu_);
  if (stamp != stamp_ || cached_.empty()) {
    const auto text = ReadFile(file_);
    if (!text) throw ConfigError("token file " + file_.string() + ": cannot be read");
    std::string token = Trim(*text);
    if (token.empty()) throw ConfigError("token file " + file_.string() + ": empty");
    cached_ = std::move(token);
    stamp_ = stamp;
  }
  return cached_;
}

}  // namespace sluice::kube
