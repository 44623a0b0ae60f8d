#include "templates.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice::notifier {
namespace {

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::string TemplateKey(Language lang, EventKind kind) {
  return std::string(LanguageName(lang)) + "/" + std::string(EventKindName(kind)) + ".md";
}

// Substitutes one line; nullopt when the line is to be dropped.
std::optional<std::string> SubstituteLine(std::string_view line,
                                          const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const auto open = line.find("{{", pos);
    if (open == std::string_view::npos) break;
    const auto close = line.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out.append(line.substr(pos, open - pos));
    const std::string name = Trim(line.substr(open + 2, close - open - 2));
    const auto it = values.find(name);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    out += it->second;
    pos = close + 2;
  }
  out.append(line.substr(pos));
  return out;
}

}  // namespace

std::string_view LanguageName(Language l) { return l == Language::kZh ? "zh" : "en"; }

std::optional<Language> ParseLanguage(std::string_view name) {
  if (name == "en") return Language::kEn;
  if (name == "zh") return Language::kZh;
  return std::nullopt;
}

const std::vector<std::string>& KnownPlaceholders() {
  static const std::vector<std::string> kNames{
      "event_id",   "kind",      "severity",         "app",        "env",        "deployment_id",
      "release_id", "version",   "previous_version", "batch",      "hosts",      "host_count",
      "reason",     "detail",    "metric",           "query",      "comparator", "threshold",
      "observed",   "sparkline", "console_url",      "report_url", "chart_url"};
  return kNames;
}

std::map<std::string, std::string> TemplateValues(const Notification& n) {
  std::map<std::string, std::string> v;
  v["event_id"] = n.event_id;
  v["kind"] = std::string(EventKindName(n.kind));
  v["severity"] = std::string(SeverityName(n.severity));
  v["app"] = n.app;
  v["env"] = n.env;
  v["deployment_id"] = n.deployment_id;
  v["release_id"] = n.release_id;
  v["version"] = n.version;
  v["previous_version"] = n.previous_version;
  v["batch"] = n.batch ? std::to_string(*n.batch) : "";
  v["hosts"] = FormatHosts(n.hosts);
  v["host_count"] = n.hosts.empty() ? "" : std::to_string(n.hosts.size());
  v["reason"] = n.reason;
  v["detail"] = n.detail;
  v["metric"] = n.metric;
  v["query"] = n.query;
  v["comparator"] = n.comparator;
  v["threshold"] = n.threshold ? FormatNumber(*n.threshold) : "";
  v["observed"] = n.observed ? FormatNumber(*n.observed) : "";
  v["sparkline"] = Sparkline(n.series);
  v["console_url"] = n.console_url;
  v["report_url"] = n.report_url;
  v["chart_url"] = n.chart_url;
  return v;
}

std::string Substitute(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  bool first = true;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const auto line = SubstituteLine(text.substr(pos, nl - pos), values);
    if (line) {
      if (!first) out += '\n';
      out += *line;
      first = false;
    }
    pos = nl + 1;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void ValidateTemplate(std::string_view text, const std::string& origin) {
  if (Trim(text.substr(0, text.find('\n'))).empty()) {
    throw TemplateError(origin + ":1: the first line (the title) is empty");
  }
  const auto& known = KnownPlaceholders();
  int line_no = 1;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const auto line = text.substr(pos, nl - pos);
    std::size_t p = 0;
    while ((p = line.find("{{", p)) != std::string_view::npos) {
      const auto close = line.find("}}", p + 2);
      if (close == std::string_view::npos) {
        throw TemplateError(origin + ":" + std::to_string(line_no) +
                            ": unterminated placeholder (missing }})");
      }
      const std::string name = Trim(line.substr(p + 2, close - p - 2));
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw TemplateError(origin + ":" + std::to_string(line_no) + ": unknown placeholder {{" +
                            name +
                            "}}; known: app, env, version, previous_version, batch, "
                            "hosts, metric, threshold, observed, sparkline, console_url, …");
      }
      p = close + 2;
    }
    pos = nl + 1;
    ++line_no;
  }
}

Templates Templates::Defaults() {
  Templates t;
  const auto& embedded = EmbeddedTemplates();
  for (Language lang : {Language::kEn, Language::kZh}) {
    for (EventKind kind : AllEventKinds()) {
      const auto it = embedded.find(TemplateKey(lang, kind));
      if (it == embedded.end()) {
        throw TemplateError("embedded template " + TemplateKey(lang, kind) + " is missing");
      }
      t.texts_[{lang, kind}] = it->second;
    }
  }
  return t;
}

Templates Templates::LoadWithOverrides(const std::string& dir) {
  Templates t = Defaults();
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    throw TemplateError(dir + ": template directory does not exist");
  }
  for (Language lang : {Language::kEn, Language::kZh}) {
    for (EventKind kind : AllEventKinds()) {
      const fs::path path = fs::path(dir) / TemplateKey(lang, kind);
      if (!fs::exists(path)) continue;
      std::ifstream in(path, std::ios::binary);
      if (!in) throw TemplateError(path.string() + ": cannot be read");
      std::stringstream ss;
      ss << in.rdbuf();
      t.Override(lang, kind, ss.str(), path.string());
    }
  }
  return t;
}

void Templates::Override(Language lang, EventKind kind, std::string text,
                         const std::string& origin) {
  ValidateTemplate(text, origin);
  texts_[{lang, kind}] = std::move(text);
}

RenderedText Templates::Render(const Notification& n, Language lang) const {
  const auto it = texts_.find({lang, n.kind});
  const std::string& text = it != texts_.end() ? it->second : std::string();
  const auto values = TemplateValues(n);
  const auto nl = text.find('\n');
  RenderedText r;
  r.title = Substitute(text.substr(0, nl), values);
  if (r.title.empty()) {
    // A title whose placeholders are all unset: keep the line, leaving the gaps.
    std::map<std::string, std::string> filled = values;
    for (auto& [k, v] : filled) {
      if (v.empty()) v = "?";
    }
    r.title = Substitute(text.substr(0, nl), filled);
  }
  if (nl != std::string::npos) r.body = Substitute(std::string_view(text).substr(nl + 1), values);
  return r;
}

}  // namespace sluice::notifier
