#include "sse.hpp"

namespace sluice::cli {

bool SseParser::Feed(std::string_view chunk,
                     const std::function<bool(const SseMessage&)>& on_message) {
  for (const char c : chunk) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the \n of a \r\n
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      const std::string line = std::move(partial_);
      partial_.clear();
      if (!Line(line, on_message)) return false;
      continue;
    }
    partial_.push_back(c);
  }
  return true;
}

bool SseParser::Line(std::string_view line,
                     const std::function<bool(const SseMessage&)>& on_message) {
  if (line.empty()) {  // dispatch
    const bool had = has_data_;
    SseMessage m;
    if (!event_.empty()) m.event = event_;
    m.data = std::move(data_);
    m.id = last_id_;
    event_.clear();
    data_.clear();
    has_data_ = false;
    return had ? on_message(m) : true;
  }
  if (line.front() == ':') return true;  // a comment
  const auto colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    event_ = std::string(value);
  } else if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  }  // "retry" and unknown fields are ignored
  return true;
}

}  // namespace sluice::cli
