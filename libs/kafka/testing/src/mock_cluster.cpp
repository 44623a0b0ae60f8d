#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <sluice/kafka/testing/mock_cluster.hpp>
#include <stdexcept>

namespace sluice::kafka::testing {

MockCluster::MockCluster(int brokers) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (handle_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("mock cluster handle: ") + errstr);
  }
  cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
  if (cluster_ == nullptr) {
    rd_kafka_destroy(handle_);
    throw std::runtime_error("mock cluster: could not start");
  }
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

KafkaConfig MockCluster::Config() const {
  KafkaConfig config;
  config.brokers = bootstraps_;
  config.client_id = "sluice-test";
  return config;
}

void MockCluster::CreateTopic(const std::string& topic, int partitions) {
  const auto err = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("mock topic " + topic + ": " + rd_kafka_err2str(err));
  }
}

void MockCluster::FailNextProduceRequests(const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> codes;
  codes.reserve(errors.size());
  for (int e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(cluster_, /*Produce*/ 0, codes.size(), codes.data());
}

}  // namespace sluice::kafka::testing
