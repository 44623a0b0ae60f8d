#include "compat.hpp"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

namespace sluice::tools {
namespace {

google::protobuf::FileDescriptorSet Set(const std::string& text) {
  google::protobuf::FileDescriptorSet set;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &set)) << text;
  return set;
}

const char* kBase = R"pb(
  file {
    name: "sluice/v1/a.proto"
    package: "sluice.v1"
    message_type {
      name: "Release"
      field { name: "id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
      field { name: "tags" number: 2 type: TYPE_STRING label: LABEL_REPEATED }
      field { name: "a" number: 3 type: TYPE_STRING label: LABEL_OPTIONAL oneof_index: 0 }
      oneof_decl { name: "choice" }
      nested_type {
        name: "Inner"
        field { name: "x" number: 1 type: TYPE_INT32 label: LABEL_OPTIONAL }
      }
    }
    enum_type {
      name: "Kind"
      value { name: "KIND_UNSPECIFIED" number: 0 }
      value { name: "KIND_A" number: 1 }
    }
  })pb";

TEST(SchemaCompatTest, IdenticalIsAdditive) {
  EXPECT_TRUE(CheckAdditive(Set(kBase), Set(kBase)).empty());
}

TEST(SchemaCompatTest, AddedFieldMessageAndEnumValueAreAdditive) {
  std::string next = kBase;
  next.replace(next.find("oneof_decl"), 0,
               R"pb(field { name: "new" number: 9 type: TYPE_BOOL label: LABEL_OPTIONAL })pb");
  next.replace(next.find("value { name: \"KIND_A\""), 0,
               R"pb(value { name: "KIND_B" number: 2 })pb");
  next.replace(next.find("enum_type"), 0, R"pb(message_type { name: "Other" })pb");
  EXPECT_TRUE(CheckAdditive(Set(kBase), Set(next)).empty());
}

TEST(SchemaCompatTest, EveryBreakIsNamed) {
  auto expect_break = [](std::string next, const std::string& needle) {
    auto problems = CheckAdditive(Set(kBase), Set(next));
    ASSERT_EQ(problems.size(), 1u) << needle;
    EXPECT_NE(problems[0].find(needle), std::string::npos) << problems[0];
  };
  std::string s = kBase;
  expect_break(std::string(s).replace(s.find("name: \"id\""), 10, "name: \"ident\""),
               "field id = 1 was renamed to ident");
  expect_break(std::string(s).replace(s.find("TYPE_STRING"), 11, "TYPE_BYTES"), "changed type");
  expect_break(std::string(s).replace(s.find("LABEL_REPEATED"), 14, "LABEL_OPTIONAL"),
               "changed from repeated to singular");
  expect_break(std::string(s).replace(s.find(" oneof_index: 0"), 15, ""), "moved between oneofs");
  expect_break(std::string(s).replace(s.find("value { name: \"KIND_A\" number: 1 }"), 34, ""),
               "value KIND_A = 1 was removed");
}

TEST(SchemaCompatTest, RemovedFieldMessageAndNestedAreBreaks) {
  std::string s = kBase;
  std::string no_field = s;
  no_field.erase(
      no_field.find("field { name: \"tags\""),
      std::string("field { name: \"tags\" number: 2 type: TYPE_STRING label: LABEL_REPEATED }")
          .size());
  auto p = CheckAdditive(Set(s), Set(no_field));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("field tags = 2 was removed"), std::string::npos);

  std::string renamed_message = s;
  renamed_message.replace(renamed_message.find("name: \"Release\""), 15, "name: \"Rel\"");
  p = CheckAdditive(Set(s), Set(renamed_message));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("message sluice.v1.Release was removed"), std::string::npos);

  std::string no_nested = s;
  no_nested.replace(no_nested.find("name: \"Inner\""), 13, "name: \"Inside\"");
  p = CheckAdditive(Set(s), Set(no_nested));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("message sluice.v1.Release.Inner was removed"), std::string::npos);
}

TEST(SchemaCompatTest, PackageChangeIsABreak) {
  std::string s = kBase;
  std::string next = s;
  next.replace(next.find("package: \"sluice.v1\""), 20, "package: \"sluice.v2\"");
  auto p = CheckAdditive(Set(s), Set(next));
  ASSERT_FALSE(p.empty());
  EXPECT_NE(p[0].find("package changed"), std::string::npos);
}

}  // namespace
}  // namespace sluice::tools
