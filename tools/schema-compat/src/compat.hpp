#pragma once

#include <google/protobuf/descriptor.pb.h>

#include <string>
#include <vector>

namespace sluice::tools {

// Every way `next` breaks readers or writers of `prev`, one sentence each; empty when `next`
// only adds. Rules (sluice.v1 is additive only): no message, field, enum or enum value is
// removed; a field keeps its number, name, type, type name, cardinality and oneof; an enum value
// keeps its number and name; a file keeps its package.
std::vector<std::string> CheckAdditive(const google::protobuf::FileDescriptorSet& prev,
                                       const google::protobuf::FileDescriptorSet& next);

}  // namespace sluice::tools
