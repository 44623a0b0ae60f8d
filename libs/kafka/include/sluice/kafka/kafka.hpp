#pragma once

// The whole Kafka client API of Sluice.
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/consumer.hpp>
#include <sluice/kafka/errors.hpp>
#include <sluice/kafka/message.hpp>
#include <sluice/kafka/producer.hpp>
