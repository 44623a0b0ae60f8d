#include "enroll_args.hpp"

namespace sluice::agent {
namespace {

// Values end up in a systemd environment file: one line, no quoting needed.
void CheckPlain(const std::string& flag, const std::string& value) {
  if (value.empty()) throw UsageError(flag + " is empty");
  for (const char c : value) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '\'' || c == '\\' || c == 0x7f) {
      throw UsageError(flag + "=" + value +
                       ": no spaces, quotes, backslashes or control characters");
    }
  }
}

}  // namespace

EnrollOptions ParseEnrollArgs(const std::vector<std::string>& args) {
  EnrollOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool inline_value = false;
    if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag == "--force") {
      if (inline_value) throw UsageError("--force takes no value");
      o.force = true;
      continue;
    }
    if (flag == "-h" || flag == "--help") throw UsageError("");
    const bool known = flag == "--server" || flag == "--token-file" || flag == "--name" ||
                       flag == "--address" || flag == "--label" || flag == "--config-dir" ||
                       flag == "--executor-token-file" || flag == "--ca-file";
    if (!known) throw UsageError("unknown argument '" + flag + "'");
    if (!inline_value) {
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      value = args[++i];
    }
    CheckPlain(flag, value);
    if (flag == "--server") {
      if (!value.starts_with("http://") && !value.starts_with("https://")) {
        throw UsageError("--server=" + value + ": give release-intake's URL, http(s)://host:port");
      }
      while (value.size() > 8 && value.back() == '/') value.pop_back();
      o.server = value;
    } else if (flag == "--token-file") {
      o.token_file = value;
    } else if (flag == "--name") {
      o.name = value;
    } else if (flag == "--address") {
      o.address = value;
    } else if (flag == "--label") {
      const auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw UsageError("--label " + value + ": give KEY=VALUE");
      }
      const auto key = value.substr(0, eq);
      if (!o.labels.emplace(key, value.substr(eq + 1)).second) {
        throw UsageError("--label " + key + " is given twice");
      }
    } else if (flag == "--config-dir") {
      o.config_dir = value;
      if (!o.config_dir.is_absolute())
        throw UsageError("--config-dir=" + value + ": an absolute path");
    } else if (flag == "--executor-token-file") {
      o.executor_token_file = value;
    } else if (flag == "--ca-file") {
      o.ca_file = value;
    }
  }
  for (const auto& [flag, value] :
       {std::pair{"--server", &o.server}, std::pair{"--token-file", &o.token_file},
        std::pair{"--name", &o.name}, std::pair{"--address", &o.address}}) {
    if (value->empty()) throw UsageError(std::string(flag) + " is required");
  }
  return o;
}

std::string FlagOfField(const std::string& field) {
  if (field == "enrollment_token") return "--token-file";
  if (field == "name") return "--name";
  if (field == "address") return "--address";
  if (field.starts_with("labels")) return "--label";
  return field;
}

}  // namespace sluice::agent
