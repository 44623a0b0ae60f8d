#pragma once

// Server-sent events (the WHATWG event-stream format) read from a body that arrives in pieces:
// lines may be split anywhere, end in \n, \r\n or \r; `event:`, `data:` (several are joined
// with \n) and `id:` fields; lines starting with ':' are comments (keep-alives); a blank line
// dispatches the event. Pure: `sluice deployment watch` feeds it GET /v1/events.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::cli {

struct SseMessage {
  std::string event = "message";  // the type when the event names none
  std::string data;
  std::optional<std::string> id;  // the last `id:` seen so far on the stream
};

class SseParser {
 public:
  // Reads `chunk`; calls `on_message` for each event it completes. Returns false as soon as
  // `on_message` does (the rest is not read).
  bool Feed(std::string_view chunk, const std::function<bool(const SseMessage&)>& on_message);
  // The last event id the stream gave (for Last-Event-ID on a reconnect).
  const std::optional<std::string>& LastEventId() const { return last_id_; }

 private:
  bool Line(std::string_view line, const std::function<bool(const SseMessage&)>& on_message);

  std::string partial_;    // an unfinished line
  bool after_cr_ = false;  // the previous piece ended in \r: a \n starting this one is its pair
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::optional<std::string> last_id_;
};

}  // namespace sluice::cli
