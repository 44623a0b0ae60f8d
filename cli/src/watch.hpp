#pragma once

// `sluice deployment watch` and `sluice deploy --wait`: a deployment followed as it happens.

#include <chrono>
#include <string>

#include "api.hpp"

namespace sluice::cli {

// A line per change, as it happens, from the deployment's event stream (GET /v1/events,
// server-sent events: a snapshot, then each timeline transition), until the deployment
// finishes: exit 0 when it succeeded, 2 otherwise, 1 when `timeout` (0: none) ran out first.
// The server closes a stream now and then (SLUICE_EVENTS_MAX_AGE); it is opened again after the
// last event it gave (Last-Event-ID), so nothing is missed or printed twice. A server without
// event streams, or with none free (503), is read every second instead.
int Watch(const Global& g, const std::string& id, std::chrono::milliseconds timeout);

}  // namespace sluice::cli
