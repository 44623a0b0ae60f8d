// Kubeconfig parsing, the in-cluster service account and the token file's rotation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sluice/kube/credentials.hpp>

namespace sluice::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// base64 of "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n" and friends.
constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr const char* kCaB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
constexpr const char* kCertB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNFUlQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
constexpr const char* kKeyB64 = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCktFWQo=";

std::string Config(const std::string& users, const std::string& cluster_extra = "",
                   const std::string& current = "ci") {
  return R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.1.2.3:6443/
    certificate-authority-data: )" +
         std::string(kCaB64) + "\n" + cluster_extra + R"(
- name: staging
  cluster:
    server: https://staging.example.com
    certificate-authority: pki/ca.crt
contexts:
- name: ci
  context: {cluster: prod, user: robot, namespace: shop}
- name: stage
  context: {cluster: staging, user: certuser}
- name: plugin
  context: {cluster: prod, user: plugin}
current-context: )" +
         current + "\nusers:\n" + users;
}

const std::string kUsers = std::string(R"(- name: robot
  user:
    token: abc.def
- name: certuser
  user:
    client-certificate-data: )") +
                           kCertB64 + R"(
    client-key-data: )" + kKeyB64 +
                           R"(
- name: filetoken
  user:
    tokenFile: tok
)";

TEST(Kubeconfig, CurrentContextWithTokenAndCaData) {
  const Credentials c = ParseKubeconfig(Config(kUsers), "/etc/sluice/kubeconfig");
  EXPECT_EQ(c.server, "https://10.1.2.3:6443");  // trailing slash dropped
  EXPECT_EQ(c.ca_pem, kCaPem);
  EXPECT_EQ(c.ca_file, "");
  EXPECT_EQ(c.token, "abc.def");
  EXPECT_EQ(c.default_namespace, "shop");
  EXPECT_EQ(c.source, "kubeconfig /etc/sluice/kubeconfig (context ci)");
}

TEST(Kubeconfig, NamedContextWithClientCertificateAndRelativeCaFile) {
  const Credentials c = ParseKubeconfig(Config(kUsers), "/etc/sluice/kubeconfig", "stage");
  EXPECT_EQ(c.server, "https://staging.example.com");
  EXPECT_EQ(c.ca_pem, "");
  EXPECT_EQ(c.ca_file, "/etc/sluice/pki/ca.crt");  // relative to the kubeconfig's directory
  EXPECT_EQ(c.token, "");
  EXPECT_EQ(c.client_cert_pem, "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(c.client_key_pem, "-----BEGIN PRIVATE KEY-----\nKEY\n");
  EXPECT_EQ(c.default_namespace, "default");
}

TEST(Kubeconfig, ClientCertificateFilesAndTokenFile) {
  const std::string users = R"(- name: robot
  user:
    client-certificate: /abs/client.crt
    client-key: rel/client.key
)";
  const Credentials c = ParseKubeconfig(Config(users), "/home/u/.kube/config");
  EXPECT_EQ(c.client_cert_file, "/abs/client.crt");
  EXPECT_EQ(c.client_key_file, "/home/u/.kube/rel/client.key");

  const std::string token_file_user = "- name: robot\n  user:\n    tokenFile: tok\n";
  EXPECT_EQ(ParseKubeconfig(Config(token_file_user), "/k/config").token_file, "/k/tok");
}

TEST(Kubeconfig, ExecPluginIsRefusedNamingFileAndKey) {
  const std::string users = kUsers + R"(- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
)";
  try {
    ParseKubeconfig(Config(users), "/etc/k.yaml", "plugin");
    FAIL() << "exec accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(),
                AllOf(HasSubstr("kubeconfig /etc/k.yaml"), HasSubstr("users[plugin].user.exec"),
                      HasSubstr("exec credential plugins are not supported")));
  }
}

TEST(Kubeconfig, AuthProviderAndBasicAuthAreRefused) {
  const std::string provider = "- name: plugin\n  user:\n    auth-provider: {name: gcp}\n";
  EXPECT_THROW(
      {
        try {
          ParseKubeconfig(Config(provider), "/k", "plugin");
        } catch (const ConfigError& e) {
          EXPECT_THAT(e.what(), HasSubstr("users[plugin].user.auth-provider"));
          throw;
        }
      },
      ConfigError);
  const std::string basic = "- name: robot\n  user:\n    username: admin\n    password: pw\n";
  EXPECT_THROW(ParseKubeconfig(Config(basic), "/k"), ConfigError);
}

