#pragma once

// The web console's static assets (console/, embedded at build time) as release-intake serves
// them under /console: the content type by extension, an ETag per file (If-None-Match -> 304),
// Cache-Control, and the security headers (CSP without inline script or style, no framing, no
// referrer: a signed link's signature must not leak through Referer). Any /console path that is
// not an asset is a page of the single-page app and gets index.html, so the links in the
// notices (/console/deployments/<id>) open the right page. Pure: unit-tested without a server.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::release_intake {

using EmbeddedFiles = std::vector<std::pair<std::string_view, std::string_view>>;

struct StaticResponse {
  int status = 200;
  std::string content_type;
  std::string_view body;  // points into the embedded files (empty on 304)
  std::vector<std::pair<std::string, std::string>> headers;
};

inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

// The media type for a file name, by its extension ("application/octet-stream" when unknown).
std::string ContentTypeFor(std::string_view name);

class ConsoleAssets {
 public:
  explicit ConsoleAssets(const EmbeddedFiles& files);  // must hold index.html
  // `path` is the request path ("/console", "/console/", "/console/deployments/x",
  // "/console/assets/app.js"); `if_none_match` the request's If-None-Match header.
  StaticResponse Serve(std::string_view path, std::string_view if_none_match) const;

 private:
  struct File {
    std::string name;
    std::string_view data;
    std::string etag;
  };
  const File* Find(std::string_view name) const;
  std::vector<File> files_;
};

}  // namespace sluice::release_intake
