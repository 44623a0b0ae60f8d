#include "console.hpp"

#include <sluice/core/encoding.hpp>
#include <sluice/http/server.hpp>
#include <stdexcept>

namespace sluice::release_intake {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string ContentTypeFor(std::string_view name) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (EndsWith(name, ext)) return std::string(type);
  }
  return "application/octet-stream";
}

ConsoleAssets::ConsoleAssets(const EmbeddedFiles& files) {
  for (const auto& [name, data] : files) {
    files_.push_back({std::string(name), data, "\"" + core::Sha256Hex(data).substr(0, 32) + "\""});
  }
  if (Find("index.html") == nullptr) throw std::invalid_argument("console assets: no index.html");
}

const ConsoleAssets::File* ConsoleAssets::Find(std::string_view name) const {
  for (const auto& f : files_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

StaticResponse ConsoleAssets::Serve(std::string_view path, std::string_view if_none_match) const {
  StaticResponse r;
  r.headers = {{"Content-Security-Policy", std::string(kConsoleCsp)},
               {"X-Content-Type-Options", "nosniff"},
               {"X-Frame-Options", "DENY"},
               {"Referrer-Policy", "no-referrer"},
               {"Cross-Origin-Opener-Policy", "same-origin"},
               {"Cross-Origin-Resource-Policy", "same-origin"}};
  constexpr std::string_view kAssets = "/console/assets/";
  const File* file = nullptr;
  if (path.rfind(kAssets, 0) == 0) {
    const auto name = path.substr(std::string_view("/console/").size());
    // Names are plain: no "..", no empty or hidden segments.
    if (name.find("..") == std::string_view::npos && name.find("//") == std::string_view::npos &&
        name.find("/.") == std::string_view::npos) {
      file = Find(name);
    }
    if (file == nullptr) {
      r.status = 404;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "no such console asset\n";
      r.headers.emplace_back("Cache-Control", "no-store");
      return r;
    }
  } else {
    file = Find("index.html");  // a page of the single-page app
  }
  r.content_type = ContentTypeFor(file->name);
  // The names carry no version: every use revalidates (a 304 when unchanged), so a new build
  // is never mixed with a cached old module.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("ETag", file->etag);
  if (http::IfNoneMatchLists(if_none_match, file->etag)) {
    r.status = 304;
    return r;
  }
  r.body = file->data;
  return r;
}

}  // namespace sluice::release_intake
