#pragma once

// What the commands that talk to the public API share: the global settings, one exchange with
// the API, printing an answer as -o asks, and printing an error with the exit code it maps to.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "format.hpp"
#include "revalidate.hpp"

namespace sluice::cli {

// The global flags, once resolved (flags > environment > context > defaults).
struct Global {
  std::string api = std::string(kDefaultApi);
  std::string token;
  std::string token_file = std::string(kDefaultTokenFile);
  bool raw = false;
  Format format = Format::kTable;
};

// A wrong command line (exit 64).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The duration a flag holds; a UsageError naming the flag when it is not one.
std::chrono::milliseconds Duration(const std::string& s, const char* flag);
// The environment variable, or `fallback` when it is unset or empty.
std::string Env(const char* name, std::string fallback);
// The token to send: --token (or its sources), else the first line of the token file.
std::string Token(const Global& g);
// A file's bytes; throws naming the path when it cannot be read.
std::string ReadFile(const std::string& path);
// `s` URL-encoded, for a path segment.
std::string Enc(const std::string& s);
// "?name=<value URL-encoded>".
std::string Query(const std::string& name, const std::string& value);

Answer Request(const Global& g, const std::string& method, const std::string& path,
               const std::string& body = "", const std::string& content_type = "application/json",
               std::vector<std::pair<std::string, std::string>> headers = {});
// Sends `body` (if any) and prints the answer's JSON; an error as PrintError does.
int Call(const Global& g, const std::string& method, const std::string& path,
         const std::optional<nlohmann::json>& body);

// Prints an API error and what to do next; returns the exit code for the status.
int PrintError(const Global& g, long status, const nlohmann::json& body, const std::string& raw);
int PrintError(const Global& g, const Answer& a);

// How an answer reads as a table.
using Table = std::function<std::vector<std::string>(const nlohmann::json&)>;
// An answer printed as -o asks: the API's JSON, YAML, or the table `table` makes of it.
int Print(const Global& g, const nlohmann::json& body, const Table& table);
// GET of `path`, printed as -o asks.
int Show(const Global& g, const std::string& path, const Table& table);
// The list under `key` as a table of `cols`; `empty` when it has no item.
Table Items(std::vector<Column> cols, std::string empty, const char* key = "items");
// An object as "key: value" lines.
std::vector<std::string> Fields(const nlohmann::json& body);

// `--watch`: reads (`fetch`) every `interval` and shows it again as -o asks. On a terminal the
// screen is redrawn in place when the frame changed (else only its time line is); otherwise a
// frame headed by "--- <UTC time>" is printed each time the answer changed. A fetch that
// revalidates (Revalidator) spares the transfer of an unchanged body. `done` ends the watch with an
// exit code (a deployment that finished).
int WatchFrames(const Global& g, const std::function<Answer()>& fetch,
                std::chrono::milliseconds interval, const Table& table,
                const std::function<std::optional<int>(const nlohmann::json&)>& done);

}  // namespace sluice::cli
