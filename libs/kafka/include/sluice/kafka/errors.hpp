#pragma once

#include <stdexcept>
#include <string>

namespace sluice::kafka {

// An infrastructure failure talking to Kafka. IsRetryable() says whether trying the same
// operation again later can succeed (broker unreachable, timed out, leader moving) or not
// (bad configuration, message too large, authorization, fatal producer state).
class KafkaError : public std::runtime_error {
 public:
  KafkaError(std::string msg, bool retryable);
  bool IsRetryable() const { return retryable_; }

 private:
  bool retryable_;
};

// What a handler throws to say "this message can never be processed": it goes straight to
// the dead-letter topic with this reason, no retries.
class PermanentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sluice::kafka
