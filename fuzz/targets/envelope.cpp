// A Kafka record value on a sluice.v1 topic: events::Parse, Validate, what every consumer reads
// of the envelope (type, topic, key, CloudEvents headers), and the typed forms the consumers
// build from the events that carry a delivery spec or an analysis template (spec::FromProto,
// which refuses what it cannot use with std::invalid_argument).

#include <cstddef>
#include <cstdint>
#include <sluice/events/envelope.hpp>
#include <sluice/spec/convert.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

template <typename M>
void Typed(const M& message) {
  try {
    (void)sluice::spec::FromProto(message);
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto envelope = sluice::events::Parse(bytes, &error);
  if (!envelope) return 0;
  if (sluice::events::Validate(*envelope)) return 0;  // dead-lettered: nothing more is read
  (void)sluice::events::TypeName(*envelope);
  (void)sluice::events::TopicFor(*envelope);
  (void)sluice::events::PartitionKey(*envelope);
  (void)sluice::events::CloudEventHeaders(*envelope);
  if (envelope->has_deployment_requested() && envelope->deployment_requested().has_spec()) {
    Typed(envelope->deployment_requested().spec());
  }
  if (envelope->has_app_spec_applied() && envelope->app_spec_applied().has_spec()) {
    Typed(envelope->app_spec_applied().spec());
  }
  if (envelope->has_analysis_requested() &&
      envelope->analysis_requested().has_resolved_template()) {
    Typed(envelope->analysis_requested().resolved_template());
  }
  return 0;
}
