// The capture server over real HTTP and SMTP on loopback: routes, answers, files and the listing.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sluice/capture/capture.hpp>
#include <sluice/capture/smtp.hpp>
#include <sluice/http/client.hpp>

namespace sluice::capture {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

http::ClientResponse Post(const std::string& url, const std::string& body,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = url;
  req.body = body;
  req.headers = std::move(headers);
  req.headers.emplace_back("Content-Type", "application/json");
  return http::Send(req);
}

http::ClientResponse Get(const std::string& url) {
  http::ClientRequest req;
  req.url = url;
  return http::Send(req);
}

class CaptureServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("capture-itest-" + std::to_string(std::random_device{}()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CaptureServerTest, AnswersLikeTheRealServicesAndWritesAcceptedMessages) {
  ServerOptions options;
  options.dir = dir_.string();
  options.dingtalk_secret = "SECtest";
  CaptureServer server(options);

  const std::string slack = R"({"text":"hello"})";
  auto r = Post(server.Url("/slack/services/T0/B0/x"), slack);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  r = Post(server.Url("/slack/services/T0/B0/x"), "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "no_text");

  const std::string ding = R"({"msgtype":"text","text":{"content":"hi"}})";
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  r = Post(server.Url("/dingtalk/robot/send?access_token=t&timestamp=" + std::to_string(now) +
                      "&sign=" + http::UrlEncode(DingTalkSign(now, "SECtest"))),
           ding);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["errcode"], 0) << r.body;
  r = Post(server.Url("/dingtalk/robot/send?access_token=t&timestamp=" + std::to_string(now) +
                      "&sign=" + http::UrlEncode(DingTalkSign(now, "wrong"))),
           ding);
  EXPECT_EQ(json::parse(r.body)["errcode"], 310000);

  r = Post(server.Url("/wecom/cgi-bin/webhook/send?key=k"),
           R"({"msgtype":"markdown","markdown":{"content":"**hi**"}})");
  EXPECT_EQ(json::parse(r.body)["errcode"], 0);
  r = Post(server.Url("/webhook/audit"),
           R"({"type":"sluice.notification","title":"t","text":"","notification":{}})",
           {{"X-Sluice-Event-Id", "e1"}});
  EXPECT_EQ(r.status, 204);

  EXPECT_EQ(server.Accepted(Channel::kSlack), 1);
  EXPECT_EQ(server.Accepted(Channel::kDingTalk), 1);
  EXPECT_EQ(server.Seen().size(), 6u);
  EXPECT_TRUE(fs::exists(dir_ / "slack-1.json"));
  EXPECT_TRUE(fs::exists(dir_ / "dingtalk-1.json"));
  EXPECT_TRUE(fs::exists(dir_ / "wecom-1.json"));
  EXPECT_TRUE(fs::exists(dir_ / "webhook-1.json"));
  EXPECT_FALSE(fs::exists(dir_ / "slack-2.json"));
  {
    std::ifstream in(dir_ / "slack-1.json");
    EXPECT_EQ(json::parse(in), json::parse(slack));
  }
  const auto list = json::parse(Get(server.Url("/captures")).body)["captures"];
  ASSERT_EQ(list.size(), 4u) << list.dump();
  const auto one = Get(server.Url("/captures/wecom-1.json"));
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["markdown"]["content"], "**hi**");
  EXPECT_EQ(Get(server.Url("/captures/nope.json")).status, 404);
  server.Stop();

  // A restarted server continues the numbering and lists the earlier files.
  CaptureServer again(options);
  EXPECT_EQ(Post(again.Url("/slack/x"), slack).status, 200);
  EXPECT_TRUE(fs::exists(dir_ / "slack-2.json"));
  EXPECT_EQ(json::parse(Get(again.Url("/captures")).body)["captures"].size(), 5u);
}

TEST_F(CaptureServerTest, InterceptAnswersInsteadOfTheCheck) {
  ServerOptions options;
  options.intercept = [](const Request& r, int index) -> std::optional<Reply> {
    if (r.channel == Channel::kSlack && index == 0) {
      return Reply{429, "rate_limited", "text/plain", {{"Retry-After", "1"}}, false};
    }
    return std::nullopt;
  };
  CaptureServer server(options);
  const auto first = Post(server.Url("/slack/x"), R"({"text":"a"})");
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.Header("Retry-After"), "1");
  EXPECT_EQ(Post(server.Url("/slack/x"), R"({"text":"a"})").status, 200);
  EXPECT_EQ(server.Accepted(Channel::kSlack), 1);
  // Without a directory the messages are kept in memory.
  EXPECT_EQ(json::parse(Get(server.Url("/captures/slack-1.json")).body)["text"], "a");
}

// Sends `message` through smtp://127.0.0.1:<port> with libcurl, as the notifier does.
std::string CurlSendMail(int port, const std::string& user, const std::string& password,
                         const std::string& from, const std::vector<std::string>& to,
                         const std::string& message) {
  CURL* h = curl_easy_init();
  if (h == nullptr) return "curl_easy_init failed";
  curl_slist* rcpt = nullptr;
  for (const auto& r : to) rcpt = curl_slist_append(rcpt, ("<" + r + ">").c_str());
  struct Upload {
    const std::string* data;
    std::size_t offset = 0;
  } upload{&message};
  auto read = +[](char* buf, std::size_t size, std::size_t n, void* p) -> std::size_t {
    auto* u = static_cast<Upload*>(p);
    const std::size_t len = std::min(size * n, u->data->size() - u->offset);
    std::copy_n(u->data->data() + u->offset, len, buf);  // bytes, not a C string
    u->offset += len;
    return len;
  };
  const std::string url = "smtp://127.0.0.1:" + std::to_string(port);
  const std::string mail_from = "<" + from + ">";
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(h, CURLOPT_USERNAME, user.c_str());
  curl_easy_setopt(h, CURLOPT_PASSWORD, password.c_str());
  curl_easy_setopt(h, CURLOPT_READFUNCTION, read);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  const CURLcode rc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(h);
  return rc == CURLE_OK ? "" : std::string(curl_easy_strerror(rc)) + " " + std::to_string(code);
}

