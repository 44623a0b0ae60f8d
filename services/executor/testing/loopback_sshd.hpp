#pragma once

// A real Debian sshd for tests: on a free 127.0.0.1 port, its own ed25519 host key, an
// authorized_keys holding a client key made here, StrictModes off, run as the current user
// (as root it creates /run/sshd when missing, as systemd would). Killed by its PID on
// destruction. Tests only.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sluice::executor::testing {

class LoopbackSshd {
 public:
  // Starts it with its files under `dir` (created); throws when it does not accept connections.
  explicit LoopbackSshd(std::filesystem::path dir) : dir_(std::move(dir)) {
    namespace fs = std::filesystem;
    fs::create_directories(dir_);
    for (const char* k : {"host_key", "client_key"}) {
      Shell("ssh-keygen -q -t ed25519 -N '' -f " + (dir_ / k).string());
    }
    fs::copy_file(dir_ / "client_key.pub", dir_ / "authorized_keys",
                  fs::copy_options::overwrite_existing);
    user_ = getpwuid(getuid())->pw_name;
    port_ = FreePort();
    std::ostringstream cfg;
    cfg << "Port " << port_ << "\nListenAddress 127.0.0.1\nHostKey " << (dir_ / "host_key").string()
        << "\nPidFile " << (dir_ / "sshd.pid").string() << "\nAuthorizedKeysFile "
        << (dir_ / "authorized_keys").string()
        << "\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
           "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
           "PermitRootLogin prohibit-password\nAllowUsers "
        << user_ << "\nLogLevel ERROR\n";
    Write(dir_ / "sshd_config", cfg.str());
    if (getuid() == 0) mkdir("/run/sshd", 0755);
    const std::string config = (dir_ / "sshd_config").string();
    const std::string log = (dir_ / "sshd.log").string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> argv = {"/usr/sbin/sshd", "-D", "-e", "-f", config};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0].c_str(), &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start /usr/sbin/sshd");
    for (int i = 0; i < 100 && !Accepts(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!Accepts()) throw std::runtime_error("sshd did not start: " + Read(dir_ / "sshd.log"));
    std::istringstream pub(Read(dir_ / "host_key.pub"));
    std::string type;
    std::string key;
    pub >> type >> key;
    Write(KnownHosts(), "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + key + "\n");
  }
  ~LoopbackSshd() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  LoopbackSshd(const LoopbackSshd&) = delete;
  LoopbackSshd& operator=(const LoopbackSshd&) = delete;

  int Port() const { return port_; }
  const std::string& User() const { return user_; }
  std::filesystem::path KnownHosts() const { return dir_ / "known_hosts"; }
  std::filesystem::path ClientKey() const { return dir_ / "client_key"; }

  static std::string Read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void Write(const std::filesystem::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << s;
  }

 private:
  static void Shell(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                       getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    close(fd);
    if (!bound) throw std::runtime_error("no free loopback port for sshd");
    return ntohs(a.sin_port);
  }
  bool Accepts() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
  }

  std::filesystem::path dir_;
  std::string user_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sluice::executor::testing
