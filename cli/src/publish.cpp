#include "publish.hpp"

#include <librdkafka/rdkafkacpp.h>
#include <sluice/v1/intake.pb.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/duration.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/kafka/config.hpp>
#include <stdexcept>
#include <vector>

#include "format.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

// The connection's security as a Sluice service reads it (libs/kafka, the same settings).
std::map<std::string, std::string> SecurityFromEnvironment() {
  core::EnvConfig env;
  return kafka::SecurityProperties(kafka::ReadSecurity(env));
}

std::unique_ptr<RdKafka::Conf> KafkaConf(const std::string& brokers) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  if (conf->set("bootstrap.servers", brokers, err) != RdKafka::Conf::CONF_OK) {
    throw std::runtime_error("bootstrap.servers: " + err);
  }
  for (const auto& [key, value] : SecurityFromEnvironment()) {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error(key + ": " + err);  // never the value: it may be the password
    }
  }
  return conf;
}

// A consumer assigned to every partition of `topic` at its current end, so it reads exactly the
// records produced from now on (the answer cannot slip in before it starts).
std::unique_ptr<RdKafka::KafkaConsumer> AnswerReader(const std::string& brokers,
                                                     const std::string& topic) {
  auto conf = KafkaConf(brokers);
  std::string err;
  conf->set("group.id", "sluice-cli-publish-" + core::NewUuid(), err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw std::runtime_error("cannot create a Kafka consumer: " + err);
  std::unique_ptr<RdKafka::Topic> handle(
      RdKafka::Topic::create(consumer.get(), topic, nullptr, err));
  RdKafka::Metadata* raw = nullptr;
  if (consumer->metadata(false, handle.get(), &raw, 10000) != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("Kafka at " + brokers + " did not answer for topic " + topic);
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  std::vector<RdKafka::TopicPartition*> partitions;
  for (const auto* t : *metadata->topics()) {
    for (const auto* p : *t->partitions()) {
      int64_t low = 0, high = 0;
      consumer->query_watermark_offsets(topic, p->id(), &low, &high, 10000);
      partitions.push_back(RdKafka::TopicPartition::create(topic, p->id(), high));
    }
  }
  if (partitions.empty()) throw std::runtime_error("topic " + topic + " has no partitions");
  consumer->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  return consumer;
}

std::string Header(RdKafka::Message& m, const std::string& name) {
  const RdKafka::Headers* headers = m.headers();
  if (headers == nullptr) return "";
  const auto h = headers->get_last(name);
  return h.err() == RdKafka::ERR_NO_ERROR && h.value() != nullptr
             ? std::string(static_cast<const char*>(h.value()), h.value_size())
             : "";
}

}  // namespace

PublishCommand::PublishCommand(CLI::App& app) {
  auto* publish = app.add_subcommand(
      "publish", "submit to Sluice over Kafka (the public inbound topic), as a producer does");
  publish->require_subcommand(1);
  brokers_ = EnvOr("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092");
  topic_ = "sluice.intake.v1";
  results_topic_ = "sluice.intake.results.v1";

  release_ = publish->add_subcommand(
      "release", "submit a release on sluice.intake.v1 and wait for its answer");
  auto* r = release_;
  r->add_option("--app", app_, "application name")->required();
  r->add_option("--tag", tag_, "git tag, e.g. v1.2.3")->required();
  r->add_option("--version", version_, "version (default: from the tag)");
  r->add_option("--artifact-url", url_, "artifact URL")->required();
  r->add_option("--sha256", sha_, "artifact sha256")->required();
  r->add_option("--created-by", by_, "who built it (default: the token's name)");
  r->add_option("--commit", commit_, "git commit");
  r->add_option("--repo", repo_, "repository");
  r->add_option("--kind", kind_, "tarball | image | model");
  r->add_option("--image", image_, "the image Kubernetes targets run");
  r->add_option("--image-digest", image_digest_, "that image's digest, sha256:<hex>");
  AddProducerOptions(r);

  // The same request as `sluice deploy` (POST /v1/deployments), under the same option names.
  deployment_ = publish->add_subcommand(
      "deployment", "request a deployment on sluice.intake.v1 and wait for its answer");
  auto* d = deployment_;
  d->add_option("--release", release_id_, "release id")->required();
  d->add_option("--env", env_, "environment")->required();
  d->add_option("--spec-version", spec_version_, "delivery spec version (default: latest)");
  d->add_option("--idempotency-key", idempotency_key_,
                "resubmitting with the same key deploys once (default: the submission id)");
  d->add_option("--override", override_reason_,
                "REASON: deploy past the promotion gate or a freeze (admins of the environment "
                "only; audited with the reason)");
  AddProducerOptions(d);

  // What an Alertmanager receiver takes: an alert about app + env, matched by metric-watcher.
  alert_ = publish->add_subcommand(
      "alert",
      "send an external alert about an app in an environment on sluice.intake.v1 (a firing one "
      "rolls back the deployment active there; approver role) and wait for its answer");
  auto* a = alert_;
  a->add_option("--app", app_, "application name")->required();
  a->add_option("--env", env_, "environment")->required();
  a->add_option("--alertname", alert_name_, "the alert's name, e.g. CheckoutErrors")->required();
  a->add_option("--severity", severity_, "e.g. critical");
  a->add_option("--summary", summary_, "what is wrong, shown in the rollback's evidence");
  a->add_flag("--resolved", resolved_, "the alert is resolved (recorded, nothing rolls back)");
  AddProducerOptions(a);
}

void PublishCommand::AddProducerOptions(CLI::App* sub) {
  sub->add_option("--brokers", brokers_, "Kafka bootstrap servers (SLUICE_KAFKA_BROKERS)");
  auto* topic = sub->add_option("--topic", topic_, "the inbound topic");
  sub->add_option("--as-principal", as_principal_,
                  "publish on PRINCIPAL's own topic sluice.intake.p.<PRINCIPAL>.v1 with the role "
                  "release-intake maps it to (SLUICE_INTAKE_KAFKA_PRINCIPALS), no token; connect "
                  "as it with SLUICE_KAFKA_SASL_USERNAME / SLUICE_KAFKA_SASL_PASSWORD_FILE")
      ->excludes(topic);
  sub->add_option("--results-topic", results_topic_, "where the answer comes");
  sub->add_option("--id", id_,
                  "submission id (default: a new UUID); resubmitting it has one effect");
  sub->add_option("--timeout", timeout_, "how long to wait for the answer, e.g. 30s");
  sub->add_flag("--no-wait", no_wait_, "produce and return without waiting for the answer");
}

bool PublishCommand::Chosen() const {
  return (release_ != nullptr && release_->parsed()) ||
         (deployment_ != nullptr && deployment_->parsed()) ||
         (alert_ != nullptr && alert_->parsed());
}

int PublishCommand::Run(const std::string& token) const {
  const auto timeout = core::ParseDuration(timeout_);
  if (!timeout) throw std::runtime_error("--timeout '" + timeout_ + "' is not a duration");
  const bool deployment = deployment_ != nullptr && deployment_->parsed();
  const bool alert = alert_ != nullptr && alert_->parsed();
  v1::IntakeSubmission s;
  s.set_submission_id(id_.empty() ? core::NewUuid() : id_);
  if (alert) {
    auto* al = s.mutable_alert();
    al->set_app(app_);
    al->set_env(env_);
    al->set_alertname(alert_name_);
    al->set_severity(severity_);
    al->set_summary(summary_);
    al->set_status(resolved_ ? "resolved" : "firing");
  } else if (deployment) {
    auto* dep = s.mutable_deployment();
    dep->set_release_id(release_id_);
    dep->set_env(env_);
    if (deployment_->count("--spec-version") > 0) dep->set_spec_version(spec_version_);
    dep->set_idempotency_key(idempotency_key_);
    if (!override_reason_.empty()) dep->mutable_override()->set_reason(override_reason_);
  } else {
    auto* rel = s.mutable_release();
    rel->set_app(app_);
    rel->set_tag(tag_);
    rel->set_version(version_);
    rel->set_artifact_url(url_);
    rel->set_sha256(sha_);
    rel->set_created_by(by_);
    rel->set_commit(commit_);
    rel->set_repo(repo_);
    rel->set_artifact_kind(kind_);
    rel->set_image(image_);
    rel->set_image_digest(image_digest_);
  }
  const std::string value = s.SerializeAsString();
  // The record key keeps one app's submissions in order; a deployment request names no app, so
  // its release's id (this command waits for each answer before it returns anyway).
  const std::string& record_key = deployment ? release_id_ : app_;
  const std::string topic =
      as_principal_.empty() ? topic_ : "sluice.intake.p." + as_principal_ + ".v1";

  std::unique_ptr<RdKafka::KafkaConsumer> answers;
  if (!no_wait_) answers = AnswerReader(brokers_, results_topic_);
  auto conf = KafkaConf(brokers_);
  std::string err;
  conf->set("enable.idempotence", "true", err);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) throw std::runtime_error("cannot create a Kafka producer: " + err);
  auto* headers = RdKafka::Headers::create();
  if (as_principal_.empty()) headers->add("authorization", "Bearer " + token);
  headers->add("content-type", "application/protobuf");
  headers->add("submission-id", s.submission_id());
  const auto code =
      producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                        const_cast<char*>(value.data()), value.size(), record_key.data(),
                        record_key.size(), 0, headers, nullptr);
  if (code != RdKafka::ERR_NO_ERROR) {
    delete headers;  // kept by librdkafka only when the produce call succeeds
    throw std::runtime_error("cannot produce to " + topic + ": " + RdKafka::err2str(code));
  }
  if (producer->flush(10000) != RdKafka::ERR_NO_ERROR || producer->outq_len() > 0) {
    std::cerr << "sluice: the submission was not delivered to " << topic << " at " << brokers_
              << " within 10s\n";
    return kExitUnavailable;
  }
  std::cerr << "submitted " << s.submission_id() << " to " << topic << "\n";
  if (no_wait_) return 0;

  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(answers->consume(200));
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;
    const std::string key(m->key() != nullptr ? *m->key() : "");
    if (key != s.submission_id()) continue;
    v1::IntakeResult result;
    const std::string payload(static_cast<const char*>(m->payload()), m->len());
    if (Header(*m, "content-type") == "application/json" || !result.ParseFromString(payload)) {
      std::cout << payload << "\n";
      return kExitError;
    }
    if (result.outcome() == v1::INTAKE_OUTCOME_ACCEPTED && deployment) {
      const json body = json::parse(result.body_json(), nullptr, /*allow_exceptions=*/false);
      std::cout << "deployment " << result.deployment_id() << " accepted (" << result.http_status()
                << "): release " << result.release_id() << " -> " << env_ << "\n";
      if (body.is_object() && body.contains("override") && body["override"].is_object() &&
          body["override"].value("overridden", json()).is_string()) {
        std::cout << "the promotion gate was overridden ("
                  << body["override"]["overridden"].get<std::string>()
                  << "); recorded in the audit log with the reason\n";
      }
      return 0;
    }
    if (result.outcome() == v1::INTAKE_OUTCOME_ACCEPTED && alert) {
      const json body = json::parse(result.body_json(), nullptr, /*allow_exceptions=*/false);
      std::cout << "alert " << alert_name_ << " (" << (resolved_ ? "resolved" : "firing")
                << ") about " << app_ << " in " << env_ << " accepted (" << result.http_status()
                << ")";
      if (body.is_object() && body.value("message", json()).is_string()) {
        std::cout << ": " << body["message"].get<std::string>();
      }
      std::cout << "\n";
      return 0;
    }
    if (result.outcome() == v1::INTAKE_OUTCOME_ACCEPTED) {
      std::cout << "release " << result.release_id() << " accepted (" << result.http_status()
                << "): " << app_ << " " << tag_ << "\n";
      return 0;
    }
    std::cout << "refused (" << result.http_status() << " " << result.error().code()
              << "): " << result.error().message()
              << (result.error().field().empty() ? "" : " [field " + result.error().field() + "]")
              << "\n";
    return result.http_status() == 401 || result.http_status() == 403 ? kExitRefused : kExitError;
  }
  std::cerr << "sluice: no answer on " << results_topic_ << " within " << timeout_
            << " (is release-intake running?); the submission id is " << s.submission_id() << "\n";
  return kExitUnavailable;
}

}  // namespace sluice::cli
