#include "sluice/analysis/render.hpp"

#include <gtest/gtest.h>

namespace sluice::analysis {
namespace {

Bindings Demo() {
  Bindings b;
  b.app = "demo-app";
  b.env = "production";
  b.version = "2.0.0";
  b.baseline_version = "1.9.0";
  b.deployment = "d-1";
  b.instances = {"web-1", "web-2"};
  b.baseline_instances = {"web-3", "web-4.example.com"};
  return b;
}

TEST(RenderTest, FillsEveryPlaceholder) {
  EXPECT_EQ(
      Render(R"(x{app="{{app}}",env="{{env}}",version="{{version}}",d="{{deployment}}"})", Demo()),
      R"(x{app="demo-app",env="production",version="2.0.0",d="d-1"})");
  EXPECT_EQ(Render("{{baseline_version}}", Demo()), "1.9.0");
  EXPECT_EQ(Render("{{ app }}", Demo()), "demo-app");
}

TEST(RenderTest, InstancesBecomeAnEscapedAlternation) {
  EXPECT_EQ(Render(R"(instance_name=~"{{instances}}")", Demo()), R"(instance_name=~"web-1|web-2")");
  // '.' is a regex metacharacter: RE2 needs \. and the PromQL string literal needs \\. for it.
  EXPECT_EQ(Render(R"(i=~"{{baseline_instances}}")", Demo()),
            R"(i=~"web-3|web-4\\.example\\.com")");
  EXPECT_EQ(RegexEscapeForPromQL("a+b(c)"), R"(a\\+b\\(c\\))");
}

TEST(RenderTest, EmptyInstanceListMatchesNothing) {
  Bindings b = Demo();
  b.instances.clear();
  EXPECT_EQ(Render("{{instances}}", b), "^$");
  EXPECT_EQ(InstancesRegex({}), "^$");
}

TEST(RenderTest, UnknownAndUnclosedPlaceholdersStay) {
  EXPECT_EQ(Render("{{region}} {{app}}", Demo()), "{{region}} demo-app");
  EXPECT_EQ(Render("{{app", Demo()), "{{app");
  EXPECT_EQ(Render("rate(x[5m]) {}", Demo()), "rate(x[5m]) {}");
}

TEST(RenderTest, DeriveBaselineQuerySwapsInstancesAndVersion) {
  EXPECT_EQ(DeriveBaselineQuery(R"(m{version="{{version}}",i=~"{{instances}}",a="{{app}}"})"),
            R"(m{version="{{baseline_version}}",i=~"{{baseline_instances}}",a="{{app}}"})");
}

}  // namespace
}  // namespace sluice::analysis
