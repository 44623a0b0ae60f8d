// SshDriver against a real Debian sshd on 127.0.0.1 (testing/loopback_sshd.hpp), with the artifacts
// served by a loopback HTTP server. The release roots are temporary directories; the sshd is killed
// by its PID at the end.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <tar_builder.hpp>
#include <thread>

#include "adapters/ssh_driver.hpp"
#include "loopback_sshd.hpp"

namespace sluice::executor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using agent::testing::File;
using agent::testing::Symlink;
using agent::testing::WriteTarGz;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

void Shell(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// "SHA256:..." of a public key file, as ssh-keygen prints it.
std::string KeygenFingerprint(const fs::path& pub, const fs::path& out) {
  const std::string cmd = "ssh-keygen -E sha256 -lf " + pub.string() + " > " + out.string();
  if (std::system(cmd.c_str()) != 0) return "";
  std::istringstream in(Read(out));
  std::string bits;
  std::string fp;
  in >> bits >> fp;
  return fp;
}

class SshDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sluice-ssh-itest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_NO_THROW(sshd_ = std::make_unique<testing::LoopbackSshd>(dir_ / "sshd"));
    port_ = sshd_->Port();
    Shell("ssh-keygen -q -t ed25519 -N '' -f " + (dir_ / "other_host_key").string());
    fingerprint_ = KeygenFingerprint(dir_ / "sshd" / "host_key.pub", dir_ / "fp.txt");
    ASSERT_TRUE(fingerprint_.starts_with("SHA256:")) << fingerprint_;

    fs::create_directories(dir_ / "www");
    server_ = std::make_unique<httplib::Server>();
    server_->set_mount_point("/", (dir_ / "www").string());
    http_port_ = server_->bind_to_any_port("127.0.0.1");
    http_thread_ = std::thread([] { server_->listen_after_bind(); });
  }

  static void TearDownTestSuite() {
    if (server_) server_->stop();
    if (http_thread_.joinable()) http_thread_.join();
    server_.reset();
    sshd_.reset();  // killed by its PID
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void SetUp() override {
    root_ = dir_ / ("root-" +
                    std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }

  // Builds and serves a release tarball; returns its artifact reference.
  static ArtifactRef Artifact(const std::string& version,
                              std::vector<agent::testing::TarEntry> entries = {}) {
    if (entries.empty()) {
      entries = {File("VERSION", version + "\n"), File("bin/app", "#!/bin/sh\necho app\n", 0755)};
    }
    const std::string name = "app-" + version + ".tar.gz";
    WriteTarGz((dir_ / "www" / name).string(), entries);
    return {version, "http://127.0.0.1:" + std::to_string(http_port_) + "/" + name,
            Sha256Hex(Read(dir_ / "www" / name))};
  }

  SshDriverConfig Config(std::optional<AgentServiceSpec> service = std::nullopt) const {
    SshDriverConfig c;
    c.user = sshd_->User();
    c.port = port_;
    c.key_file = sshd_->ClientKey().string();
    c.known_hosts_file = sshd_->KnownHosts().string();
    c.layout = {root_.string(), 2};
    if (!service) {
      service = AgentServiceSpec{};
      service->restart_command = {"/bin/true"};
      service->health.command = {"/bin/true"};
      service->health.timeout = 5s;
    }
    c.service = service;
    return c;
  }

  static HostTarget Host() { return {"web-1", "127.0.0.1", "", {}, "ssh"}; }
  static Deadline Soon() { return core::SystemClock::Instance().Monotonic() + 60s; }
  std::string Current() const {
    std::error_code ec;
    return fs::read_symlink(root_ / "current", ec).string();
  }

  static inline fs::path dir_;
  static inline int port_ = 0;
  static inline int http_port_ = 0;
  static inline std::unique_ptr<testing::LoopbackSshd> sshd_;
  static inline std::string fingerprint_;
  static inline std::unique_ptr<httplib::Server> server_;
  static inline std::thread http_thread_;
  fs::path root_;
};

TEST_F(SshDriverTest, DeploysSwitchesKeepsAndReverts) {
  SshDriver d(Config(), core::SystemClock::Instance());
  const auto v1 = Artifact("1.0.0");
  const auto v2 = Artifact("2.0.0");
  const auto v3 = Artifact("3.0.0");

  auto o = d.Deploy(Host(), v1, {"dep-1", core::Generation(1)}, Soon());
  ASSERT_TRUE(o.Succeeded()) << o.reason << ": " << o.message;
  EXPECT_EQ(o.version, "1.0.0");
  EXPECT_EQ(Current(), "releases/1.0.0");
  EXPECT_EQ(Read(root_ / "current" / "VERSION"), "1.0.0\n");

  // The same command again: nothing to do.
  o = d.Deploy(Host(), v1, {"dep-1", core::Generation(1)}, Soon());
  ASSERT_TRUE(o.Succeeded()) << o.message;

  for (const auto& a : {v2, v3}) {
    o = d.Deploy(Host(), a, {"dep-1", core::Generation(1)}, Soon());
    ASSERT_TRUE(o.Succeeded()) << o.reason << ": " << o.message;
  }
  EXPECT_EQ(Current(), "releases/3.0.0");
  // Keep 2: the oldest goes; the current and the previous stay.
  EXPECT_FALSE(fs::exists(root_ / "releases" / "1.0.0"));
  EXPECT_TRUE(fs::exists(root_ / "releases" / "2.0.0"));

  auto s = d.Status(Host(), Soon());
  ASSERT_TRUE(s.reachable) << s.error;
  EXPECT_EQ(s.current, "3.0.0");
  EXPECT_EQ(s.previous, "2.0.0");
  EXPECT_EQ(s.installed, (std::vector<std::string>{"2.0.0", "3.0.0"}));
  EXPECT_EQ(s.health, HostHealth::kHealthy);
  EXPECT_EQ(s.highest_generation, 1u);

  // Revert with the service the host kept.
  SshDriver reverting(Config(), core::SystemClock::Instance());
  auto cfg = Config();
  cfg.service.reset();
  SshDriver no_service(cfg, core::SystemClock::Instance());
  o = no_service.Revert(Host(), "2.0.0", {"dep-1", core::Generation(2)}, Soon());
  ASSERT_TRUE(o.Succeeded()) << o.reason << ": " << o.message;
  EXPECT_EQ(Current(), "releases/2.0.0");
  o = reverting.Revert(Host(), "1.0.0", {"dep-1", core::Generation(2)}, Soon());
  EXPECT_EQ(o.reason, "not_installed") << o.message;
  EXPECT_EQ(Current(), "releases/2.0.0");
}

TEST_F(SshDriverTest, HostileValuesArriveLiterally) {
  const std::vector<std::string> hostile = {"two words",
                                            "it's",
                                            "\"dq\"",
                                            "a;touch " + (dir_ / "pwned1").string(),
                                            "$(touch " + (dir_ / "pwned2").string() + ")",
                                            "`touch " + (dir_ / "pwned3").string() + "`",
                                            "line1\nline2",
                                            "-rf",
                                            "--help",
                                            "${HOME}",
                                            "*",
                                            "",
                                            "'; touch " + (dir_ / "pwned4").string() + "; '"};
  const fs::path out = dir_ / "restart-args";
  AgentServiceSpec svc;
  svc.restart_command = {"/bin/sh", "-c", "printf '%s\\0' \"$@\" > " + out.string(), "sh"};
  svc.restart_command.insert(svc.restart_command.end(), hostile.begin(), hostile.end());
  svc.health.command = {"/bin/sh", "-c", "test \"$1\" = \"$(printf 'x\\ny')\"", "sh", "x\ny"};
  svc.health.timeout = 5s;
  SshDriver d(Config(svc), core::SystemClock::Instance());
  const auto o = d.Deploy(Host(), Artifact("1.0.0"), {"dep-h", core::Generation(1)}, Soon());
  ASSERT_TRUE(o.Succeeded()) << o.reason << ": " << o.message;

  const std::string got = Read(out);
  std::vector<std::string> args;
  std::size_t pos = 0;
  while (pos < got.size()) {
    const auto end = got.find('\0', pos);
    args.push_back(got.substr(pos, end - pos));
    pos = end + 1;
  }
  EXPECT_EQ(args, hostile);
  for (const char* p : {"pwned1", "pwned2", "pwned3", "pwned4"}) {
    EXPECT_FALSE(fs::exists(dir_ / p)) << p;
  }

  // A hostile version never reaches the host.
  auto bad = Artifact("1.0.0");
  bad.version = "1.0.0;touch " + (dir_ / "pwned5").string();
  const auto refused = d.Deploy(Host(), bad, {"dep-h", core::Generation(1)}, Soon());
  EXPECT_EQ(refused.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(refused.retryable);
  EXPECT_EQ(refused.reason, "invalid_field");
  EXPECT_FALSE(fs::exists(dir_ / "pwned5"));
  EXPECT_EQ(Current(), "releases/1.0.0");
}

TEST_F(SshDriverTest, UnknownOrChangedHostKeyIsAHardFailureNamingTheFingerprint) {
  auto cfg = Config();
  cfg.known_hosts_file = (dir_ / "known_hosts_empty").string();
  Write(cfg.known_hosts_file, "");
  SshDriver unknown(cfg, core::SystemClock::Instance());
  auto o = unknown.Deploy(Host(), Artifact("1.0.0"), {"d", core::Generation(1)}, Soon());
  EXPECT_EQ(o.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(o.reason, "host_key_unknown");
  EXPECT_NE(o.message.find(fingerprint_), std::string::npos) << o.message;
  EXPECT_NE(o.message.find("web-1"), std::string::npos) << o.message;
  EXPECT_FALSE(fs::exists(root_));

  std::istringstream pub(Read(dir_ / "other_host_key.pub"));
  std::string type;
  std::string key;
  pub >> type >> key;
  cfg.known_hosts_file = (dir_ / "known_hosts_other").string();
  Write(cfg.known_hosts_file,
        "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + key + "\n");
  SshDriver changed(cfg, core::SystemClock::Instance());
  o = changed.Deploy(Host(), Artifact("1.0.0"), {"d", core::Generation(1)}, Soon());
  EXPECT_EQ(o.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(o.reason, "host_key_mismatch");
  EXPECT_NE(o.message.find(fingerprint_), std::string::npos) << o.message;
  EXPECT_FALSE(fs::exists(root_));

  // Trust on first use, when asked for: the key is added and the deploy goes on.
  cfg.known_hosts_file = (dir_ / "known_hosts_tofu").string();
  Write(cfg.known_hosts_file, "");
  cfg.trust_on_first_use = true;
  SshDriver tofu(cfg, core::SystemClock::Instance());
  o = tofu.Deploy(Host(), Artifact("1.0.0"), {"d", core::Generation(1)}, Soon());
  ASSERT_TRUE(o.Succeeded()) << o.reason << ": " << o.message;
  std::istringstream host_pub(Read(dir_ / "sshd" / "host_key.pub"));
  std::string host_key;
  host_pub >> type >> host_key;
  EXPECT_NE(Read(cfg.known_hosts_file).find(host_key), std::string::npos);
}

TEST_F(SshDriverTest, AnOlderGenerationIsFenced) {
  SshDriver d(Config(), core::SystemClock::Instance());
  const auto v1 = Artifact("1.0.0");
  const auto v2 = Artifact("2.0.0");
  ASSERT_TRUE(d.Deploy(Host(), v1, {"dep-f", core::Generation(5)}, Soon()).Succeeded());
  auto o = d.Deploy(Host(), v2, {"dep-f", core::Generation(3)}, Soon());
  EXPECT_EQ(o.kind, OutcomeKind::kStale) << o.reason << ": " << o.message;
  EXPECT_EQ(o.reason, "stale_generation");
  EXPECT_EQ(Current(), "releases/1.0.0");
  o = d.Revert(Host(), "1.0.0", {"dep-f", core::Generation(4)}, Soon());
  EXPECT_EQ(o.kind, OutcomeKind::kStale);

  // Another deployment counts its own generations, but may not revert this one's host.
  ASSERT_TRUE(d.Deploy(Host(), v2, {"dep-f", core::Generation(5)}, Soon()).Succeeded());
  o = d.Revert(Host(), "1.0.0", {"dep-g", core::Generation(1)}, Soon());
  EXPECT_EQ(o.reason, "host_owned_by_newer_deployment") << o.message;
  EXPECT_EQ(Current(), "releases/2.0.0");
  const auto s = d.Status(Host(), Soon());
  EXPECT_EQ(s.highest_generation, 5u);
}

TEST_F(SshDriverTest, RefusesBadArtifactsAndReportsUnhealthy) {
  SshDriver d(Config(), core::SystemClock::Instance());
  auto o = d.Deploy(Host(), Artifact("1.0.0", {File("../escape", "x")}), {"d", core::Generation(1)},
                    Soon());
  EXPECT_EQ(o.reason, "unsafe_archive") << o.message;
  EXPECT_FALSE(fs::exists(root_ / "escape"));
  o = d.Deploy(Host(), Artifact("1.0.1", {Symlink("etc", "/etc"), File("VERSION", "x")}),
               {"d", core::Generation(1)}, Soon());
  EXPECT_EQ(o.reason, "unsafe_archive") << o.message;
  o = d.Deploy(Host(), Artifact("1.0.2", {Symlink("up", "../../.."), File("VERSION", "x")}),
               {"d", core::Generation(1)}, Soon());
  EXPECT_EQ(o.reason, "unsafe_archive") << o.message;
  EXPECT_FALSE(fs::exists(root_ / "releases" / "1.0.2"));

  auto wrong = Artifact("1.0.3");
  wrong.sha256 = std::string(64, 'a');
  o = d.Deploy(Host(), wrong, {"d", core::Generation(1)}, Soon());
  EXPECT_EQ(o.reason, "checksum_mismatch") << o.message;
  EXPECT_FALSE(o.retryable);
  EXPECT_EQ(Current(), "");

  AgentServiceSpec sick;
  sick.restart_command = {"/bin/true"};
  sick.health.command = {"/bin/false"};
  sick.health.timeout = 1s;
  SshDriver unhealthy(Config(sick), core::SystemClock::Instance());
  o = unhealthy.Deploy(Host(), Artifact("1.1.0"), {"d", core::Generation(1)}, Soon());
  EXPECT_EQ(o.kind, OutcomeKind::kUnhealthy) << o.reason << ": " << o.message;
  EXPECT_EQ(o.version, "1.1.0");
  EXPECT_EQ(Current(), "releases/1.1.0");
}

}  // namespace
}  // namespace sluice::executor