TEST(Kubeconfig, ErrorsNameTheKey) {
  const auto message = [](const std::string& yaml, const std::string& context = "") {
    try {
      ParseKubeconfig(yaml, "/k", context);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(message(Config(kUsers), "nope"), HasSubstr("contexts: no entry named 'nope'"));
  EXPECT_THAT(message(Config(kUsers, "", "\"\"")), HasSubstr("current-context: not set"));
  EXPECT_THAT(message(Config(kUsers, "    insecure-skip-tls-verify: true")),
              HasSubstr("clusters[prod].cluster.insecure-skip-tls-verify: not supported"));
  EXPECT_THAT(message(Config("- name: robot\n  user: {}\n")),
              HasSubstr("users[robot].user: no credential"));
  EXPECT_THAT(message(Config("- name: robot\n  user:\n    client-certificate: c.crt\n")),
              HasSubstr("users[robot].user.client-key: missing"));
  EXPECT_THAT(message(Config("- name: robot\n  user:\n    client-key-data: '%%%'\n")),
              HasSubstr("users[robot].user.client-key-data: not valid base64"));
  EXPECT_THAT(message("clusters: [\n"), HasSubstr("kubeconfig /k: not valid YAML"));
  std::string http = Config(kUsers);
  http.replace(http.find("https://10.1.2.3"), 8, "http://");
  EXPECT_THAT(message(http), HasSubstr("clusters[prod].cluster.server: 'http://"));
  EXPECT_THAT(message(Config("")), HasSubstr("users: no entry named 'robot'"));
}

TEST(Kubeconfig, MissingFileNamesIt) {
  try {
    LoadKubeconfig("/nonexistent/kubeconfig");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("kubeconfig /nonexistent/kubeconfig: cannot be read"));
  }
}

TEST(Base64, DecodesWithAndWithoutPaddingAndRefusesGarbage) {
  EXPECT_EQ(Base64Decode("aGVsbG8="), "hello");
  EXPECT_EQ(Base64Decode("aGVsbG8"), "hello");
  EXPECT_EQ(Base64Decode("aGVs\nbG8h"), "hello!");
  EXPECT_EQ(Base64Decode(""), "");
  EXPECT_EQ(Base64Decode("aGVsbG8=x"), std::nullopt);
  EXPECT_EQ(Base64Decode("a*b"), std::nullopt);
  EXPECT_EQ(Base64Decode("a"), std::nullopt);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kube-cred-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& Path() const { return path_; }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::trunc) << text;
  }

 private:
  std::filesystem::path path_;
};

TEST(InCluster, ReadsEnvironmentAndServiceAccountFiles) {
  TempDir dir;
  dir.Write("token", "sa-token\n");
  dir.Write("ca.crt", kCaPem);
  dir.Write("namespace", "shop\n");
  const std::map<std::string, std::string> env{{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                               {"KUBERNETES_SERVICE_PORT", "443"}};
  const auto lookup = [&](const std::string& k) -> std::optional<std::string> {
    const auto it = env.find(k);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  const Credentials c = InClusterCredentials(lookup, dir.Path());
  EXPECT_EQ(c.server, "https://10.0.0.1:443");
  EXPECT_EQ(c.token_file, (dir.Path() / "token").string());
  EXPECT_EQ(c.ca_file, (dir.Path() / "ca.crt").string());
  EXPECT_EQ(c.default_namespace, "shop");
  EXPECT_EQ(TokenSource(c).Token(), "sa-token");

  const auto v6 = [](const std::string& k) -> std::optional<std::string> {
    return k == "KUBERNETES_SERVICE_HOST" ? "fd00::1" : "443";
  };
  EXPECT_EQ(InClusterCredentials(v6, dir.Path()).server, "https://[fd00::1]:443");
}

TEST(InCluster, OutsideAPodSaysWhatIsMissing) {
  TempDir dir;
  const auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_THROW(InClusterCredentials(none, dir.Path()), ConfigError);
  const auto env = [](const std::string&) -> std::optional<std::string> { return "1"; };
  try {
    InClusterCredentials(env, dir.Path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir.Path() / "token").string() + ": missing"));
  }
}

TEST(TokenSource, ReReadsTheFileWhenItChanges) {
  TempDir dir;
  dir.Write("token", "first\n");
  Credentials c;
  c.token_file = (dir.Path() / "token").string();
  TokenSource source(c);
  EXPECT_EQ(source.Token(), "first");
  // A projected token is swapped in by renaming a new file over the old one: a new inode.
  dir.Write("token.new", "second-and-longer");
  std::filesystem::rename(dir.Path() / "token.new", dir.Path() / "token");
  EXPECT_EQ(source.Token(), "second-and-longer");
  dir.Write("token", "");
  EXPECT_THROW(source.Token(), ConfigError);

  Credentials literal;
  literal.token = "lit";
  literal.token_file = "/ignored";
  EXPECT_EQ(TokenSource(literal).Token(), "lit");
}

}  // namespace
}  // namespace sluice::kube
