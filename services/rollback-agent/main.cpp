// rollback-agent: the service skeleton (libs/service) with the agent's parts
// (src/rollback_app.cpp). See README.md for topics, tables, config keys and endpoints.
#include <sluice/service/app.hpp>

#include "src/rollback_config.hpp"

int main() {
  using namespace sluice::rollback;
  return sluice::service::Main(kServiceName, &ParseRollbackConfig, &Register);
}
