#pragma once

// The deployment's timeline as the incident report tells it: one line per event the agent saw or
// published, who it came from, and the batch starts the chart marks. Pure.

#include <cstdint>
#include <sluice/events/envelope.hpp>
#include <string>
#include <vector>

#include "incident.hpp"

namespace sluice::rollback {

// The deployment an event belongs to: the envelope's, else its payload's; "" when none.
std::string DeploymentIdOf(const ::sluice::v1::Envelope& e);

// "BatchRequested" from "sluice.v1.BatchRequested".
std::string ShortType(const ::sluice::v1::Envelope& e);

// One line per event for the timeline; "" for an event it does not describe. A batch is
// "batch N" (1-based), which BatchStarts reads back.
std::string TimelineDetail(const ::sluice::v1::Envelope& e);

// The operator of an operator command or resume, else the producing service.
std::string ActorOf(const ::sluice::v1::Envelope& e);

// When the event happened (ms since the epoch); `fallback` when it carries no time.
std::int64_t OccurredMs(const ::sluice::v1::Envelope& e, std::int64_t fallback);

// Batch starts from the timeline ("batch N requested ..." details of BatchRequested), once each.
std::vector<BatchMark> BatchStarts(const std::vector<TimelineEntry>& timeline);

// "h1, h2".
std::string JoinHosts(const std::vector<std::string>& hosts);

}  // namespace sluice::rollback
