#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kafka {

struct Header {
  std::string key;
  std::string value;
  bool operator==(const Header&) const = default;
};

struct OutgoingMessage {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<Header> headers;
};

struct ConsumedMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;

  // The value of the header named `key`; when it occurs several times, the last one wins.
  std::optional<std::string> HeaderValue(std::string_view key) const;
};

}  // namespace sluice::kafka
