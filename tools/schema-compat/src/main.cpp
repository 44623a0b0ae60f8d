// schema-compat PREV.pb NEXT.pb — exits 1 and lists every non-additive change from PREV to NEXT
// (FileDescriptorSets written by `protoc --descriptor_set_out --include_imports`).
#include <fstream>
#include <iostream>

#include "compat.hpp"

namespace {

bool Load(const char* path, google::protobuf::FileDescriptorSet& set) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "schema-compat: cannot open " << path << "\n";
    return false;
  }
  if (!set.ParseFromIstream(&in)) {
    std::cerr << "schema-compat: " << path << " is not a FileDescriptorSet\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: schema-compat PREV.pb NEXT.pb\n";
    return 2;
  }
  google::protobuf::FileDescriptorSet prev;
  google::protobuf::FileDescriptorSet next;
  if (!Load(argv[1], prev) || !Load(argv[2], next)) return 2;
  const auto problems = sluice::tools::CheckAdditive(prev, next);
  for (const auto& p : problems) std::cout << "not additive: " << p << "\n";
  return problems.empty() ? 0 : 1;
}
