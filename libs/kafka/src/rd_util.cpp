#include "rd_util.hpp"

#include <sluice/core/logging.hpp>

namespace sluice::kafka::internal {

bool IsRetryableCode(RdKafka::ErrorCode code) {
  switch (code) {
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR__QUEUE_FULL:
    case RdKafka::ERR__RESOLVE:
    case RdKafka::ERR__WAIT_COORD:
    case RdKafka::ERR__TIMED_OUT_QUEUE:
    case RdKafka::ERR__RETRY:
    case RdKafka::ERR__UNKNOWN_PARTITION:
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR__NODE_UPDATE:
    case RdKafka::ERR__PURGE_QUEUE:
    case RdKafka::ERR__PURGE_INFLIGHT:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR_BROKER_NOT_AVAILABLE:
    case RdKafka::ERR_REPLICA_NOT_AVAILABLE:
    case RdKafka::ERR_NETWORK_EXCEPTION:
    case RdKafka::ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RdKafka::ERR_COORDINATOR_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_COORDINATOR:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RdKafka::ERR_REBALANCE_IN_PROGRESS:
    case RdKafka::ERR_KAFKA_STORAGE_ERROR:
    case RdKafka::ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RdKafka::ERR_OFFSET_NOT_AVAILABLE:
    case RdKafka::ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_THROTTLING_QUOTA_EXCEEDED:
      return true;
    default:
      return false;
  }
}

bool IsRecordRejection(RdKafka::ErrorCode code) {
  switch (code) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:     // over message.max.bytes (client or broker)
    case RdKafka::ERR_INVALID_MSG:            // corrupt record
    case RdKafka::ERR_INVALID_MSG_SIZE:       // negative or absurd size
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:  // over the broker's segment size
    case RdKafka::ERR_INVALID_RECORD:         // refused by the broker's record validation
    case RdKafka::ERR_TOPIC_EXCEPTION:        // the topic name is invalid
      return true;
    default:
      return false;
  }
}

KafkaError ErrorFor(const std::string& what, RdKafka::ErrorCode code) {
  return KafkaError(
      what + ": " + RdKafka::err2str(code) + " (" + std::to_string(static_cast<int>(code)) + ")",
      IsRetryableCode(code));
}

namespace {

void Set(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
  std::string err;
  if (conf.set(name, value, err) != RdKafka::Conf::CONF_OK) {
    throw KafkaError("kafka config " + name + ": " + err, /*retryable=*/false);
  }
}

}  // namespace

std::unique_ptr<RdKafka::Conf> MakeConf(const KafkaConfig& config,
                                        const std::map<std::string, std::string>& defaults,
                                        const std::map<std::string, std::string>& fixed) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  Set(*conf, "bootstrap.servers", config.brokers);
  Set(*conf, "client.id", config.client_id);
  for (const auto& [name, value] : defaults) Set(*conf, name, value);
  for (const auto& [name, value] : config.extra) {
    if (!fixed.contains(name)) Set(*conf, name, value);
  }
  for (const auto& [name, value] : SecurityProperties(config.security)) Set(*conf, name, value);
  for (const auto& [name, value] : fixed) Set(*conf, name, value);
  return conf;
}

void LogEvents::event_cb(RdKafka::Event& event) {
  static const auto log = core::Logger("kafka");
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (event.fatal()) {
        log->error("{} fatal error: {} ({})", role_, event.str(), RdKafka::err2str(event.err()));
      } else {
        log->warn("{} error: {} ({})", role_, event.str(), RdKafka::err2str(event.err()));
      }
      break;
    case RdKafka::Event::EVENT_LOG:
      if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR) {
        log->error("{} {}: {}", role_, event.fac(), event.str());
      } else if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
        log->warn("{} {}: {}", role_, event.fac(), event.str());
      } else {
        log->debug("{} {}: {}", role_, event.fac(), event.str());
      }
      break;
    default:
      break;
  }
}

}  // namespace sluice::kafka::internal
