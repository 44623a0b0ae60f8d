// A Server on 127.0.0.1:0 exercised through the Send client: loopback only, no other server.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sluice/core/encoding.hpp>
#include <sluice/core/health.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>

#include "connection_gate.hpp"

namespace sluice::http {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.addr = "127.0.0.1:0";
    options.max_body_bytes = 1024;
    options.threads = 2;
    server_ = std::make_unique<Server>("test-api", options);
    server_->MountOps(health_, registry_);
    server_->Get("/v1/releases/([^/]+)", [](const httplib::Request& req, httplib::Response& res) {
      WriteJson(res, 200,
                {{"id", std::string(req.matches[1])}, {"trace_id", core::TraceScope::Current()}});
    });
    server_->Get(R"(/v1/items/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] == "404") throw NotFound("item 404 does not exist");
      WriteJson(res, 200, {{"item", std::string(req.matches[1])}});
    });
    server_->Post("/v1/releases", [](const httplib::Request& req, httplib::Response& res) {
      const json body = ParseJsonBody(req);
      const std::string tag = RequireString(body, "tag");
      const auto note = OptionalString(body, "note");
      WriteJson(res, 201, {{"tag", tag}, {"note", note.value_or("-")}});
    });
    server_->Put("/v1/things", [](const httplib::Request& req, httplib::Response& res) {
      const json body = ParseJsonBody(req);
      WriteJson(res, 200, {{"count", body.at("count").get<int>()}});  // json type_error if not int
    });
    server_->Post("/v1/commands:pause", [](const httplib::Request& req, httplib::Response& res) {
      WriteJson(res, 202, {{"body_bytes", req.body.size()}});
    });
    server_->Delete("/v1/things",
                    [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    server_->Get("/boom", [](const httplib::Request&, httplib::Response&) {
      throw std::runtime_error("secret internal detail");
    });
    server_->Get("/conflict", [](const httplib::Request&, httplib::Response&) {
      throw Conflict("already_exists", "release v1 already exists");
    });
    server_->Get("/busy", [](const httplib::Request&, httplib::Response&) {
      throw Unavailable("database is down", 7);
    });
    server_->Get("/denied", [](const httplib::Request&, httplib::Response&) {
      throw Forbidden("token lacks the deploy scope");
    });
    server_->Get("/who", [](const httplib::Request&, httplib::Response&) {
      throw Unauthorized("missing bearer token");
    });
    server_->Get("/v1/counter", [this](const httplib::Request&, httplib::Response& res) {
      WriteJson(res, 200, {{"value", counter_.load()}});
    });
    server_->Get("/v1/own-etag", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("ETag", "\"handler-made\"");
      res.set_header("Cache-Control", "no-cache");
      WriteJson(res, 200, {{"own", true}});
    });
    server_->Get("/v1/secret", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      WriteJson(res, 200, {{"csrf_token", "not-for-validators"}});
    });
    server_->Get("/v1/stream", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream",
                                       [](std::size_t, httplib::DataSink& sink) {
                                         sink.write("data: 1\n\n", 9);
                                         sink.done();
                                         return true;
                                       });
    });
    server_->Get("/v1/empty",
                 [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    server_->Start();
    base_ = "http://127.0.0.1:" + std::to_string(server_->Port());
  }

  void TearDown() override { server_->Stop(); }

  ClientResponse Call(const std::string& method, const std::string& path, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {
                          {"Content-Type", "application/json"}}) {
    ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = std::move(body);
    req.headers = std::move(headers);
    return Send(req);
  }

  static json Error(const ClientResponse& r) { return json::parse(r.body).at("error"); }

  std::atomic<int> counter_{0};
  core::Health health_;
  prometheus::Registry registry_;
  std::unique_ptr<Server> server_;
  std::string base_;
};

TEST_F(ServerTest, BindsAnEphemeralPort) { EXPECT_GT(server_->Port(), 0); }

TEST_F(ServerTest, GetRouteWithPathParameter) {
  const auto r = Call("GET", "/v1/releases/abc");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("id"), "abc");
  EXPECT_THAT(r.Header("content-type").value_or(""), HasSubstr("application/json"));
}

TEST_F(ServerTest, RegexRouteAndApiException) {
  EXPECT_EQ(json::parse(Call("GET", "/v1/items/12").body).at("item"), "12");
  const auto r = Call("GET", "/v1/items/404");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Error(r),
            json({{"code", "not_found"}, {"message", "item 404 does not exist"}, {"field", ""}}));
}

