#pragma once

// The notifier's configuration from SLUICE_* environment variables (strict: a bad value or an
// unknown key is a core::ConfigError naming the key), with the routing file it names and the
// secrets its channels need.

#include <chrono>
#include <map>
#include <sluice/core/config.hpp>
#include <sluice/service/settings.hpp>
#include <string>

#include "delivery.hpp"
#include "notification.hpp"
#include "routing.hpp"
#include "templates.hpp"

namespace sluice::service {
class App;
}

namespace sluice::notifier {

struct NotifierConfig {
  service::Settings shared;  // SLUICE_HTTP_ADDR, SLUICE_PG_*, SLUICE_KAFKA_*, SLUICE_REDIS_URL, ...
  RoutingConfig routing;     // SLUICE_NOTIFIER_CONFIG (none: nothing is sent)
  std::map<std::string, ChannelSecrets> secrets;  // per channel, from the keys its spec names
  Templates templates;  // compiled in, overridden per file by SLUICE_NOTIFIER_TEMPLATE_DIR
  BuildOptions build;
  std::chrono::milliseconds poll{};
};

// The secrets each channel of `routing` names (url_env, secret_env, ...: KEY or KEY_FILE); a
// ConfigError naming the key and the channel when one is not set.
std::map<std::string, ChannelSecrets> ReadChannelSecrets(core::EnvConfig& env,
                                                         const RoutingConfig& routing);

// Reads every setting, the routing file and the template directory; throws (one line naming
// the key) when one is bad, missing, or unknown.
NotifierConfig ParseNotifierConfig(core::EnvConfig& env);

// The notifier's parts on top of the standard ones: the event recorder on the consumer, the
// sender with its channels, the deliveries API (notifier_app.cpp).
void Register(service::App& app, const NotifierConfig& config);

}  // namespace sluice::notifier
