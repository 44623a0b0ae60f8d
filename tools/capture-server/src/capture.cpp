#include "sluice/capture/capture.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sluice/core/encoding.hpp>
#include <stdexcept>
#include <thread>

#include "sluice/capture/mime.hpp"

namespace sluice::capture {
namespace {

using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Reply Text(int status, std::string body, bool accepted = false) {
  return {status, std::move(body), "text/plain", {}, accepted};
}

Reply Errcode(int code, std::string msg) {
  Reply r;
  r.status = 200;  // DingTalk and WeCom answer errors with HTTP 200
  r.body = json{{"errcode", code}, {"errmsg", std::move(msg)}}.dump();
  r.accepted = code == 0;
  return r;
}

bool IsString(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() &&
         !j[key].get<std::string>().empty();
}

// Slack counts characters, not bytes.
std::size_t Utf8Length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::optional<std::string> SlackBlocksError(const json& blocks) {
  if (!blocks.is_array() || blocks.size() > 50) return "blocks must be a list of at most 50";
  for (const auto& b : blocks) {
    if (!IsString(b, "type")) return "a block has no type";
    const auto type = b["type"].get<std::string>();
    if (type == "header") {
      if (!b.contains("text") || b["text"].value("type", "") != "plain_text" ||
          !IsString(b["text"], "text") || Utf8Length(b["text"]["text"]) > 150) {
        return "header text must be plain_text of at most 150 characters";
      }
    } else if (type == "section") {
      if (!b.contains("text") && !b.contains("fields")) return "section without text or fields";
      if (b.contains("text") &&
          (!IsString(b["text"], "text") || Utf8Length(b["text"]["text"]) > 3000)) {
        return "section text must be 1 to 3000 characters";
      }
      if (b.contains("fields") && (!b["fields"].is_array() || b["fields"].size() > 10)) {
        return "a section has at most 10 fields";
      }
    } else if (type == "actions") {
      if (!b.contains("elements") || !b["elements"].is_array() || b["elements"].empty()) {
        return "actions without elements";
      }
      for (const auto& e : b["elements"]) {
        if (e.value("type", "") == "button" && !IsString(e, "url")) return "button without url";
      }
    } else if (type == "context") {
      if (!b.contains("elements") || !b["elements"].is_array() || b["elements"].empty()) {
        return "context without elements";
      }
    }
  }
  return std::nullopt;
}

json ParseObject(std::string_view body) {
  auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json();
}

std::string Param(const std::map<std::string, std::string>& params, const char* key) {
  const auto it = params.find(key);
  return it == params.end() ? "" : it->second;
}

std::optional<std::string> DingTalkMessageError(const json& j) {
  if (!IsString(j, "msgtype")) return "msgtype";
  const auto type = j["msgtype"].get<std::string>();
  if (type == "text") {
    if (!j.contains("text") || !IsString(j["text"], "content")) return "text.content";
  } else if (type == "markdown") {
    if (!j.contains("markdown") || !IsString(j["markdown"], "title") ||
        !IsString(j["markdown"], "text")) {
      return "markdown.title / markdown.text";
    }
  } else if (type == "actionCard") {
    const auto& c = j.contains("actionCard") ? j["actionCard"] : json();
    if (!IsString(c, "title") || !IsString(c, "text")) return "actionCard.title / actionCard.text";
    const bool single = IsString(c, "singleTitle") && IsString(c, "singleURL");
    const bool buttons = c.contains("btns") && c["btns"].is_array() && !c["btns"].empty();
    if (!single && !buttons) return "actionCard.singleTitle+singleURL or actionCard.btns";
  } else if (type != "link" && type != "feedCard") {
    return "msgtype " + type;
  }
  if (j.contains("at")) {
    const auto& at = j["at"];
    if (!at.is_object() || (at.contains("atMobiles") && !at["atMobiles"].is_array()) ||
        (at.contains("atUserIds") && !at["atUserIds"].is_array()) ||
        (at.contains("isAtAll") && !at["isAtAll"].is_boolean())) {
      return "at";
    }
  }
  return std::nullopt;
}

// Writes `content` to a temporary file beside `path` and renames it into place, so a reader never
// sees a half-written capture.
void WriteAtomically(const std::filesystem::path& path, const std::string& content) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error("cannot rename " + tmp + " to " + path.string());
  }
}

}  // namespace