TEST_F(ServerTest, PostParsesJsonAndTypedFields) {
  auto r = Call("POST", "/v1/releases", R"({"tag":"v1.2.3"})");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(json::parse(r.body), json({{"tag", "v1.2.3"}, {"note", "-"}}));
  r = Call("POST", "/v1/releases", R"({"tag":"v1","note":"hi"})",
           {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(json::parse(r.body).at("note"), "hi");
}

TEST_F(ServerTest, MissingOrMistypedFieldIsNamed) {
  auto r = Call("POST", "/v1/releases", R"({"note":"x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("code"), "invalid_field");
  EXPECT_EQ(Error(r).at("field"), "tag");
  r = Call("POST", "/v1/releases", R"({"tag":5})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("field"), "tag");
  EXPECT_THAT(Error(r).at("message").get<std::string>(), HasSubstr("must be a string"));
  r = Call("POST", "/v1/releases", R"({"tag":"v1","note":3})");
  EXPECT_EQ(Error(r).at("field"), "note");
  r = Call("POST", "/v1/releases", R"([1,2])");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("field"), "body");
}

TEST_F(ServerTest, MalformedJsonIs400WithFieldBody) {
  auto r = Call("POST", "/v1/releases", R"({"tag":)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("code"), "malformed_json");
  EXPECT_EQ(Error(r).at("field"), "body");
  r = Call("POST", "/v1/releases", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("field"), "body");
}

TEST_F(ServerTest, StrictBodyErrorsNameTheField) {
  // Deeply nested, a key given twice, a NUL: each a 400 naming the element, never a crash or
  // a 500 from the database later.
  auto r = Call("POST", "/v1/releases",
                R"({"tag":"v1","note":)" + std::string(400, '[') + std::string(400, ']') + "}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("code"), "malformed_json");
  EXPECT_THAT(Error(r).at("field").get<std::string>(), testing::StartsWith("note[0][0]"));
  r = Call("POST", "/v1/releases", R"({"tag":"v1","tag":"v2"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("field"), "tag");
  EXPECT_THAT(Error(r).at("message").get<std::string>(), HasSubstr("given twice"));
  r = Call("POST", "/v1/releases", R"({"tag":"v1","note":"a\u0000b"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("field"), "note");
  r = Call("POST", "/v1/releases", "{\"tag\":\"v1\xff\"}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("field"), "body");
  EXPECT_THAT(Error(r).at("message").get<std::string>(), HasSubstr("UTF-8"));
}

TEST_F(ServerTest, JsonTypeErrorInHandlerIs400MalformedJson) {
  const auto r = Call("PUT", "/v1/things", R"({"count":"three"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).at("code"), "malformed_json");
  EXPECT_EQ(Call("PUT", "/v1/things", R"({"count":3})").status, 200);
}

TEST_F(ServerTest, OversizedBodyIs413) {
  const std::string big = R"({"tag":")" + std::string(2000, 'x') + R"("})";
  auto r = Call("POST", "/v1/releases", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Error(r).at("code"), "body_too_large");
  EXPECT_THAT(Error(r).at("message").get<std::string>(), HasSubstr("1024 bytes"));
  // The same through chunked transfer encoding, which carries no Content-Length.
  r = Call("POST", "/v1/releases", big,
           {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}});
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Error(r).at("code"), "body_too_large");
  // A body just under the limit still passes.
  const std::string fits = R"({"tag":")" + std::string(1000, 'x') + R"("})";
  EXPECT_EQ(Call("POST", "/v1/releases", fits).status, 201);
}

TEST_F(ServerTest, WrongContentTypeIs415) {
  auto r = Call("POST", "/v1/releases", R"({"tag":"v1"})", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(Error(r).at("code"), "unsupported_media_type");
  EXPECT_EQ(Error(r).at("field"), "Content-Type");
  r = Call("PUT", "/v1/things", R"({"count":1})", {{"Content-Type", "multipart/form-data; b=x"}});
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(Call("POST", "/v1/releases", R"({"tag":"v1"})",
                 {{"Content-Type", "application/vnd.sluice+json"}})
                .status,
            201);
}

// curl -X POST sends neither Content-Length nor a body: that is an empty body, not an error.
TEST_F(ServerTest, PostWithoutContentLengthHasAnEmptyBody) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server_->Port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request =
      "POST /v1/commands:pause HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string answer;
  char buf[1024];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 202", 0), 0U) << answer;
  EXPECT_NE(answer.find(R"("body_bytes":0)"), std::string::npos) << answer;
}

TEST_F(ServerTest, UnhandledExceptionIs500WithoutInternals) {
  const auto r = Call("GET", "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Error(r).at("code"), "internal");
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("secret internal detail")));
  ASSERT_TRUE(r.Header("X-Trace-Id"));
  EXPECT_THAT(r.body, HasSubstr(*r.Header("X-Trace-Id")));
}

TEST_F(ServerTest, ErrorHelpersMapToStatusAndCode) {
  auto r = Call("GET", "/conflict");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Error(r).at("code"), "already_exists");
  r = Call("GET", "/busy");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Error(r).at("code"), "unavailable");
  EXPECT_EQ(r.Header("Retry-After"), "7");
  r = Call("GET", "/denied");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Error(r).at("code"), "forbidden");
  r = Call("GET", "/who");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Error(r).at("code"), "unauthorized");
}

TEST_F(ServerTest, UnknownRouteIsJson404) {
  const auto r = Call("GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Error(r).at("code"), "not_found");
  EXPECT_THAT(Error(r).at("message").get<std::string>(), HasSubstr("GET /nope"));
  EXPECT_TRUE(r.Header("X-Trace-Id"));
}

TEST_F(ServerTest, DeleteRoute) { EXPECT_EQ(Call("DELETE", "/v1/things").status, 204); }

TEST_F(ServerTest, TraceIdComesFromTraceparent) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const auto r =
      Call("GET", "/v1/releases/x", "", {{"traceparent", "00-" + trace + "-00f067aa0ba902b7-01"}});
  EXPECT_EQ(r.Header("X-Trace-Id"), trace);
  // The handler ran inside the TraceScope.
  EXPECT_EQ(json::parse(r.body).at("trace_id"), trace);
}

TEST_F(ServerTest, TraceIdIsNewWithoutOrWithABadTraceparent) {
  const auto a = Call("GET", "/v1/releases/x");
  const auto b = Call("GET", "/v1/releases/x", "",
                      {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}});
  ASSERT_TRUE(a.Header("x-trace-id"));
  ASSERT_TRUE(b.Header("x-trace-id"));
  EXPECT_EQ(a.Header("x-trace-id")->size(), 32u);
  EXPECT_NE(*a.Header("x-trace-id"), *b.Header("x-trace-id"));
  EXPECT_NE(*b.Header("x-trace-id"), std::string(32, '0'));
}

