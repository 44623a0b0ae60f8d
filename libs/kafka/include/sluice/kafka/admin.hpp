#pragma once

#include <chrono>
#include <sluice/kafka/config.hpp>
#include <string>
#include <vector>

namespace sluice::kafka {

// Creates the topics that do not exist yet (idempotent: existing topics are left as they
// are) and waits until every topic is visible in the cluster metadata with a leader for each
// partition. Throws KafkaError on failure or when `timeout` passes.
void EnsureTopics(const KafkaConfig& config, const std::vector<std::string>& topics,
                  int partitions = 3, int replication_factor = 1,
                  std::chrono::milliseconds timeout = std::chrono::seconds(15));

}  // namespace sluice::kafka
