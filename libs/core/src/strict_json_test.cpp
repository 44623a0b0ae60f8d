#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/core/strict_json.hpp>
#include <string>

namespace sluice::core {
namespace {

using ::testing::HasSubstr;

JsonInputError ErrorOf(std::string_view text, const JsonLimits& limits = {}) {
  try {
    ParseStrictJson(text, limits);
  } catch (const JsonInputError& e) {
    return e;
  }
  ADD_FAILURE() << "no JsonInputError for " << text.substr(0, 80);
  return JsonInputError("", 0, "");
}

TEST(StrictJsonTest, ParsesOrdinaryDocuments) {
  const auto j = ParseStrictJson(R"({"a":[1,2,{"b":"c"}],"d":null,"e":1.5,"f":true})");
  EXPECT_EQ(j["a"][2]["b"], "c");
  EXPECT_EQ(j["e"], 1.5);
  // The same key in different objects is no duplicate.
  EXPECT_NO_THROW(ParseStrictJson(R"([{"k":1},{"k":2}])"));
  EXPECT_NO_THROW(ParseStrictJson(R"({"k":{"k":{"k":1}}})"));
}

TEST(StrictJsonTest, RefusesDeepNestingWithoutCrashing) {
  // 20,000 levels: nlohmann parses this, then its dump() / destructor overflow the stack.
  const std::string deep = R"({"alerts":[{"labels":{"foo":)" + std::string(20000, '[') +
                           std::string(20000, ']') + "}}]}";
  const auto e = ErrorOf(deep);
  EXPECT_THAT(e.what(), HasSubstr("deeper than 64 levels"));
  EXPECT_THAT(e.Path(), testing::StartsWith("alerts[0].labels.foo[0][0]"));
  const std::string objects = [] {
    std::string s;
    for (int i = 0; i < 20000; ++i) s += R"({"a":)";
    return s + "1" + std::string(20000, '}');
  }();
  EXPECT_THAT(ErrorOf(objects).what(), HasSubstr("deeper than 64"));
}

TEST(StrictJsonTest, DepthLimitIsInclusive) {
  JsonLimits limits;
  limits.max_depth = 3;
  EXPECT_NO_THROW(ParseStrictJson("[[[1]]]", limits));
  EXPECT_THAT(ErrorOf("[[[[1]]]]", limits).what(), HasSubstr("deeper than 3"));
  EXPECT_NO_THROW(ParseStrictJson(std::string(64, '[') + std::string(64, ']')));
  EXPECT_THAT(ErrorOf(std::string(65, '[') + std::string(65, ']')).what(),
              HasSubstr("deeper than 64"));
}

TEST(StrictJsonTest, RefusesDuplicateKeysNamingThePath) {
  const auto e = ErrorOf(R"({"app":"shop","spec":{"env":"a","env":"b"}})");
  EXPECT_EQ(e.Path(), "spec.env");
  EXPECT_THAT(e.what(), HasSubstr("spec.env is given twice"));
  EXPECT_EQ(ErrorOf(R"({"reason":"a","reason":"b"})").Path(), "reason");
  EXPECT_EQ(ErrorOf(R"({"x":[0,{"k":1,"k":1}]})").Path(), "x[1].k");
}

TEST(StrictJsonTest, RefusesNulNamingTheField) {
  const auto e = ErrorOf(R"({"reason":"stop\u0000now"})");
  EXPECT_EQ(e.Path(), "reason");
  EXPECT_THAT(e.what(), HasSubstr("NUL"));
  EXPECT_EQ(ErrorOf(R"({"a":["ok","b\u0000"]})").Path(), "a[1]");
  EXPECT_EQ(ErrorOf(R"({"k\u0000":1})").Path(), std::string("k\0", 2));
  EXPECT_EQ(ErrorOf("\"\\u0000\"").Path(), "");
}

TEST(StrictJsonTest, AllowsNulWhenTheCallerSortsItOut) {
  JsonLimits limits;
  limits.allow_nul = true;
  EXPECT_EQ(ParseStrictJson(R"({"a":"x\u0000"})", limits)["a"].get<std::string>().size(), 2u);
}

TEST(StrictJsonTest, RefusesInvalidUtf8AndSyntaxErrors) {
  const auto e = ErrorOf("{\"a\":\"\xff\"}");
  EXPECT_THAT(e.what(), HasSubstr("UTF-8"));
  EXPECT_GT(e.Byte(), 0u);
  EXPECT_THAT(ErrorOf("{\"a\":").what(), HasSubstr("parse error"));
  EXPECT_THAT(ErrorOf("").what(), HasSubstr("parse error"));
  EXPECT_THAT(ErrorOf("{} {}").what(), HasSubstr("parse error"));
}

}  // namespace
}  // namespace sluice::core