TEST_F(ServerTest, HealthzIsAlwaysOk) {
  const auto r = Call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json({{"status", "ok"}}));
}

TEST_F(ServerTest, ReadyzFollowsHealth) {
  auto r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);  // no checks yet
  EXPECT_EQ(json::parse(r.body).at("status"), "not_ready");
  health_.Set("postgres", true);
  r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("checks").at("postgres").at("ok"), true);
  health_.Set("kafka", false, "no partitions assigned");
  r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body).at("checks").at("kafka").at("detail"), "no partitions assigned");
}

TEST_F(ServerTest, MetricsCountRequestsByRouteMethodAndStatusClass) {
  Call("GET", "/v1/releases/a");
  Call("GET", "/v1/releases/b");
  Call("POST", "/v1/releases", "{");
  Call("GET", "/nope");
  const auto r = Call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.Header("Content-Type").value_or(""), HasSubstr("text/plain; version=0.0.4"));
  const std::string route = "route=\"/v1/releases/([^/]+)\"";
  EXPECT_THAT(r.body, HasSubstr("sluice_http_requests_total{method=\"GET\"," + route +
                                ",server=\"test-api\",status=\"2xx\"} 2"));
  EXPECT_THAT(r.body, HasSubstr("sluice_http_requests_total{method=\"POST\",route=\"/v1/"
                                "releases\",server=\"test-api\",status=\"4xx\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("sluice_http_requests_total{method=\"GET\",route=\"unmatched\","
                                "server=\"test-api\",status=\"4xx\"} 1"));
  EXPECT_THAT(r.body, HasSubstr("sluice_http_request_duration_seconds_count{method=\"GET\"," +
                                route + ",server=\"test-api\",status=\"2xx\"} 2"));
}

// The tag the server should give a body sent without a content coding.
std::string TagOf(const std::string& body) {
  return "\"" + core::Sha256Hex(body).substr(0, 32) + "\"";
}

const std::vector<std::pair<std::string, std::string>> kIdentity = {
    {"Accept-Encoding", "identity"}};

std::vector<std::pair<std::string, std::string>> IfNoneMatch(const std::string& value) {
  return {{"Accept-Encoding", "identity"}, {"If-None-Match", value}};
}