std::string EmailCaptureJson(const SmtpMail& mail) {
  const EmailMessage m = ParseEmail(mail.data);
  const json j = {{"channel", "email"},
                  {"from", m.from},
                  {"to", m.to},
                  {"cc", m.cc},
                  {"subject", m.subject},
                  {"text", m.text},
                  {"html", m.html},
                  {"raw_size", mail.data.size()},
                  {"auth_user", mail.auth_user},
                  {"envelope_from", mail.mail_from},
                  {"envelope_to", mail.rcpt_to},
                  {"message_id", m.Header("Message-ID")}};
  // Mail bodies in other charsets are not valid UTF-8: replaced, never a throw.
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string_view ChannelName(Channel c) {
  switch (c) {
    case Channel::kSlack:
      return "slack";
    case Channel::kDingTalk:
      return "dingtalk";
    case Channel::kWeCom:
      return "wecom";
    case Channel::kWebhook:
      return "webhook";
    case Channel::kEmail:
      return "email";
  }
  return "webhook";
}

std::string Request::Header(std::string_view name) const {
  const auto it = headers.find(Lower(name));
  return it == headers.end() ? "" : it->second;
}

std::string DingTalkSign(std::int64_t timestamp_ms, std::string_view secret) {
  return core::Base64Encode(
      core::HmacSha256(secret, std::to_string(timestamp_ms) + "\n" + std::string(secret)));
}

std::string WebhookSignature(std::string_view body, std::string_view secret) {
  return "sha256=" + core::HexEncode(core::HmacSha256(secret, body));
}

Reply CheckSlack(std::string_view body) {
  const json j = ParseObject(body);
  if (j.is_null()) return Text(400, "invalid_payload");
  const bool has_text = IsString(j, "text");
  const bool has_blocks = j.contains("blocks");
  const bool has_attachments = j.contains("attachments");
  if (!has_text && !has_blocks && !has_attachments) return Text(400, "no_text");
  if (has_blocks && SlackBlocksError(j["blocks"])) return Text(400, "invalid_blocks");
  if (has_attachments) {
    if (!j["attachments"].is_array()) return Text(400, "invalid_attachments");
    for (const auto& a : j["attachments"]) {
      if (!a.is_object()) return Text(400, "invalid_attachments");
      if (a.contains("blocks") && SlackBlocksError(a["blocks"])) {
        return Text(400, "invalid_blocks");
      }
    }
  }
  return Text(200, "ok", true);
}

Reply CheckDingTalk(const std::map<std::string, std::string>& params, std::string_view body,
                    const std::string& secret, std::int64_t now_ms) {
  if (Param(params, "access_token").empty()) return Errcode(300001, "token is not exist");
  if (!secret.empty()) {
    const std::string ts = Param(params, "timestamp");
    const std::string sign = Param(params, "sign");
    char* end = nullptr;
    const long long t = ts.empty() ? 0 : std::strtoll(ts.c_str(), &end, 10);
    if (ts.empty() || end == nullptr || *end != '\0') {
      return Errcode(310000, "invalid timestamp: missing or not a number");
    }
    if (std::llabs(now_ms - t) > 3'600'000) {
      return Errcode(310000, "invalid timestamp: more than an hour from the server time");
    }
    // httplib has already URL-decoded the parameter.
    if (sign != DingTalkSign(t, secret)) return Errcode(310000, "sign not match");
  }
  const json j = ParseObject(body);
  if (j.is_null()) return Errcode(40035, "missing parameter: json");
  if (const auto e = DingTalkMessageError(j)) return Errcode(40035, "missing parameter: " + *e);
  return Errcode(0, "ok");
}

Reply CheckWeCom(const std::map<std::string, std::string>& params, std::string_view body) {
  if (Param(params, "key").empty()) return Errcode(93000, "invalid webhook url");
  const json j = ParseObject(body);
  if (j.is_null() || !IsString(j, "msgtype")) return Errcode(40008, "invalid message type");
  const auto type = j["msgtype"].get<std::string>();
  if (type != "text" && type != "markdown") return Errcode(40008, "invalid message type");
  const auto& m = j.contains(type) ? j[type] : json();
  if (!IsString(m, "content")) return Errcode(44004, "empty content");
  const std::size_t max = type == "markdown" ? 4096 : 2048;
  if (m["content"].get<std::string>().size() > max) {
    return Errcode(40058, type + ".content exceed max length " + std::to_string(max));
  }
  if (type == "text") {
    for (const char* list : {"mentioned_list", "mentioned_mobile_list"}) {
      if (m.contains(list) && !m[list].is_array()) return Errcode(40058, std::string(list));
    }
  }
  return Errcode(0, "ok");
}

Reply CheckWebhook(const Request& req, const std::string& secret) {
  if (!secret.empty() && req.Header("X-Sluice-Signature") != WebhookSignature(req.body, secret)) {
    return {401, R"({"error":"signature does not match"})", "application/json", {}, false};
  }
  const json j = ParseObject(req.body);
  if (j.is_null() || j.value("type", "") != "sluice.notification" || !IsString(j, "title") ||
      !j.contains("text") || !j.contains("notification") || !j["notification"].is_object()) {
    return {400, R"({"error":"not a sluice.notification"})", "application/json", {}, false};
  }
  if (req.Header("X-Sluice-Event-Id").empty()) {
    return {400, R"({"error":"X-Sluice-Event-Id missing"})", "application/json", {}, false};
  }
  return {204, "", "application/json", {}, true};
}

struct CaptureServer::Impl {
  struct Entry {
    std::string channel;
    int n = 0;
    std::string file;  // base name
    std::string path;
    std::string body;  // kept when there is no directory
  };

  ServerOptions options;
  httplib::Server server;
  std::unique_ptr<SmtpServer> smtp;
  std::atomic<bool> listen_returned{false};
  int port = 0;
  std::thread thread;
  mutable std::mutex mu;
  std::vector<Request> seen;
  std::map<Channel, int> requests;  // per channel, all requests
  std::map<std::string, int> last_n;
  std::vector<Entry> entries;

  void LoadExisting() {
    namespace fs = std::filesystem;
    fs::create_directories(options.dir);
    const std::regex name(R"((slack|dingtalk|wecom|webhook|email)-([0-9]+)\.json)");
    for (const auto& f : fs::directory_iterator(options.dir)) {
      std::smatch m;
      const std::string base = f.path().filename().string();
      if (!std::regex_match(base, m, name)) continue;
      const int n = std::stoi(m[2]);
      entries.push_back({m[1], n, base, "", ""});
      last_n[m[1]] = std::max(last_n[m[1]], n);
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.channel, a.n) < std::tie(b.channel, b.n);
    });
  }

  void Handle(Channel channel, const httplib::Request& hreq, httplib::Response& res) {
    Request r;
    r.channel = channel;
    r.path = hreq.path;
    for (const auto& [k, v] : hreq.params) r.params[k] = v;
    for (const auto& [k, v] : hreq.headers) r.headers[Lower(k)] = v;
    r.body = hreq.body;
    r.received_at = std::chrono::steady_clock::now();
    Reply reply;
    {
      std::unique_lock lock(mu);
      const int index = requests[channel]++;
      lock.unlock();
      std::optional<Reply> intercepted;
      if (options.intercept) intercepted = options.intercept(r, index);
      if (intercepted) {
        reply = *intercepted;
      } else {
        switch (channel) {
          case Channel::kSlack:
            reply = CheckSlack(r.body);
            break;
          case Channel::kDingTalk:
            reply = CheckDingTalk(r.params, r.body, options.dingtalk_secret,
                                  std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
            break;
          case Channel::kWeCom:
            reply = CheckWeCom(r.params, r.body);
            break;
          case Channel::kWebhook:
            reply = CheckWebhook(r, options.webhook_secret);
            break;
          case Channel::kEmail:  // not an HTTP route
            reply = Text(404, "not found");
            break;
        }
      }
    }
    r.status = reply.status;
    r.answer = reply.body;
    r.accepted = reply.accepted;
    if (reply.accepted) Keep(r);
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    if (!reply.body.empty()) res.set_content(reply.body, reply.content_type);
    {
      std::lock_guard lock(mu);
      seen.push_back(r);
    }
    if (options.on_request) options.on_request(r);
  }

  // Numbers the accepted message and writes it out (pretty JSON) when there is a directory.
  void Keep(Request& r) {
    std::lock_guard lock(mu);
    const std::string channel(ChannelName(r.channel));
    Entry e;
    e.channel = channel;
    e.n = last_n[channel] + 1;
    e.file = channel + "-" + std::to_string(e.n) + ".json";
    e.path = r.path;
    if (options.dir.empty()) {
      e.body = r.body;
    } else {
      const auto path = std::filesystem::path(options.dir) / e.file;
      const auto j = json::parse(r.body, nullptr, false);
      WriteAtomically(path, (j.is_discarded() ? r.body : j.dump(2)) + "\n");
      r.file = path.string();
    }
    last_n[channel] = e.n;
    entries.push_back(std::move(e));
  }

  // An accepted e-mail: captured like an HTTP message. Throws when it cannot be written (the
  // client is then answered 451 and may retry).
  void KeepMail(const SmtpMail& mail) {
    Request r;
    r.channel = Channel::kEmail;
    r.path = "smtp";
    r.headers = ParseEmail(mail.data).headers;
    r.body = EmailCaptureJson(mail);
    r.received_at = std::chrono::steady_clock::now();
    r.status = 250;
    r.answer = "250 2.0.0 Ok: queued";
    r.accepted = true;
    {
      std::lock_guard lock(mu);
      ++requests[Channel::kEmail];
    }
    Keep(r);
    {
      std::lock_guard lock(mu);
      seen.push_back(r);
    }
    if (options.on_request) options.on_request(r);
  }

  void List(httplib::Response& res) {
    std::lock_guard lock(mu);
    json items = json::array();
    for (const auto& e : entries) {
      json item = {{"channel", e.channel}, {"n", e.n}, {"file", e.file}};
      if (!e.path.empty()) item["path"] = e.path;
      items.push_back(item);
    }
    res.set_content(json{{"captures", items}}.dump(), "application/json");
  }

  void One(const std::string& file, httplib::Response& res) {
    std::lock_guard lock(mu);
    for (const auto& e : entries) {
      if (e.file != file) continue;
      if (options.dir.empty()) {
        res.set_content(e.body, "application/json");
        return;
      }
      std::ifstream in(std::filesystem::path(options.dir) / e.file);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      res.set_content(content, "application/json");
      return;
    }
    res.status = 404;
    res.set_content(R"({"error":"no such capture"})", "application/json");
  }
};

