#pragma once

#include <chrono>
#include <map>
#include <string>

namespace sluice::core {
class EnvConfig;
}

namespace sluice::kafka {

// How the clients authenticate to the brokers and check them (librdkafka security.protocol,
// sasl.*, ssl.ca.location). The default, plaintext, is the local stack's 19092 listener.
struct KafkaSecurity {
  std::string protocol = "plaintext";  // plaintext, ssl, sasl_plaintext or sasl_ssl
  std::string sasl_mechanism;          // sasl_*: SCRAM-SHA-512 (default), SCRAM-SHA-256, PLAIN
  std::string sasl_username;           // sasl_*: the principal (User:<name>)
  std::string sasl_password;           // sasl_*: never logged, read from a file only
  std::string ssl_ca_location;         // ssl, sasl_ssl: PEM file of the CA; empty: system CAs

  bool Sasl() const { return protocol.rfind("sasl_", 0) == 0; }
  bool Tls() const { return protocol == "ssl" || protocol == "sasl_ssl"; }
};

// Where the brokers are and how the clients identify themselves. The defaults point at the
// local stack.
struct KafkaConfig {
  std::string brokers = "127.0.0.1:19092";
  std::string client_id = "sluice";
  // Authentication and TLS; applied after `extra`, so `extra` cannot weaken them.
  KafkaSecurity security;
  // Raw librdkafka properties applied to every client made from this config (e.g.
  // "session.timeout.ms"). The delivery invariants (idempotence, acks=all, manual offset
  // store) are set after these and cannot be switched off here.
  std::map<std::string, std::string> extra;
  // Where a consumer group with no committed offset starts reading: "earliest" (nothing
  // published before the group's first start is missed) or "latest" (stacks whose topics hold
  // older traffic that is not this installation's, such as a shared test broker).
  std::string consumer_start = "earliest";
  // The stable identity of this replica (librdkafka group.instance.id, static membership):
  // a consumer restarted with the same id gets its partitions back as soon as it rejoins,
  // instead of after its predecessor's session expires. Empty: dynamic membership. Two live
  // members of one group must never share it (the older one is fenced and stops).
  std::string instance_id;
  // session.timeout.ms of consumers: how long a member that stopped heartbeating (crashed,
  // or a static member that shut down, which does not leave its group) keeps its partitions.
  std::chrono::milliseconds session_timeout{std::chrono::seconds(10)};
  // Upper bound on the flush a Producer does when destroyed.
  std::chrono::milliseconds close_timeout{std::chrono::seconds(10)};
};

// Reads SLUICE_KAFKA_START_OFFSET ("earliest" or "latest") into `config.consumer_start`;
// anything else throws core::ConfigError naming the key and the allowed values.
void ApplyStartOffset(KafkaConfig& config, const std::string& value);

// Sets `config.instance_id` from SLUICE_INSTANCE_ID (`configured`), or when that is empty
// from what is stable across restarts and distinct between live replicas: the host name and
// the port of the replica's HTTP address (two replicas on one host cannot listen on one port),
// e.g. "host-1:8084". "none", or an address with port 0 (picked at start, so not stable):
// dynamic membership. A configured id longer than 200 bytes or with control characters throws
// core::ConfigError.
void ApplyInstanceId(KafkaConfig& config, const std::string& configured,
                     const std::string& http_addr);

// Reads the security settings, each bad value or combination a core::ConfigError naming the key:
//   SLUICE_KAFKA_SECURITY_PROTOCOL   plaintext (default), ssl, sasl_plaintext, sasl_ssl
//   SLUICE_KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default), SCRAM-SHA-256, PLAIN
//   SLUICE_KAFKA_SASL_USERNAME       required with sasl_*
//   SLUICE_KAFKA_SASL_PASSWORD_FILE  required with sasl_*: a readable, non-empty file; the
//                                    password in the plain SLUICE_KAFKA_SASL_PASSWORD is refused
//                                    (it would show in the environment of the process)
//   SLUICE_KAFKA_SSL_CA_LOCATION     ssl / sasl_ssl only: a readable PEM file
// SASL settings with a protocol that is not sasl_*, or a CA with one that has no TLS, are
// refused rather than ignored. The password is never part of an error message.
KafkaSecurity ReadSecurity(core::EnvConfig& env);

// The librdkafka properties for `security` (security.protocol, sasl.mechanism, sasl.username,
// sasl.password, ssl.ca.location), only those that apply.
std::map<std::string, std::string> SecurityProperties(const KafkaSecurity& security);

}  // namespace sluice::kafka
