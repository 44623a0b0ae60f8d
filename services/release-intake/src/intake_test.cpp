#include "intake.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "delivery.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

const std::string kSha(64, 'a');

v1::IntakeSubmission ProtoRelease() {
  v1::IntakeSubmission s;
  s.set_submission_id("sub-1");
  auto* r = s.mutable_release();
  r->set_app("shop");
  r->set_tag("v1.2.3");
  r->set_artifact_url("https://artifacts.example/shop-1.2.3.tgz");
  r->set_sha256(kSha);
  return s;
}

TEST(IntakeDecodeTest, ProtobufReleaseBecomesTheApiBodyWithTheSetFieldsOnly) {
  const auto d = DecodeSubmission(ProtoRelease().SerializeAsString(), std::nullopt, std::nullopt);
  EXPECT_EQ(d.encoding, Encoding::kProtobuf);
  const auto& s = std::get<Submission>(d.result);
  EXPECT_EQ(s.id, "sub-1");
  EXPECT_EQ(s.kind, SubmissionKind::kRelease);
  EXPECT_EQ(s.body, (json{{"app", "shop"},
                          {"tag", "v1.2.3"},
                          {"artifact_url", "https://artifacts.example/shop-1.2.3.tgz"},
                          {"sha256", kSha}}));
  // The API's own validator accepts it as it would the HTTP body.
  const auto v = ValidateRelease(s.body, "ci");
  ASSERT_TRUE(v.release) << v.error->field << ": " << v.error->message;
  EXPECT_EQ(v.release->version, "1.2.3");
  EXPECT_EQ(v.release->created_by, "ci");
}

TEST(IntakeDecodeTest, ProtobufWithExplicitContentTypeAndDeployment) {
  v1::IntakeSubmission s;
  s.set_submission_id("sub-2");
  s.mutable_deployment()->set_release_id("r-1");
  s.mutable_deployment()->set_env("staging");
  s.mutable_deployment()->set_spec_version(3);
  s.mutable_deployment()->set_idempotency_key("ci-build-77");
  const auto d = DecodeSubmission(s.SerializeAsString(), "application/x-protobuf", std::nullopt);
  const auto& sub = std::get<Submission>(d.result);
  EXPECT_EQ(sub.kind, SubmissionKind::kDeployment);
  EXPECT_EQ(sub.body, (json{{"release_id", "r-1"}, {"env", "staging"}, {"spec_version", 3}}));
  EXPECT_EQ(sub.idempotency_key, "ci-build-77");
  auto v = ValidateDeploymentRequest(sub.body);
  ASSERT_TRUE(std::holds_alternative<DeploymentRequest>(v));
  EXPECT_EQ(std::get<DeploymentRequest>(v).spec_version, 3);
}

TEST(IntakeDecodeTest, JsonReleasePassesTheBodyAsIsSoTheValidatorNamesTheField) {
  const json doc = {{"submission_id", "sub-3"},
                    {"release", {{"app", "shop"}, {"tag", "v1.0.0"}, {"sha265", kSha}}}};
  const auto d = DecodeSubmission(doc.dump(), "application/json; charset=utf-8", std::nullopt);
  EXPECT_EQ(d.encoding, Encoding::kJson);
  const auto& s = std::get<Submission>(d.result);
  EXPECT_EQ(s.body, doc["release"]);
  const auto v = ValidateRelease(s.body, "ci");
  ASSERT_TRUE(v.error);
  EXPECT_EQ(v.error->field, "sha265");  // the same refusal as POST /v1/releases
}

TEST(IntakeDecodeTest, JsonDeploymentTakesItsIdempotencyKeyOutOfTheBody) {
  const json doc = {
      {"submission_id", "sub-4"},
      {"deployment", {{"release_id", "r-1"}, {"env", "prod"}, {"idempotency_key", "k-1"}}}};
  const auto d = DecodeSubmission(doc.dump(), "application/json", std::nullopt);
  const auto& s = std::get<Submission>(d.result);
  EXPECT_EQ(s.idempotency_key, "k-1");
  EXPECT_EQ(s.body, (json{{"release_id", "r-1"}, {"env", "prod"}}));
}