CaptureServer::CaptureServer(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  if (!s.options.dir.empty()) s.LoadExisting();
  const std::pair<const char*, Channel> routes[] = {
      {R"(/slack/.*)", Channel::kSlack},
      {R"(/dingtalk/robot/send)", Channel::kDingTalk},
      {R"(/wecom/cgi-bin/webhook/send)", Channel::kWeCom},
      {R"(/webhook(/.*)?)", Channel::kWebhook},
  };
  for (const auto& [pattern, channel] : routes) {
    const Channel c = channel;
    s.server.Post(pattern, [&s, c](const httplib::Request& req, httplib::Response& res) {
      s.Handle(c, req, res);
    });
  }
  s.server.Get("/captures", [&s](const httplib::Request&, httplib::Response& res) { s.List(res); });
  s.server.Get(
      R"(/captures/([A-Za-z0-9._-]+))",
      [&s](const httplib::Request& req, httplib::Response& res) { s.One(req.matches[1], res); });
  s.server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  if (s.options.port == 0) {
    s.port = s.server.bind_to_any_port(s.options.host);
  } else if (s.server.bind_to_port(s.options.host, s.options.port)) {
    s.port = s.options.port;
  } else {
    s.port = -1;
  }
  if (s.port <= 0) {
    throw std::runtime_error("capture server: cannot listen on " + s.options.host + ":" +
                             std::to_string(s.options.port));
  }
  if (s.options.smtp) {
    s.smtp = std::make_unique<SmtpServer>(*s.options.smtp,
                                          [&s](const SmtpMail& mail) { s.KeepMail(mail); });
  }
  s.thread = std::thread([&s] {
    s.server.listen_after_bind();
    s.listen_returned = true;
  });
  // httplib's stop() does nothing before the loop runs: a Stop() right after construction would
  // otherwise leave the listening thread running forever.
  while (!s.server.is_running() && !s.listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

CaptureServer::~CaptureServer() { Stop(); }

void CaptureServer::Stop() {
  if (impl_->smtp) impl_->smtp->Stop();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int CaptureServer::Port() const { return impl_->port; }

int CaptureServer::SmtpPort() const { return impl_->smtp ? impl_->smtp->Port() : 0; }

std::string CaptureServer::Url(std::string_view path) const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port) + std::string(path);
}

std::vector<Request> CaptureServer::Seen() const {
  std::lock_guard lock(impl_->mu);
  return impl_->seen;
}

int CaptureServer::Accepted(Channel c) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(
      std::count_if(impl_->seen.begin(), impl_->seen.end(),
                    [c](const Request& r) { return r.channel == c && r.accepted; }));
}

}  // namespace sluice::capture
