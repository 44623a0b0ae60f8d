// release-intake: the service skeleton (libs/service) with the intake's parts
// (src/release_intake_app.cpp). See README.md for endpoints, topics, tables and config keys.
#include <sluice/service/app.hpp>

#include "src/release_intake_config.hpp"

int main() {
  using namespace sluice::release_intake;
  return sluice::service::Main(kServiceName, &ParseIntakeConfig, &Register);
}
