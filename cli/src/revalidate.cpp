#include "revalidate.hpp"

namespace sluice::cli {

std::vector<std::pair<std::string, std::string>> Revalidator::Headers() const {
  if (!kept_) return {};
  return {{"If-None-Match", kept_->etag}};
}

Answer Revalidator::Take(Answer answer) {
  if (answer.status == 304 && kept_) {
    Answer same = *kept_;
    same.not_modified = true;
    return same;
  }
  if (answer.status == 200 && !answer.etag.empty()) {
    kept_ = answer;
  } else {
    kept_.reset();
  }
  return answer;
}

}  // namespace sluice::cli
