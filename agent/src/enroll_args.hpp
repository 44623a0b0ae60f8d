#pragma once

// `sluice-agent enroll`: its arguments (pure; enroll.hpp runs it).
//
//   sluice-agent enroll --server URL --token-file F --name N --address A [--label k=v ...]
//                       [--config-dir D] [--executor-token-file F] [--ca-file F] [--force]

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::agent {

inline constexpr const char* kDefaultConfigDir = "/etc/sluice-agent";

struct EnrollOptions {
  std::string server;      // release-intake's base URL, http(s)://host[:port]
  std::string token_file;  // the one-time enrolment token
  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;
  std::filesystem::path config_dir = kDefaultConfigDir;
  std::string executor_token_file;  // copied to <config-dir>/executor-token when given
  std::string ca_file;              // CA bundle for an https server
  bool force = false;               // enrol again although the config dir holds an enrolment
};

// A wrong or missing argument; the message names the flag.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The arguments after "enroll".
EnrollOptions ParseEnrollArgs(const std::vector<std::string>& args);

// The flag a field of POST /v1/agents/enroll comes from ("name" -> "--name"), for messages.
std::string FlagOfField(const std::string& field);

inline constexpr const char* kEnrollUsage =
    "usage: sluice-agent enroll --server URL --token-file FILE --name NAME --address ADDRESS\n"
    "                           [--label KEY=VALUE ...] [--config-dir DIR (default "
    "/etc/sluice-agent)]\n"
    "                           [--executor-token-file FILE] [--ca-file FILE] [--force]\n";

}  // namespace sluice::agent
