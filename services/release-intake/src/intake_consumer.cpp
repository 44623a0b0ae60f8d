#include "intake_consumer.hpp"

#include <google/protobuf/util/json_util.h>

#include <sluice/core/logging.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/pg/outbox.hpp>

#include "intake.hpp"
#include "intake_actions.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

// The trace id of a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"), or empty.
std::string TraceIdOf(const kafka::ConsumedMessage& m) {
  const auto tp = m.HeaderValue("traceparent");
  if (!tp || tp->size() < 55 || (*tp)[2] != '-' || (*tp)[35] != '-') return "";
  const std::string id = tp->substr(3, 32);
  const bool hex = std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  return hex && id != std::string(32, '0') ? id : "";
}

Encoding EncodingOf(std::string_view content_type) {
  return content_type == ContentType(Encoding::kJson) ? Encoding::kJson : Encoding::kProtobuf;
}

// Publishes `result` on the results topic (through the outbox, in `tx`) in `encoding`.
void Publish(pqxx::work& tx, const v1::IntakeResult& result, Encoding encoding,
             const std::string& results_topic) {
  pg::OutboxMessage m;
  m.topic = results_topic;
  m.key = result.submission_id();
  m.payload = EncodeResult(result, encoding);
  m.headers = {{std::string(kContentTypeHeader), std::string(ContentType(encoding))},
               {std::string(kSubmissionIdHeader), result.submission_id()}};
  pg::AddToOutbox(tx, m);
}

// Answers a submission for the first time: published, and kept (under `key`, its inbox id) for
// a retried record.
void AnswerFirst(pqxx::work& tx, const v1::IntakeResult& result, Encoding encoding,
                 const std::string& results_topic, const core::Clock& clock,
                 const std::string& key) {
  std::string stored;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(result, &stored, options).ok()) {
    throw std::runtime_error("cannot encode the answer to submission " + result.submission_id());
  }
  tx.exec_params(
      "INSERT INTO intake_answers (submission_id, content_type, result, answered_at) "
      "VALUES ($1, $2, $3::jsonb, to_timestamp($4::double precision / 1000)) "
      "ON CONFLICT (submission_id) DO NOTHING",
      key, std::string(ContentType(encoding)), stored, core::ToUnixMillis(clock.Now()));
  Publish(tx, result, encoding, results_topic);
}

// Answers a retried submission again with its stored answer (`submission_id`: its inbox id).
void AnswerAgain(pqxx::work& tx, const std::string& submission_id,
                 const std::string& results_topic) {
  const auto rows = tx.exec_params(
      "SELECT content_type, result::text FROM intake_answers WHERE submission_id = $1",
      submission_id);
  if (rows.empty()) {
    core::Logger("intake")->warn("submission {} was handled before but has no stored answer",
                                 submission_id);
    return;
  }
  v1::IntakeResult result;
  if (!google::protobuf::util::JsonStringToMessage(rows[0][1].c_str(), &result).ok()) {
    throw std::runtime_error("the stored answer to submission " + submission_id +
                             " cannot be read");
  }
  Publish(tx, result, EncodingOf(rows[0][0].c_str()), results_topic);
}

Role RoleFor(const Submission& s) {
  if (s.kind == SubmissionKind::kCommand) {
    if (const auto verb = ParseVerb(s.verb)) return RequiredRole(*verb);
  }
  // A firing alert about an active deployment rolls it back: the role of a rollback.
  if (s.kind == SubmissionKind::kAlert) return RequiredRole(OperatorCommand::VERB_ROLLBACK);
  return Role::kDeployer;
}

// The request carried out as the HTTP API does it: the token, the validation, the effect.
// A refusal (an http::ApiException below 500) undoes whatever the attempt wrote and is the
// answer; a 5xx or any other failure propagates (the record is retried). `principal`: the
// authority of a mapped principal's topic, checked by the same Authorize as a looked-up token
// (the record's authorization header is then not read).
std::pair<int, json> Carry(pqxx::work& tx, const Submission& s, const std::string& authorization,
                           const std::optional<StoredToken>& principal, const PlannerCheck& planner,
                           const core::Clock& clock) {
  const auto now_ms = core::ToUnixMillis(clock.Now());
  const BearerLookup lookup =
      principal ? BearerLookup{true, principal} : LookupBearer(tx, authorization, now_ms);
  tx.exec("SAVEPOINT intake_request");
  try {
    // Deployments and commands go into an environment: the role there decides (as over HTTP).
    const TokenRecord token =
        Authorize(lookup, RoleFor(s), now_ms, s.kind != SubmissionKind::kRelease);
    const Caller caller = CallerOf(token, "kafka");
    Answer answer;
    switch (s.kind) {
      case SubmissionKind::kRelease: {
        const ReleaseInput input = ValidatedRelease(s.body, token);
        answer = ReleaseAnswer(StoreRelease(tx, input, caller.transport, caller.name, clock));
        break;
      }
      case SubmissionKind::kDeployment: {
        const DeploymentRequest request = ValidatedDeployment(s.body);
        const std::string key = s.idempotency_key.value_or(s.id);
        if (!IsValidIdempotencyKey(key)) {
          throw http::BadRequest("idempotency_key",
                                 "idempotency_key must be 1-200 printable characters without "
                                 "spaces");
        }
        answer = RequestDeployment(tx, request, key, /*dry_run=*/false, caller, clock);
        break;
      }
      case SubmissionKind::kCommand: {
        const Verb verb = CommandVerb(s.verb);
        if (!IsValidDeploymentId(s.deployment_id)) {
          throw http::BadRequest("deployment_id",
                                 "deployment_id must be 1-64 characters of A-Z, a-z, 0-9 and '-'");
        }
        const CommandInput command = ValidatedCommand(verb, s.body);
        answer = IssueCommand(tx, s.deployment_id, verb, command, planner, caller, clock);
        break;
      }
      case SubmissionKind::kAlert:
        answer = SubmitAlert(tx, ValidatedAlert(s.body), s.id, caller, clock);
        break;
    }
    tx.exec("RELEASE SAVEPOINT intake_request");
    return {answer.status, std::move(answer.body)};
  } catch (const http::ApiException& e) {
    const auto& error = e.Error();
    if (error.status >= 500) throw;
    tx.exec("ROLLBACK TO SAVEPOINT intake_request");
    json body = {
        {"error", {{"code", error.code}, {"message", error.message}, {"field", error.field}}}};
    if (!error.detail.is_null()) body["error"]["detail"] = error.detail;
    return {error.status, std::move(body)};
  }
}

}  // namespace

