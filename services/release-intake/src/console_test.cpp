#include "console.hpp"

#include <gtest/gtest.h>

namespace sluice::release_intake {
namespace {

const EmbeddedFiles kFiles = {{"index.html", "<!doctype html><title>Sluice</title>"},
                              {"assets/app.js", "export const x = 1;"},
                              {"assets/style.css", "body{}"}};

std::string Header(const StaticResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(ConsoleAssetsTest, PagesOfTheAppGetIndexHtml) {
  const ConsoleAssets assets(kFiles);
  for (const char* path :
       {"/console", "/console/", "/console/deployments/dep-1", "/console/incidents/x"}) {
    const auto r = assets.Serve(path, "");
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << path;
    EXPECT_EQ(r.body, "<!doctype html><title>Sluice</title>") << path;
  }
}

TEST(ConsoleAssetsTest, AssetsCarryTheirTypeAndSecurityHeaders) {
  const ConsoleAssets assets(kFiles);
  const auto js = assets.Serve("/console/assets/app.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, "export const x = 1;");
  EXPECT_EQ(Header(js, "Cache-Control"), "no-cache");
  EXPECT_EQ(Header(js, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(js, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(Header(js, "Content-Security-Policy"), std::string(kConsoleCsp));
  EXPECT_EQ(Header(js, "Content-Security-Policy").find("unsafe"), std::string::npos);
  EXPECT_EQ(assets.Serve("/console/assets/style.css", "").content_type, "text/css; charset=utf-8");
}

TEST(ConsoleAssetsTest, IfNoneMatchGives304) {
  const ConsoleAssets assets(kFiles);
  const auto first = assets.Serve("/console/assets/app.js", "");
  const auto etag = Header(first, "ETag");
  ASSERT_EQ(etag.size(), 34U);
  const auto again = assets.Serve("/console/assets/app.js", "\"other\", W/" + etag);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_NE(Header(assets.Serve("/console/assets/style.css", ""), "ETag"), etag);
  EXPECT_EQ(assets.Serve("/console/assets/style.css", etag).status, 200);
}

TEST(ConsoleAssetsTest, UnknownOrEscapingAssetsAre404) {
  const ConsoleAssets assets(kFiles);
  for (const char* path : {"/console/assets/nope.js", "/console/assets/../index.html",
                           "/console/assets/.hidden", "/console/assets/"}) {
    const auto r = assets.Serve(path, "");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(Header(r, "Cache-Control"), "no-store") << path;
  }
}

TEST(ConsoleAssetsTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("a.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("a.png"), "image/png");
  EXPECT_EQ(ContentTypeFor("a.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("a.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace sluice::release_intake
