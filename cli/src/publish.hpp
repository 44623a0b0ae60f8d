#pragma once

// `sluice publish release …`, `sluice publish deployment …` and `sluice publish alert …`: the CLI
// as a Kafka producer of the public inbound topic (sluice.intake.v1, docs/kafka-producers.md). It
// submits a release, a deployment request or an external alert as a protobuf IntakeSubmission
// carrying the API token in the record's `authorization` header, and by default waits for its
// answer on sluice.intake.results.v1.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <string>

namespace sluice::cli {

class PublishCommand {
 public:
  // Adds `publish` (and `publish release`, `publish deployment`, `publish alert`) to `app`.
  explicit PublishCommand(CLI::App& app);
  bool Chosen() const;
  CLI::App* Release() const { return release_; }        // `publish release`
  CLI::App* Deployment() const { return deployment_; }  // `publish deployment`
  CLI::App* Alert() const { return alert_; }            // `publish alert`
  // Produces the submission of the chosen subcommand with `token` (none with --as-principal),
  // then prints the answer (or
  // that none came in time). The exit status: 0 accepted, 1 refused (4 for 401/403), 5 when
  // Kafka or the answer did not come. The connection's security (SASL, TLS) comes from the
  // services' settings, kafka::ReadSecurity: SLUICE_KAFKA_SECURITY_PROTOCOL,
  // SLUICE_KAFKA_SASL_MECHANISM, SLUICE_KAFKA_SASL_USERNAME, SLUICE_KAFKA_SASL_PASSWORD_FILE,
  // SLUICE_KAFKA_SSL_CA_LOCATION (a bad one is an error naming it).
  int Run(const std::string& token) const;
  // --as-principal P: the record goes to P's own topic sluice.intake.p.<P>.v1, where
  // release-intake gives it the role SLUICE_INTAKE_KAFKA_PRINCIPALS maps P to; no token is sent.
  bool NeedsToken() const { return as_principal_.empty(); }

 private:
  // The options of every subcommand: where the record goes, where its answer comes, how long
  // the answer is waited for.
  void AddProducerOptions(CLI::App* sub);

  CLI::App* release_ = nullptr;
  CLI::App* deployment_ = nullptr;
  CLI::App* alert_ = nullptr;
  std::string app_, tag_, version_, url_, sha_, by_, commit_, repo_, kind_, image_, image_digest_;
  // publish deployment: as `sluice deploy` (--override REASON: an admin past the promotion gate).
  std::string release_id_, env_, idempotency_key_, override_reason_;
  std::int64_t spec_version_ = 0;
  // publish alert: an external alert about --app in --env (a firing one rolls back the active
  // deployment there; the rollback's role, approver, is needed).
  std::string alert_name_, severity_, summary_;
  bool resolved_ = false;
  std::string brokers_, topic_, results_topic_, id_, timeout_ = "30s", as_principal_;
  bool no_wait_ = false;
};

}  // namespace sluice::cli
