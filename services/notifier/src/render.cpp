#include "render.hpp"

#include <ctime>
#include <sluice/core/encoding.hpp>
#include <sluice/http/client.hpp>
#include <stdexcept>

namespace sluice::notifier {
namespace {

using nlohmann::json;

// Slack mrkdwn control characters.
std::string SlackEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Field {
  std::string label;
  std::string value;
};

// The facts shown as fields (Slack) or in the e-mail table, empty ones left out.
std::vector<Field> Facts(const Notification& n) {
  std::vector<Field> f;
  auto add = [&f](std::string label, std::string value) {
    if (!value.empty()) f.push_back({std::move(label), std::move(value)});
  };
  add("App", n.app);
  add("Environment", n.env);
  add("Version", n.version);
  add("Previous stable", n.previous_version);
  add("Batch", n.batch ? std::to_string(*n.batch) : "");
  add("Hosts", FormatHosts(n.hosts));
  add("Metric", n.metric);
  if (n.observed && n.threshold) {
    add("Observed / threshold", FormatNumber(*n.observed) + " " +
                                    (n.comparator.empty() ? "vs" : n.comparator) + " " +
                                    FormatNumber(*n.threshold));
  }
  add("Trend", Sparkline(n.series));
  add("Reason", n.reason);
  return f;
}

std::string ButtonLabel(Language lang) {
  return lang == Language::kZh ? "在控制台查看" : "Open in console";
}

// Markdown lines for DingTalk: a paragraph per line (its renderer needs blank lines).
std::string Paragraphs(std::string_view body) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    auto nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = body.size();
    if (nl > pos) {
      if (!out.empty()) out += "\n\n";
      out.append(body.substr(pos, nl - pos));
    }
    pos = nl + 1;
  }
  return out;
}

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80 || c < 0x20) return false;
  }
  return true;
}

std::string EncodeHeaderWord(std::string_view s) {
  if (IsAscii(s)) return std::string(s);
  std::string out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::string chunk = TruncateUtf8(s.substr(pos), 39, "");
    if (chunk.empty()) chunk = std::string(s.substr(pos, 1));
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64Encode(chunk) + "?=";
    pos += chunk.size();
  }
  return out;
}

std::string Base64Lines(std::string_view data) {
  const std::string b64 = Base64Encode(data);
  std::string out;
  for (std::size_t i = 0; i < b64.size(); i += 76) {
    out += b64.substr(i, 76);
    out += "\r\n";
  }
  return out;
}

}  // namespace

std::string_view SeverityColor(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "#2eb886";
    case Severity::kWarning:
      return "#daa038";
    case Severity::kCritical:
      return "#a30200";
  }
  return "#2eb886";
}

json RenderSlack(const Notification& n, const RenderedText& text) {
  json blocks = json::array();
  blocks.push_back(
      {{"type", "header"},
       {"text",
        {{"type", "plain_text"}, {"text", TruncateUtf8(text.title, 150)}, {"emoji", true}}}});
  if (!text.body.empty()) {
    blocks.push_back(
        {{"type", "section"},
         {"text", {{"type", "mrkdwn"}, {"text", TruncateUtf8(SlackEscape(text.body), 3000)}}}});
  }
  json fields = json::array();
  for (const auto& f : Facts(n)) {
    if (fields.size() == 10) break;  // Slack's limit per section
    fields.push_back({{"type", "mrkdwn"},
                      {"text", TruncateUtf8("*" + f.label + "*\n" + SlackEscape(f.value), 2000)}});
  }
  if (!fields.empty()) blocks.push_back({{"type", "section"}, {"fields", fields}});
  std::string context = "Sluice · " + std::string(SeverityName(n.severity)) + " · " +
                        std::string(EventKindName(n.kind));
  if (!n.deployment_id.empty()) context += " · deployment " + n.deployment_id;
  blocks.push_back(
      {{"type", "context"}, {"elements", json::array({{{"type", "mrkdwn"}, {"text", context}}})}});
  if (!n.console_url.empty()) {
    json button = {{"type", "button"},
                   {"text", {{"type", "plain_text"}, {"text", "Open in console"}}},
                   {"url", n.console_url},
                   {"action_id", "open_console"}};
    if (n.severity == Severity::kCritical) button["style"] = "danger";
    blocks.push_back({{"type", "actions"}, {"elements", json::array({button})}});
  }
  return {{"text", text.title},
          {"attachments", json::array({{{"color", std::string(SeverityColor(n.severity))},
                                        {"fallback", text.title},
                                        {"blocks", blocks}}})}};
}

