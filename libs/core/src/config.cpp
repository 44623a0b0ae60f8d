#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sluice/core/config.hpp>
#include <sluice/core/duration.hpp>
#include <sstream>
#include <vector>

extern char** environ;

namespace sluice::core {
namespace {

constexpr std::string_view kPrefix = "SLUICE_";

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Parses a whole string as a base-10 integer.
std::optional<int64_t> ParseInt(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t v = 0;
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

bool IsHostnameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

void CheckKeyName(std::string_view key) {
  if (key.substr(0, kPrefix.size()) != kPrefix) {
    throw std::logic_error("EnvConfig keys must start with SLUICE_: " + std::string(key));
  }
}

}  // namespace

std::optional<HostAndPort> ParseHostPort(std::string_view s) {
  std::string_view host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != host.npos) {
      return std::nullopt;
    }
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), IsHostnameChar)) {
      return std::nullopt;
    }
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  const auto p = ParseInt(port);
  if (!p || *p > 65535) return std::nullopt;
  return HostAndPort{std::string(host), static_cast<int>(*p)};
}

EnvConfig::EnvConfig() {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    const auto key = entry.substr(0, eq);
    if (key.substr(0, kPrefix.size()) != kPrefix) continue;
    env_.emplace(std::string(key), std::string(entry.substr(eq + 1)));
  }
}

EnvConfig::EnvConfig(std::map<std::string, std::string> env) {
  for (auto& [k, v] : env) {
    if (k.rfind(kPrefix, 0) == 0) env_.emplace(k, std::move(v));
  }
}

