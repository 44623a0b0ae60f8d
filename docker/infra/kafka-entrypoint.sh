#!/bin/bash
# Kafka in KRaft mode, one combined broker + controller: formats the storage on first start.
# KAFKA_ADVERTISED (default kafka:9092), KAFKA_HEAP (default -Xms256m -Xmx512m).
set -euo pipefail
data=/var/lib/kafka/data
conf=/var/lib/kafka/server.properties
cat >"$conf" <<CONF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED:-kafka:9092}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.voters=1@127.0.0.1:9093
log.dirs=$data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
CONF
cat >/var/lib/kafka/log4j.properties <<'CONF'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
CONF
read -r -a heap <<<"${KAFKA_HEAP:--Xms256m -Xmx512m}"
java=(java "${heap[@]}" -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j.configuration=file:/var/lib/kafka/log4j.properties -Dkafka.logs.dir=/var/lib/kafka/logs
  -cp "/opt/kafka/libs/*")
if [[ ! -f "$data/meta.properties" ]]; then
  id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | sed 's/^-/A/')"
  "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$conf"
fi
exec "${java[@]}" kafka.Kafka "$conf"
