// Error mapping, against Status bodies recorded from the local control plane (testdata/).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sluice/kube/errors.hpp>
#include <sstream>

namespace sluice::kube {
namespace {

using ::testing::HasSubstr;

std::string Recorded(const std::string& name) {
  std::ifstream in(std::string(SLUICE_KUBE_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RequestInfo Req(Verb verb, Resource r, std::string ns, std::string name = "") {
  RequestInfo info;
  info.verb = verb;
  info.resource = r;
  info.ns = std::move(ns);
  info.name = std::move(name);
  info.identity = "executor";
  info.server = "https://127.0.0.1:26443";
  return info;
}

TEST(ApiErrors, ForbiddenNamesVerbResourceNamespaceAndTheRuleToAdd) {
  const ApiError e = MakeApiError(Req(kPatch, kDeployments, "rec", "web"), 403,
                                  Recorded("status_403.json"), std::nullopt);
  EXPECT_EQ(e.Kind(), ErrorKind::kForbidden);
  EXPECT_FALSE(e.IsRetryable());
  EXPECT_THAT(e.what(),
              HasSubstr("executor may not patch deployments.apps in namespace rec: add a Role rule "
                        "{apiGroups: [apps], resources: [deployments], verbs: [patch]}"));
  EXPECT_THAT(e.what(), HasSubstr("(API: deployments.apps \"web\" is forbidden: User "
                                  "\"sluice-executor\" cannot patch"));
}

TEST(ApiErrors, ForbiddenOnCoreAndClusterScopedResources) {
  const std::string body =
      R"({"kind":"Status","code":403,"reason":"Forbidden","message":"pods is forbidden: User \"x\" cannot list resource \"pods\""})";
  EXPECT_THAT(MakeApiError(Req(kList, kPods, "shop"), 403, body, std::nullopt).what(),
              HasSubstr("executor may not list pods in namespace shop: add a Role rule "
                        "{apiGroups: [\"\"], resources: [pods], verbs: [list]}"));
  EXPECT_THAT(MakeApiError(Req(kList, kPods, ""), 403, body, std::nullopt).what(),
              HasSubstr("list pods in all namespaces: add a ClusterRole rule"));
  EXPECT_THAT(MakeApiError(Req(kCreate, kNamespaces, "", "x"), 403, body, std::nullopt).what(),
              HasSubstr("create namespaces (cluster-scoped): add a ClusterRole rule"));
  // A 403 that is not RBAC's (a namespace being deleted): no rule to add.
  const std::string terminating =
      R"({"kind":"Status","code":403,"reason":"Forbidden","message":"unable to create new content in namespace shop because it is being terminated"})";
  const std::string msg =
      MakeApiError(Req(kCreate, kDeployments, "shop", "web"), 403, terminating, std::nullopt)
          .what();
  EXPECT_THAT(msg, HasSubstr("being terminated"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("add a")));
}

TEST(ApiErrors, UnauthorizedSaysTheCredentialWasRefused) {
  const ApiError e =
      MakeApiError(Req(kList, kNamespaces, ""), 401, Recorded("status_401.json"), std::nullopt);
  EXPECT_EQ(e.Kind(), ErrorKind::kUnauthorized);
  EXPECT_FALSE(e.IsRetryable());
  EXPECT_THAT(e.what(),
              HasSubstr("executor: https://127.0.0.1:26443 refused the credentials (401)"));
}

TEST(ApiErrors, NotFoundConflictAlreadyExists) {
  const ApiError nf = MakeApiError(Req(kGet, kDeployments, "rec", "nope"), 404,
                                   Recorded("status_404.json"), std::nullopt);
  EXPECT_EQ(nf.Kind(), ErrorKind::kNotFound);
  EXPECT_EQ(nf.Status().reason, "NotFound");
  EXPECT_THAT(nf.what(), HasSubstr("get deployments.apps rec/nope: not found (404): "
                                   "deployments.apps \"nope\" not found"));

  const ApiError conflict = MakeApiError(Req(kUpdate, kDeployments, "rec", "web"), 409,
                                         Recorded("status_409_conflict.json"), std::nullopt);
  EXPECT_EQ(conflict.Kind(), ErrorKind::kConflict);
  EXPECT_FALSE(conflict.IsRetryable());  // not as it stands: re-read first
  EXPECT_THAT(conflict.what(), HasSubstr("the object has been modified"));

  const ApiError exists = MakeApiError(Req(kCreate, kNamespaces, "", "rec"), 409,
                                       Recorded("status_409_exists.json"), std::nullopt);
  EXPECT_EQ(exists.Kind(), ErrorKind::kAlreadyExists);
}

TEST(ApiErrors, InvalidCarriesTheApiMessageAndCauses) {
  const ApiError e = MakeApiError(Req(kPatch, kDeployments, "rec", "web"), 422,
                                  Recorded("status_422.json"), std::nullopt);
  EXPECT_EQ(e.Kind(), ErrorKind::kInvalid);
  ASSERT_EQ(e.Status().causes.size(), 2U);
  EXPECT_EQ(e.Status().causes[0].field, "spec.replicas");
  EXPECT_THAT(e.what(), HasSubstr("Deployment.apps \"web\" is invalid"));
  EXPECT_THAT(e.what(),
              HasSubstr("causes: spec.replicas: Invalid value: -1: must be greater than or equal "
                        "to 0; spec.template.spec.containers[0].image: Required value"));
}

TEST(ApiErrors, ThrottledAndServerErrorsAreRetryableAndHonourRetryAfter) {
  const std::string throttled =
      R"({"kind":"Status","code":429,"reason":"TooManyRequests","message":"too many requests","details":{"retryAfterSeconds":1}})";
  const ApiError t = MakeApiError(Req(kGet, kPods, "a", "b"), 429, throttled, "7");
  EXPECT_EQ(t.Kind(), ErrorKind::kThrottled);
  EXPECT_TRUE(t.IsRetryable());
  EXPECT_EQ(t.RetryAfter(), std::chrono::seconds(7));  // the header wins
  EXPECT_THAT(t.what(), HasSubstr("(retry after 7s)"));
  EXPECT_EQ(MakeApiError(Req(kGet, kPods, "a", "b"), 429, throttled, std::nullopt).RetryAfter(),
            std::chrono::seconds(1));

  for (const long code : {500L, 502L, 503L, 504L}) {
    const ApiError s =
        MakeApiError(Req(kGet, kPods, "a", "b"), code, "upstream gone", std::nullopt);
    EXPECT_EQ(s.Kind(), ErrorKind::kServerError) << code;
    EXPECT_TRUE(s.IsRetryable()) << code;
    EXPECT_THAT(s.what(), HasSubstr("upstream gone"));  // a proxy's plain-text body
  }
  EXPECT_EQ(MakeApiError(Req(kList, kPods, "a"), 410, "{}", std::nullopt).Kind(), ErrorKind::kGone);
  const ApiError bad = MakeApiError(Req(kPatch, kPods, "a", "b"), 415, "", std::nullopt);
  EXPECT_EQ(bad.Kind(), ErrorKind::kBadRequest);
  EXPECT_FALSE(bad.IsRetryable());
}

TEST(ApiErrors, TransportErrorsFollowCurl) {
  EXPECT_TRUE(MakeTransportError(Req(kGet, kPods, "a", "b"), "timed out", true).IsRetryable());
  const ApiError ca = MakeTransportError(Req(kGet, kPods, "a", "b"), "SSL peer certificate", false);
  EXPECT_EQ(ca.Kind(), ErrorKind::kTransport);
  EXPECT_FALSE(ca.IsRetryable());
  EXPECT_THAT(ca.what(), HasSubstr("no answer from https://127.0.0.1:26443"));
}

TEST(ApiErrors, RetryAfterParsing) {
  EXPECT_EQ(ParseRetryAfter("3"), std::chrono::seconds(3));
  EXPECT_EQ(ParseRetryAfter(" 12 "), std::chrono::seconds(12));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter(""), std::nullopt);
}

TEST(ApiErrors, ParseStatusRefusesOtherBodies) {
  EXPECT_EQ(ParseStatus("not json"), std::nullopt);
  EXPECT_EQ(ParseStatus(R"({"kind":"Deployment"})"), std::nullopt);
  EXPECT_EQ(ParseStatus(Recorded("status_404.json"))->message,
            "deployments.apps \"nope\" not found");
}

TEST(RbacTable, ListsTheDriverVerbs) {
  EXPECT_TRUE(DriverMay("apps", "deployments", kPatch));
  EXPECT_TRUE(DriverMay("apps", "statefulsets", kPatch));
  EXPECT_FALSE(DriverMay("apps", "statefulsets", kDelete));
  EXPECT_FALSE(DriverMay("", "pods", kDelete));
  EXPECT_FALSE(DriverMay("", "secrets", kGet));
  EXPECT_EQ(FormatRbacRule("apps", "deployments", kGet | kPatch),
            "{apiGroups: [apps], resources: [deployments], verbs: [get, patch]}");
  static_assert(DriverMay("apps", "deployments", kCreate));
}

}  // namespace
}  // namespace sluice::kube
