#include <gtest/gtest.h>

#include <map>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/envelope.hpp>

namespace sluice::events {
namespace {

v1::Envelope MakeReleaseCreated() {
  core::testing::ManualClock clock;
  auto e = NewEnvelope("release-intake", clock);
  e.set_release_id("rel-1");
  e.mutable_release_created()->set_app("shop");
  Finalize(e);
  return e;
}

TEST(EnvelopeTest, NewEnvelopeCarriesIdsTimeAndVersion) {
  core::testing::ManualClock clock;
  auto e = NewEnvelope("release-intake", clock);
  EXPECT_TRUE(core::IsUuid(e.event_id()));
  EXPECT_EQ(e.trace_id().size(), 32u);
  EXPECT_EQ(e.schema_version(), kSchemaVersion);
  EXPECT_EQ(e.occurred_at().seconds(), 1'700'000'000);
  EXPECT_EQ(e.source(), "release-intake");
}

TEST(EnvelopeTest, UsesTheThreadsTraceId) {
  core::TraceScope scope("0123456789abcdef0123456789abcdef");
  core::testing::ManualClock clock;
  EXPECT_EQ(NewEnvelope("x", clock).trace_id(), "0123456789abcdef0123456789abcdef");
}

TEST(EnvelopeTest, FinalizeSetsTypeFromPayloadAndRefusesEmpty) {
  auto e = MakeReleaseCreated();
  EXPECT_EQ(e.type(), "sluice.v1.ReleaseCreated");
  core::testing::ManualClock clock;
  auto empty = NewEnvelope("x", clock);
  EXPECT_THROW(Finalize(empty), std::invalid_argument);
}

TEST(EnvelopeTest, TopicAndKey) {
  auto e = MakeReleaseCreated();
  EXPECT_EQ(TopicFor(e), kTopicReleases);
  EXPECT_EQ(PartitionKey(e), "rel-1");
  e.set_deployment_id("dep-9");
  EXPECT_EQ(PartitionKey(e), "dep-9");
  e.mutable_rollback_started()->set_rollback_id("rb");
  EXPECT_EQ(TopicFor(e), kTopicRollbacks);
}

TEST(EnvelopeTest, EveryPayloadHasATopic) {
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("payload");
  ASSERT_NE(oneof, nullptr);
  for (int i = 0; i < oneof->field_count(); ++i) {
    v1::Envelope e;
    e.GetReflection()->MutableMessage(&e, oneof->field(i));
    EXPECT_NO_THROW(TopicFor(e)) << oneof->field(i)->name();
  }
}

TEST(EnvelopeTest, ValidateNamesWhatIsWrong) {
  auto e = MakeReleaseCreated();
  EXPECT_EQ(Validate(e), std::nullopt);
  auto bad = e;
  bad.set_type("sluice.v1.BatchFailed");
  EXPECT_NE(Validate(bad)->find("does not match"), std::string::npos);
  bad = e;
  bad.set_schema_version(2);
  EXPECT_NE(Validate(bad)->find("schema_version"), std::string::npos);
  bad = e;
  bad.clear_event_id();
  EXPECT_NE(Validate(bad)->find("event_id"), std::string::npos);
}

// occurred_at becomes a SystemTime (nanoseconds in 64 bits) in the consumers: a time the clock
// cannot hold is refused before any handler (found by fuzz/envelope: year 2298 overflowed).
TEST(EnvelopeTest, ValidateRefusesAnOccurredAtTheClockCannotHold) {
  auto e = MakeReleaseCreated();
  auto bad = e;
  bad.mutable_occurred_at()->set_seconds(10'369'934'592);  // 2298-08-..
  ASSERT_TRUE(Validate(bad));
  EXPECT_NE(Validate(bad)->find("occurred_at"), std::string::npos);
  bad.mutable_occurred_at()->set_seconds(-62'135'596'800);  // 0001-01-01
  EXPECT_TRUE(Validate(bad));
  bad = e;
  bad.mutable_occurred_at()->set_nanos(-1);
  EXPECT_TRUE(Validate(bad));
  bad.mutable_occurred_at()->set_nanos(1'000'000'000);
  EXPECT_TRUE(Validate(bad));
  bad.mutable_occurred_at()->set_seconds(7'258'118'400);  // 2200-01-01: the clock holds it
  bad.mutable_occurred_at()->set_nanos(999'999'999);
  EXPECT_EQ(Validate(bad), std::nullopt);
}

TEST(EnvelopeTest, ParseRejectsGarbage) {
  std::string error;
  EXPECT_FALSE(Parse("\xff\xff\xff\xff", &error).has_value());
  EXPECT_FALSE(error.empty());
  auto e = MakeReleaseCreated();
  auto parsed = Parse(e.SerializeAsString(), &error);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->event_id(), e.event_id());
}

TEST(EnvelopeTest, CloudEventHeaders) {
  auto e = MakeReleaseCreated();
  std::map<std::string, std::string> h;
  for (auto& [k, v] : CloudEventHeaders(e)) h[k] = v;
  EXPECT_EQ(h["ce_specversion"], "1.0");
  EXPECT_EQ(h["ce_id"], e.event_id());
  EXPECT_EQ(h["ce_type"], "sluice.v1.ReleaseCreated");
  EXPECT_EQ(h["ce_source"], "/sluice/release-intake");
  EXPECT_EQ(h["ce_time"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(h["ce_subject"], "rel-1");
  EXPECT_EQ(h["content-type"], "application/protobuf");
  ASSERT_EQ(h["traceparent"].size(), 55u);
  EXPECT_EQ(h["traceparent"].substr(0, 3), "00-");
}

// Protobuf bounds its own recursion (CodedInputStream's default limit, 100): an event whose
// unknown field 1000 opens 20,000 nested groups is refused, not a stack overflow.
TEST(EnvelopeTest, ParseRefusesDeeplyNestedInput) {
  // Tag of field 1000, wire type 3 (start group) = (1000 << 3) | 3 = 8003 = varint 0xC3 0x3E.
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += "\xC3\x3E";
  std::string error;
  EXPECT_FALSE(Parse(deep, &error));
  EXPECT_NE(error.find("protobuf parse failed"), std::string::npos);
}

}  // namespace
}  // namespace sluice::events
