#pragma once

// Reading a YAML spec with errors that point at the offending node: the helpers both the
// `analysis:` section parser (spec.hpp) and the rollout-planner's delivery spec parser build on.
// Every failure carries the node's 1-based line and column and the key path that names it
// ("environments.production.strategy.maxParallel"); the parsers derive from YamlReader, call
// Fail() (or a reader that fails), and turn the thrown YamlReader::Failure into their own
// error value at their entry point.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/analysis/spec.hpp"       // ParseDuration
#include "sluice/spec/analysis_spec.hpp"  // SpecIssue

namespace sluice::spec {

// An error of the YAML layer itself (syntax, an alias the accessors cannot follow) as a
// SpecIssue at `path`; the message is `prefix` followed by yaml-cpp's text.
SpecIssue IssueFromYamlException(const YAML::Exception& e, std::string path,
                                 std::string prefix = "");

// What YAML from outside the process may be. yaml-cpp bounds its own recursion while it
// parses (it refuses a few hundred levels, as DeepRecursion), but a YAML document
// is also walked by our readers and may expand through aliases; and a byte that is not UTF-8,
// or a NUL, would only be refused later, by PostgreSQL, as a 500.
struct YamlLimits {
  std::size_t max_depth = 64;       // mappings and sequences nested deeper are refused
  std::size_t max_nodes = 100'000;  // nodes visited, aliases expanded (a "billion laughs")
};

// Before parsing: an issue naming line, column and byte offset of the first byte that is not
// UTF-8 or is NUL; nullopt when the text is clean.
std::optional<SpecIssue> CheckYamlText(std::string_view text);

// After parsing: an issue at the first node nested deeper than limits.max_depth, or when the
// document expands to more than limits.max_nodes nodes; nullopt when within bounds. Walks with
// an explicit stack, never recursively.
std::optional<SpecIssue> CheckYamlTree(const YAML::Node& root, const YamlLimits& limits = {});

class YamlReader {
 public:
  // What the two spec dialects word or bound differently.
  struct Options {
    std::string duration_example = "5s";  // "must be a positive duration like <this>, 2m or 1h30m"
    // A longer run of digits (leading zeros count) is not an integer; at most 18.
    std::size_t max_integer_digits = 9;
  };

  // Thrown by Fail(); caught by the parser's entry point.
  struct Failure {
    SpecIssue issue;
  };

  YamlReader() = default;
  explicit YamlReader(Options options) : options_(std::move(options)) {}

  [[noreturn]] void Fail(const YAML::Node& node, const std::string& path,
                         const std::string& message) const;

  // "a.b" from ("a", "b"); just "b" at the root (path "").
  static std::string Child(const std::string& path, const std::string& key);
  // "a[2]".
  static std::string Index(const std::string& path, std::size_t i);
  // "x, y, z": lists in messages.
  static std::string Join(const std::vector<std::string>& items);
  // "x, y or z".
  static std::string Alternatives(const std::vector<std::string>& items);

  void RequireMap(const YAML::Node& node, const std::string& path) const;
  // A mapping key, which must be a scalar.
  std::string KeyOf(const YAML::Node& key, const std::string& path) const;
  // Checks that `node` is a mapping whose keys are all in `known` and appear once.
  void CheckKeys(const YAML::Node& node, const std::string& path,
                 const std::vector<std::string>& known) const;
  // Whether `map` has `key` with a non-null value.
  static bool Has(const YAML::Node& map, const std::string& key);
  // map[key], failing at `map` with "<path>.<key>: is required" when it is absent or null.
  YAML::Node Required(const YAML::Node& map, const std::string& path, const std::string& key) const;

  std::string Scalar(const YAML::Node& n, const std::string& path) const;
  // Decimal digits only (no sign), from min to max.
  int Integer(const YAML::Node& n, const std::string& path, int min, int max) const;
  bool Bool(const YAML::Node& n, const std::string& path) const;
  // analysis::ParseDuration's grammar (sluice/analysis/spec.hpp).
  std::chrono::milliseconds Duration(const YAML::Node& n, const std::string& path) const;
  // One of the spellings in `choices`, as its value; otherwise fails with
  // "must be a, b or c, got <text>".
  template <typename T>
  T OneOf(const YAML::Node& n, const std::string& path,
          const std::vector<std::pair<std::string, T>>& choices) const {
    const auto v = Scalar(n, path);
    for (const auto& [spelling, value] : choices) {
      if (v == spelling) return value;
    }
    std::vector<std::string> spellings;
    for (const auto& choice : choices) spellings.push_back(choice.first);
    Fail(n, path, "must be " + Alternatives(spellings) + ", got " + v);
  }

 private:
  Options options_;
};

}  // namespace sluice::spec
