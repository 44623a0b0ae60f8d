#include "sluice/spec/yaml_reader.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::spec {
namespace {

using namespace ::sluice::analysis;  // NOLINT(google-build-using-namespace)

using std::chrono::milliseconds;
using std::chrono::minutes;

// Runs `read` and returns the issue it failed with; a read that does not fail is a test failure.
SpecIssue FailureOf(const std::function<void()>& read) {
  try {
    read();
  } catch (const YamlReader::Failure& f) {
    return f.issue;
  }
  ADD_FAILURE() << "the read did not fail";
  return {};
}

// Line numbers below refer to this text (line 1 = "spec:").
const YAML::Node kDoc = YAML::Load(R"(spec:
  name: web
  count: 7
  big: 0000000007
  flag: true
  wait: 1h30m
  list: [a, b]
  empty:
  nested: {x: 1}
)");

TEST(YamlReaderTest, ReadsScalarsOfEachKind) {
  const YamlReader r;
  const auto spec = kDoc["spec"];
  EXPECT_EQ(r.Scalar(spec["name"], "spec.name"), "web");
  EXPECT_EQ(r.Integer(spec["count"], "spec.count", 1, 10), 7);
  EXPECT_TRUE(r.Bool(spec["flag"], "spec.flag"));
  EXPECT_EQ(r.Duration(spec["wait"], "spec.wait"), minutes(90));
  EXPECT_EQ(r.Required(spec, "spec", "name").Scalar(), "web");
  EXPECT_TRUE(YamlReader::Has(spec, "name"));
  EXPECT_FALSE(YamlReader::Has(spec, "empty"));
  EXPECT_FALSE(YamlReader::Has(spec, "absent"));
}

TEST(YamlReaderTest, PathsAndLists) {
  EXPECT_EQ(YamlReader::Child("", "app"), "app");
  EXPECT_EQ(YamlReader::Child("a.b", "c"), "a.b.c");
  EXPECT_EQ(YamlReader::Index("steps", 2), "steps[2]");
  EXPECT_EQ(YamlReader::Join({"x", "y", "z"}), "x, y, z");
  EXPECT_EQ(YamlReader::Join({}), "");
}

TEST(YamlReaderTest, FailuresNameLineColumnPathAndWhat) {
  const YamlReader r;
  const auto spec = kDoc["spec"];

  auto issue = FailureOf([&] { r.Integer(spec["count"], "spec.count", 1, 5); });
  EXPECT_EQ(issue.ToString(), "3:10: spec.count: must be an integer from 1 to 5, got 7");

  issue = FailureOf([&] { r.Integer(spec["list"], "spec.list", 1, 5); });
  EXPECT_EQ(issue.ToString(), "7:9: spec.list: must be an integer from 1 to 5");

  issue = FailureOf([&] { r.Bool(spec["name"], "spec.name"); });
  EXPECT_EQ(issue.ToString(), "2:9: spec.name: must be true or false");

  issue = FailureOf([&] { r.Scalar(spec["nested"], "spec.nested"); });
  EXPECT_EQ(issue.ToString(), "9:11: spec.nested: must be a string");

  issue = FailureOf([&] { r.Duration(spec["name"], "spec.name"); });
  EXPECT_EQ(issue.ToString(),
            "2:9: spec.name: must be a positive duration like 5s, 2m or 1h30m, got web");

  issue = FailureOf([&] { r.Required(spec, "spec", "empty"); });
  EXPECT_EQ(issue.ToString(), "2:3: spec.empty: is required");

  issue = FailureOf([&] { r.RequireMap(spec["list"], "spec.list"); });
  EXPECT_EQ(issue.ToString(), "7:9: spec.list: must be a mapping");

  issue = FailureOf([&] { r.CheckKeys(spec["nested"], "spec.nested", {"y", "z"}); });
  EXPECT_EQ(issue.ToString(), "9:12: spec.nested.x: unknown key (known: y, z)");
}

TEST(YamlReaderTest, DuplicateAndNonScalarKeys) {
  const YamlReader r;
  const auto dup = YAML::Load("{a: 1, a: 2}");
  auto issue = FailureOf([&] { r.CheckKeys(dup, "m", {"a"}); });
  EXPECT_EQ(issue.path, "m.a");
  EXPECT_EQ(issue.message, "duplicate key");

  const auto complex = YAML::Load("? [k]\n: 1\n");
  issue = FailureOf([&] { r.CheckKeys(complex, "m", {"a"}); });
  EXPECT_EQ(issue.ToString(), "1:3: m: keys must be strings");
}

TEST(YamlReaderTest, OptionsWordAndBoundTheDialect) {
  const YamlReader analysis_reader;
  const YamlReader planner_reader(
      YamlReader::Options{.duration_example = "30s", .max_integer_digits = 12});
  const auto spec = kDoc["spec"];

  // Ten characters: past the default digit bound, within the wider one.
  auto issue = FailureOf([&] { analysis_reader.Integer(spec["big"], "spec.big", 1, 10); });
  EXPECT_EQ(issue.message, "must be an integer from 1 to 10, got 0000000007");
  EXPECT_EQ(planner_reader.Integer(spec["big"], "spec.big", 1, 10), 7);

  issue = FailureOf([&] { planner_reader.Duration(spec["count"], "spec.count"); });
  EXPECT_EQ(issue.message, "must be a positive duration like 30s, 2m or 1h30m, got 7");
}

TEST(YamlReaderTest, OneOfMapsSpellingsToValues) {
  enum class Color { kRed, kGreen, kBlue };
  const std::vector<std::pair<std::string, Color>> colors = {
      {"red", Color::kRed}, {"green", Color::kGreen}, {"blue", Color::kBlue}};
  const YamlReader r;
  const auto doc = YAML::Load("{a: green, b: teal, c: [red]}");
  EXPECT_EQ(r.OneOf(doc["a"], "a", colors), Color::kGreen);

  auto issue = FailureOf([&] { r.OneOf(doc["b"], "b", colors); });
  EXPECT_EQ(issue.ToString(), "1:15: b: must be red, green or blue, got teal");
  issue = FailureOf([&] { r.OneOf(doc["c"], "c", colors); });
  EXPECT_EQ(issue.message, "must be a string");

  EXPECT_EQ(YamlReader::Alternatives({"x"}), "x");
  EXPECT_EQ(YamlReader::Alternatives({"x", "y"}), "x or y");
  EXPECT_EQ(YamlReader::Alternatives({"x", "y", "z"}), "x, y or z");
}

TEST(YamlReaderTest, YamlExceptionsBecomeIssues) {
  try {
    YAML::Load("a: [1, 2\nb: 3\n");
    FAIL() << "the text should not parse";
  } catch (const YAML::Exception& e) {
    const auto issue = IssueFromYamlException(e, "", "invalid YAML: ");
    EXPECT_GT(issue.line, 0);
    EXPECT_GT(issue.column, 0);
    EXPECT_EQ(issue.path, "");
    EXPECT_EQ(issue.message, "invalid YAML: " + e.msg);
  }
}

TEST(YamlLimitsTest, EscapesThatDecodeToNonUtf8AreRefused) {
  // yaml-cpp reads "\N" (U+0085) and "\_" (U+00A0) as the single bytes 0x85 and 0xA0.
  for (const char* text : {"a:\n  b: \"x\\Ny\"\n", "a:\n  b: \"x\\_y\"\n"}) {
    const auto issue = CheckYamlTree(YAML::Load(text));
    ASSERT_TRUE(issue) << text;
    EXPECT_EQ(issue->path, "a.b");
    EXPECT_EQ(issue->line, 2);
    EXPECT_NE(issue->message.find("not valid UTF-8"), std::string::npos);
  }
  // Other escapes decode to UTF-8 and pass.
  EXPECT_FALSE(CheckYamlTree(YAML::Load("a: \"\\u00e9 \\x41 \\L \\t\"\n")));
}

// Found by fuzz/delivery_spec: a key that decodes to non-UTF-8 went into the path of every issue
// under it, so the error answer could not be written as JSON (and its audit row failed).
TEST(YamlLimitsTest, AKeyThatIsNotUtf8NeverReachesAPath) {
  const std::string deep = "\"k\\_\": {a: {b: {c: 1}}}\n";
  YamlLimits limits;
  limits.max_depth = 2;
  const auto nested = CheckYamlTree(YAML::Load(deep), limits);
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->path.find('\xA0'), std::string::npos) << nested->path;
  EXPECT_EQ(nested->path.rfind("?", 0), 0U) << nested->path;
  // And the key itself is refused.
  const auto key = CheckYamlTree(YAML::Load("\"k\\_\": 1\n"));
  ASSERT_TRUE(key);
  EXPECT_NE(key->message.find("not valid UTF-8"), std::string::npos);
  EXPECT_EQ(key->path.find('\xA0'), std::string::npos) << key->path;
}

}  // namespace
}  // namespace sluice::spec

