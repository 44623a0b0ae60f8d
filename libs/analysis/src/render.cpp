#include "sluice/analysis/render.hpp"

#include <cctype>
#include <optional>

namespace sluice::analysis {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Replaces each {{name}} whose name `value` knows; leaves the others as written.
template <typename Lookup>
std::string Substitute(std::string_view text, Lookup&& value) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(text.substr(pos, open - pos));
    const auto name = Trim(text.substr(open + 2, close - open - 2));
    if (const auto v = value(name)) {
      out += *v;
    } else {
      out.append(text.substr(open, close + 2 - open));
    }
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

std::string RegexEscapeForPromQL(std::string_view name) {
  static constexpr std::string_view kMeta = R"(\.+*?()|[]{}^$)";
  std::string out;
  for (char c : name) {
    if (kMeta.find(c) != std::string_view::npos) out += "\\\\";
    if (c == '"' || c == '\'') {
      out += '\\';  // keep the PromQL string literal closed
    }
    out += c;
  }
  return out;
}

std::string InstancesRegex(const std::vector<std::string>& names) {
  if (names.empty()) return "^$";
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += '|';
    out += RegexEscapeForPromQL(n);
  }
  return out;
}

std::string Render(std::string_view query, const Bindings& b) {
  return Substitute(query, [&](std::string_view name) -> std::optional<std::string> {
    if (name == "app") return b.app;
    if (name == "env") return b.env;
    if (name == "version") return b.version;
    if (name == "baseline_version") return b.baseline_version;
    if (name == "deployment") return b.deployment;
    if (name == "instances") return InstancesRegex(b.instances);
    if (name == "baseline_instances") return InstancesRegex(b.baseline_instances);
    return std::nullopt;
  });
}

std::string DeriveBaselineQuery(std::string_view query) {
  return Substitute(query, [](std::string_view name) -> std::optional<std::string> {
    if (name == "instances") return std::string("{{baseline_instances}}");
    if (name == "version") return std::string("{{baseline_version}}");
    return std::nullopt;
  });
}

}  // namespace sluice::analysis
