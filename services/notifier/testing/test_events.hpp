#pragma once

// Envelopes for tests: one of each event the notifier tells people about.

#include <google/protobuf/util/time_util.h>

#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>

namespace sluice::notifier::test {

namespace v1 = events::v1;

inline v1::Envelope Base(const std::string& event_id, const std::string& deployment_id) {
  v1::Envelope e;
  e.set_event_id(event_id);
  e.set_deployment_id(deployment_id);
  e.set_source("test");
  e.set_schema_version(1);
  e.set_trace_id("0af7651916cd43dd8448eb211c80319c");
  *e.mutable_occurred_at() =
      google::protobuf::util::TimeUtil::MillisecondsToTimestamp(1'700'000'000'000);
  return e;
}

inline v1::Evidence ErrorRateEvidence() {
  v1::Evidence ev;
  ev.set_metric("error_rate");
  ev.set_query("sum(rate(http_errors{app=\"payments\"}[1m]))");
  ev.set_threshold(0.05);
  ev.set_observed(0.21);
  ev.set_comparator(">");
  ev.set_severity(v1::SEVERITY_CRITICAL);
  ev.set_message("error rate above 5% for 3 intervals");
  for (const char* h : {"web-1", "web-2", "web-3", "web-4", "web-5", "web-6", "web-7"}) {
    ev.add_affected_instances(h);
  }
  const double values[] = {0.01, 0.02, 0.01, 0.05, 0.12, 0.21};
  int64_t t = 1'700'000'000'000;
  for (double v : values) {
    auto* p = ev.add_recent();
    p->set_unix_ms(t += 60'000);
    p->set_value(v);
  }
  return ev;
}

inline v1::Envelope RollbackStarted(const std::string& event_id, const std::string& deployment_id,
                                    const std::string& app, const std::string& env) {
  auto e = Base(event_id, deployment_id);
  auto* p = e.mutable_rollback_started();
  p->set_rollback_id("rb-1");
  p->set_deployment_id(deployment_id);
  p->set_generation(3);
  p->set_scope(v1::ROLLBACK_SCOPE_BATCHES);
  p->add_batches(1);
  for (const char* h : {"web-1", "web-2", "web-3", "web-4", "web-5", "web-6", "web-7"}) {
    p->add_hosts(h);
  }
  p->set_target_version("1.4.2");
  events::SetTrigger(*p, v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED);
  *p->mutable_evidence() = ErrorRateEvidence();
  p->set_app(app);
  p->set_env(env);
  p->set_from_version("1.5.0");
  e.set_type("sluice.v1.RollbackStarted");
  return e;
}

}  // namespace sluice::notifier::test
