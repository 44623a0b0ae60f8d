// notifier: the service skeleton (libs/service) with the notifier's parts (src/notifier_app.cpp).
// See README.md for topics, tables, config keys, endpoints and formats.
#include <sluice/service/app.hpp>

#include "src/notifier_config.hpp"

int main() {
  using namespace sluice::notifier;
  return sluice::service::Main(kServiceName, &ParseNotifierConfig, &Register);
}
