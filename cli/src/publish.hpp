#pragma once

// `sluice publish release …`: the CLI as a Kafka producer of the public inbound topic
// (sluice.intake.v1, docs/kafka-producers.md). It submits a release as a protobuf
// IntakeSubmission carrying the API token in the record's `authorization` header, and by
// default waits for its answer on sluice.intake.results.v1.

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

namespace sluice::cli {

class PublishCommand {
 public:
  // Adds `publish` (and `publish release`) to `app`.
  explicit PublishCommand(CLI::App& app);
  bool Chosen() const;
  CLI::App* Release() const { return release_; }  // `publish release`
  // Produces the submission with `token`, then prints the answer (or that none came in time).
  // The exit status: 0 accepted, 1 refused (4 for 401/403), 5 when Kafka or the answer did not
  // come.
  int Run(const std::string& token) const;

 private:
  CLI::App* release_ = nullptr;
  std::string app_, tag_, version_, url_, sha_, by_, commit_, repo_, kind_, image_, image_digest_;
  std::string brokers_, topic_, results_topic_, id_, timeout_ = "30s";
  bool no_wait_ = false;
};

}  // namespace sluice::cli
