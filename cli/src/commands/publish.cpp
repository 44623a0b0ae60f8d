// sluice publish release|deployment|alert …: the CLI as a Kafka producer of the public inbound
// topic (publish.hpp, docs/kafka-producers.md).
#include "../publish.hpp"

#include <memory>

#include "../commands.hpp"

namespace sluice::cli {

void AddPublishCommands(Commands& commands) {
  auto publish = std::make_shared<PublishCommand>(commands.root());
  for (auto* sub : {publish->Release(), publish->Deployment(), publish->Alert()}) {
    commands.On(sub, [publish](Invocation& in) {
      return publish->Run(publish->NeedsToken() ? Token(in.g) : std::string());
    });
  }
}

}  // namespace sluice::cli