constexpr char kMail[] =
    "From: Sluice <sluice@example.com>\r\n"
    "To: oncall@example.com\r\n"
    "Subject: =?UTF-8?B?4o+qIFJvbGxpbmcgYmFjayBwYXltZW50cw==?=\r\n"
    "Message-ID: <itest@sluice>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Rolling back =E2=8F=AA\r\n"
    ".a line that starts with a dot\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PGgxPlJvbGxpbmcgYmFjazwvaDE+\r\n"
    "--b1--\r\n";

TEST_F(CaptureServerTest, SmtpListenerCapturesDecodedMail) {
  ServerOptions options;
  options.dir = dir_.string();
  options.smtp = SmtpOptions{};
  options.smtp->username = "mailer";
  options.smtp->password = "mail-password";
  CaptureServer server(options);
  ASSERT_GT(server.SmtpPort(), 0);

  EXPECT_NE(CurlSendMail(server.SmtpPort(), "mailer", "wrong", "sluice@example.com",
                         {"oncall@example.com"}, kMail),
            "")
      << "wrong credentials must be refused";
  ASSERT_EQ(CurlSendMail(server.SmtpPort(), "mailer", "mail-password", "sluice@example.com",
                         {"oncall@example.com", "ops@example.com"}, kMail),
            "");

  ASSERT_TRUE(fs::exists(dir_ / "email-1.json"));
  EXPECT_FALSE(fs::exists(dir_ / "email-2.json"));
  EXPECT_FALSE(fs::exists(dir_ / "email-1.json.tmp"));
  json j;
  {
    std::ifstream in(dir_ / "email-1.json");
    j = json::parse(in);
  }
  EXPECT_EQ(j["channel"], "email");
  EXPECT_EQ(j["from"], "Sluice <sluice@example.com>");
  EXPECT_EQ(j["to"], json::array({"oncall@example.com"}));
  EXPECT_EQ(j["subject"], "⏪ Rolling back payments");
  // curl dot-stuffed the line, the server unstuffed it.
  EXPECT_EQ(j["text"], "Rolling back ⏪\r\n.a line that starts with a dot");
  EXPECT_EQ(j["html"], "<h1>Rolling back</h1>");
  EXPECT_EQ(j["raw_size"], std::string(kMail).size());
  EXPECT_EQ(j["auth_user"], "mailer");
  EXPECT_EQ(j["envelope_to"], json::array({"oncall@example.com", "ops@example.com"}));
  EXPECT_EQ(server.Accepted(Channel::kEmail), 1);

  // Listed and served like the HTTP captures.
  const auto list = json::parse(Get(server.Url("/captures")).body)["captures"];
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(list[0]["channel"], "email");
  EXPECT_EQ(list[0]["file"], "email-1.json");
  EXPECT_EQ(json::parse(Get(server.Url("/captures/email-1.json")).body), j);
  server.Stop();

  // A restarted server continues the numbering.
  options.smtp->username.clear();
  options.smtp->password.clear();
  CaptureServer again(options);
  ASSERT_EQ(CurlSendMail(again.SmtpPort(), "anyone", "anything", "a@example.com", {"b@example.com"},
                         "Subject: second\r\n\r\nbody\r\n"),
            "");
  ASSERT_TRUE(fs::exists(dir_ / "email-2.json"));
  std::ifstream in(dir_ / "email-2.json");
  const auto second = json::parse(in);
  EXPECT_EQ(second["subject"], "second");
  EXPECT_EQ(second["auth_user"], "anyone");
}

// Talks to the listener over a raw socket: pipelined commands, unknown ones, STARTTLS.
TEST(SmtpServerTest, AnswersARawClient) {
  SmtpServer server(SmtpOptions{}, [](const SmtpMail& m) {
    if (m.rcpt_to.size() == 1 && m.rcpt_to[0] == "fail@x") throw std::runtime_error("disk full");
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server.Port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{};
  tv.tv_sec = 10;  // the server closes after QUIT; a hang fails here instead
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string script =
      "EHLO raw\r\nSTARTTLS\r\nFOO bar\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
      "Subject: raw\r\n\r\n..dot\r\n.\r\n"
      "MAIL FROM:<a@x>\r\nRCPT TO:<fail@x>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n";
  ASSERT_EQ(::send(fd, script.data(), script.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(script.size()));
  std::string answer;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  // Reply codes in order (continuation lines of EHLO skipped).
  std::vector<std::string> codes;
  std::size_t pos = 0;
  while (pos < answer.size()) {
    const auto end = answer.find("\r\n", pos);
    if (end == std::string::npos) break;
    if (answer[pos + 3] == ' ') codes.push_back(answer.substr(pos, 3));
    pos = end + 2;
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"220", "250", "454", "500", "250", "250", "354", "250",
                                             "250", "250", "354", "451", "221"}))
      << answer;
  const auto mails = server.Mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].data, "Subject: raw\r\n\r\n.dot\r\n");
}

}  // namespace
}  // namespace sluice::capture
