#include "commands.hpp"

#include <cstdlib>
#include <iostream>
#include <optional>
#include <sluice/http/client.hpp>

namespace sluice::cli {

Commands::Commands(CLI::App& root) : root_(root) {
  flags_.api_opt = root.add_option("--api-url,--api", flags_.api,
                                   "public API base URL (SLUICE_API_URL; default: the context's, "
                                   "else http://127.0.0.1:8080)");
  flags_.token_opt = root.add_option("--token", flags_.token, "API token (SLUICE_TOKEN)");
  flags_.token_file_opt =
      root.add_option("--token-file", flags_.token_file,
                      "file holding the API token (default var/local/admin-token)");
  flags_.context_opt = root.add_option("--context", flags_.context,
                                       "use this context of the config file (SLUICE_CONTEXT)");
  root.add_option("-o,--output", flags_.output, "how read commands print: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  root.add_flag("--raw", raw_, "print JSON on one line");
}

void Commands::On(CLI::App* cmd, Runner run, Needs needs) {
  entries_.push_back({cmd, needs, std::move(run)});
}

int Commands::Run(int argc, char** argv) {
  try {
    root_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = root_.exit(e);
    if (rc != 0) std::cerr << "run 'sluice --help' (or 'sluice <command> --help') for usage\n";
    return rc == 0 ? 0 : kExitUsage;
  }
  Invocation in;
  in.root = &root_;
  in.g.raw = raw_;
  try {
    return Dispatch(in);
  } catch (const UsageError& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return kExitUsage;
  } catch (const sluice::http::HttpError& e) {
    std::cerr << "sluice: the API at " << in.g.api << " cannot be reached (" << e.what() << ")\n"
              << "hint: is release-intake running? Check --api-url, SLUICE_API_URL or 'sluice "
                 "context current'; in the repository 'make up' starts the services\n";
    return kExitUnavailable;
  } catch (const std::exception& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return kExitError;
  }
}

int Commands::Dispatch(Invocation& in) {
  in.g.format = *ParseFormat(flags_.output);
  in.config_path =
      ConfigPath(std::getenv("SLUICE_CONFIG"), std::getenv("XDG_CONFIG_HOME"), std::getenv("HOME"));
  const Entry* chosen = nullptr;
  for (const auto& entry : entries_) {
    if (*entry.cmd) {
      chosen = &entry;
      break;
    }
  }
  const Needs needs = chosen != nullptr ? chosen->needs : Needs::kSettings;
  if (needs != Needs::kNothing) in.config = LoadConfig(in.config_path);
  if (needs == Needs::kSettings || needs == Needs::kSettingsWithoutContext) Resolve(in, needs);
  return chosen != nullptr ? chosen->run(in) : 0;
}

void Commands::Resolve(Invocation& in, Needs needs) const {
  SettingSources sources;
  auto given = [](const CLI::Option* o, const std::string& v) {
    return o->count() > 0 ? std::optional<std::string>(v) : std::nullopt;
  };
  auto env = [](const char* n) {
    const char* v = std::getenv(n);
    return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
  };
  sources.flag_api = given(flags_.api_opt, flags_.api);
  sources.flag_token = given(flags_.token_opt, flags_.token);
  sources.flag_token_file = given(flags_.token_file_opt, flags_.token_file);
  if (needs != Needs::kSettingsWithoutContext) {
    sources.flag_context = given(flags_.context_opt, flags_.context);
    sources.env_context = env("SLUICE_CONTEXT");
    sources.config = in.config;
  }
  sources.env_api = env("SLUICE_API_URL");
  sources.env_token = env("SLUICE_TOKEN");
  in.settings = ResolveSettings(sources);
  in.g.api = in.settings.api;
  in.g.token = in.settings.token;
  in.g.token_file = in.settings.token_file.empty() ? in.g.token_file : in.settings.token_file;
}

}  // namespace sluice::cli
