#include "sluice/events/vocabulary.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace sluice::events {
namespace {

// Every value of `Enum` but *_UNSPECIFIED has a distinct text that parses back to it.
template <class Enum>
void ExpectRoundTrip(const google::protobuf::EnumDescriptor* descriptor,
                     Enum (*parse)(std::string_view)) {
  std::set<std::string_view> texts;
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const auto* value = descriptor->value(i);
    const auto e = static_cast<Enum>(value->number());
    if (value->number() == 0) {
      EXPECT_EQ(Name(e), "") << value->name();
      continue;
    }
    const auto text = Name(e);
    EXPECT_FALSE(text.empty()) << value->name() << " has no text";
    EXPECT_EQ(parse(text), e) << value->name();
    EXPECT_TRUE(texts.insert(text).second) << value->name() << " shares its text";
  }
}

// The documented rule: the lower-case name after the prefix.
std::string LowerSuffix(const std::string& name, std::string_view prefix) {
  std::string s = name.substr(prefix.size());
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(Vocabulary, EveryReasonRoundTripsAndIsItsLowerCaseName) {
  ExpectRoundTrip<v1::Reason>(v1::Reason_descriptor(), &ParseReason);
  const auto* d = v1::Reason_descriptor();
  for (int i = 1; i < d->value_count(); ++i) {
    EXPECT_EQ(Name(static_cast<v1::Reason>(d->value(i)->number())),
              LowerSuffix(d->value(i)->name(), "REASON_"));
  }
}

TEST(Vocabulary, EveryOtherEnumRoundTrips) {
  ExpectRoundTrip<v1::AnalysisOutcome>(v1::AnalysisOutcome_descriptor(), &ParseAnalysisOutcome);
  ExpectRoundTrip<v1::CanaryFailurePolicy>(v1::CanaryFailurePolicy_descriptor(),
                                           &ParseCanaryFailurePolicy);
  ExpectRoundTrip<v1::RollbackTrigger>(v1::RollbackTrigger_descriptor(), &ParseRollbackTrigger);
  ExpectRoundTrip<v1::InstanceStatus>(v1::InstanceStatus_descriptor(), &ParseInstanceStatus);
  ExpectRoundTrip<v1::OperatorCommand::Verb>(v1::OperatorCommand::Verb_descriptor(), &ParseVerb);
}

// The text that travels in JSON, columns and notices stays what it was.
TEST(Vocabulary, TextsAreTheWireSpellings) {
  static_assert(Name(v1::REASON_STALE_GENERATION) == "stale_generation");
  EXPECT_EQ(Name(v1::ANALYSIS_OUTCOME_SUCCESSFUL), "Successful");
  EXPECT_EQ(Name(v1::ANALYSIS_OUTCOME_INCONCLUSIVE), "Inconclusive");
  EXPECT_EQ(Name(v1::CANARY_FAILURE_POLICY_REVERT_BATCH), "revert-batch");
  EXPECT_EQ(Name(v1::CANARY_FAILURE_POLICY_REVERT_ALL), "revert-all");
  EXPECT_EQ(Name(v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED), "analysis_failed");
  EXPECT_EQ(Name(v1::INSTANCE_STATUS_DEPLOYING), "deploying");
  EXPECT_EQ(Name(v1::OperatorCommand::VERB_APPROVE), "approve");
}

TEST(Vocabulary, UnknownTextIsUnspecified) {
  for (std::string_view text : {"", "STALE_GENERATION", "stale-generation", "Stale_generation",
                                "stale_generation ", "REASON_STALE_GENERATION", "nonsense"}) {
    EXPECT_EQ(ParseReason(text), v1::REASON_UNSPECIFIED) << text;
  }
  EXPECT_EQ(ParseAnalysisOutcome("successful"), v1::ANALYSIS_OUTCOME_UNSPECIFIED);
  EXPECT_EQ(ParseCanaryFailurePolicy("revert_batch"), v1::CANARY_FAILURE_POLICY_UNSPECIFIED);
  EXPECT_EQ(ParseRollbackTrigger("Alert"), v1::ROLLBACK_TRIGGER_UNSPECIFIED);
  EXPECT_EQ(ParseInstanceStatus("done"), v1::INSTANCE_STATUS_UNSPECIFIED);
  EXPECT_EQ(ParseVerb("Promote"), v1::OperatorCommand::VERB_UNSPECIFIED);
  // A number no value has (a newer producer) has no text.
  EXPECT_EQ(Name(static_cast<v1::Reason>(9999)), "");
}

TEST(Vocabulary, SettersFillTheEnumAndTheDeprecatedString) {
  v1::DeploymentFailed failed;
  SetReason(failed, v1::REASON_BATCH_FAILED);
  EXPECT_EQ(failed.reason_code(), v1::REASON_BATCH_FAILED);
  v1::DeploymentFailed old_reader = failed;  // what a consumer of the string alone sees
  old_reader.clear_reason_code();
  EXPECT_EQ(ReasonText(old_reader), "batch_failed");

  v1::AnalysisPassed passed;
  SetOutcome(passed, v1::ANALYSIS_OUTCOME_SUCCESSFUL);
  EXPECT_EQ(OutcomeOf(passed), v1::ANALYSIS_OUTCOME_SUCCESSFUL);

  v1::DeploymentPlanned planned;
  SetPolicy(planned, v1::CANARY_FAILURE_POLICY_REVERT_ALL);
  EXPECT_EQ(PolicyOf(planned), v1::CANARY_FAILURE_POLICY_REVERT_ALL);

  v1::RollbackStarted started;
  SetTrigger(started, v1::ROLLBACK_TRIGGER_ALERT);
  EXPECT_EQ(TriggerText(started), "alert");
}

// An older producer filled only the string: consumers read the enum from it.
TEST(Vocabulary, ReadersFallBackToTheStringOfAnOlderProducer) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  v1::DeploymentPaused paused;
  paused.set_reason("approval_required");
  v1::AnalysisFailed analysis;
  analysis.set_reason("judge_failed");
  analysis.set_outcome("Inconclusive");
  v1::BatchFailed batch;
  batch.set_reason("an agent's own words");
  v1::DeploymentPlanned planned;
  planned.set_on_canary_failure("revert-all");
  v1::RollbackStarted started;
  started.set_trigger("operator");
#pragma GCC diagnostic pop
  EXPECT_EQ(ReasonOf(paused), v1::REASON_APPROVAL_REQUIRED);
  EXPECT_EQ(ReasonOf(analysis), v1::REASON_JUDGE_FAILED);
  EXPECT_EQ(OutcomeOf(analysis), v1::ANALYSIS_OUTCOME_INCONCLUSIVE);
  EXPECT_EQ(OutcomeText(analysis), "Inconclusive");
  EXPECT_EQ(PolicyOf(planned), v1::CANARY_FAILURE_POLICY_REVERT_ALL);
  EXPECT_EQ(TriggerOf(started), v1::ROLLBACK_TRIGGER_OPERATOR);
  // Free text with no value: unspecified as an enum, kept as text.
  EXPECT_EQ(ReasonOf(batch), v1::REASON_UNSPECIFIED);
  EXPECT_EQ(ReasonText(batch), "an agent's own words");
}

// The enum wins over the string when both are set (a producer of this release).
TEST(Vocabulary, TheEnumWinsOverTheString) {
  v1::BatchFailed batch;
  SetReason(batch, "stale_generation");
  EXPECT_EQ(batch.reason_code(), v1::REASON_STALE_GENERATION);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  batch.set_reason("driver_error");
#pragma GCC diagnostic pop
  EXPECT_EQ(ReasonOf(batch), v1::REASON_STALE_GENERATION);
  EXPECT_EQ(ReasonText(batch), "stale_generation");
}

}  // namespace
}  // namespace sluice::events
