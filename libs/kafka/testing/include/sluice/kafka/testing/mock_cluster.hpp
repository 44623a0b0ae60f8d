#pragma once

#include <sluice/kafka/config.hpp>
#include <string>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace sluice::kafka::testing {

// An in-process Kafka cluster (librdkafka's mock cluster) listening on loopback: producers,
// idempotence, consumer groups and offset commits, for tests that need no real broker.
// It does not serve the CreateTopics admin call: create topics with CreateTopic().
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  const std::string& Bootstraps() const { return bootstraps_; }
  // A client config pointing at this cluster.
  KafkaConfig Config() const;
  void CreateTopic(const std::string& topic, int partitions = 1);
  // The next Produce requests the cluster receives fail with these broker error codes, one
  // per request, in order (e.g. RdKafka::ERR_MSG_SIZE_TOO_LARGE).
  void FailNextProduceRequests(const std::vector<int>& errors);

 private:
  rd_kafka_s* handle_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstraps_;
};

}  // namespace sluice::kafka::testing
