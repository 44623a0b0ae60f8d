#include "incident.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <sstream>
#include <vector>

namespace sluice::rollback {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kT0 = 1'700'000'000'000;

Incident Sample() {
  Incident in;
  in.id = "inc-1";
  in.deployment_id = "d1";
  in.rollback_id = "rb-1";
  in.app = "demo-app";
  in.env = "production";
  in.version = "v3";
  in.target_version = "v2";
  in.trigger = "analysis_failed";
  in.trigger_actor = "metric-watcher";
  in.scope = "batches";
  in.batches = {1};
  in.summary =
      "demo-app production: v3 rolled back to v2 on 2 hosts after error_rate 0.31 > 0.05 (batch 2)";
  in.success = true;
  in.final_status = "failed";
  in.reverted_hosts = {"h3", "h4"};
  in.started_at_ms = kT0 + 600'000;
  in.completed_at_ms = kT0 + 630'000;
  in.created_at_ms = kT0 + 631'000;
  in.report_url = "http://127.0.0.1:8080/v1/incidents/inc-1";
  in.chart_url = in.report_url + "/chart.svg";
  in.evidence.push_back({"error_rate",
                         "sum(rate(x{a=\"b\"}[30s]))",
                         0.05,
                         0.31,
                         ">",
                         "critical",
                         {"h3"},
                         "error_rate 0.31 > 0.05 on h3"});
  in.timeline = {{kT0 + 300'000, "DeploymentPlanned", "rollout-planner", "3 batches"},
                 {kT0 + 310'000, "BatchRequested", "rollout-planner", "batch 1"},
                 {kT0 + 400'000, "BatchRequested", "rollout-planner", "batch 2 | pipes"}};
  in.batch_starts = {{kT0 + 310'000, 0}, {kT0 + 400'000, 1}};
  in.snapshot.available = true;
  in.snapshot.metric = "error_rate";
  in.snapshot.query = "sum(rate(x[30s]))";
  in.snapshot.start_ms = kT0;
  in.snapshot.end_ms = kT0 + 631'000;
  in.snapshot.step_ms = 5000;
  in.snapshot.threshold = 0.05;
  SnapshotSeries s1;
  s1.labels = {{"instance_name", "h3"}};
  SnapshotSeries s2;
  s2.labels = {{"instance_name", "h<4>"}};
  for (int i = 0; i <= 126; ++i) {
    s1.points.push_back({kT0 + i * 5000, i > 80 ? 0.31 : 0.01});
    s2.points.push_back({kT0 + i * 5000, i == 50 ? std::nan("") : 0.02});
  }
  in.snapshot.series = {s1, s2};
  in.deploy_log = {{kT0 + 320'000, "h1", 0, "succeeded", "v3", ""},
                   {kT0 + 410'000, "h4", 1, "failed", "v3", "health check failed"}};
  in.result = {{"h1", "v3"}, {"h2", "v3"}, {"h3", "v2"}, {"h4", "v2"}};
  return in;
}

// A small check that the document is well-formed XML: every tag closes in order, attributes are
// quoted, and no bare '&' or '<' appears in text.
bool WellFormedXml(const std::string& xml, std::string* why) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] == '<') {
      const auto end = xml.find('>', i);
      if (end == std::string::npos) {
        *why = "unclosed tag";
        return false;
      }
      std::string tag = xml.substr(i + 1, end - i - 1);
      i = end + 1;
      if (tag.starts_with("?") || tag.starts_with("!")) continue;
      if (tag.starts_with("/")) {
        const std::string name = tag.substr(1);
        if (stack.empty() || stack.back() != name) {
          *why = "mismatched </" + name + ">";
          return false;
        }
        stack.pop_back();
        continue;
      }
      const bool self = tag.ends_with("/");
      const std::string name = tag.substr(0, tag.find_first_of(" /"));
      // Attributes: name="value" pairs only.
      static const std::regex kAttrs(R"(^[A-Za-z_:][-\w:.]*(\s+[-\w:.]+="[^"<]*")*\s*/?$)");
      if (!std::regex_match(tag, kAttrs)) {
        *why = "bad attributes in <" + tag + ">";
        return false;
      }
      if (!self) stack.push_back(name);
    } else {
      if (xml[i] == '&') {
        static const std::regex kEntity(R"(^&(amp|lt|gt|quot|apos);)");
        if (!std::regex_search(xml.substr(i, 6), kEntity)) {
          *why = "bare &";
          return false;
        }
      }
      ++i;
    }
  }
  if (!stack.empty()) {
    *why = "unclosed <" + stack.back() + ">";
    return false;
  }
  return true;
}

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(IncidentChartTest, IsWellFormedWithSeriesThresholdBatchesAxesAndTitle) {
  const auto svg = RenderChartSvg(Sample());
  std::string why;
  EXPECT_TRUE(WellFormedXml(svg, &why)) << why << "\n" << svg;
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  // h3's series is one polyline; h<4>'s is split in two by its NaN point.
  EXPECT_EQ(Count(svg, "class=\"series\""), 3);
  EXPECT_EQ(Count(svg, "class=\"threshold\""), 1);
  EXPECT_THAT(svg, HasSubstr("stroke-dasharray"));
  EXPECT_EQ(Count(svg, "class=\"batch-start\""), 2);
  EXPECT_THAT(svg, HasSubstr(">batch 2</text>"));
  EXPECT_THAT(svg, HasSubstr("class=\"x-label\""));
  EXPECT_THAT(svg, HasSubstr("class=\"y-label\""));
  EXPECT_THAT(svg, HasSubstr("demo-app production: error_rate (v3 → v2)"));
  EXPECT_THAT(svg, HasSubstr("h&lt;4&gt;"));
  EXPECT_THAT(svg, Not(HasSubstr("h<4>")));
}

TEST(IncidentChartTest, PointsStayInsideThePlot) {
  const auto svg = RenderChartSvg(Sample(), 800, 320);
  static const std::regex kPoints(R"re(points="([^"]*)")re");
  int checked = 0;
  for (std::sregex_iterator it(svg.begin(), svg.end(), kPoints), end; it != end; ++it) {
    std::stringstream ss((*it)[1].str());
    std::string pair;
    while (ss >> pair) {
      const auto comma = pair.find(',');
      const double x = std::stod(pair.substr(0, comma));
      const double y = std::stod(pair.substr(comma + 1));
      EXPECT_GE(x, 60.0);
      EXPECT_LE(x, 780.0);
      EXPECT_GE(y, 36.0);
      EXPECT_LE(y, 276.0);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 127 + 126);
}

TEST(IncidentChartTest, UnavailableSnapshotSaysSo) {
  auto in = Sample();
  in.snapshot = Snapshot{};
  in.snapshot.unavailable_reason = "connection refused <127.0.0.1:19090>";
  const auto svg = RenderChartSvg(in);
  std::string why;
  EXPECT_TRUE(WellFormedXml(svg, &why)) << why;
  EXPECT_THAT(svg, HasSubstr("snapshot unavailable: connection refused &lt;127.0.0.1:19090&gt;"));
  EXPECT_EQ(Count(svg, "class=\"series\""), 0);
}

TEST(IncidentMarkdownTest, HasEverySection) {
  const auto md = RenderMarkdown(Sample());
  for (const char* section : {"## Summary", "## Trigger", "## Timeline", "## Metric snapshot",
                              "## Deploy log", "## Result"}) {
    EXPECT_THAT(md, HasSubstr(section));
  }
  // Sections in order.
  EXPECT_LT(md.find("## Summary"), md.find("## Trigger"));
  EXPECT_LT(md.find("## Trigger"), md.find("## Timeline"));
  EXPECT_LT(md.find("## Timeline"), md.find("## Metric snapshot"));
  EXPECT_LT(md.find("## Metric snapshot"), md.find("## Deploy log"));
  EXPECT_LT(md.find("## Deploy log"), md.find("## Result"));
  EXPECT_THAT(md, HasSubstr("v3 rolled back to v2 on 2 hosts after error_rate 0.31 > 0.05"));
  EXPECT_THAT(md, HasSubstr("| error_rate | 0.31 | > 0.05 | critical | h3 |"));
  EXPECT_THAT(md, HasSubstr("```promql\nsum(rate(x{a=\"b\"}[30s]))\n```"));
  EXPECT_THAT(md, HasSubstr("batch 2 \\| pipes"));  // a pipe cannot break the table
  EXPECT_THAT(md, HasSubstr("Chart: http://127.0.0.1:8080/v1/incidents/inc-1/chart.svg"));
  EXPECT_THAT(md, HasSubstr("| h4 | 2 | failed | v3 | health check failed |"));
  EXPECT_THAT(md, HasSubstr("| h3 | v2 |"));
  EXPECT_THAT(md, HasSubstr("| h1 | v3 |"));
  EXPECT_THAT(md, HasSubstr("| h3 | 127 |"));
}

TEST(IncidentMarkdownTest, UnavailableSnapshotAndFailedHosts) {
  auto in = Sample();
  in.snapshot = Snapshot{};
  in.snapshot.unavailable_reason = "Prometheus answered 503";
  in.success = false;
  in.failed_hosts = {"h4"};
  const auto md = RenderMarkdown(in);
  EXPECT_THAT(md, HasSubstr("snapshot unavailable: Prometheus answered 503"));
  EXPECT_THAT(md, HasSubstr("Not reverted: h4"));
  EXPECT_THAT(md, HasSubstr("revert failed"));
}

TEST(IncidentJsonTest, RoundTrips) {
  const auto in = Sample();
  const auto j = IncidentToJson(in);
  EXPECT_EQ(j["snapshot"]["series"][1]["points"][50][1], nullptr);  // NaN is null
  EXPECT_EQ(j["timeline"][0]["at"], "2023-11-14T22:18:20.000Z");
  const auto back = IncidentFromJson(j);
  EXPECT_EQ(IncidentToJson(back).dump(), j.dump());
  EXPECT_TRUE(std::isnan(back.snapshot.series[1].points[50].value));
}

TEST(ChooseStepTest, AtMostThreeHundredPointsInWholeSeconds) {
  using std::chrono::milliseconds;
  EXPECT_EQ(ChooseStep(0, 0), milliseconds(1000));
  EXPECT_EQ(ChooseStep(0, 60'000), milliseconds(1000));
  for (std::int64_t span : {299'000LL, 300'000LL, 600'000LL, 3'600'000LL, 86'400'000LL, 12'345LL}) {
    const auto step = ChooseStep(1000, 1000 + span).count();
    EXPECT_EQ(step % 1000, 0) << span;
    EXPECT_LE(span / step + 1, 300) << span;
  }
  EXPECT_EQ(ChooseStep(0, 3'600'000), milliseconds(13'000));
}

TEST(XmlEscapeTest, EscapesMarkupAndControlCharacters) {
  EXPECT_EQ(XmlEscape("a<b>&\"'\x01"), "a&lt;b&gt;&amp;&quot;&apos; ");
}

}  // namespace
}  // namespace sluice::rollback
