#pragma once

// The CLI's contexts (`sluice login`, `sluice context …`): the config file
// (~/.config/sluice/config.yaml, mode 0600) and where each setting comes from.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::cli {

struct Context {
  std::string api_url;
  std::string token;
  bool operator==(const Context&) const = default;
};

struct Config {
  std::string current;                      // "" when none was chosen
  std::map<std::string, Context> contexts;  // by name
  bool operator==(const Config&) const = default;
};

// The config file's text:
//   current-context: prod
//   contexts:
//     prod: {api-url: https://sluice.example.com, token: …}
// Throws std::runtime_error naming what is wrong.
Config ParseConfig(std::string_view yaml);
std::string SerializeConfig(const Config& config);

// Where the file is: SLUICE_CONFIG, else $XDG_CONFIG_HOME/sluice/config.yaml, else
// $HOME/.config/sluice/config.yaml ("" when none of them is set).
std::string ConfigPath(const char* sluice_config, const char* xdg_config_home, const char* home);

// The file, or an empty Config when it does not exist (throws when it cannot be read or parsed).
Config LoadConfig(const std::string& path);
// Writes the file atomically with mode 0600 (its directory made 0700 when missing).
void SaveConfig(const std::string& path, const Config& config);

// Every place a setting may come from; nullopt (or "") when it was not given there.
struct SettingSources {
  std::optional<std::string> flag_api, flag_token, flag_token_file, flag_context;
  std::optional<std::string> env_api, env_token, env_context;
  Config config;
};
struct Settings {
  std::string api;
  std::string token;       // "" when it comes from token_file
  std::string token_file;  // read when token is ""
  std::string context;     // the context used ("" when none)
  std::string api_from;    // "--api-url", "SLUICE_API_URL", "context <name>", "default"
};
inline constexpr std::string_view kDefaultApi = "http://127.0.0.1:8080";
inline constexpr std::string_view kDefaultTokenFile = "var/local/admin-token";
// Flags beat the environment, which beats the context (--context, else SLUICE_CONTEXT, else
// the current one), which beats the defaults. Throws when a named context does not exist.
Settings ResolveSettings(const SettingSources& sources);

}  // namespace sluice::cli
