#pragma once

// Internal helpers shared by the producer, the consumer and the admin calls.

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <memory>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/errors.hpp>
#include <string>

namespace sluice::kafka::internal {

// Whether an operation that failed with `code` can succeed when tried again later.
bool IsRetryableCode(RdKafka::ErrorCode code);

// Whether `code`, for a produced message, means Kafka refuses that record itself for good
// (too large, invalid record, invalid topic name), as opposed to a state of the client, the
// broker or the cluster that may change (unreachable, timed out, not authorized, fatal).
bool IsRecordRejection(RdKafka::ErrorCode code);

// A KafkaError for `code`, its retryability derived from the code.
KafkaError ErrorFor(const std::string& what, RdKafka::ErrorCode code);

// A global configuration: bootstrap servers, client id, `defaults` (a role's preferences),
// config.extra, config.security (SecurityProperties), then `fixed` (the properties a role cannot do
// without). An unknown property or bad value throws a non-retryable KafkaError naming it.
std::unique_ptr<RdKafka::Conf> MakeConf(const KafkaConfig& config,
                                        const std::map<std::string, std::string>& defaults,
                                        const std::map<std::string, std::string>& fixed);

// Routes librdkafka's errors and log lines to the "kafka" logger.
class LogEvents : public RdKafka::EventCb {
 public:
  explicit LogEvents(std::string role) : role_(std::move(role)) {}
  void event_cb(RdKafka::Event& event) override;

 private:
  std::string role_;
};

}  // namespace sluice::kafka::internal
