#include "alerts.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace sluice::watcher {
namespace {

using nlohmann::json;

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Labels or annotations: an object of strings (null values dropped). Anything else is refused
// rather than printed with dump(), which recursed over arbitrarily nested input.
std::map<std::string, std::string> StringMap(const json& body, const char* key,
                                             const std::string& field) {
  std::map<std::string, std::string> out;
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_object()) throw PayloadError(field, field + " must be an object of strings");
  for (const auto& [k, v] : it->items()) {
    const std::string at = field + "." + (HasNul(k) ? "<key with NUL>" : k);
    if (HasNul(k)) throw PayloadError(at, field + " has a name holding a NUL character");
    if (v.is_null()) continue;
    if (!v.is_string()) throw PayloadError(at, at + " must be a string, not " + v.type_name());
    if (HasNul(v.get_ref<const std::string&>())) {
      throw PayloadError(at, at + " holds a NUL character (\\u0000)");
    }
    out[k] = v.get<std::string>();
  }
  return out;
}

std::string StringField(const json& j, const char* key, const std::string& field = "") {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  const auto& s = it->get_ref<const std::string&>();
  if (HasNul(s)) {
    const std::string at = field.empty() ? key : field + "." + key;
    throw PayloadError(at, at + " holds a NUL character (\\u0000)");
  }
  return s;
}

Alert ParseAlert(const json& a, const std::string& field, const AlertPayload& p,
                 const std::map<std::string, std::string>& common_labels,
                 const std::map<std::string, std::string>& common_annotations) {
  if (!a.is_object()) throw PayloadError(field, field + " must be an object");
  Alert alert;
  alert.labels = common_labels;
  for (auto& [k, v] : StringMap(a, "labels", field + ".labels")) alert.labels[k] = v;
  alert.annotations = common_annotations;
  for (auto& [k, v] : StringMap(a, "annotations", field + ".annotations")) {
    alert.annotations[k] = v;
  }
  alert.status = StringField(a, "status", field);
  if (alert.status.empty()) alert.status = p.status.empty() ? "firing" : p.status;
  if (alert.status != "firing" && alert.status != "resolved") {
    throw PayloadError(field + ".status", field + ".status must be firing or resolved");
  }
  const std::string starts = StringField(a, "startsAt", field);
  if (starts.empty()) {
    throw PayloadError(field + ".startsAt", field + ".startsAt is missing (RFC 3339 expected)");
  }
  const auto at = ParseRfc3339(starts);
  if (!at) throw PayloadError(field + ".startsAt", field + ".startsAt is not an RFC 3339 time");
  alert.starts_at = *at;
  alert.generator_url = StringField(a, "generatorURL", field);
  alert.fingerprint = StringField(a, "fingerprint", field);
  if (alert.fingerprint.empty()) alert.fingerprint = LabelsFingerprint(alert.labels);
  return alert;
}

std::optional<double> Number(const std::map<std::string, std::string>& m, const char* key) {
  const auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  std::string s = it->second;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  s = s.substr(start);
  if (s.empty()) return std::nullopt;
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

const std::string* Find(const std::map<std::string, std::string>& m, const char* key) {
  const auto it = m.find(key);
  return it == m.end() || it->second.empty() ? nullptr : &it->second;
}

v1::Severity SeverityOf(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "critical" || s == "error" || s == "page" || s == "high") return v1::SEVERITY_CRITICAL;
  if (s == "warning" || s == "warn" || s == "medium") return v1::SEVERITY_WARNING;
  if (s == "info" || s == "low" || s == "none") return v1::SEVERITY_INFO;
  return v1::SEVERITY_UNSPECIFIED;
}

}  // namespace

