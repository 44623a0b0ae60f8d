#include "analysis_events.hpp"

#include <sluice/eventbus/eventbus.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>

#include "run.hpp"

namespace sluice::watcher {

using analysis::Outcome;

void PublishFailed(pqxx::work& tx, const core::Clock& clock, const AnalysisRow& a, Outcome outcome,
                   const std::string& reason, const std::vector<v1::Evidence>& evidence) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(a.deployment_id);
  e.set_release_id(a.release_id);
  auto* p = e.mutable_analysis_failed();
  p->set_analysis_id(a.id);
  p->set_deployment_id(a.deployment_id);
  p->set_batch_index(a.batch_index);
  p->set_generation(a.generation);
  p->set_release_id(a.release_id);
  for (const auto& ev : evidence) *p->add_evidence() = ev;
  events::SetReason(*p, events::ParseReason(reason));
  p->set_bake_watch(a.bake_watch);
  p->set_app(a.app);
  p->set_env(a.env);
  p->set_version(a.version);
  p->set_template_name(a.template_name);
  events::SetOutcome(*p, analysis::ToProto(outcome));
  eventbus::Publish(tx, std::move(e));
}

void PublishPassed(pqxx::work& tx, const core::Clock& clock, const AnalysisRow& a,
                   const std::vector<v1::Evidence>& measurements) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(a.deployment_id);
  e.set_release_id(a.release_id);
  auto* p = e.mutable_analysis_passed();
  p->set_analysis_id(a.id);
  p->set_deployment_id(a.deployment_id);
  p->set_batch_index(a.batch_index);
  p->set_generation(a.generation);
  for (const auto& ev : measurements) *p->add_measurements() = ev;
  events::SetOutcome(*p, analysis::ToProto(Outcome::kSuccessful));
  p->set_bake_watch(a.bake_watch);
  p->set_template_name(a.template_name);
  eventbus::Publish(tx, std::move(e));
}

}  // namespace sluice::watcher
