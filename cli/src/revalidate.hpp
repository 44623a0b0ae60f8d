#pragma once

// A read polled again and again (`--watch`): each request after the first sends the ETag of the
// last 200 in If-None-Match; the API answers 304 while the body is unchanged, and the kept 200
// stands in for it, so an unchanged body neither travels nor is parsed again. Pure:
// `sluice deployment get --watch` and `deployment list --watch` use it (commands/deploy.cpp).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::cli {

// One API exchange; the body parsed when it is JSON (discarded otherwise).
struct Answer {
  long status = 0;
  nlohmann::json body;
  std::string raw;
  std::string etag{};         // the ETag header, when the answer has one
  bool not_modified = false;  // a 304 answered from the kept copy (Revalidator)
};

class Revalidator {
 public:
  // The If-None-Match header for the next request of the read, when a tagged 200 is kept.
  std::vector<std::pair<std::string, std::string>> Headers() const;
  // What to show for `answer`: a 304 becomes the kept 200 (not_modified set); a 200 with an
  // ETag is kept for the next request; any other answer drops the copy (the next request is
  // unconditional). A 304 with no copy kept (never asked for) is passed on as it is.
  Answer Take(Answer answer);

 private:
  std::optional<Answer> kept_;
};

}  // namespace sluice::cli
