#include <sluice/kafka/errors.hpp>
#include <sluice/kafka/message.hpp>

namespace sluice::kafka {

KafkaError::KafkaError(std::string msg, bool retryable)
    : std::runtime_error(msg), retryable_(retryable) {}

std::optional<std::string> ConsumedMessage::HeaderValue(std::string_view key) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->key == key) return it->value;
  }
  return std::nullopt;
}

}  // namespace sluice::kafka