json RenderDingTalk(const Notification& n, const RenderedText& text, DingTalkFormat format,
                    const Mentions& mentions) {
  const Language lang = Language::kZh;
  std::string md = "### " + text.title + "\n\n" + Paragraphs(text.body);
  if (format == DingTalkFormat::kActionCard) {
    json card = {{"title", text.title}, {"text", md}, {"btnOrientation", "0"}};
    if (!n.console_url.empty()) {
      card["singleTitle"] = ButtonLabel(lang);
      card["singleURL"] = n.console_url;
    }
    return {{"msgtype", "actionCard"}, {"actionCard", card}};
  }
  if (!n.console_url.empty()) md += "\n\n[" + ButtonLabel(lang) + "](" + n.console_url + ")";
  if (!mentions.mobiles.empty() || !mentions.user_ids.empty()) {
    md += "\n\n";
    for (const auto& m : mentions.mobiles) md += "@" + m + " ";
    for (const auto& u : mentions.user_ids) md += "@" + u + " ";
    md.pop_back();
  }
  return {{"msgtype", "markdown"},
          {"markdown", {{"title", text.title}, {"text", md}}},
          {"at",
           {{"atMobiles", mentions.mobiles},
            {"atUserIds", mentions.user_ids},
            {"isAtAll", mentions.all}}}};
}

std::string DingTalkSignature(std::int64_t timestamp_ms, std::string_view secret) {
  const std::string to_sign = std::to_string(timestamp_ms) + "\n" + std::string(secret);
  return Base64Encode(HmacSha256(secret, to_sign));
}

std::string DingTalkSignedUrl(std::string_view url, std::string_view secret,
                              std::int64_t timestamp_ms) {
  std::string out(url);
  out += url.find('?') == std::string_view::npos ? "?" : "&";
  out += "timestamp=" + std::to_string(timestamp_ms) +
         "&sign=" + http::UrlEncode(DingTalkSignature(timestamp_ms, secret));
  return out;
}

json RenderWeCom(const Notification& n, const RenderedText& text, WeComFormat format,
                 const Mentions& mentions) {
  if (format == WeComFormat::kText) {
    std::string content = text.title;
    if (!text.body.empty()) content += "\n" + text.body;
    if (!n.console_url.empty()) content += "\n" + n.console_url;
    std::vector<std::string> users = mentions.user_ids;
    if (mentions.all) users.push_back("@all");
    return {{"msgtype", "text"},
            {"text",
             {{"content", TruncateUtf8(content, kWeComTextMaxBytes)},
              {"mentioned_list", users},
              {"mentioned_mobile_list", mentions.mobiles}}}};
  }
  const char* color = n.severity == Severity::kInfo ? "info" : "warning";
  std::string tail;
  if (!n.console_url.empty())
    tail += "\n[" + ButtonLabel(Language::kZh) + "](" + n.console_url + ")";
  for (const auto& u : mentions.user_ids) tail += "\n<@" + u + ">";
  std::string head = "<font color=\"" + std::string(color) + "\">**" + text.title + "**</font>\n";
  std::string body = head + text.body;
  // The link and mentions matter more than the end of a long body: keep them within the limit.
  if (tail.size() < kWeComMarkdownMaxBytes / 2) {
    body = TruncateUtf8(body, kWeComMarkdownMaxBytes - tail.size()) + tail;
  } else {
    body = TruncateUtf8(body + tail, kWeComMarkdownMaxBytes);
  }
  return {{"msgtype", "markdown"}, {"markdown", {{"content", body}}}};
}

std::string TruncateUtf8(std::string_view s, std::size_t max_bytes, std::string_view marker) {
  if (s.size() <= max_bytes) return std::string(s);
  std::size_t limit = max_bytes >= marker.size() ? max_bytes - marker.size() : 0;
  const bool with_marker = max_bytes >= marker.size();
  // Step back over continuation bytes (10xxxxxx) to the start of a character.
  while (limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0) == 0x80) --limit;
  std::string out(s.substr(0, limit));
  if (with_marker) out += marker;
  return out;
}

json RenderWebhook(const Notification& n, const RenderedText& text) {
  return {{"type", "sluice.notification"},
          {"title", text.title},
          {"text", text.body},
          {"notification", ToJson(n)}};
}

std::string WebhookSignature(std::string_view body, std::string_view secret) {
  return "sha256=" + HexEncode(HmacSha256(secret, body));
}