// An admin's override of the promotion gate travels in the protobuf form as the HTTP body's
// {"override": {"reason"}}, and the API's validator reads it (or refuses it) as it reads that body.
TEST(IntakeDecodeTest, ProtobufDeploymentCarriesTheOverrideAsTheApiBodyDoes) {
  v1::IntakeSubmission s;
  s.set_submission_id("sub-o");
  s.mutable_deployment()->set_release_id("r-1");
  s.mutable_deployment()->set_env("production");
  s.mutable_deployment()->mutable_override()->set_reason("INC-7: the fix must ship now");
  auto sub = std::get<Submission>(
      DecodeSubmission(s.SerializeAsString(), std::nullopt, std::nullopt).result);
  EXPECT_EQ(sub.body, (json{{"release_id", "r-1"},
                            {"env", "production"},
                            {"override", {{"reason", "INC-7: the fix must ship now"}}}}));
  auto v = ValidateDeploymentRequest(sub.body);
  ASSERT_TRUE(std::holds_alternative<DeploymentRequest>(v));
  EXPECT_EQ(std::get<DeploymentRequest>(v).override_reason, "INC-7: the fix must ship now");

  // The JSON form of the same submission (the proto's JSON mapping) is passed as it is: the same
  // body either way.
  std::string text;
  google::protobuf::util::JsonPrintOptions names;
  names.preserve_proto_field_names = true;  // the contract's names: submission_id, release_id
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(s, &text, names).ok());
  const auto from_json =
      std::get<Submission>(DecodeSubmission(text, "application/json", std::nullopt).result);
  EXPECT_EQ(from_json.body, sub.body) << text;

  // An override without a reason is refused as {"override": {}} is over HTTP, naming the field.
  s.mutable_deployment()->mutable_override()->clear_reason();
  sub = std::get<Submission>(
      DecodeSubmission(s.SerializeAsString(), std::nullopt, std::nullopt).result);
  EXPECT_EQ(sub.body["override"], json::object());
  v = ValidateDeploymentRequest(sub.body);
  ASSERT_TRUE(std::holds_alternative<FieldError>(v));
  EXPECT_EQ(std::get<FieldError>(v).field, "override.reason");
  // None at all: no override.
  s.mutable_deployment()->clear_override();
  sub = std::get<Submission>(
      DecodeSubmission(s.SerializeAsString(), std::nullopt, std::nullopt).result);
  EXPECT_FALSE(sub.body.contains("override"));
}

