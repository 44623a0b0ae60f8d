// executor: the service skeleton (libs/service) with the executor's parts (src/executor_app.cpp).
// See README.md for topics, tables, config keys and endpoints.
#include <sluice/service/app.hpp>

#include "src/executor_config.hpp"

int main() {
  using namespace sluice::executor;
  return sluice::service::Main(kServiceName, &ParseExecutorConfig, &Register);
}
