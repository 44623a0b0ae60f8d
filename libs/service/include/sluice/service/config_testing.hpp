#pragma once

// For the tests of a service's Parse function: an environment with a valid service token, and
// the one-line error a Parse gives for an environment.

#include <map>
#include <sluice/core/config.hpp>
#include <string>
#include <utility>

namespace sluice::service::testing {

using Env = std::map<std::string, std::string>;

inline constexpr const char* kTestServiceToken = "0123456789abcdef0123456789";

// Runs `parse` over `env` plus SLUICE_SERVICE_TOKEN (every service requires it).
template <class Config>
Config ParseWithToken(Config (*parse)(core::EnvConfig&), Env env) {
  env.emplace("SLUICE_SERVICE_TOKEN", kTestServiceToken);
  core::EnvConfig e(std::move(env));
  return parse(e);
}

// The message of the core::ConfigError ParseWithToken throws, or "no error".
template <class Config>
std::string ConfigErrorOf(Config (*parse)(core::EnvConfig&), Env env) {
  try {
    ParseWithToken(parse, std::move(env));
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace sluice::service::testing