std::string AlertName(EventKind kind) {
  std::string out = "Sluice";
  bool upper = true;
  for (char c : EventKindName(kind)) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

json RenderAlertmanager(const Notification& n, const RenderedText& text, core::SystemTime now,
                        std::chrono::milliseconds resolve_timeout) {
  json labels = {{"alertname", AlertName(n.kind)},
                 {"severity", std::string(SeverityName(n.severity))},
                 {"sluice_event", std::string(EventKindName(n.kind))}};
  auto add = [](json& obj, const char* key, const std::string& value) {
    if (!value.empty()) obj[key] = value;
  };
  add(labels, "app", n.app);
  add(labels, "env", n.env);
  add(labels, "deployment_id", n.deployment_id);
  json annotations = {{"summary", text.title}};
  add(annotations, "description", text.body);
  add(annotations, "console_url", n.console_url);
  // Alertmanager refuses an alert that starts after it ends; a skewed event clock must not
  // make the notice undeliverable.
  const core::SystemTime starts =
      n.occurred_at.time_since_epoch().count() > 0 && n.occurred_at < now ? n.occurred_at : now;
  json alert = {{"labels", labels},
                {"annotations", annotations},
                {"startsAt", Rfc3339(starts)},
                {"endsAt", Rfc3339(now + resolve_timeout)}};
  add(alert, "generatorURL", n.console_url);
  return json::array({alert});
}

std::string AlertmanagerAlertsUrl(std::string_view base_url) {
  constexpr std::string_view kPath = "/api/v2/alerts";
  std::string url(base_url);
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= kPath.size() &&
      url.compare(url.size() - kPath.size(), kPath.size(), kPath) == 0) {
    return url;
  }
  return url + std::string(kPath);
}

std::string Rfc3339(core::SystemTime t) {
  const auto ms = core::ToUnixMillis(t);
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int millis = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string RenderEmail(const Notification& n, const RenderedText& text,
                        const EmailEnvelope& envelope) {
  const std::string subject =
      "[Sluice][" + std::string(SeverityName(n.severity)) + "] " + text.title;

  std::string plain = text.title + "\n\n" + text.body + "\n";
  if (!n.console_url.empty()) plain += "\nConsole: " + n.console_url + "\n";
  if (!n.chart_url.empty()) plain += "Chart: " + n.chart_url + "\n";
  if (!n.report_url.empty()) plain += "Report: " + n.report_url + "\n";

  std::string html = "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\n";
  html += "<h2 style=\"border-left:6px solid " + std::string(SeverityColor(n.severity)) +
          ";padding-left:8px\">" + HtmlEscape(text.title) + "</h2>\n";
  std::size_t pos = 0;
  while (pos < text.body.size()) {
    auto nl = text.body.find('\n', pos);
    if (nl == std::string::npos) nl = text.body.size();
    html += "<p>" + HtmlEscape(text.body.substr(pos, nl - pos)) + "</p>\n";
    pos = nl + 1;
  }
  const auto facts = Facts(n);
  if (!facts.empty()) {
    html += "<table>\n";
    for (const auto& f : facts) {
      html += "<tr><th align=\"left\">" + HtmlEscape(f.label) + "</th><td>" + HtmlEscape(f.value) +
              "</td></tr>\n";
    }
    html += "</table>\n";
  }
  if (!n.chart_url.empty()) {
    html += "<p><a href=\"" + HtmlEscape(n.chart_url) + "\"><img alt=\"trend\" src=\"" +
            HtmlEscape(n.chart_url) + "\"></a></p>\n";
  }
  if (!n.console_url.empty()) {
    html += "<p><a href=\"" + HtmlEscape(n.console_url) + "\">Open in console</a></p>\n";
  }
  if (!n.report_url.empty()) {
    html += "<p><a href=\"" + HtmlEscape(n.report_url) + "\">Incident report</a></p>\n";
  }
  html += "</body></html>\n";

  std::string to;
  for (const auto& t : envelope.to) {
    if (!to.empty()) to += ", ";
    to += t;
  }
  std::string m;
  m += "Date: " + envelope.date + "\r\n";
  m += "From: " + envelope.from + "\r\n";
  m += "To: " + to + "\r\n";
  m += "Message-ID: <" + envelope.message_id + ">\r\n";
  m += "Subject: " + EncodeHeaderWord(subject) + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "X-Sluice-Event-Id: " + n.event_id + "\r\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + envelope.boundary + "\"\r\n";
  m += "\r\n";
  m += "--" + envelope.boundary + "\r\n";
  m += "Content-Type: text/plain; charset=UTF-8\r\n";
  m += "Content-Transfer-Encoding: base64\r\n\r\n";
  m += Base64Lines(plain);
  m += "--" + envelope.boundary + "\r\n";
  m += "Content-Type: text/html; charset=UTF-8\r\n";
  m += "Content-Transfer-Encoding: base64\r\n\r\n";
  m += Base64Lines(html);
  m += "--" + envelope.boundary + "--\r\n";
  return m;
}

std::string Rfc5322Date(core::SystemTime t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

}  // namespace sluice::notifier
