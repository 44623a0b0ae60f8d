#pragma once

// Parsing JSON that arrives from outside the process (request bodies, webhooks) strictly.
//
// nlohmann's parser is iterative, but dump(), comparison and destruction of the value it builds
// recurse once per nesting level: a body of 20,000 '[' parses fine and then overflows the stack
// when it is printed or freed. This parser refuses such input while it is read, before the
// value grows deep, and refuses what PostgreSQL would refuse later (a NUL in a string) or what
// silently loses data (a key given twice, where nlohmann keeps the last). Invalid UTF-8 is
// refused by nlohmann's lexer.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::core {

struct JsonLimits {
  // Objects and arrays nested deeper than this are refused (the top-level value is depth 1).
  std::size_t max_depth = 64;
  // U+0000 in a key or string value: PostgreSQL text and jsonb cannot store it. A caller that
  // sorts out NULs per item itself (skipping one bad item of a batch) may allow them here.
  bool allow_nul = false;
};

// Why the input was refused. `Path()` names the offending element the way API errors name
// fields ("alerts[3].labels.foo"); empty for the document itself or a syntax error.
class JsonInputError : public std::runtime_error {
 public:
  JsonInputError(std::string path, std::size_t byte, std::string message)
      : std::runtime_error(message), path_(std::move(path)), byte_(byte) {}
  const std::string& Path() const { return path_; }
  // 1-based position in the input where the problem was noticed.
  std::size_t Byte() const { return byte_; }

 private:
  std::string path_;
  std::size_t byte_;
};

// The parsed value; throws JsonInputError on a syntax error, invalid UTF-8, nesting deeper than
// limits.max_depth, a duplicate key in one object, or (unless allowed) a NUL in a string.
nlohmann::json ParseStrictJson(std::string_view text, const JsonLimits& limits = {});

// True when `s` holds U+0000.
inline bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace sluice::core
