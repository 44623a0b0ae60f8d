// metric-watcher: the service skeleton (libs/service) with the watcher's parts
// (src/watcher_app.cpp). See README.md for topics, tables, config keys and endpoints.
#include <sluice/service/app.hpp>

#include "src/watcher_config.hpp"

int main() {
  using namespace sluice::watcher;
  return sluice::service::Main(kServiceName, &ParseWatcherConfig, &Register);
}