namespace sluice::spec {
namespace {

using namespace ::sluice::analysis;  // NOLINT(google-build-using-namespace)

TEST(YamlLimitsTest, TextMustBeUtf8WithoutNul) {
  EXPECT_FALSE(CheckYamlText("a: 回滚 # ok\nb: [1, 2]\n"));
  const auto bad = CheckYamlText("a: 1\n# com\xffment\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->line, 2);
  EXPECT_EQ(bad->column, 6);
  EXPECT_NE(bad->message.find("byte 0xFF at offset 10"), std::string::npos) << bad->message;
  EXPECT_TRUE(CheckYamlText("k\xc3: 1"));                 // truncated sequence
  EXPECT_TRUE(CheckYamlText("k: \xc0\xaf"));              // overlong '/'
  EXPECT_TRUE(CheckYamlText("k: \xed\xa0\x80"));          // a surrogate
  EXPECT_TRUE(CheckYamlText(std::string("k: a\0b", 6)));  // NUL
}

TEST(YamlLimitsTest, DeepNestingIsRefusedWithoutCrashing) {
  // yaml-cpp bounds its own recursion; a flow sequence 20,000 deep is an error, not a crash.
  const std::string flow = "a: " + std::string(20000, '[') + std::string(20000, ']') + "\n";
  EXPECT_THROW(YAML::Load(flow), YAML::Exception);
  try {
    YAML::Load(flow);
  } catch (const YAML::Exception& e) {
    EXPECT_EQ(IssueFromYamlException(e, "").message, "mappings and sequences nest too deeply");
  }
  // Deeper than our bound but within yaml-cpp's: refused by the tree check, path named.
  const auto node = YAML::Load("a: " + std::string(100, '[') + std::string(100, ']'));
  const auto issue = CheckYamlTree(node);
  ASSERT_TRUE(issue);
  EXPECT_EQ(issue->path.rfind("a[0][0]", 0), 0U) << issue->path;
  EXPECT_NE(issue->message.find("deeper than 64"), std::string::npos);
  EXPECT_FALSE(CheckYamlTree(YAML::Load("a: " + std::string(63, '[') + std::string(63, ']'))));
  EXPECT_TRUE(CheckYamlTree(YAML::Load("a: " + std::string(64, '[') + std::string(64, ']'))));
}

TEST(YamlLimitsTest, AliasExpansionIsBounded) {
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const char prev = static_cast<char>(c - 1);
    laughs += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
              prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
              ", *" + prev + "]\n";
  }
  const auto issue = CheckYamlTree(YAML::Load(laughs));
  ASSERT_TRUE(issue);
  EXPECT_NE(issue->message.find("more than 100000 nodes"), std::string::npos);
}

}  // namespace
}  // namespace sluice::spec