TEST_F(ServerTest, AGetAnswerCarriesATagOfItsBody) {
  const auto a = Call("GET", "/v1/items/12", "", kIdentity);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.Header("ETag"), TagOf(a.body));
  EXPECT_EQ(a.Header("Cache-Control"), "private, no-cache");
  EXPECT_EQ(Call("GET", "/v1/items/12", "", kIdentity).Header("ETag"), a.Header("ETag"));
  // Another body, at another path or at the same one once it changed: another tag.
  EXPECT_NE(Call("GET", "/v1/items/13", "", kIdentity).Header("ETag"), a.Header("ETag"));
  const auto before = Call("GET", "/v1/counter", "", kIdentity);
  counter_ = 1;
  const auto after = Call("GET", "/v1/counter", "", kIdentity);
  ASSERT_TRUE(before.Header("ETag") && after.Header("ETag"));
  EXPECT_NE(before.Header("ETag"), after.Header("ETag"));
  EXPECT_EQ(after.Header("ETag"), TagOf(after.body));
}

TEST_F(ServerTest, AMatchingIfNoneMatchIs304WithoutABody) {
  const std::string tag = *Call("GET", "/v1/items/12", "", kIdentity).Header("ETag");
  const std::string opaque = tag.substr(1, tag.size() - 2);
  for (const std::string& value :
       std::vector<std::string>{tag, "\"other\", " + tag, "\"a\",\"b\"," + tag + " , \"c\"",
                                "W/" + tag, "\"x\",W/" + tag, "*", " " + tag + " "}) {
    const auto r = Call("GET", "/v1/items/12", "", IfNoneMatch(value));
    EXPECT_EQ(r.status, 304) << value;
    EXPECT_EQ(r.body, "") << value;
    EXPECT_EQ(r.Header("ETag"), tag) << value;
    EXPECT_EQ(r.Header("Cache-Control"), "private, no-cache") << value;
    EXPECT_FALSE(r.Header("Content-Type")) << value;
    EXPECT_TRUE(r.Header("X-Trace-Id")) << value;
  }
  // Two If-None-Match lines make one list.
  EXPECT_EQ(
      Call(
          "GET", "/v1/items/12", "",
          {{"Accept-Encoding", "identity"}, {"If-None-Match", "\"other\""}, {"If-None-Match", tag}})
          .status,
      304);
  for (const std::string& value : std::vector<std::string>{
           "\"other\"", opaque, "\"" + opaque.substr(1) + "\"", "W/\"other\", \"x\"", tag + "x",
           "\"" + opaque + "-gzip\"", "**", "\"x\" " + tag, "W/ " + tag}) {
    const auto r = Call("GET", "/v1/items/12", "", IfNoneMatch(value));
    EXPECT_EQ(r.status, 200) << value;
    EXPECT_EQ(json::parse(r.body).at("item"), "12") << value;
    EXPECT_EQ(r.Header("ETag"), tag) << value;
  }
  // A changed body no longer matches its old tag.
  const std::string old_tag = *Call("GET", "/v1/counter", "", kIdentity).Header("ETag");
  EXPECT_EQ(Call("GET", "/v1/counter", "", IfNoneMatch(old_tag)).status, 304);
  counter_ = 7;
  const auto changed = Call("GET", "/v1/counter", "", IfNoneMatch(old_tag));
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(json::parse(changed.body).at("value"), 7);
}

// httplib cut a 200's body to a requested range (4 bytes of JSON with status 200): a wrapped
// route ignores Range and answers the whole body, whose tag it carries.
TEST_F(ServerTest, RangeIsIgnored) {
  const auto r =
      Call("GET", "/v1/items/12", "", {{"Accept-Encoding", "identity"}, {"Range", "bytes=0-3"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"item":"12"})");
  EXPECT_FALSE(r.Header("Content-Range"));
  EXPECT_EQ(r.Header("ETag"), TagOf(r.body));
}

TEST_F(ServerTest, A304IsCountedAs3xx) {
  const std::string tag = *Call("GET", "/v1/items/12", "", kIdentity).Header("ETag");
  Call("GET", "/v1/items/12", "", IfNoneMatch(tag));
  EXPECT_THAT(Call("GET", "/metrics").body,
              HasSubstr("sluice_http_requests_total{method=\"GET\",route=\"/v1/items/(\\\\d+)\","
                        "server=\"test-api\",status=\"3xx\"} 1"));
}

TEST_F(ServerTest, HeadIsTaggedAndRevalidatedLikeGet) {
  const std::string tag = *Call("GET", "/v1/items/12", "", kIdentity).Header("ETag");
  const auto head = Call("HEAD", "/v1/items/12", "", kIdentity);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("ETag"), tag);
  EXPECT_EQ(Call("HEAD", "/v1/items/12", "", IfNoneMatch(tag)).status, 304);
}

