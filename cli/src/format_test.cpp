#include "format.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace sluice::cli {
namespace {

using nlohmann::json;

// YAML read back into JSON, scalars typed the way YAML 1.2's core schema reads them.
json FromYaml(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = FromYaml(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& item : n) a.push_back(FromYaml(item));
    return a;
  }
  if (n.IsNull()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: a string
  const json parsed = json::parse(s, nullptr, false);
  return parsed.is_discarded() ? json(s) : parsed;
}

TEST(Format, ParsesTheThreeNames) {
  EXPECT_EQ(ParseFormat("table"), Format::kTable);
  EXPECT_EQ(ParseFormat("json"), Format::kJson);
  EXPECT_EQ(ParseFormat("yaml"), Format::kYaml);
  EXPECT_EQ(ParseFormat("xml"), std::nullopt);
}

TEST(ToYaml, ReadsBackAsTheSameJson) {
  const json v = json::parse(R"({"id":"d-1","generation":3,"ratio":0.25,"paused":false,
    "note":null,"tag":"true","version":"1.10","count":"007","empty":"",
    "batches":[{"index":0,"hosts":["web-1","web-2"]},{"index":1,"hosts":[]}],
    "labels":{},"text":"line one\nline two: with colon"})");
  const std::string yaml = ToYaml(v);
  EXPECT_EQ(FromYaml(YAML::Load(yaml)), v) << yaml;
  EXPECT_NE(yaml.find("id: d-1"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("tag: \"true\""), std::string::npos) << yaml;
}

TEST(RenderTable, AlignsColumnsAndShowsTimesAndGaps) {
  const json items = json::parse(R"([
    {"id":"t-1","name":"ci","expires_at_ms":0,"revoked":false},
    {"id":"t-22","name":"","expires_at_ms":1700000000000,"revoked":true}])");
  const auto lines = RenderTable(items,
                                 {{"ID", "id"},
                                  {"NAME", "name"},
                                  {"EXPIRES", "expires_at_ms"},
                                  {"REVOKED", "revoked"},
                                  {"ROLE", "role"}},
                                 "none");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "ID    NAME  EXPIRES               REVOKED  ROLE");
  EXPECT_EQ(lines[1], "t-1   ci    -                     false    -");
  EXPECT_EQ(lines[2], "t-22  -     2023-11-14T22:13:20Z  true     -");
  EXPECT_EQ(RenderTable(json::array(), {{"ID", "id"}}, "none"), std::vector<std::string>{"none"});
}

TEST(RenderFields, OneAlignedLinePerKey) {
  const auto lines = RenderFields(json::parse(R"({"id":"r-1","app":"shop","hosts":["a"]})"));
  EXPECT_EQ(lines, (std::vector<std::string>{"app:   shop", "hosts: [\"a\"]", "id:    r-1"}));
}

TEST(ResolveTimeRange, TimesAndDurationsBecomeRfc3339UtcOrAnErrorNamingTheFlag) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1796119200));
  std::string error;
  auto r = ResolveTimeRange("2h", "2026-12-01T11:00:00+02:00", now, error);
  ASSERT_TRUE(r.has_value()) << error;
  EXPECT_EQ(r->since, "2026-12-01T08:00:00.000000Z");  // now is 2026-12-01T10:00:00Z
  EXPECT_EQ(r->until, "2026-12-01T09:00:00.000000Z");
  r = ResolveTimeRange("", "", now, error);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->since, "");
  EXPECT_EQ(r->until, "");
  r = ResolveTimeRange("1h30m", "", now, error);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->since, "2026-12-01T08:30:00.000000Z");

  EXPECT_FALSE(ResolveTimeRange("yesterday", "", now, error).has_value());
  EXPECT_NE(error.find("--since 'yesterday'"), std::string::npos) << error;
  EXPECT_FALSE(ResolveTimeRange("", "2026-12-01", now, error).has_value());
  EXPECT_NE(error.find("--until '2026-12-01'"), std::string::npos) << error;
  EXPECT_FALSE(ResolveTimeRange("1h", "2h", now, error).has_value());
  EXPECT_EQ(error, "--until is earlier than --since");
}

TEST(ParseDuration, SumsOfUnits) {
  using std::chrono::milliseconds;
  EXPECT_EQ(ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(ParseDuration("90s"), milliseconds(90'000));
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("1d12h"), milliseconds(129'600'000));
  EXPECT_EQ(ParseDuration("2m10s5ms"), milliseconds(130'005));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
  for (const char* bad : {"", "10", "h", "1x", "-1s", "1.5h", "1h ", "99999999999d", "m5"}) {
    EXPECT_EQ(ParseDuration(bad), std::nullopt) << bad;
  }
}

TEST(ExitCodes, FromHttpStatus) {
  EXPECT_EQ(ExitCodeForHttpStatus(200), kExitOk);
  EXPECT_EQ(ExitCodeForHttpStatus(202), kExitOk);
  EXPECT_EQ(ExitCodeForHttpStatus(400), kExitError);
  EXPECT_EQ(ExitCodeForHttpStatus(409), kExitError);
  EXPECT_EQ(ExitCodeForHttpStatus(422), kExitError);
  EXPECT_EQ(ExitCodeForHttpStatus(401), kExitRefused);
  EXPECT_EQ(ExitCodeForHttpStatus(403), kExitRefused);
  EXPECT_EQ(ExitCodeForHttpStatus(404), kExitNotFound);
  EXPECT_EQ(ExitCodeForHttpStatus(500), kExitError);
  EXPECT_EQ(ExitCodeForHttpStatus(503), kExitUnavailable);
  EXPECT_EQ(ExitCodeForHttpStatus(502), kExitUnavailable);
}

TEST(HintFor, SaysWhatToDoNext) {
  EXPECT_NE(HintFor(401, "http://x:1").find("sluice login --api-url http://x:1"),
            std::string::npos);
  EXPECT_NE(HintFor(403, "").find("role"), std::string::npos);
  EXPECT_NE(HintFor(404, "").find("list"), std::string::npos);
  EXPECT_NE(HintFor(503, "").find("retry"), std::string::npos);
  EXPECT_EQ(HintFor(422, ""), "");
}

TEST(UnifiedDiff, HunksWithContext) {
  const std::string a = "app: shop\nenv: prod\nweight: 5%\nl4\nl5\nl6\nl7\nl8\nl9\nl10\nl11\n";
  const std::string b =
      "app: shop\nenv: prod\nweight: 10%\nl4\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nnew\n";
  EXPECT_EQ(UnifiedDiff(a, b, "shop.yaml@1", "shop.yaml@2"),
            "--- shop.yaml@1\n+++ shop.yaml@2\n"
            "@@ -1,6 +1,6 @@\n app: shop\n env: prod\n-weight: 5%\n+weight: 10%\n l4\n l5\n l6\n"
            "@@ -9,3 +9,4 @@\n l9\n l10\n l11\n+new\n");
  EXPECT_EQ(UnifiedDiff(a, a, "x", "y"), "");
  EXPECT_EQ(UnifiedDiff("", "one\n", "x", "y"), "--- x\n+++ y\n@@ -0,0 +1 @@\n+one\n");
}

}  // namespace
}  // namespace sluice::cli