std::optional<std::string> EnvConfig::Lookup(std::string_view key) {
  CheckKeyName(key);
  known_.emplace(key);
  const auto it = env_.find(std::string(key));
  if (it == env_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

void EnvConfig::MarkKnown(std::string_view key) {
  CheckKeyName(key);
  known_.emplace(key);
}

std::string EnvConfig::String(std::string_view key, std::string_view default_value) {
  auto v = Lookup(key);
  return v ? *v : std::string(default_value);
}

std::string EnvConfig::Required(std::string_view key) {
  auto v = Lookup(key);
  if (!v) {
    throw ConfigError(std::string(key) + " is required but not set: set " + std::string(key) +
                      " in the environment");
  }
  return *v;
}

int64_t EnvConfig::Int(std::string_view key, int64_t default_value, int64_t min, int64_t max) {
  const auto v = Lookup(key);
  if (!v) return default_value;
  const auto n = ParseInt(*v);
  const std::string range = std::to_string(min) + " and " + std::to_string(max);
  if (!n) {
    throw ConfigError(std::string(key) + "=\"" + *v + "\" is not an integer: use a whole number " +
                      "between " + range);
  }
  if (*n < min || *n > max) {
    throw ConfigError(std::string(key) + "=" + *v +
                      " is out of range: use a whole number between " + range);
  }
  return *n;
}

bool EnvConfig::Bool(std::string_view key, bool default_value) {
  const auto v = Lookup(key);
  if (!v) return default_value;
  const std::string s = Lower(*v);
  if (s == "true" || s == "1" || s == "yes") return true;
  if (s == "false" || s == "0" || s == "no") return false;
  throw ConfigError(std::string(key) + "=\"" + *v +
                    "\" is not a boolean: use true or false (also 1/0, yes/no)");
}

std::chrono::milliseconds EnvConfig::Duration(std::string_view key, std::chrono::milliseconds def) {
  const auto v = Lookup(key);
  if (!v) return def;
  const auto bad = [&](std::string_view why) {
    return ConfigError(std::string(key) + "=\"" + *v + "\" is not a duration (" + std::string(why) +
                       "): use a number with a unit, e.g. 5s or 250ms " + "(units ms, s, m, h, d)");
  };
  std::string why;
  const auto d = ParseDuration(*v, &why);
  if (!d) throw bad(why);
  // Env durations are timeouts and intervals: about 34 years is plenty.
  if (d->count() > (int64_t{1} << 40)) throw bad("too large");
  return *d;
}

std::string EnvConfig::HostPort(std::string_view key, std::string_view def) {
  const auto v = Lookup(key);
  if (!v) return std::string(def);
  if (!ParseHostPort(*v)) {
    throw ConfigError(std::string(key) + "=\"" + *v +
                      "\" is not a host:port address: use e.g. 127.0.0.1:8080, 0.0.0.0:8080 or "
                      "[::1]:8080 (port 0..65535)");
  }
  return *v;
}

std::optional<std::string> EnvConfig::Secret(std::string_view key) {
  const std::string file_key = std::string(key) + "_FILE";
  const auto direct = Lookup(key);
  const auto file = Lookup(file_key);
  if (direct && file) {
    throw ConfigError("both " + std::string(key) + " and " + file_key + " are set: set only one");
  }
  if (direct) return direct;
  if (!file) return std::nullopt;
  std::ifstream in(*file, std::ios::binary);
  if (!in) {
    throw ConfigError(file_key + "=\"" + *file +
                      "\" cannot be read: point it at a readable file holding the secret");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) {
    throw ConfigError(file_key + "=\"" + *file + "\" names an empty file: put the secret in it");
  }
  return value;
}

const std::vector<std::string_view>& SuiteWideKeys() {
  // The addresses of the shared infrastructure: one environment (a ConfigMap, the local
  // stack's stack.env) commonly gives them to every service, used or not.
  static const std::vector<std::string_view> kKeys = {
      "SLUICE_KAFKA_BROKERS", "SLUICE_PG_DSN", "SLUICE_REDIS_URL", "SLUICE_PROMETHEUS_URL",
      "SLUICE_ALERTMANAGER_URL", "SLUICE_LOG_LEVEL",
      // The local stack's SASL_SSL listener and its CA: scripts/services.sh turns them into a
      // service's SLUICE_KAFKA_* security settings; a service given them as they are ignores them.
      "SLUICE_KAFKA_SASL_BROKERS", "SLUICE_KAFKA_SASL_CA"};
  return kKeys;
}

void EnvConfig::RejectUnknown() const {
  std::string problems;
  for (const auto& [key, value] : env_) {
    if (known_.count(key) != 0) continue;
    if (std::find(SuiteWideKeys().begin(), SuiteWideKeys().end(), key) != SuiteWideKeys().end()) {
      continue;
    }
    if (!problems.empty()) problems += "; ";
    problems += "unknown setting " + key;
    std::string_view best;
    std::size_t best_distance = 0;
    // Names the binding again: capturing a structured binding is C++20 that Clang 14 (tidy) lacks.
    auto consider = [&, &unknown = key](std::string_view k) {
      const std::size_t d = EditDistance(unknown, k);
      if (best.empty() || d < best_distance) {
        best = k;
        best_distance = d;
      }
    };
    for (const auto& k : known_) consider(k);
    for (const auto k : SuiteWideKeys()) consider(k);
    const std::size_t tolerance = std::max<std::size_t>(2, key.size() / 3);
    if (!best.empty() && best_distance <= tolerance) {
      problems += ": did you mean " + std::string(best) + "?";
    } else {
      problems += ": remove it or fix its name";
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
}

std::string LogLevelFromEnv(EnvConfig& env) {
  std::string level = env.String("SLUICE_LOG_LEVEL", "info");
  if (level != "trace" && level != "debug" && level != "info" && level != "warn" &&
      level != "error") {
    throw ConfigError("SLUICE_LOG_LEVEL=" + level + ": use trace, debug, info, warn or error");
  }
  return level;
}

void ExitOnConfigError(std::string_view service, const std::exception& e) {
  std::string what = e.what();
  std::replace(what.begin(), what.end(), '\n', ' ');
  std::fprintf(stderr, "%.*s: configuration error: %s\n", static_cast<int>(service.size()),
               service.data(), what.c_str());
  std::fflush(stderr);
  std::exit(2);
}

}  // namespace sluice::core
