#include "templates.hpp"

#include <gtest/gtest.h>

#include "test_events.hpp"

namespace sluice::notifier {
namespace {

Notification Rollback() {
  return *BuildNotification(test::RollbackStarted("ev-1", "dep-1", "payments", "prod"), {},
                            {.console_base_url = "https://c"});
}

TEST(TemplatesTest, SubstituteReplacesAndDropsLinesWithoutValues) {
  const std::map<std::string, std::string> v{{"app", "payments"}, {"batch", ""}};
  EXPECT_EQ(Substitute("Hello {{app}}!\nBatch: {{batch}}\nEnd", v), "Hello payments!\nEnd");
  EXPECT_EQ(Substitute("{{ app }} and {{app}}", v), "payments and payments");
  EXPECT_EQ(Substitute("missing {{nope}}\nkept", v), "kept");
  EXPECT_EQ(Substitute("no placeholders\n\nblank kept", v), "no placeholders\n\nblank kept");
  EXPECT_EQ(Substitute("open {{app", v), "open {{app");
  EXPECT_EQ(Substitute("", v), "");
}

TEST(TemplatesTest, EveryKindHasEnglishAndChineseDefaults) {
  const auto t = Templates::Defaults();
  auto n = Rollback();
  for (auto kind : AllEventKinds()) {
    n.kind = kind;
    for (auto lang : {Language::kEn, Language::kZh}) {
      const auto r = t.Render(n, lang);
      EXPECT_FALSE(r.title.empty()) << EventKindName(kind);
      EXPECT_FALSE(r.body.empty()) << EventKindName(kind);
      EXPECT_EQ(r.body.find("{{"), std::string::npos) << r.body;
    }
  }
  for (const auto& [name, text] : EmbeddedTemplates()) {
    EXPECT_NO_THROW(ValidateTemplate(text, name));
  }
}

TEST(TemplatesTest, RollbackStartedEnglishSaysWhatHappenedAndWhatToDo) {
  const auto r = Templates::Defaults().Render(Rollback(), Language::kEn);
  EXPECT_EQ(r.title, "⏪ Rolling back payments in prod: 1.5.0 → 1.4.2");
  EXPECT_NE(r.body.find("Hosts (7): web-1, web-2, web-3, web-4, web-5 +2 more"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("Metric: error_rate > 0.05, observed 0.21"), std::string::npos);
  EXPECT_NE(r.body.find("Trend: ▁▁▁▂▅█"), std::string::npos);
  EXPECT_NE(r.body.find("Query: `sum(rate(http_errors{app=\"payments\"}[1m]))`"),
            std::string::npos);
  EXPECT_NE(r.body.find("What to do:"), std::string::npos);
}

TEST(TemplatesTest, ChineseTemplate) {
  const auto r = Templates::Defaults().Render(Rollback(), Language::kZh);
  EXPECT_EQ(r.title, "⏪ 正在回滚 payments（prod）：1.5.0 → 1.4.2");
  EXPECT_NE(r.body.find("处理建议"), std::string::npos);
}

TEST(TemplatesTest, LinesWithMissingFactsDisappear) {
  auto n = Rollback();
  n.metric.clear();
  n.threshold.reset();
  n.series.clear();
  n.batch.reset();
  const auto r = Templates::Defaults().Render(n, Language::kEn);
  EXPECT_EQ(r.body.find("Metric:"), std::string::npos);
  EXPECT_EQ(r.body.find("Trend:"), std::string::npos);
  EXPECT_EQ(r.body.find("Batch:"), std::string::npos);
}

TEST(TemplatesTest, TitleWithNoValuesKeepsMarkers) {
  Notification n;
  n.kind = EventKind::kDeploymentSucceeded;
  const auto r = Templates::Defaults().Render(n, Language::kEn);
  EXPECT_EQ(r.title, "🎉 ? ? is live in ?");
}

TEST(TemplatesTest, OverrideIsValidated) {
  auto t = Templates::Defaults();
  t.Override(Language::kEn, EventKind::kRollbackStarted, "Custom {{app}}\nBody {{env}}", "x.md");
  const auto r = t.Render(Rollback(), Language::kEn);
  EXPECT_EQ(r.title, "Custom payments");
  EXPECT_EQ(r.body, "Body prod");
  try {
    t.Override(Language::kEn, EventKind::kRollbackStarted, "Title\nline {{apps}}", "dir/en/x.md");
    FAIL() << "expected TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("dir/en/x.md:2: unknown placeholder {{apps}}", 0), 0u)
        << e.what();
  }
  EXPECT_THROW(t.Override(Language::kEn, EventKind::kRollbackStarted, "T {{app", "f"),
               TemplateError);
  EXPECT_THROW(t.Override(Language::kEn, EventKind::kRollbackStarted, "\nbody", "f"),
               TemplateError);
  // A failed override leaves the previous text.
  EXPECT_EQ(t.Render(Rollback(), Language::kEn).title, "Custom payments");
}

TEST(TemplatesTest, LanguageNames) {
  EXPECT_EQ(ParseLanguage("zh"), Language::kZh);
  EXPECT_EQ(ParseLanguage("en"), Language::kEn);
  EXPECT_FALSE(ParseLanguage("fr"));
  EXPECT_EQ(LanguageName(Language::kZh), "zh");
}

}  // namespace
}  // namespace sluice::notifier
