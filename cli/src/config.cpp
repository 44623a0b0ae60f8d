#include "config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::cli {

namespace {

std::string Scalar(const YAML::Node& node, const char* key, const std::string& where) {
  const auto v = node[key];
  if (!v) return "";
  if (!v.IsScalar()) throw std::runtime_error(where + "." + key + ": must be a string");
  return v.as<std::string>();
}

}  // namespace

Config ParseConfig(std::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(std::string("not YAML: ") + e.what());
  }
  Config config;
  if (!root || root.IsNull()) return config;
  if (!root.IsMap()) throw std::runtime_error("the top level must be a map");
  config.current = Scalar(root, "current-context", "");
  if (const auto contexts = root["contexts"]) {
    if (!contexts.IsMap() && !contexts.IsNull()) {
      throw std::runtime_error("contexts: must be a map of name to {api-url, token}");
    }
    for (const auto& kv : contexts) {
      const auto name = kv.first.as<std::string>();
      if (!kv.second.IsMap()) throw std::runtime_error("contexts." + name + ": must be a map");
      config.contexts[name] = {Scalar(kv.second, "api-url", "contexts." + name),
                               Scalar(kv.second, "token", "contexts." + name)};
    }
  }
  if (!config.current.empty() && !config.contexts.contains(config.current)) {
    throw std::runtime_error("current-context: no context named '" + config.current + "'");
  }
  return config;
}

std::string SerializeConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "current-context" << YAML::Value << config.current;
  out << YAML::Key << "contexts" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, c] : config.contexts) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "api-url" << YAML::Value << c.api_url;
    out << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << c.token;
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string ConfigPath(const char* sluice_config, const char* xdg_config_home, const char* home) {
  auto set = [](const char* v) { return v != nullptr && *v != '\0'; };
  if (set(sluice_config)) return sluice_config;
  if (set(xdg_config_home)) return std::string(xdg_config_home) + "/sluice/config.yaml";
  if (set(home)) return std::string(home) + "/.config/sluice/config.yaml";
  return "";
}

Config LoadConfig(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return {};
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return ParseConfig(ss.str());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what() +
                             "; fix the file, or remove it and run 'sluice login' again");
  }
}

void SaveConfig(const std::string& path, const Config& config) {
  if (path.empty()) {
    throw std::runtime_error(
        "no place for the config file: set HOME, XDG_CONFIG_HOME or "
        "SLUICE_CONFIG");
  }
  const std::filesystem::path p(path);
  if (p.has_parent_path() && !std::filesystem::exists(p.parent_path())) {
    std::filesystem::create_directories(p.parent_path());
    std::filesystem::permissions(p.parent_path(), std::filesystem::perms::owner_all);
  }
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  const std::string text = SerializeConfig(config);
  bool ok = ::fchmod(fd, 0600) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ok = false;
    } else {
      done += static_cast<std::size_t>(n);
    }
  }
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + why);
  }
}

Settings ResolveSettings(const SettingSources& s) {
  auto given = [](const std::optional<std::string>& v) { return v && !v->empty(); };
  Settings out;
  // The context: named by --context or SLUICE_CONTEXT, else the current one.
  const Context* ctx = nullptr;
  std::string name = given(s.flag_context)  ? *s.flag_context
                     : given(s.env_context) ? *s.env_context
                                            : s.config.current;
  if (!name.empty()) {
    const auto it = s.config.contexts.find(name);
    if (it == s.config.contexts.end()) {
      throw std::runtime_error("no context named '" + name +
                               "'; 'sluice context list' shows them, 'sluice login --context " +
                               name + "' makes it");
    }
    ctx = &it->second;
    out.context = name;
  }
  if (given(s.flag_api)) {
    out.api = *s.flag_api;
    out.api_from = "--api-url";
  } else if (given(s.env_api)) {
    out.api = *s.env_api;
    out.api_from = "SLUICE_API_URL";
  } else if (ctx != nullptr && !ctx->api_url.empty()) {
    out.api = ctx->api_url;
    out.api_from = "context " + name;
  } else {
    out.api = kDefaultApi;
    out.api_from = "default";
  }
  while (out.api.size() > 1 && out.api.back() == '/') out.api.pop_back();
  if (given(s.flag_token)) {
    out.token = *s.flag_token;
  } else if (given(s.flag_token_file)) {
    out.token_file = *s.flag_token_file;
  } else if (given(s.env_token)) {
    out.token = *s.env_token;
  } else if (ctx != nullptr && !ctx->token.empty()) {
    out.token = ctx->token;
  } else {
    out.token_file = kDefaultTokenFile;
  }
  return out;
}

}  // namespace sluice::cli
