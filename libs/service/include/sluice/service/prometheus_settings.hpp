#pragma once

// The Prometheus settings of the services that query it (kept apart from settings.hpp: this
// header brings the namespace sluice::prometheus into view).

#include <sluice/core/config.hpp>
#include <sluice/prometheus/client.hpp>

namespace sluice::service {

// The Prometheus a service queries: SLUICE_PROMETHEUS_URL (http(s)),
// SLUICE_PROMETHEUS_AUTHORIZATION[_FILE] (the Authorization header, never logged) and
// SLUICE_PROMETHEUS_TIMEOUT (5s).
prometheus::ClientOptions ReadPrometheus(core::EnvConfig& env);

}  // namespace sluice::service