// The coding httplib compresses a body with is part of the representation: each coding has its
// own tag, and the answer says that it varies with Accept-Encoding.
TEST_F(ServerTest, ACompressedAnswerHasItsOwnTag) {
  const auto plain = Call("GET", "/v1/items/12", "", kIdentity);
  const auto gzip = Call("GET", "/v1/items/12", "", {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(gzip.status, 200);
  EXPECT_EQ(json::parse(gzip.body).at("item"), "12");  // curl decoded it
  ASSERT_TRUE(gzip.Header("ETag"));
  EXPECT_NE(gzip.Header("ETag"), plain.Header("ETag"));
  EXPECT_EQ(gzip.Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(plain.Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(Call("GET", "/v1/items/12", "",
                 {{"Accept-Encoding", "gzip"}, {"If-None-Match", *gzip.Header("ETag")}})
                .status,
            304);
  EXPECT_EQ(Call("GET", "/v1/items/12", "", IfNoneMatch(*gzip.Header("ETag"))).status, 200);
}

TEST_F(ServerTest, OnlyWholeGetAnswersOf200AreTagged) {
  const std::vector<std::pair<std::string, std::string>> any = {{"Accept-Encoding", "identity"},
                                                                {"If-None-Match", "*"}};
  for (const auto& [method, path, status] :
       std::vector<std::tuple<std::string, std::string, int>>{{"GET", "/v1/items/404", 404},
                                                              {"GET", "/boom", 500},
                                                              {"GET", "/busy", 503},
                                                              {"GET", "/v1/empty", 200},
                                                              {"DELETE", "/v1/things", 204}}) {
    const auto r = Call(method, path, "", any);
    EXPECT_EQ(r.status, status) << method << " " << path;
    EXPECT_FALSE(r.Header("ETag")) << method << " " << path;
    EXPECT_FALSE(r.Header("Cache-Control")) << method << " " << path;
  }
  auto r = Call("POST", "/v1/releases", R"({"tag":"v1"})",
                {{"Content-Type", "application/json"}, {"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 201);
  EXPECT_FALSE(r.Header("ETag"));
  r = Call("PUT", "/v1/things", R"({"count":3})",
           {{"Content-Type", "application/json"}, {"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.Header("ETag"));
}

TEST_F(ServerTest, AStreamedAnswerIsLeftAlone) {
  const auto r = Call("GET", "/v1/stream", "", {{"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "data: 1\n\n");
  EXPECT_FALSE(r.Header("ETag"));
  EXPECT_FALSE(r.Header("Cache-Control"));
}

TEST_F(ServerTest, AHandlersOwnTagAndNoStoreAreLeftAlone) {
  auto r = Call("GET", "/v1/own-etag", "", {{"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 200);  // the handler answers If-None-Match itself, or not at all
  EXPECT_EQ(r.Header("ETag"), "\"handler-made\"");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  // A no-store answer is never revalidated: no validator is made of a body holding a secret.
  r = Call("GET", "/v1/secret", "", {{"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.Header("ETag"));
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
}

// On the wire: the 304 ends with its head; the connection then serves the next request.
TEST_F(ServerTest, A304SendsNoBodyBytes) {
  const std::string tag = *Call("GET", "/v1/items/12", "", kIdentity).Header("ETag");
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server_->Port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request =
      "GET /v1/items/12 HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: " + tag +
      "\r\n\r\nGET /v1/items/12 HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "Connection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string answer;
  char buf[1024];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  ASSERT_EQ(answer.rfind("HTTP/1.1 304", 0), 0U) << answer;
  const auto head_end = answer.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << answer;
  EXPECT_EQ(answer.find("HTTP/1.1 200", head_end), head_end + 4) << answer;
  EXPECT_NE(answer.find(R"({"item":"12"})"), std::string::npos) << answer;
}

TEST(ServerEtagOptionTest, ServersCanLeaveTaggingOff) {
  ServerOptions options;
  options.addr = "127.0.0.1:0";
  options.etags = false;
  Server server("untagged", options);
  server.Get("/v1/x", [](const httplib::Request&, httplib::Response& res) {
    WriteJson(res, 200, {{"x", 1}});
  });
  server.Start();
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server.Port()) + "/v1/x";
  req.headers = {{"If-None-Match", "*"}};
  const auto r = Send(req);
  server.Stop();
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.Header("ETag"));
  EXPECT_FALSE(r.Header("Cache-Control"));
}

TEST(IfNoneMatchTest, ListsTheTagByWeakComparison) {
  EXPECT_TRUE(IfNoneMatchLists("\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchLists("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchLists("\"abc\"", "W/\"abc\""));
  EXPECT_TRUE(IfNoneMatchLists("\"x\",\t\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfNoneMatchLists(", \"x\",, \"abc\" ,", "\"abc\""));  // empty elements are allowed
  EXPECT_TRUE(IfNoneMatchLists("\"a,b\", \"abc\"", "\"abc\""));     // a comma inside a tag
  EXPECT_TRUE(IfNoneMatchLists(" * ", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("abc", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("\"ABC\"", "\"abc\""));  // tags are case-sensitive
  EXPECT_FALSE(IfNoneMatchLists("w/\"abc\"", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("\"abc", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("\"abc\"x", "\"abc\""));
  EXPECT_FALSE(IfNoneMatchLists("\"x\" \"abc\"", "\"abc\""));  // no comma: malformed
  EXPECT_FALSE(IfNoneMatchLists("\"x\", *", "\"abc\""));       // * stands alone
  EXPECT_FALSE(IfNoneMatchLists("\"a,\"abc\"", "\"abc\""));
}

TEST_F(ServerTest, SecondServerOnTheSamePortFailsWithAClearMessage) {
  ServerOptions options;
  options.addr = "127.0.0.1:" + std::to_string(server_->Port());
  Server second("second", options);
  try {
    second.Start();
    FAIL() << "bind should have failed";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("address " + options.addr + " is in use"));
  }
  second.Stop();  // harmless after a failed start
}

TEST_F(ServerTest, StopIsIdempotentAndRefusesAfterwards) {
  server_->Stop();
  server_->Stop();
  try {
    Call("GET", "/healthz");
    FAIL() << "the server should be gone";
  } catch (const HttpError& e) {
    EXPECT_TRUE(e.IsRetryable());
  }
}

TEST(ServerOptionsTest, MalformedAddressIsRefused) {
  ServerOptions options;
  options.addr = "localhost";
  Server s("bad", options);
  EXPECT_THROW(s.Start(), std::runtime_error);
}

TEST(JsonHelpersTest, RequireStringRejectsEmpty) {
  try {
    RequireString(json{{"tag", ""}}, "tag");
    FAIL();
  } catch (const ApiException& e) {
    EXPECT_EQ(e.Error().status, 400);
    EXPECT_EQ(e.Error().field, "tag");
  }
  EXPECT_EQ(OptionalString(json{{"a", nullptr}}, "a"), std::nullopt);
}

// An idle keep-alive connection (Prometheus scraping, a load generator) does not hold a
// stopping server for httplib's default 5 s: it waits at most keep_alive_timeout (1 s).
TEST(ServerStopTest, AnIdleKeepAliveConnectionDoesNotHoldTheStop) {
  ServerOptions options;
  options.addr = "127.0.0.1:0";
  options.threads = 2;
  Server server("stop-test", options);
  server.Get("/x", [](const httplib::Request&, httplib::Response& res) {
    WriteJson(res, 200, {{"ok", true}});
  });
  server.Start();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server.Port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  char buf[512];
  ASSERT_GT(::read(fd, buf, sizeof buf), 0);  // answered; the connection stays open, idle
  const auto start = std::chrono::steady_clock::now();
  server.Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_LT(took, std::chrono::milliseconds(3500)) << "the stop waited for the idle connection";
}

// A raw loopback connection to `port`, for clients httplib's own client would not imitate.
int ConnectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

class SlowClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.addr = "127.0.0.1:0";
    options.threads = 2;
    options.header_timeout = std::chrono::milliseconds(3000);
    options.body_timeout = std::chrono::milliseconds(500);
    server_ = std::make_unique<Server>("slow-test", options);
    server_->MountOps(health_, registry_);
    server_->Post("/v1/echo", [](const httplib::Request& req, httplib::Response& res) {
      WriteJson(res, 200, {{"bytes", req.body.size()}});
    });
    server_->Start();
  }
  void TearDown() override { server_->Stop(); }

  // GET /healthz on a fresh connection; its round trip.
  std::chrono::milliseconds Probe() {
    ClientRequest req;
    req.method = "GET";
    req.url = "http://127.0.0.1:" + std::to_string(server_->Port()) + "/healthz";
    req.timeout = std::chrono::milliseconds(2000);
    const auto start = std::chrono::steady_clock::now();
    const auto res = Send(req);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    EXPECT_EQ(res.status, 200);
    return took;
  }

  core::Health health_;
  prometheus::Registry registry_;
  std::unique_ptr<Server> server_;
};

// Slow-loris: clients that send a request head a line at a time (or stop half-way) must not
// take the workers. 100 such connections from the probe's own address, two workers: /healthz
// still answers at once, every time.
TEST_F(SlowClientTest, ProbesGetInWhileSlowClientsHoldTheirHeads) {
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) {
    const int fd = ConnectTo(server_->Port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n"));
    slow.push_back(fd);
  }
  for (int round = 0; round < 3; ++round) {
    for (const int fd : slow) ASSERT_TRUE(SendAll(fd, "X-Slow: " + std::to_string(round) + "\r\n"));
    for (int i = 0; i < 3; ++i) EXPECT_LT(Probe(), std::chrono::milliseconds(100));
  }
  for (const int fd : slow) ::close(fd);
}

// A head not complete within header_timeout is cut, however steadily its lines arrive.
TEST_F(SlowClientTest, AnUnfinishedHeadIsCutAfterTheHeaderTimeout) {
  const int fd = ConnectTo(server_->Port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n"));
  const auto start = std::chrono::steady_clock::now();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 6000), 1) << "the connection was not cut";
  const auto took = std::chrono::steady_clock::now() - start;
  char buf[256];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  EXPECT_GE(took, std::chrono::milliseconds(2500));
  EXPECT_LT(took, std::chrono::milliseconds(4500));
  if (n > 0) {
    EXPECT_THAT(std::string(buf, static_cast<size_t>(n)), HasSubstr("408"));
  }
}

// A large body (read by a worker) trickling in a byte at a time, each byte well within the
// per-read timeout, is cut once body_timeout has passed since the head.
TEST_F(SlowClientTest, ASlowBodyIsCutAfterTheBodyTimeout) {
  const int fd = ConnectTo(server_->Port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      "Content-Length: 100000\r\n\r\n"));
  const auto start = std::chrono::steady_clock::now();
  bool cut = false;
  // One byte per 50 ms; the wait between bytes is also the watch for the server's answer.
  for (int i = 0; i < 60 && !cut; ++i) {
    if (!SendAll(fd, " ")) {
      cut = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    cut = ::poll(&p, 1, 50) == 1;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_TRUE(cut) << "a body trickled for 3 s was not cut";
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  EXPECT_LT(Probe(), std::chrono::milliseconds(100));
}

// Small bodies (the whole request within 32 KiB) wait in the gate too: clients that send a
// head and then trickle or stall their body do not take the workers either.
TEST_F(SlowClientTest, ProbesGetInWhileSmallBodiesStall) {
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectTo(server_->Port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd,
                        "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        "Content-Length: 100\r\n\r\n{\"a\":"));
    slow.push_back(fd);
  }
  for (int i = 0; i < 5; ++i) EXPECT_LT(Probe(), std::chrono::milliseconds(100));
  // A body that does complete is served.
  ASSERT_TRUE(SendAll(slow[0], "\"" + std::string(93, 'x') + "\"}"));
  // The response may come in more than one segment (head, then body).
  std::string answer;
  while (answer.find("\"bytes\":100") == std::string::npos) {
    pollfd p{slow[0], POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) break;
    char buf[512];
    const ssize_t n = ::recv(slow[0], buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  EXPECT_THAT(answer, HasSubstr("\"bytes\":100"));
  for (const int fd : slow) ::close(fd);
}

TEST(BytesWantedTest, HeadAndSmallBodies) {
  EXPECT_EQ(detail::BytesWanted("GET / HTTP/1.1\r\nHost: t\r\n"), 0U);
  EXPECT_EQ(detail::BytesWanted("GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 27U);
  EXPECT_EQ(detail::BytesWanted("GET / HTTP/1.1\nHost: t\n\n"), 24U);
  EXPECT_EQ(detail::BytesWanted("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), 49U);
  EXPECT_EQ(detail::BytesWanted("POST / HTTP/1.1\r\ncontent-length:10\r\n\r\n"), 48U);
  // Large, chunked, Expect: 100-continue: the head is enough.
  EXPECT_EQ(detail::BytesWanted("POST / HTTP/1.1\r\nContent-Length: 40000\r\n\r\n"), 42U);
  EXPECT_EQ(detail::BytesWanted("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 47U);
  EXPECT_EQ(
      detail::BytesWanted("POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"),
      60U);
}

// Past max_connections_per_address, further connections from that address are closed at once
// with a 503; other work goes on.
TEST(ConnectionLimitTest, ConnectionsPerAddressAreBounded) {
  ServerOptions options;
  options.addr = "127.0.0.1:0";
  options.threads = 2;
  options.max_connections_per_address = 4;
  Server server("limit-test", options);
  server.Get("/x", [](const httplib::Request&, httplib::Response& res) {
    WriteJson(res, 200, {{"ok", true}});
  });
  server.Start();
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(ConnectTo(server.Port()));
    ASSERT_GE(held.back(), 0);
    ASSERT_TRUE(SendAll(held.back(), "GET /x HTTP/1.1\r\n"));
  }
  const int extra = ConnectTo(server.Port());
  ASSERT_GE(extra, 0);
  char buf[256];
  pollfd p{extra, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  const ssize_t n = ::recv(extra, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_THAT(std::string(buf, static_cast<size_t>(n)), HasSubstr("503"));
  ::close(extra);
  // Finishing one head frees nothing until it is answered and closed; closing one frees a slot.
  ::close(held.back());
  held.pop_back();
  ClientRequest req;
  req.method = "GET";
  req.url = "http://127.0.0.1:" + std::to_string(server.Port()) + "/x";
  req.timeout = std::chrono::milliseconds(2000);
  // The server notices the close asynchronously: ask until it has (or 2 s have passed).
  ClientResponse res;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (res.status != 200 && std::chrono::steady_clock::now() < until) res = Send(req);
  EXPECT_EQ(res.status, 200);
  for (const int fd : held) ::close(fd);
  server.Stop();
}

// The same over TLS, where the head is encrypted: clients stuck in the handshake (half a
// ClientHello, or nothing at all) wait in the gate too, and /healthz over HTTPS still answers.
TEST(TlsSlowClientTest, ProbesGetInWhileHandshakesStall) {
  const std::string dir = ::testing::TempDir() + "/sluice-http-tls-" + std::to_string(::getpid());
  const std::string cmd = "mkdir -p " + dir +
                          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
                          " -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
                          " -keyout " +
                          dir + "/key.pem -out " + dir + "/cert.pem >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ServerOptions options;
  options.addr = "127.0.0.1:0";
  options.threads = 2;
  options.header_timeout = std::chrono::milliseconds(3000);
  options.tls_cert_file = dir + "/cert.pem";
  options.tls_key_file = dir + "/key.pem";
  Server server("tls-slow-test", options);
  core::Health health;
  prometheus::Registry registry;
  server.MountOps(health, registry);
  server.Start();
  std::vector<int> slow;
  for (int i = 0; i < 60; ++i) {
    const int fd = ConnectTo(server.Port());
    ASSERT_GE(fd, 0);
    // A TLS record header announcing a 512-byte handshake message, then one byte of it.
    if (i % 2 == 0) {
      ASSERT_TRUE(SendAll(fd, std::string("\x16\x03\x01\x02\x00\x01", 6)));
    }
    slow.push_back(fd);
  }
  ClientRequest req;
  req.method = "GET";
  req.url = "https://127.0.0.1:" + std::to_string(server.Port()) + "/healthz";
  req.ca_file = options.tls_cert_file;
  req.timeout = std::chrono::milliseconds(2000);
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto res = Send(req);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(res.status, 200);
    // A fresh TLS handshake each time: more than a plain round trip, far less than a stall.
    EXPECT_LT(took, std::chrono::milliseconds(250));
  }
  for (const int fd : slow) ::close(fd);
  server.Stop();
  EXPECT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
}

TEST(LimitParamTest, FallbackWholeNumbersInRangeOrANamedError) {
  httplib::Request req;
  EXPECT_EQ(LimitParam(req, 50), 50);
  req.params.emplace("limit", "20");
  EXPECT_EQ(LimitParam(req, 50), 20);
  for (const char* bad : {"0", "501", "-3", "10abc", "", "ten", " 7"}) {
    httplib::Request r;
    r.params.emplace("limit", bad);
    try {
      LimitParam(r, 50);
      ADD_FAILURE() << "accepted limit=" << bad;
    } catch (const ApiException& e) {
      EXPECT_EQ(e.Error().field, "limit") << bad;
      EXPECT_EQ(e.Error().message, "limit must be 1 to 500") << bad;
    }
  }
  httplib::Request small;
  small.params.emplace("limit", "11");
  EXPECT_THROW(LimitParam(small, 5, 10), ApiException);
}

TEST(TimeRangeParamsTest, ReadsSinceAndUntilOrThrowsNamingTheField) {
  const auto now = core::FromUnixMillis(1796119200000);  // 2026-12-01T10:00:00Z
  httplib::Request none;
  EXPECT_EQ(TimeRangeParams(none, now), core::TimeRange{});
  httplib::Request both;
  both.params.emplace("since", "2h");
  both.params.emplace("until", "2026-12-01T09:30:00Z");
  const auto range = TimeRangeParams(both, now);
  EXPECT_EQ(range.since_us, (1796119200000LL - 7200000) * 1000);
  EXPECT_EQ(range.until_us, (1796119200000LL - 1800000) * 1000);
  const auto field_of = [&](const char* since, const char* until) {
    httplib::Request r;
    if (since != nullptr) r.params.emplace("since", since);
    if (until != nullptr) r.params.emplace("until", until);
    try {
      TimeRangeParams(r, now);
    } catch (const ApiException& e) {
      EXPECT_EQ(e.Error().status, 400);
      return e.Error().field;
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(field_of("yesterday", nullptr), "since");
  EXPECT_EQ(field_of(nullptr, ""), "until");
  EXPECT_EQ(field_of("1h", "2h"), "until");
}

}  // namespace
}  // namespace sluice::http