std::string LabelsFingerprint(const std::map<std::string, std::string>& labels) {
  // FNV-1a 64 over name=value pairs in sorted order, separated by bytes labels cannot hold.
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  for (const auto& [k, v] : labels) {
    mix(k);
    mix(std::string_view("\xff", 1));
    mix(v);
    mix(std::string_view("\xfe", 1));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

AlertPayload ParseAlertmanagerPayload(const json& body) {
  if (!body.is_object()) throw PayloadError("body", "the webhook body must be a JSON object");
  AlertPayload p;
  p.version = StringField(body, "version");
  p.status = StringField(body, "status");
  p.receiver = StringField(body, "receiver");
  const auto alerts = body.find("alerts");
  if (alerts == body.end() || alerts->is_null()) {
    throw PayloadError("alerts", "alerts is missing: an Alertmanager webhook carries an array");
  }
  if (!alerts->is_array()) throw PayloadError("alerts", "alerts must be an array");
  const auto common_labels = StringMap(body, "commonLabels", "commonLabels");
  const auto common_annotations = StringMap(body, "commonAnnotations", "commonAnnotations");
  for (std::size_t i = 0; i < alerts->size(); ++i) {
    const std::string field = "alerts[" + std::to_string(i) + "]";
    try {
      p.alerts.push_back(ParseAlert((*alerts)[i], field, p, common_labels, common_annotations));
    } catch (const PayloadError& e) {
      p.rejected.push_back(RejectedAlert{i, e.Field(), e.what()});
    }
  }
  return p;
}

bool IsActive(const WatchedDeployment& d, core::SystemTime now) {
  if (d.status == "pending" || d.status == "running" || d.status == "paused") return true;
  // A finished deployment (succeeded, failed, rolled back) matches within its window.
  return d.active_until && now < *d.active_until;
}

AlertKey KeyOf(const Alert& alert) {
  AlertKey k;
  auto get = [&](const char* name) {
    const auto* v = Find(alert.labels, name);
    return v ? *v : std::string();
  };
  k.app = get("app");
  k.env = get("env");
  if (k.env.empty()) k.env = get("environment");
  k.version = get("version");
  k.deployment_id = get("deployment_id");
  if (k.deployment_id.empty()) k.deployment_id = get("deployment");
  return k;
}

std::optional<WatchedDeployment> MatchAlert(const Alert& alert,
                                            const std::vector<WatchedDeployment>& candidates,
                                            core::SystemTime now) {
  const AlertKey key = KeyOf(alert);
  std::optional<WatchedDeployment> best;
  for (const auto& d : candidates) {
    if (!IsActive(d, now)) continue;
    if (!key.deployment_id.empty()) {
      if (d.deployment_id != key.deployment_id) continue;
      // A deployment id alone is enough; app/env, when given, must agree.
      if (!key.app.empty() && key.app != d.app) continue;
      if (!key.env.empty() && key.env != d.env) continue;
    } else {
      if (key.app.empty() || key.env.empty() || key.app != d.app || key.env != d.env) continue;
    }
    if (!key.version.empty() && key.version != d.version) continue;
    if (!best || d.started_at > best->started_at) best = d;
  }
  return best;
}

v1::Evidence AlertEvidence(const Alert& alert) {
  v1::Evidence e;
  if (const auto* n = Find(alert.labels, "alertname")) e.set_metric(*n);
  if (const auto* q = Find(alert.annotations, "query")) {
    e.set_query(*q);
  } else {
    e.set_query(ExprFromGeneratorUrl(alert.generator_url));
  }
  e.set_observed(Number(alert.annotations, "value").value_or(std::nan("")));
  e.set_threshold(Number(alert.annotations, "threshold").value_or(std::nan("")));
  if (const auto* s = Find(alert.labels, "severity")) e.set_severity(SeverityOf(*s));
  for (const char* label : {"instance_name", "instance", "host"}) {
    if (const auto* v = Find(alert.labels, label)) {
      e.add_affected_instances(*v);
      break;
    }
  }
  if (const auto* s = Find(alert.annotations, "summary")) {
    e.set_message(*s);
  } else if (const auto* d = Find(alert.annotations, "description")) {
    e.set_message(*d);
  }
  e.set_comparator("alert");
  return e;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      int v = 0;
      std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string ExprFromGeneratorUrl(std::string_view url) {
  const auto q = url.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = url.substr(q + 1);
  const auto hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::string fallback;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos) {
      const std::string name = UrlDecode(pair.substr(0, eq));
      if (name == "g0.expr") return UrlDecode(pair.substr(eq + 1));
      if (name == "expr" && fallback.empty()) fallback = UrlDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return fallback;
}

}  // namespace sluice::watcher
