// The capture server over real HTTP on loopback: routes, answers, files and the listing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sluice/capture/capture.hpp>
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

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
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
                      "&sign=" + UrlEncode(DingTalkSign(now, "SECtest"))),
           ding);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["errcode"], 0) << r.body;
  r = Post(server.Url("/dingtalk/robot/send?access_token=t&timestamp=" + std::to_string(now) +
                      "&sign=" + UrlEncode(DingTalkSign(now, "wrong"))),
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

}  // namespace
}  // namespace sluice::capture
