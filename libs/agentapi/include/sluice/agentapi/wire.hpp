#pragma once

// The wire codec of the executor <-> sluice-agent contract (schemas/sluice/agent/v1/agent.proto):
// the protobuf JSON mapping with proto field names, fields without presence always printed, and
// 64-bit integers as JSON numbers (the agent API has always sent them so, and older peers read
// only numbers there). Parsing ignores unknown fields, so either side may grow first.

#include <google/protobuf/message.h>
#include <sluice/agent/v1/agent.pb.h>

#include <optional>
#include <string>
#include <string_view>

namespace sluice::agentapi {

namespace v1 = ::sluice::agent::v1;

// The JSON text of `message` as it goes on the wire.
std::string ToWireJson(const google::protobuf::Message& message);

// Why a body did not parse: `field` is the JSON path of the offending element when protobuf
// names it ("service.health.timeout"), else "body".
struct WireError {
  std::string field;
  std::string message;
};

// Replaces `message` with the one `json` holds; unknown fields are ignored.
std::optional<WireError> FromWireJson(std::string_view json, google::protobuf::Message& message);

}  // namespace sluice::agentapi
