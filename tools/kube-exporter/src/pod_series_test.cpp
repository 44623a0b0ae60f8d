#include "pod_series.hpp"

#include <gtest/gtest.h>

namespace sluice::kube_exporter {
namespace {

using nlohmann::json;

json PodJson(const std::string& name, const std::string& image,
             const std::string& phase = "Running", bool deleting = false) {
  json p = {{"metadata", {{"name", name}}},
            {"spec",
             {{"containers",
               json::array({{{"name", "sidecar"}, {"image", "registry.example/proxy:9.9.9"}},
                            {{"name", "app"}, {"image", image}}})}}},
            {"status", {{"phase", phase}}}};
  if (deleting) p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  return p;
}

TEST(VersionOfImageTest, ARuleFirstThenTheTag) {
  VersionRules rules;
  const std::string digest = "sha256:" + std::string(64, 'a');
  rules.images = {{digest, "3.0.0"}, {"registry.example/web:latest", "2.0.0"}};
  EXPECT_EQ(VersionOfImage("registry.example/web:1.0.0", rules), "1.0.0");
  EXPECT_EQ(VersionOfImage("registry.example:5000/web:1.0.0", rules), "1.0.0");
  EXPECT_EQ(VersionOfImage("registry.example/web@" + digest, rules), "3.0.0");
  EXPECT_EQ(VersionOfImage("registry.example/web:latest", rules), "2.0.0");
  EXPECT_EQ(VersionOfImage("registry.example:5000/web", rules), "unknown");
  EXPECT_EQ(VersionOfImage("registry.example/web@sha256:" + std::string(64, 'b'), rules),
            "unknown");
}

TEST(PodsOfTest, RunningPodsNotBeingDeletedByName) {
  VersionRules rules;
  rules.container = "app";
  const json list = {
      {"items", json::array({PodJson("web-b", "r.example/web:2.0.0"),
                             PodJson("web-a", "r.example/web:1.0.0"),
                             PodJson("web-c", "r.example/web:1.0.0", "Pending"),
                             PodJson("web-d", "r.example/web:1.0.0", "Running", true)})}};
  const auto pods = PodsOf(list, rules);
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(pods[0], (Pod{"web-a", "r.example/web:1.0.0", "1.0.0"}));
  EXPECT_EQ(pods[1], (Pod{"web-b", "r.example/web:2.0.0", "2.0.0"}));
  rules.container.clear();  // the first container
  EXPECT_EQ(PodsOf(list, rules)[0].version, "9.9.9");
}

double Sample(const std::string& text, const std::string& series) {
  const auto at = text.find(series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 1));
}

TEST(PodSeriesTest, HealthyAndBadPodsByVersion) {
  Behaviour b;
  b.rate = 10;
  b.bad_error_rate = 0.5;
  b.bad_latency_s = 0.7;
  b.bad_versions = {"3.0.0"};
  PodSeries s(b);
  const auto change =
      s.SetPods({{"web-1", "r/web:2.0.0", "2.0.0"}, {"web-canary-x", "r/web:3.0.0", "3.0.0"}});
  EXPECT_EQ(change.added.size(), 2u);
  s.Advance(2.0);
  const std::string text = s.Render();
  const std::string good = "instance_name=\"web-1\",version=\"2.0.0\"";
  const std::string bad = "instance_name=\"web-canary-x\",version=\"3.0.0\"";
  EXPECT_EQ(Sample(text, "demo_http_requests_total{" + good + ",code=\"200\"}"), 20);
  EXPECT_EQ(Sample(text, "demo_http_requests_total{" + good + ",code=\"500\"}"), 0);
  EXPECT_EQ(Sample(text, "demo_http_requests_total{" + bad + ",code=\"200\"}"), 10);
  EXPECT_EQ(Sample(text, "demo_http_requests_total{" + bad + ",code=\"500\"}"), 10);
  // 20 ms lands in the 25 ms bucket, 700 ms in the 1 s one.
  EXPECT_EQ(Sample(text, "demo_http_request_duration_seconds_bucket{" + good + ",le=\"0.01\"}"), 0);
  EXPECT_EQ(Sample(text, "demo_http_request_duration_seconds_bucket{" + good + ",le=\"0.025\"}"),
            20);
  EXPECT_EQ(Sample(text, "demo_http_request_duration_seconds_bucket{" + bad + ",le=\"0.5\"}"), 0);
  EXPECT_EQ(Sample(text, "demo_http_request_duration_seconds_bucket{" + bad + ",le=\"1\"}"), 20);
  EXPECT_EQ(Sample(text, "demo_http_request_duration_seconds_count{" + bad + "}"), 20);
  EXPECT_EQ(Sample(text, "demo_app_info{" + bad + "}"), 1);
  EXPECT_NE(text.find("# TYPE demo_http_request_duration_seconds histogram"), std::string::npos);
}

TEST(PodSeriesTest, KeptPodsKeepCountingGoneOnesEndNewOnesStartAtZero) {
  PodSeries s(Behaviour{});  // 5 req/s, all healthy
  s.SetPods({{"a", "r/web:1.0.0", "1.0.0"}, {"b", "r/web:1.0.0", "1.0.0"}});
  s.Advance(1.0);
  const auto change = s.SetPods({{"a", "r/web:1.0.0", "1.0.0"}, {"c", "r/web:2.0.0", "2.0.0"}});
  ASSERT_EQ(change.added.size(), 1u);
  EXPECT_EQ(change.added[0].name, "c");
  EXPECT_EQ(change.removed, std::vector<std::string>{"b"});
  s.Advance(1.0);
  const std::string text = s.Render();
  EXPECT_EQ(
      Sample(text, "demo_http_requests_total{instance_name=\"a\",version=\"1.0.0\",code=\"200\"}"),
      10);
  EXPECT_EQ(
      Sample(text, "demo_http_requests_total{instance_name=\"c\",version=\"2.0.0\",code=\"200\"}"),
      5);
  EXPECT_EQ(text.find("instance_name=\"b\""), std::string::npos);
}

}  // namespace
}  // namespace sluice::kube_exporter
