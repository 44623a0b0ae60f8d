#pragma once

// The typed, resolved delivery spec as sluice.v1 messages (schemas/sluice/v1/spec.proto) and
// back: what events carry instead of the YAML text. ToProto then FromProto gives back what
// ParseDeliverySpec gave. FromProto throws std::invalid_argument for a message no ToProto
// wrote (an unknown enum value, a condition without its comparison): a malformed event, never
// a spec error, which intake reported when it parsed the text.

#include <optional>
#include <sluice/events/envelope.hpp>
#include <string_view>

#include "sluice/analysis/spec.hpp"
#include "sluice/spec/delivery_spec.hpp"

namespace sluice::spec {

events::v1::DeliverySpec ToProto(const DeliverySpec& spec);
DeliverySpec FromProto(const events::v1::DeliverySpec& spec);

events::v1::DeliverySpec::Environment ToProto(const Environment& env);
Environment FromProto(const events::v1::DeliverySpec::Environment& env);

events::v1::AnalysisTemplate ToProto(const analysis::Template& t);
analysis::Template FromProto(const events::v1::AnalysisTemplate& t);

// The Target.kubernetes of a spec's Kubernetes target (sluice.v1.KubernetesWorkload).
events::v1::KubernetesWorkload ToProto(const KubernetesTarget& t);
// A target with its name, as DeliverySpec.Environment.kubernetes lists it.
events::v1::DeliverySpec::KubernetesTarget ToProtoTarget(const KubernetesTarget& t);
KubernetesTarget FromProto(const events::v1::DeliverySpec::KubernetesTarget& t);

// The template `name` of environment `env` of a spec text, resolved: what release-intake and
// the planner together put in AnalysisRequested.resolved_template. For tests and tools that
// stand in for them; nullopt when the text does not parse or has no such template.
std::optional<events::v1::AnalysisTemplate> ResolvedTemplateOf(std::string_view yaml,
                                                               std::string_view env,
                                                               std::string_view name);

}  // namespace sluice::spec
