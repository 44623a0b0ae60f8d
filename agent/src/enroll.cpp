#include "enroll.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sluice/http/client.hpp>
#include <sstream>

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kAgentUser = "sluice-agent";

std::string ReadSecretFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(flag + "=" + path + ": cannot read it");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  if (s.empty()) throw std::runtime_error(flag + "=" + path + ": the file is empty");
  return s;
}

// Writes `content` to dir/name through a 0600 temporary file, fsync and rename; chowns it to
// the agent's user when running as root and the user exists.
void WritePrivate(const fs::path& dir, const std::string& name, const std::string& content) {
  const fs::path final_path = dir / name;
  const fs::path tmp = dir / ("." + name + ".tmp");
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(tmp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw std::runtime_error(tmp.string() + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::geteuid() == 0) {
    if (const passwd* pw = ::getpwnam(kAgentUser)) {
      if (::fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        throw std::runtime_error(tmp.string() + ": chown " + kAgentUser + ": " + why);
      }
    }
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    throw std::runtime_error(tmp.string() + ": " + std::strerror(errno));
  }
  fs::rename(tmp, final_path);
}

std::string Describe(const json& existing) {
  return "'" + existing.value("name", std::string("?")) + "' with " +
         existing.value("server", std::string("?"));
}

}  // namespace

int RunEnroll(const EnrollOptions& o, std::ostream& out, std::ostream& err) {
  const fs::path record = o.config_dir / "enrollment.json";
  const fs::path credential_path = o.config_dir / "credential";
  try {
    if (!o.force && (fs::exists(record) || fs::exists(credential_path))) {
      json existing = json::object();
      if (std::ifstream in(record); in) existing = json::parse(in, nullptr, false);
      if (existing.is_discarded() || !existing.is_object()) existing = json::object();
      err << "sluice-agent enroll: this host is already enrolled as " << Describe(existing) << " ("
          << record.string()
          << "); nothing changed. To enrol it again (a new credential), revoke the old one "
             "(DELETE /v1/agents/<name>), get a new enrolment token and re-run with --force\n";
      return 3;
    }
    const std::string token = ReadSecretFile(o.token_file, "--token-file");
    std::string executor_token;
    if (!o.executor_token_file.empty()) {
      executor_token = ReadSecretFile(o.executor_token_file, "--executor-token-file");
      if (executor_token.size() < 16) {
        throw std::runtime_error("--executor-token-file: the token is shorter than 16 characters");
      }
    }
    http::ClientRequest req;
    req.method = "POST";
    req.url = o.server + "/v1/agents/enroll";
    req.headers = {{"Content-Type", "application/json"}};
    req.body = json{
        {"enrollment_token", token},
        {"name", o.name},
        {"address", o.address},
        {"labels",
         o.labels}}.dump();
    req.timeout = std::chrono::seconds(30);
    req.ca_file = o.ca_file;
    req.max_response_bytes = 1 << 20;
    http::ClientResponse res;
    try {
      res = http::Send(req);
    } catch (const http::HttpError& e) {
      err << "sluice-agent enroll: cannot reach release-intake at " << o.server << ": " << e.what()
          << "\n";
      return 1;
    }
    const json body = json::parse(res.body, nullptr, false);
    if (res.status != 201) {
      std::string code = "http_" + std::to_string(res.status), message = res.body, field;
      if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        code = body["error"].value("code", code);
        message = body["error"].value("message", message);
        field = body["error"].value("field", std::string());
      }
      err << "sluice-agent enroll: release-intake refused the enrolment (" << res.status << " "
          << code << (field.empty() ? "" : ", " + FlagOfField(field)) << "): " << message
          << "\nnothing was written\n";
      return 1;
    }
    if (!body.is_object() || !body.contains("credential") || !body["credential"].is_string()) {
      err << "sluice-agent enroll: release-intake answered 201 without a credential\n";
      return 1;
    }
    fs::create_directories(o.config_dir);
    WritePrivate(o.config_dir, "credential", body["credential"].get<std::string>() + "\n");
    std::string conf =
        "# Written by `sluice-agent enroll`: this host's enrolment with release-intake. Do not\n"
        "# edit; enrol again with --force. Read after agent.conf (systemd EnvironmentFile).\n"
        "SLUICE_AGENT_SERVER=" +
        o.server + "\n" + "SLUICE_AGENT_NAME=" + o.name + "\n" +
        "SLUICE_AGENT_CREDENTIAL_FILE=" + credential_path.string() + "\n";
    if (!o.ca_file.empty()) conf += "SLUICE_AGENT_SERVER_CA_FILE=" + o.ca_file + "\n";
    WritePrivate(o.config_dir, "enrolled.conf", conf);
    if (!executor_token.empty()) {
      WritePrivate(o.config_dir, "executor-token", executor_token + "\n");
    }
    json rec = {{"server", o.server},
                {"name", o.name},
                {"address", o.address},
                {"labels", o.labels},
                {"enrolled_at_ms", body.value("enrolled_at_ms", std::int64_t{0})},
                {"enrollment_id", body.value("enrollment_id", std::string())}};
    WritePrivate(o.config_dir, "enrollment.json", rec.dump(2) + "\n");
    out << "enrolled host '" << o.name << "' (" << o.address << ") with " << o.server
        << "; credential in " << credential_path.string() << ", settings in "
        << (o.config_dir / "enrolled.conf").string()
        << "\nrestart the agent to use them: systemctl restart sluice-agent\n";
    return 0;
  } catch (const std::exception& e) {
    err << "sluice-agent enroll: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sluice::agent