TEST(IntakeDecodeTest, MalformedRecordsSayWhyAndKeepAReadableId) {
  // Not JSON at all: no id in the value, so the header's.
  auto d = DecodeSubmission("{not json", "application/json", "sub-h");
  auto bad = std::get<Malformed>(d.result);
  EXPECT_EQ(bad.id, "sub-h");
  EXPECT_NE(bad.reason.find("not valid JSON"), std::string::npos) << bad.reason;
  EXPECT_EQ(d.encoding, Encoding::kJson);

  // Two kinds at once: the value's id.
  d = DecodeSubmission(R"({"submission_id":"sub-5","release":{},"deployment":{}})",
                       "application/json", std::nullopt);
  bad = std::get<Malformed>(d.result);
  EXPECT_EQ(bad.id, "sub-5");
  EXPECT_NE(bad.reason.find("exactly one"), std::string::npos);

  // An unknown field, a kind that is not an object.
  bad = std::get<Malformed>(
      DecodeSubmission(R"({"submission_id":"s","relase":{}})", "application/json", std::nullopt)
          .result);
  EXPECT_NE(bad.reason.find("unknown field 'relase'"), std::string::npos);
  bad = std::get<Malformed>(
      DecodeSubmission(R"({"submission_id":"s","release":[1]})", "application/json", std::nullopt)
          .result);
  EXPECT_NE(bad.reason.find("must be a JSON object"), std::string::npos);

  // Protobuf garbage, no header: nothing to answer.
  bad = std::get<Malformed>(DecodeSubmission("\xff\xff\xff", std::nullopt, std::nullopt).result);
  EXPECT_EQ(bad.id, "");

  // No request in it.
  v1::IntakeSubmission empty;
  empty.set_submission_id("sub-6");
  bad = std::get<Malformed>(DecodeSubmission(empty.SerializeAsString(), std::nullopt, {}).result);
  EXPECT_EQ(bad.id, "sub-6");

  // A missing or unusable id makes a well-formed request malformed.
  auto no_id = ProtoRelease();
  no_id.clear_submission_id();
  bad = std::get<Malformed>(DecodeSubmission(no_id.SerializeAsString(), {}, {}).result);
  EXPECT_EQ(bad.id, "");
  EXPECT_EQ(bad.reason, "submission_id is missing");
  auto spaced = ProtoRelease();
  spaced.set_submission_id("has space");
  bad = std::get<Malformed>(DecodeSubmission(spaced.SerializeAsString(), {}, "sub-7").result);
  EXPECT_EQ(bad.id, "sub-7");
  EXPECT_NE(bad.reason.find("printable"), std::string::npos);

  // An unknown content type, an oversized value.
  bad = std::get<Malformed>(DecodeSubmission("x", "text/plain", "sub-8").result);
  EXPECT_EQ(bad.id, "sub-8");
  EXPECT_NE(bad.reason.find("text/plain"), std::string::npos);
  bad = std::get<Malformed>(
      DecodeSubmission(std::string(kMaxSubmissionBytes + 1, ' '), "application/json", {}).result);
  EXPECT_NE(bad.reason.find("at most"), std::string::npos);
}

TEST(IntakeResultTest, AcceptedReleaseCarriesItsIdAndTheApiBody) {
  const json body = {{"id", "rel-1"}, {"app", "shop"}, {"version", "1.2.3"}};
  const auto r = MakeResult("sub-1", "release", 201, body);
  EXPECT_EQ(r.outcome(), v1::INTAKE_OUTCOME_ACCEPTED);
  EXPECT_EQ(r.release_id(), "rel-1");
  EXPECT_EQ(r.http_status(), 201);
  EXPECT_FALSE(r.has_error());
  const json j = json::parse(EncodeResult(r, Encoding::kJson));
  EXPECT_EQ(j["outcome"], "accepted");
  EXPECT_EQ(j["release_id"], "rel-1");
  EXPECT_EQ(j["body"], body);
  v1::IntakeResult back;
  ASSERT_TRUE(back.ParseFromString(EncodeResult(r, Encoding::kProtobuf)));
  EXPECT_EQ(back.release_id(), "rel-1");
}

TEST(IntakeResultTest, AcceptedDeploymentNamesDeploymentAndRelease) {
  const auto r =
      MakeResult("sub-2", "deployment", 202, {{"deployment_id", "d-1"}, {"release_id", "rel-1"}});
  EXPECT_EQ(r.deployment_id(), "d-1");
  EXPECT_EQ(r.release_id(), "rel-1");
}

TEST(IntakeResultTest, RefusedCarriesTheApiErrorBody) {
  const json err = {
      {"error", {{"code", "bad_request"}, {"message", "tag is required"}, {"field", "tag"}}}};
  const auto r = MakeResult("sub-3", "release", 400, err);
  EXPECT_EQ(r.outcome(), v1::INTAKE_OUTCOME_REFUSED);
  EXPECT_EQ(r.error().field(), "tag");
  EXPECT_EQ(r.error().code(), "bad_request");
  EXPECT_EQ(r.release_id(), "");
  const json j = json::parse(EncodeResult(r, Encoding::kJson));
  EXPECT_EQ(j["error"], err["error"]);
  EXPECT_EQ(j["body"], err);

  const auto m = MalformedResult({"sub-9", "the record is not valid JSON"});
  EXPECT_EQ(m.submission_id(), "sub-9");
  EXPECT_EQ(m.http_status(), 400);
  EXPECT_EQ(m.error().code(), "malformed_record");
}

}  // namespace
}  // namespace sluice::release_intake
