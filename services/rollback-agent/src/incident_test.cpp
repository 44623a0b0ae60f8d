#include "incident.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "chart_examples.hpp"

namespace sluice::rollback {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The canary failure of the examples with what a report must escape or keep: markup in a
// host's label, a NaN point, a pipe in an event's detail, quotes in the PromQL, the summary, the
// deploy log and the result. Two series without a role (the canary) over the whole lookback.
Incident Sample() {
  using testdata::kPlannedMs;
  Incident in = testdata::CanaryFailure();
  in.summary =
      "demo-app production: v3 rolled back to v2 on 2 hosts after error_rate 0.31 > 0.05 (batch 2)";
  in.evidence.at(0).query = "sum(rate(x{a=\"b\"}[30s]))";
  in.timeline.at(2).detail = "batch 2 | pipes";
  Snapshot& s = in.snapshot;
  s.query = "sum(rate(x[30s]))";
  s.baseline_query.clear();
  s.series = {
      testdata::MakeSeries("h3", SeriesRole::kCanary, -300'000, 270'000,
                           [](std::int64_t t) { return t > 185'000 ? 0.31 : 0.01; }),
      testdata::MakeSeries("h<4>", SeriesRole::kCanary, -300'000, 270'000,
                           [](std::int64_t t) { return t == 100'000 ? std::nan("") : 0.02; })};
  in.deploy_log = {{kPlannedMs + 20'000, "h1", 0, "succeeded", "v3", ""},
                   {kPlannedMs + 140'000, "h4", 1, "failed", "v3", "health check failed"}};
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

// ---- the chart's structure, read back from the SVG -----------------------------------------

using Attributes = std::map<std::string, std::string>;

Attributes AttributesOf(const std::string& tag) {
  static const std::regex kAttr(R"re(([-\w:]+)="([^"]*)")re");
  Attributes out;
  for (std::sregex_iterator it(tag.begin(), tag.end(), kAttr), end; it != end; ++it) {
    out[(*it)[1].str()] = (*it)[2].str();
  }
  return out;
}

// Every <name .../> or <name ...> element's attributes, in document order.
std::vector<Attributes> Elements(const std::string& svg, const std::string& name) {
  const std::regex tag("<" + name + R"((\s[^>]*)?>)");
  std::vector<Attributes> out;
  for (std::sregex_iterator it(svg.begin(), svg.end(), tag), end; it != end; ++it) {
    out.push_back(AttributesOf((*it)[1].str()));
  }
  return out;
}

std::vector<Attributes> WithClass(const std::vector<Attributes>& elements, const std::string& cls) {
  std::vector<Attributes> out;
  for (const auto& e : elements) {
    if (e.count("class") && e.at("class") == cls) out.push_back(e);
  }
  return out;
}

std::string Unescape(std::string s) {
  for (const auto& [entity, c] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}}) {
    for (auto p = s.find(entity); p != std::string::npos; p = s.find(entity, p + 1)) {
      s.replace(p, entity.size(), c);
    }
  }
  return s;
}

struct SvgText {
  Attributes attrs;
  std::string text;
  std::string Class() const { return attrs.count("class") ? attrs.at("class") : ""; }
};

std::vector<SvgText> Texts(const std::string& svg) {
  static const std::regex kText(R"(<text(\s[^>]*)>([^<]*)</text>)");
  std::vector<SvgText> out;
  for (std::sregex_iterator it(svg.begin(), svg.end(), kText), end; it != end; ++it) {
    out.push_back({AttributesOf((*it)[1].str()), Unescape((*it)[2].str())});
  }
  return out;
}

std::vector<std::string> TextsOf(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  for (const auto& t : Texts(svg)) {
    if (t.Class() == cls) out.push_back(t.text);
  }
  return out;
}

double Num(const Attributes& a, const std::string& key) { return std::stod(a.at(key)); }

double RootFont(const std::string& svg) { return Num(Elements(svg, "svg").at(0), "font-size"); }

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  std::string what;
};

// A text's box by the chart's estimate (not the renderer's metrics): 0.6 em per character
// (code point) wide, from 0.8 em above the baseline to 0.2 em below it; the rotated y label
// turned by 90 degrees about its anchor.
Box BoxOf(const SvgText& t, double root_font) {
  const double fs = t.attrs.count("font-size") ? Num(t.attrs, "font-size") : root_font;
  std::size_t chars = 0;
  for (const char c : t.text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  const double w = 0.6 * fs * static_cast<double>(chars);
  const double x = Num(t.attrs, "x"), y = Num(t.attrs, "y");
  const std::string anchor = t.attrs.count("text-anchor") ? t.attrs.at("text-anchor") : "start";
  const double start = anchor == "middle" ? -w / 2 : anchor == "end" ? -w : 0;
  if (t.attrs.count("transform")) {  // rotate(-90 x y)
    return {x - 0.8 * fs, y - start - w, x + 0.2 * fs, y - start, t.Class() + " " + t.text};
  }
  return {x + start, y - 0.8 * fs, x + start + w, y + 0.2 * fs, t.Class() + " " + t.text};
}

bool Overlap(const Box& a, const Box& b) {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

// No two texts of the chart overlap, and each stays inside it.
void ExpectLabelsApart(const std::string& svg, int width, int height, const std::string& name) {
  const double root = RootFont(svg);
  std::vector<Box> boxes;
  for (const auto& t : Texts(svg)) boxes.push_back(BoxOf(t, root));
  ASSERT_GT(boxes.size(), 10u) << name;
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const auto& a = boxes[i];
    EXPECT_GE(a.x0, 0) << name << ": " << a.what;
    EXPECT_LE(a.x1, width) << name << ": " << a.what;
    EXPECT_GE(a.y0, 0) << name << ": " << a.what;
    EXPECT_LE(a.y1, height) << name << ": " << a.what;
    for (std::size_t j = i + 1; j < boxes.size(); ++j) {
      EXPECT_FALSE(Overlap(a, boxes[j]))
          << name << ": '" << a.what << "' overlaps '" << boxes[j].what << "'";
    }
  }
}

struct Plot {
  double x = 0, y = 0, w = 0, h = 0;
  std::int64_t start_ms = 0, end_ms = 0;
  double X(std::int64_t t) const {
    return x + w * static_cast<double>(t - start_ms) / static_cast<double>(end_ms - start_ms);
  }
};

Plot PlotOf(const std::string& svg) {
  const auto rects = WithClass(Elements(svg, "rect"), "plot");
  EXPECT_EQ(rects.size(), 1u);
  if (rects.empty()) return {};
  const auto& r = rects[0];
  return {Num(r, "x"),
          Num(r, "y"),
          Num(r, "width"),
          Num(r, "height"),
          std::stoll(r.at("data-start-ms")),
          std::stoll(r.at("data-end-ms"))};
}

std::vector<std::pair<double, double>> PointsOf(const Attributes& polyline) {
  std::vector<std::pair<double, double>> out;
  std::stringstream ss(polyline.at("points"));
  std::string pair;
  while (ss >> pair) {
    const auto comma = pair.find(',');
    out.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return out;
}

TEST(IncidentChartTest, IsWellFormedWithSeriesThresholdMarkersAxesAndTitle) {
  const auto svg = RenderChartSvg(Sample());
  std::string why;
  EXPECT_TRUE(WellFormedXml(svg, &why)) << why << "\n" << svg;
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  // h3's series is one polyline; h<4>'s is split in two by its NaN point. Neither has a role:
  // the evidence's query, the canary.
  const auto polylines = Elements(svg, "polyline");
  EXPECT_EQ(WithClass(polylines, "series canary").size(), 3u);
  EXPECT_EQ(WithClass(polylines, "series baseline").size(), 0u);
  EXPECT_EQ(WithClass(Elements(svg, "line"), "threshold").size(), 1u);
  EXPECT_THAT(svg, HasSubstr("stroke-dasharray"));
  EXPECT_EQ(WithClass(Elements(svg, "line"), "batch-start").size(), 2u);
  EXPECT_EQ(WithClass(Elements(svg, "line"), "rollback").size(), 1u);
  EXPECT_THAT(TextsOf(svg, "batch-label"), ElementsAre("batch 1", "batch 2"));
  EXPECT_THAT(TextsOf(svg, "rollback-label"), ElementsAre("rollback"));
  EXPECT_THAT(svg, HasSubstr("class=\"x-label\""));
  EXPECT_THAT(svg, HasSubstr("class=\"y-label\""));
  EXPECT_THAT(TextsOf(svg, "title"), ElementsAre("demo-app production: error_rate (v3 → v2)"));
  EXPECT_THAT(svg, HasSubstr("h&lt;4&gt;"));
  EXPECT_THAT(svg, Not(HasSubstr("h<4>")));
}

// The window is the deployment, not the lookback: the first batch starts near the left edge
// and the rollback is near the right one.
TEST(IncidentChartTest, WindowRunsFromJustBeforeTheFirstBatchToJustAfterTheRollback) {
  for (const auto& ex : testdata::Examples()) {
    for (const auto& [w, h] : testdata::Sizes()) {
      const Incident& in = ex.incident;
      const auto svg = RenderChartSvg(in, w, h);
      const auto plot = PlotOf(svg);
      const std::int64_t first = in.batch_starts.front().at_ms;
      const std::int64_t span = in.completed_at_ms - first;
      const std::int64_t slack = std::max<std::int64_t>(span / 4, 30'000);
      EXPECT_LE(plot.start_ms, first) << ex.name;
      EXPECT_GE(plot.start_ms, first - slack) << ex.name;
      EXPECT_GE(plot.end_ms, in.completed_at_ms) << ex.name;
      EXPECT_LE(plot.end_ms, in.completed_at_ms + slack) << ex.name;
      const auto batches = WithClass(Elements(svg, "line"), "batch-start");
      const auto rollback = WithClass(Elements(svg, "line"), "rollback");
      ASSERT_EQ(batches.size(), in.batch_starts.size()) << ex.name;
      ASSERT_EQ(rollback.size(), 1u) << ex.name;
      if (span >= 60'000) {
        EXPECT_LT(Num(batches.front(), "x1"), plot.x + 0.2 * plot.w) << ex.name;
        EXPECT_GT(Num(rollback.front(), "x1"), plot.x + 0.75 * plot.w) << ex.name;
      }
    }
  }
}

// The batches a marker label names: "batch 2", "batches 1–4", "batches 1, 3".
std::vector<int> BatchesOf(const std::string& label) {
  static const std::regex kRange(R"(^batches (\d+)–(\d+)$)");
  std::smatch m;
  if (std::regex_match(label, m, kRange)) {
    std::vector<int> out;
    for (int i = std::stoi(m[1]); i <= std::stoi(m[2]); ++i) out.push_back(i);
    return out;
  }
  static const std::regex kNumber(R"(\d+)");
  std::vector<int> out;
  for (std::sregex_iterator it(label.begin(), label.end(), kNumber), end; it != end; ++it) {
    out.push_back(std::stoi(it->str()));
  }
  return out;
}

std::vector<int> NamedBatches(const std::string& svg) {
  std::vector<int> named;
  for (const auto& label : TextsOf(svg, "batch-label")) {
    const auto numbers = BatchesOf(label);
    named.insert(named.end(), numbers.begin(), numbers.end());
  }
  return named;
}

TEST(IncidentChartTest, MarkersStandAtTheirEventsInsideThePlot) {
  const auto in = testdata::CloseEvents();
  const auto svg = RenderChartSvg(in, 600, 300);
  const auto plot = PlotOf(svg);
  const auto batches = WithClass(Elements(svg, "line"), "batch-start");
  ASSERT_EQ(batches.size(), 4u);
  for (std::size_t i = 0; i < batches.size(); ++i) {
    EXPECT_NEAR(Num(batches[i], "x1"), plot.X(in.batch_starts[i].at_ms), 0.1);
    EXPECT_EQ(Num(batches[i], "x1"), Num(batches[i], "x2"));
    EXPECT_GT(Num(batches[i], "x1"), plot.x);
    EXPECT_LT(Num(batches[i], "x1"), plot.x + plot.w);
    EXPECT_NEAR(Num(batches[i], "y2"), plot.y + plot.h, 0.1);
  }
  const auto rollback = WithClass(Elements(svg, "line"), "rollback");
  ASSERT_EQ(rollback.size(), 1u);
  EXPECT_NEAR(Num(rollback[0], "x1"), plot.X(in.started_at_ms), 0.1);
  // Four labels would need more rows than a 300 px chart spares: runs share one, and every
  // batch is still named once, at either size.
  EXPECT_LT(TextsOf(svg, "batch-label").size(), 4u);
  EXPECT_THAT(NamedBatches(svg), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(NamedBatches(RenderChartSvg(in, 800, 400)), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(TextsOf(svg, "rollback-label"), ElementsAre("rollback"));
}

TEST(IncidentChartTest, LabelsNeverOverlapAtChatAndMailSizes) {
  for (const auto& ex : testdata::Examples()) {
    for (const auto& [w, h] : testdata::Sizes()) {
      ExpectLabelsApart(RenderChartSvg(ex.incident, w, h), w, h,
                        ex.name + " " + std::to_string(w) + "x" + std::to_string(h));
    }
  }
  // Eight batches half a second apart and the rollback right after them.
  auto in = testdata::CloseEvents();
  in.batch_starts.clear();
  for (std::uint32_t i = 0; i < 8; ++i) {
    in.batch_starts.push_back({testdata::kPlannedMs + 5'000 + 500 * i, i});
  }
  in.started_at_ms = testdata::kPlannedMs + 9'000;
  for (const auto& [w, h] : testdata::Sizes()) {
    const auto svg = RenderChartSvg(in, w, h);
    ExpectLabelsApart(svg, w, h, "crowded " + std::to_string(w));
    EXPECT_EQ(WithClass(Elements(svg, "line"), "batch-start").size(), 8u);
    // Too close for a label each: runs share one ("batches 1–4"), every batch named once.
    EXPECT_THAT(NamedBatches(svg), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8)) << w;
    EXPECT_THAT(TextsOf(svg, "rollback-label"), ElementsAre("rollback"));
  }
}

TEST(IncidentChartTest, CanaryAndBaselineAreSeparateSeriesWithALegend) {
  const auto svg = RenderChartSvg(testdata::CanaryFailure());
  const auto polylines = Elements(svg, "polyline");
  const auto canary = WithClass(polylines, "series canary");
  const auto baseline = WithClass(polylines, "series baseline");
  ASSERT_EQ(canary.size(), 4u);
  ASSERT_EQ(baseline.size(), 2u);
  for (const auto& c : canary) {
    EXPECT_EQ(c.at("stroke"), canary[0].at("stroke"));
    for (const auto& b : baseline) {
      EXPECT_NE(c.at("stroke"), b.at("stroke"));
      EXPECT_GT(Num(c, "stroke-width"), Num(b, "stroke-width"));
    }
  }
  EXPECT_EQ(baseline[0].at("data-series"), "h5");
  EXPECT_THAT(TextsOf(svg, "legend canary"), ElementsAre("canary v3: h1, h2, h3, +1"));
  EXPECT_THAT(TextsOf(svg, "legend baseline"), ElementsAre("baseline v2: h5, h6"));
  EXPECT_THAT(TextsOf(svg, "legend threshold"), ElementsAre("threshold 0.05"));
  // Each legend entry's sample line is drawn as its series is.
  const auto swatches = WithClass(Elements(svg, "line"), "swatch");
  ASSERT_EQ(swatches.size(), 3u);
  EXPECT_EQ(swatches[0].at("stroke"), canary[0].at("stroke"));
  EXPECT_EQ(swatches[1].at("stroke"), baseline[0].at("stroke"));
  EXPECT_EQ(swatches[2].at("stroke"),
            WithClass(Elements(svg, "line"), "threshold")[0].at("stroke"));
  // The baseline is drawn first, under the canary.
  EXPECT_LT(svg.find("series baseline"), svg.find("series canary"));
}

// A series with no point in the window (a host gone before the deployment) is not drawn and
// not counted in the legend.
TEST(IncidentChartTest, LegendNamesOnlySeriesDrawnInTheWindow) {
  auto in = testdata::CanaryFailure();
  in.snapshot.series.push_back(testdata::MakeSeries("h9", SeriesRole::kCanary, -300'000, -200'000,
                                                    [](std::int64_t) { return 0.5; }));
  const auto svg = RenderChartSvg(in);
  EXPECT_EQ(WithClass(Elements(svg, "polyline"), "series canary").size(), 4u);
  EXPECT_THAT(TextsOf(svg, "legend canary"), ElementsAre("canary v3: h1, h2, h3, +1"));
}

TEST(IncidentChartTest, SeriesOfAReportWithoutRolesAreTheCanary) {
  auto j = IncidentToJson(testdata::CanaryFailure());
  for (auto& series : j["snapshot"]["series"]) series.erase("role");
  const auto back = IncidentFromJson(j);
  for (const auto& s : back.snapshot.series) EXPECT_EQ(s.role, SeriesRole::kCanary);
  const auto svg = RenderChartSvg(back);
  EXPECT_EQ(WithClass(Elements(svg, "polyline"), "series canary").size(), 6u);
  EXPECT_THAT(TextsOf(svg, "legend baseline"), testing::IsEmpty());
}

TEST(IncidentChartTest, ReadableAtTheSizesChatAndMailShow) {
  for (const auto& [w, h] : testdata::Sizes()) {
    const auto svg = RenderChartSvg(testdata::CanaryFailure(), w, h);
    const auto root = Elements(svg, "svg").at(0);
    EXPECT_EQ(root.at("width"), std::to_string(w));
    EXPECT_EQ(root.at("height"), std::to_string(h));
    EXPECT_EQ(root.at("viewBox"), "0 0 " + std::to_string(w) + " " + std::to_string(h));
    EXPECT_GE(RootFont(svg), 12);
    for (const auto& t : Texts(svg)) {
      const double fs = t.attrs.count("font-size") ? Num(t.attrs, "font-size") : RootFont(svg);
      EXPECT_GE(fs, 11) << t.text;
      if (t.Class() == "title") {
        EXPECT_GE(fs, 14);
      }
    }
    for (const auto& p : WithClass(Elements(svg, "polyline"), "series canary")) {
      EXPECT_GE(Num(p, "stroke-width"), 2.5);
    }
    for (const auto& p : WithClass(Elements(svg, "polyline"), "series baseline")) {
      EXPECT_GE(Num(p, "stroke-width"), 1.5);
    }
    EXPECT_GE(Num(WithClass(Elements(svg, "line"), "threshold").at(0), "stroke-width"), 1.5);
    const auto plot = PlotOf(svg);
    EXPECT_GE(plot.w, 0.75 * w);  // the plot takes most of the chart
    EXPECT_GE(plot.h, 0.5 * h);
  }
}

TEST(IncidentChartTest, AxesCoverTheWindowAndTheValues) {
  const auto in = testdata::CanaryFailure();
  const auto svg = RenderChartSvg(in, 600, 300);
  const auto plot = PlotOf(svg);
  // Time ticks left to right inside the plot, at least three.
  double last_x = 0;
  const auto ticks = WithClass(Elements(svg, "text"), "x-tick");
  ASSERT_GE(ticks.size(), 3u);
  for (const auto& t : ticks) {
    EXPECT_GT(Num(t, "x"), last_x);
    EXPECT_GE(Num(t, "x"), plot.x - 0.1);
    EXPECT_LE(Num(t, "x"), plot.x + plot.w + 0.1);
    last_x = Num(t, "x");
  }
  // Value ticks from zero through the highest point and the threshold.
  std::vector<double> values;
  for (const auto& v : TextsOf(svg, "y-tick")) values.push_back(std::stod(v));
  ASSERT_GE(values.size(), 3u);
  EXPECT_DOUBLE_EQ(values.front(), 0);
  EXPECT_GE(values.back(), 0.34);
  EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
}

TEST(IncidentChartTest, PointsStayInsideThePlot) {
  const auto in = Sample();
  const auto svg = RenderChartSvg(in, 800, 400);
  const auto plot = PlotOf(svg);
  int checked = 0;
  for (const auto& p : Elements(svg, "polyline")) {
    for (const auto& [x, y] : PointsOf(p)) {
      EXPECT_GE(x, plot.x - 0.05);
      EXPECT_LE(x, plot.x + plot.w + 0.05);
      EXPECT_GE(y, plot.y - 0.05);
      EXPECT_LE(y, plot.y + plot.h + 0.05);
      ++checked;
    }
  }
  int expected = 0;  // the finite points inside the window
  for (const auto& s : in.snapshot.series) {
    for (const auto& p : s.points) {
      expected += std::isfinite(p.value) && p.at_ms >= plot.start_ms && p.at_ms <= plot.end_ms;
    }
  }
  EXPECT_EQ(checked, expected);
  EXPECT_GT(checked, 100);
}

TEST(IncidentChartTest, UnavailableSnapshotSaysSo) {
  auto in = Sample();
  in.snapshot = Snapshot{};
  in.snapshot.unavailable_reason = "connection refused <127.0.0.1:19090>";
  const auto svg = RenderChartSvg(in);
  std::string why;
  EXPECT_TRUE(WellFormedXml(svg, &why)) << why;
  EXPECT_THAT(svg, HasSubstr("snapshot unavailable: connection refused &lt;127.0.0.1:19090&gt;"));
  EXPECT_EQ(WithClass(Elements(svg, "polyline"), "series canary").size(), 0u);
  // The events are still there to read.
  EXPECT_EQ(WithClass(Elements(svg, "line"), "batch-start").size(), 2u);
  EXPECT_EQ(WithClass(Elements(svg, "line"), "rollback").size(), 1u);
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
  EXPECT_THAT(md, HasSubstr("Chart: http://127.0.0.1:8080/v1/incidents/inc-7f3a/chart.svg"));
  EXPECT_THAT(md, HasSubstr("| h4 | 2 | failed | v3 | health check failed |"));
  EXPECT_THAT(md, HasSubstr("| h3 | v2 |"));
  EXPECT_THAT(md, HasSubstr("| h1 | v3 |"));
  EXPECT_THAT(md, HasSubstr("| h3 | 115 |"));
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
  EXPECT_EQ(j["snapshot"]["series"][1]["points"][80][1], nullptr);  // NaN is null (t = +100s)
  EXPECT_EQ(j["timeline"][0]["at"], "2025-12-06T05:46:40.000Z");
  const auto back = IncidentFromJson(j);
  EXPECT_EQ(IncidentToJson(back).dump(), j.dump());
  EXPECT_TRUE(std::isnan(back.snapshot.series[1].points[80].value));
}

TEST(IncidentJsonTest, KeepsTheSeriesRolesAndTheBaselineQuery) {
  const auto in = testdata::CanaryFailure();
  const auto j = IncidentToJson(in);
  EXPECT_EQ(j["snapshot"]["series"][0]["role"], "canary");
  EXPECT_EQ(j["snapshot"]["series"][4]["role"], "baseline");
  const auto back = IncidentFromJson(j);
  EXPECT_EQ(back.snapshot.series[4].role, SeriesRole::kBaseline);
  EXPECT_EQ(back.snapshot.baseline_query, in.snapshot.baseline_query);
  EXPECT_EQ(IncidentToJson(back).dump(), j.dump());
}

TEST(IncidentMarkdownTest, NamesTheBaselineSeriesAndQuery) {
  const auto md = RenderMarkdown(testdata::CanaryFailure());
  EXPECT_THAT(md, HasSubstr("| h5 (baseline) | 115 |"));
  EXPECT_THAT(md, HasSubstr("| h3 | 28 |"));
  EXPECT_THAT(md,
              HasSubstr("Baseline (the hosts still on the stable version): "
                        "`sum by (instance_name) (rate(errors{instance_name=~\"h5|h6\"}[30s]))`"));
  EXPECT_THAT(RenderMarkdown(testdata::WithoutBaseline()),
              HasSubstr("No baseline series: no host was still on the stable version."));
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
