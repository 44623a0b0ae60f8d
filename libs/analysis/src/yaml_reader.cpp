#include "sluice/analysis/yaml_reader.hpp"

#include <algorithm>
#include <set>

namespace sluice::analysis {

SpecIssue IssueFromYamlException(const YAML::Exception& e, std::string path, std::string prefix) {
  SpecIssue issue;
  issue.line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
  issue.column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
  issue.path = std::move(path);
  issue.message = std::move(prefix) + e.msg;
  return issue;
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
  const auto d = n.IsScalar() ? ParseDuration(n.Scalar()) : std::nullopt;
  if (!d) {
    Fail(n, path,
         "must be a positive duration like " + options_.duration_example + ", 2m or 1h30m" +
             (n.IsScalar() ? ", got " + n.Scalar() : ""));
  }
  return *d;
}

}  // namespace sluice::analysis
