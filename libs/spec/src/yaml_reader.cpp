#include "sluice/spec/yaml_reader.hpp"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

namespace sluice::spec {

SpecIssue IssueFromYamlException(const YAML::Exception& e, std::string path, std::string prefix) {
  SpecIssue issue;
  issue.line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
  issue.column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
  issue.path = std::move(path);
  // yaml-cpp 0.7 words its depth guard's error "bad file".
  issue.message = std::move(prefix) + (dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr
                                           ? "mappings and sequences nest too deeply"
                                           : e.msg);
  return issue;
}

namespace {

// The length of the UTF-8 sequence at s[i], or 0 when it is not well-formed (overlong forms,
// surrogates and code points above U+10FFFF included).
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

bool IsUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = Utf8Length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace

std::optional<SpecIssue> CheckYamlText(std::string_view text) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = Utf8Length(text, i);
    if (n == 0 || text[i] == '\0') {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[i]));
      return SpecIssue{line, column, "",
                       std::string(n == 0 ? "the text is not valid UTF-8: byte " : "byte ") + hex +
                           " at offset " + std::to_string(i) +
                           (n == 0 ? "" : " is a NUL character, which YAML does not allow")};
    }
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += n;
  }
  return std::nullopt;
}

std::optional<SpecIssue> CheckYamlTree(const YAML::Node& root, const YamlLimits& limits) {
  struct Item {
    YAML::Node node;
    std::size_t depth;
    std::string path;
  };
  std::vector<Item> stack;
  stack.push_back({root, root.IsMap() || root.IsSequence() ? 1U : 0U, ""});
  std::size_t visited = 0;
  const auto at = [](const YAML::Node& n, std::string path, std::string message) {
    const auto mark = n.Mark();
    return SpecIssue{mark.line >= 0 ? mark.line + 1 : 0, mark.column >= 0 ? mark.column + 1 : 0,
                     std::move(path), std::move(message)};
  };
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    if (++visited > limits.max_nodes) {
      return at(item.node, item.path,
                "the document expands to more than " + std::to_string(limits.max_nodes) +
                    " nodes (through aliases?)");
    }
    if (item.depth > limits.max_depth) {
      return at(item.node, item.path,
                "mappings and sequences nest deeper than " + std::to_string(limits.max_depth) +
                    " levels");
    }
    // The text is UTF-8 (CheckYamlText), but yaml-cpp decodes the escapes "\N" and "\_" of a
    // double-quoted string to the single bytes 0x85 and 0xA0: a value that is no longer UTF-8
    // would break every message, event and JSON answer that quotes it.
    if (item.node.IsScalar() && !IsUtf8(item.node.Scalar())) {
      return at(item.node, item.path,
                "this string is not valid UTF-8 once its escapes are read (\\N and \\_ are not "
                "supported): write the character itself");
    }
    const auto depth_of = [&](const YAML::Node& child) {
      return item.depth + (child.IsMap() || child.IsSequence() ? 1 : 0);
    };
    if (item.node.IsMap()) {
      for (const auto& kv : item.node) {
        // A key that is not UTF-8 is refused when its own item comes up; until then the paths
        // under it (which messages and JSON answers quote) name it "?".
        const std::string key =
            kv.first.IsScalar() && IsUtf8(kv.first.Scalar()) ? kv.first.Scalar() : "?";
        stack.push_back({kv.first, depth_of(kv.first), YamlReader::Child(item.path, key)});
        stack.push_back({kv.second, depth_of(kv.second), YamlReader::Child(item.path, key)});
      }
    } else if (item.node.IsSequence()) {
      std::size_t i = 0;
      for (const auto& child : item.node) {
        stack.push_back({child, depth_of(child), YamlReader::Index(item.path, i++)});
      }
    }
  }
  return std::nullopt;
}

void YamlReader::Fail(const YAML::Node& node, const std::string& path,
                      const std::string& message) const {
  SpecIssue issue;
  const auto mark = node.Mark();
  issue.line = mark.line >= 0 ? mark.line + 1 : 0;
  issue.column = mark.column >= 0 ? mark.column + 1 : 0;
  issue.path = path;
  issue.message = message;
  throw Failure{std::move(issue)};
}

std::string YamlReader::Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string YamlReader::Index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string YamlReader::Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string YamlReader::Alternatives(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

void YamlReader::RequireMap(const YAML::Node& node, const std::string& path) const {
  if (!node.IsMap()) Fail(node, path, "must be a mapping");
}

std::string YamlReader::KeyOf(const YAML::Node& key, const std::string& path) const {
  if (!key.IsScalar()) Fail(key, path, "keys must be strings");
  return key.Scalar();
}

void YamlReader::CheckKeys(const YAML::Node& node, const std::string& path,
                           const std::vector<std::string>& known) const {
  RequireMap(node, path);
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const auto key = KeyOf(kv.first, path);
    const auto key_path = Child(path, key);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      Fail(kv.first, key_path, "unknown key (known: " + Join(known) + ")");
    }
    if (!seen.insert(key).second) Fail(kv.first, key_path, "duplicate key");
  }
}

bool YamlReader::Has(const YAML::Node& map, const std::string& key) {
  const YAML::Node n = map[key];
  return n.IsDefined() && !n.IsNull();
}

YAML::Node YamlReader::Required(const YAML::Node& map, const std::string& path,
                                const std::string& key) const {
  const YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) Fail(map, Child(path, key), "is required");
  return n;
}

std::string YamlReader::Scalar(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar()) Fail(n, path, "must be a string");
  return n.Scalar();
}

int YamlReader::Integer(const YAML::Node& n, const std::string& path, int min, int max) const {
  const auto s = n.IsScalar() ? n.Scalar() : std::string();
  bool ok = !s.empty() && s.size() <= options_.max_integer_digits;
  for (char c : s) ok = ok && c >= '0' && c <= '9';
  const long long v = ok ? std::stoll(s) : 0;
  if (!ok || v < min || v > max) {
    Fail(n, path,
         "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
             (n.IsScalar() ? ", got " + s : ""));
  }
  return static_cast<int>(v);
}

bool YamlReader::Bool(const YAML::Node& n, const std::string& path) const {
  if (n.IsScalar()) {
    if (n.Scalar() == "true") return true;
    if (n.Scalar() == "false") return false;
  }
  Fail(n, path, "must be true or false");
}

std::chrono::milliseconds YamlReader::Duration(const YAML::Node& n, const std::string& path) const {
  const auto d = n.IsScalar() ? analysis::ParseDuration(n.Scalar()) : std::nullopt;
  if (!d) {
    Fail(n, path,
         "must be a positive duration like " + options_.duration_example + ", 2m or 1h30m" +
             (n.IsScalar() ? ", got " + n.Scalar() : ""));
  }
  return *d;
}

}  // namespace sluice::spec
