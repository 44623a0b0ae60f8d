// The Send client against a raw httplib server on loopback (no other server involved).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/http/client.hpp>
#include <sluice/http/server.hpp>
#include <sluice/http/stream.hpp>

namespace sluice::http {
namespace {

using ::testing::HasSubstr;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.addr = "127.0.0.1:0";
    options.threads = 2;
    server_ = std::make_unique<Server>("echo", options);
    server_->Raw().Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Method", req.method);
      res.set_header("X-Auth", req.get_header_value("Authorization"));
      res.set_content(req.body, "text/plain");
    });
    server_->Raw().Put("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Method", req.method);
      res.set_content(req.body, "text/plain");
    });
    server_->Raw().Get("/status/(\\d+)", [](const httplib::Request& req, httplib::Response& res) {
      res.status = std::stoi(req.matches[1]);
      res.set_content("status body", "text/plain");
    });
    server_->Raw().Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(64 * 1024, 'x'), "text/plain");
    });
    // Five chunks "0\n".."4\n", each written on its own, then the end.
    server_->Raw().Get("/chunks", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream",
                                       [n = 0](size_t, httplib::DataSink& sink) mutable {
                                         if (n == 5) {
                                           sink.done();
                                           return true;
                                         }
                                         const std::string s = std::to_string(n++) + "\n";
                                         return sink.write(s.data(), s.size());
                                       });
    });
    server_->Start();
    base_ = "http://127.0.0.1:" + std::to_string(server_->Port());
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<Server> server_;
  std::string base_;
};

TEST_F(ClientTest, PostsBodyAndHeaders) {
  ClientRequest req;
  req.method = "POST";
  req.url = base_ + "/echo";
  req.body = "hello";
  req.headers = {{"Authorization", "Bearer t0k"}, {"Content-Type", "text/plain"}};
  const auto r = Send(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.Header("x-method"), "POST");
  EXPECT_EQ(r.Header("X-AUTH"), "Bearer t0k");
  EXPECT_EQ(r.Header("missing"), std::nullopt);
}

TEST_F(ClientTest, PutWithEmptyBody) {
  ClientRequest req;
  req.method = "PUT";
  req.url = base_ + "/echo";
  const auto r = Send(req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Method"), "PUT");
  EXPECT_EQ(r.body, "");
}

TEST_F(ClientTest, StreamedBodyArrivesInPiecesAndIsNotKept) {
  ClientRequest req;
  req.url = base_ + "/chunks";
  req.max_response_bytes = 4;  // bounds what is kept, not what is streamed
  std::string seen;
  const auto r = SendStreaming(req, [&](std::string_view chunk) {
    seen.append(chunk);
    return true;
  });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(seen, "0\n1\n2\n3\n4\n");
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("Content-Type"), "text/event-stream");
}

TEST_F(ClientTest, StreamStopsWhenTheReaderSaysSoWithoutAnError) {
  ClientRequest req;
  req.url = base_ + "/chunks";
  int calls = 0;
  const auto r = SendStreaming(req, [&](std::string_view) { return ++calls < 2; });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls, 2);
}

TEST_F(ClientTest, StreamOfAnErrorStatusKeepsItsBody) {
  ClientRequest req;
  req.url = base_ + "/status/404";
  bool called = false;
  const auto r = SendStreaming(req, [&](std::string_view) { return called = true; });
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "status body");
  EXPECT_FALSE(called);
}

TEST_F(ClientTest, ErrorStatusesAreResponsesNotExceptions) {
  ClientRequest req;
  req.url = base_ + "/status/503";
  const auto r = Send(req);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "status body");
}

TEST_F(ClientTest, ResponseSizeIsBounded) {
  ClientRequest req;
  req.url = base_ + "/big";
  req.max_response_bytes = 1024;
  try {
    Send(req);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_FALSE(e.IsRetryable());
    EXPECT_THAT(e.what(), HasSubstr("larger than 1024 bytes"));
  }
  req.max_response_bytes = 1 << 20;
  EXPECT_EQ(Send(req).body.size(), 64u * 1024u);
}

TEST_F(ClientTest, ConnectionRefusedIsRetryableAndRedacted) {
  const int port = server_->Port();
  server_->Stop();
  ClientRequest req;
  req.url = "http://user:pw@127.0.0.1:" + std::to_string(port) + "/hooks/SECRET-TOKEN?x=1";
  try {
    Send(req);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_TRUE(e.IsRetryable());
    EXPECT_THAT(e.what(), HasSubstr("GET http://127.0.0.1:" + std::to_string(port)));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("SECRET-TOKEN")));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("pw")));
  }
}

TEST_F(ClientTest, UnsupportedSchemeIsNotRetryable) {
  ClientRequest req;
  req.url = "ftp://127.0.0.1/file";
  try {
    Send(req);
    FAIL() << "expected HttpError";
  } catch (const HttpError& e) {
    EXPECT_FALSE(e.IsRetryable());
  }
}

TEST(UrlEncodeTest, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UrlEncode("a b+/=~"), "a%20b%2B%2F%3D~");
  EXPECT_EQ(UrlEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(UrlEncode("rate(x{app=\"web\"}[5m]) > 0.05"),
            "rate%28x%7Bapp%3D%22web%22%7D%5B5m%5D%29%20%3E%200.05");
  EXPECT_EQ(UrlEncode("\xe7\x81\xb0"), "%E7%81%B0");  // UTF-8 bytes one by one
  EXPECT_EQ(UrlEncode(""), "");
}

TEST(RedactUrlTest, KeepsSchemeHostAndPortOnly) {
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/XXXX"), "https://hooks.slack.com");
  EXPECT_EQ(RedactUrl("http://u:p@10.0.0.1:8080/x?y#z"), "http://10.0.0.1:8080");
  EXPECT_EQ(RedactUrl("http://h:1?token=abc"), "http://h:1");
  EXPECT_EQ(RedactUrl("not a url"), "<invalid url>");
}

}  // namespace
}  // namespace sluice::http