eventbus::InboxRecord IntakeRecord(const kafka::ConsumedMessage& message, const IntakeDeps& deps) {
  const core::Clock& clock = deps.clock;
  const std::string& results_topic = deps.results_topic;
  const auto content_type = message.HeaderValue(kContentTypeHeader);
  const auto header_id = message.HeaderValue(kSubmissionIdHeader);
  Decoded decoded = DecodeSubmission(
      message.value, content_type ? std::optional<std::string_view>(*content_type) : std::nullopt,
      header_id ? std::optional<std::string_view>(*header_id) : std::nullopt);
  const Encoding encoding = decoded.encoding;
  eventbus::InboxRecord record;
  record.trace_id = TraceIdOf(message);
  // A mapped principal's own topic: its authority instead of a token. Its submission ids are its
  // own: kept in the inbox (and intake_answers) as "kafka:<principal> <id>", which no id of
  // another producer can equal (an id has no space), so none can take one of them first.
  auto principal = PrincipalAuthority(deps.principals, message.topic);
  const auto inbox_id = [&principal](const std::string& id) {
    return principal ? principal->name + " " + id : id;
  };
  if (auto* bad = std::get_if<Malformed>(&decoded.result)) {
    if (bad->id.empty()) throw kafka::PermanentError("malformed submission: " + bad->reason);
    record.id = inbox_id(bad->id);
    record.kind = "malformed";
    record.dead_letter_reason = "malformed submission " + bad->id + ": " + bad->reason;
    record.step = [result = MalformedResult(*bad), encoding, &clock, results_topic,
                   key = record.id](pqxx::work& tx) {
      AnswerFirst(tx, result, encoding, results_topic, clock, key);
    };
  } else {
    auto submission = std::get<Submission>(std::move(decoded.result));
    // An operator command is checked at the planner first, outside the transaction.
    PlannerCheck planner;
    if (submission.kind == SubmissionKind::kCommand && deps.planner &&
        IsValidDeploymentId(submission.deployment_id)) {
      planner = deps.planner(submission.deployment_id);
    }
    record.id = inbox_id(submission.id);
    record.kind = std::string(ToString(submission.kind));
    std::string authorization =
        principal ? "" : message.HeaderValue(kAuthorizationHeader).value_or("");
    record.step = [s = std::move(submission), authorization = std::move(authorization),
                   principal = std::move(principal), planner, encoding, &clock, results_topic,
                   key = record.id](pqxx::work& tx) {
      const auto [status, body] = Carry(tx, s, authorization, principal, planner, clock);
      const auto result = MakeResult(s.id, ToString(s.kind), status, body);
      core::Logger("intake")->info(
          "submission {} ({}) {}: {}", s.id, ToString(s.kind),
          result.outcome() == v1::INTAKE_OUTCOME_ACCEPTED ? "accepted" : "refused", status);
      AnswerFirst(tx, result, encoding, results_topic, clock, key);
    };
  }
  record.duplicate = [id = record.id, results_topic](pqxx::work& tx) {
    AnswerAgain(tx, id, results_topic);
  };
  return record;
}

kafka::Handler IntakeHandler(pg::Database& db, IntakeDeps deps) {
  return eventbus::InboxRecordHandler(
      db, std::string(kIntakeConsumer),
      [deps = std::move(deps)](const kafka::ConsumedMessage& m) { return IntakeRecord(m, deps); });
}

int64_t DeleteIntakeAnswersBefore(pqxx::work& tx, core::SystemTime before, int64_t limit) {
  return static_cast<int64_t>(
      tx.exec_params("DELETE FROM intake_answers WHERE submission_id = ANY(ARRAY("
                     "SELECT submission_id FROM intake_answers "
                     "WHERE answered_at < to_timestamp($1::double precision / 1000) LIMIT $2))",
                     core::ToUnixMillis(before), limit)
          .affected_rows());
}

}  // namespace sluice::release_intake
