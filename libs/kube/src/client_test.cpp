// The client's requests and retries through a scripted transport (no network, no sleeping).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <sluice/kube/client.hpp>

namespace sluice::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Script {
  std::deque<std::function<http::ClientResponse(const http::ClientRequest&)>> answers;
  std::vector<http::ClientRequest> seen;
  std::vector<std::chrono::milliseconds> slept;
};

http::ClientResponse Answer(long status, std::string body,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::ClientResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

std::string HeaderOf(const http::ClientRequest& req, const std::string& name) {
  for (const auto& [k, v] : req.headers) {
    if (k == name) return v;
  }
  return "";
}

Client MakeClient(Script& s, int max_attempts = 4) {
  Credentials c;
  c.server = "https://k.example:6443";
  c.token = "tok";
  c.ca_pem = "PEM";
  ClientOptions o;
  o.identity = "executor";
  o.max_attempts = max_attempts;
  o.transport = [&s](const http::ClientRequest& req) {
    s.seen.push_back(req);
    if (s.answers.empty())
      throw std::logic_error("no scripted answer for " + req.method + " " + req.url);
    auto next = std::move(s.answers.front());
    s.answers.pop_front();
    return next(req);
  };
  o.sleep = [&s](std::chrono::milliseconds d) { s.slept.push_back(d); };
  return Client(c, o);
}

auto Reply(long status, const std::string& body,
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return [=](const http::ClientRequest&) { return Answer(status, body, headers); };
}

const std::string kConflict =
    R"({"kind":"Status","code":409,"reason":"Conflict","message":"the object has been modified"})";

TEST(KubeClient, RequestsCarryPathsContentTypesAndTheToken) {
  Script s;
  Client client = MakeClient(s);
  s.answers = {Reply(200, R"({"kind":"Deployment"})"),
               Reply(201, "{}"),
               Reply(200, "{}"),
               Reply(200, "{}"),
               Reply(200, "{}"),
               Reply(200, "{}"),
               Reply(200, "{}")};
  client.Get(kDeployments, "shop", "web");
  client.Create(kPods, "shop", {{"metadata", {{"name", "p"}}}});
  client.Patch(kDeployments, "shop", "web", PatchType::kStrategicMerge,
               {{"spec", {{"replicas", 2}}}});
  client.Patch(kDeployments, "shop", "web", PatchType::kJson,
               Json::parse(R"([{"op":"replace","path":"/spec/replicas","value":3}])"));
  client.Apply(kServices, "shop", {{"metadata", {{"name", "web"}}}});
  client.Delete(kNamespaces, "ignored", "shop");
  client.Update(kStatefulSets, "shop", {{"metadata", {{"name", "db"}, {"resourceVersion", "7"}}}});

  ASSERT_EQ(s.seen.size(), 7U);
  EXPECT_EQ(s.seen[0].method, "GET");
  EXPECT_EQ(s.seen[0].url, "https://k.example:6443/apis/apps/v1/namespaces/shop/deployments/web");
  EXPECT_EQ(HeaderOf(s.seen[0], "Authorization"), "Bearer tok");
  EXPECT_EQ(s.seen[0].ca_pem, "PEM");
  EXPECT_EQ(s.seen[1].url, "https://k.example:6443/api/v1/namespaces/shop/pods");
  EXPECT_EQ(s.seen[1].method, "POST");
  EXPECT_EQ(HeaderOf(s.seen[2], "Content-Type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(HeaderOf(s.seen[3], "Content-Type"), "application/json-patch+json");
  EXPECT_EQ(
      s.seen[4].url,
      "https://k.example:6443/api/v1/namespaces/shop/services/web?fieldManager=sluice&force=true");
  EXPECT_EQ(HeaderOf(s.seen[4], "Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(s.seen[5].url, "https://k.example:6443/api/v1/namespaces/shop");  // cluster-scoped
  EXPECT_EQ(s.seen[5].method, "DELETE");
  EXPECT_EQ(s.seen[6].method, "PUT");
  EXPECT_EQ(s.seen[6].url, "https://k.example:6443/apis/apps/v1/namespaces/shop/statefulsets/db");
}

TEST(KubeClient, ListEncodesTheSelectorAndMergesPages) {
  Script s;
  Client client = MakeClient(s);
  s.answers = {
      Reply(200, R"({"metadata":{"resourceVersion":"41","continue":"c1"},"items":[{"n":1}]})"),
      Reply(200, R"({"metadata":{"resourceVersion":"41"},"items":[{"n":2}]})")};
  ListOptions o;
  o.label_selector = "app=web,sluice.io/track=canary";
  o.page_size = 1;
  const Json list = client.List(kPods, "shop", o);
  EXPECT_EQ(list["items"].size(), 2U);
  EXPECT_EQ(list["metadata"]["resourceVersion"], "41");
  EXPECT_FALSE(list["metadata"].contains("continue"));
  EXPECT_EQ(s.seen[0].url,
            "https://k.example:6443/api/v1/namespaces/shop/"
            "pods?labelSelector=app%3Dweb%2Csluice.io%2Ftrack%3Dcanary&limit=1");
  EXPECT_THAT(s.seen[1].url, HasSubstr("&continue=c1"));

  s.answers = {Reply(200, R"({"items":[]})")};
  client.List(kPods, "", {});
  EXPECT_EQ(s.seen[2].url, "https://k.example:6443/api/v1/pods?limit=500");
}

TEST(KubeClient, ThrottledWritesAreRetriedHonouringRetryAfter) {
  Script s;
  Client client = MakeClient(s);
  s.answers = {Reply(429, R"({"kind":"Status","code":429,"reason":"TooManyRequests"})",
                     {{"Retry-After", "3"}}),
               Reply(200, R"({"ok":true})")};
  EXPECT_EQ(client.Patch(kDeployments, "shop", "web", PatchType::kMerge, Json::object())["ok"],
            true);
  EXPECT_THAT(s.slept, ElementsAre(std::chrono::milliseconds(3000)));
}

TEST(KubeClient, ServerErrorsAreRetriedForReadsOnly) {
  Script s;
  Client client = MakeClient(s, 3);
  s.answers = {Reply(503, "busy"),
               [](const http::ClientRequest&) -> http::ClientResponse {
                 throw http::HttpError("GET https://k.example:6443: Timeout was reached", true);
               },
               Reply(200, "{}")};
  client.Get(kPods, "shop", "p");
  EXPECT_THAT(s.slept, ElementsAre(std::chrono::milliseconds(200), std::chrono::milliseconds(400)));

  // A PATCH that got a 503 may have landed: surfaced, retryable, not repeated here.
  s.answers = {Reply(503, "busy")};
  try {
    client.Patch(kDeployments, "shop", "web", PatchType::kMerge, Json::object());
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kServerError);
    EXPECT_TRUE(e.IsRetryable());
  }
  EXPECT_EQ(s.seen.size(), 4U);

  // Reads give up after max_attempts, with the last error.
  s.answers = {Reply(500, "a"), Reply(500, "b"), Reply(500, "c")};
  try {
    client.Get(kPods, "shop", "p");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_THAT(e.what(), HasSubstr(": c"));
  }
}

TEST(KubeClient, UpdateWithRetryReReadsAfterAConflict) {
  Script s;
  Client client = MakeClient(s);
  int gets = 0;
  const auto get = [&gets](const http::ClientRequest& req) {
    EXPECT_EQ(req.method, "GET");
    ++gets;
    return Answer(200, R"({"metadata":{"name":"web","resourceVersion":")" + std::to_string(gets) +
                           R"("},"spec":{"replicas":1}})");
  };
  s.answers = {get, Reply(409, kConflict), get, [](const http::ClientRequest& req) {
                 EXPECT_EQ(req.method, "PUT");
                 const Json body = Json::parse(req.body);
                 EXPECT_EQ(body["metadata"]["resourceVersion"], "2");  // the fresh read's
                 EXPECT_EQ(body["spec"]["replicas"], 5);
                 return Answer(200, req.body);
               }};
  const Json out = client.UpdateWithRetry(kDeployments, "shop", "web", [](Json& d) {
    d["spec"]["replicas"] = 5;
    return true;
  });
  EXPECT_EQ(out["spec"]["replicas"], 5);
  EXPECT_EQ(gets, 2);

  // mutate returning false writes nothing.
  s.answers = {get};
  client.UpdateWithRetry(kDeployments, "shop", "web", [](Json&) { return false; });
  EXPECT_EQ(s.seen.back().method, "GET");

  // Conflicts every time: the last one is thrown after `attempts` tries.
  s.answers = {get, Reply(409, kConflict), get, Reply(409, kConflict)};
  try {
    client.UpdateWithRetry(
        kDeployments, "shop", "web", [](Json&) { return true; }, 2);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.Kind(), ErrorKind::kConflict);
  }
  EXPECT_TRUE(s.answers.empty());
}

}  // namespace
}  // namespace sluice::kube
