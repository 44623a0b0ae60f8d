#pragma once

// One interface per outside system: a channel delivers a notice and says what happened.

#include <memory>
#include <sluice/core/clock.hpp>

#include "delivery.hpp"
#include "routing.hpp"
#include "smtp.hpp"
#include "templates.hpp"

namespace sluice::notifier {

struct Attempt {
  Outcome outcome;
  int status_code = 0;   // HTTP status or SMTP reply code; 0 when none came back
  std::string response;  // short, secret-free
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual const ChannelSpec& Spec() const = 0;
  virtual Attempt Deliver(const Notification& n, core::SystemTime now) = 0;
};

// Slack, DingTalk, WeCom and webhook channels send with sluice::http::Send; email channels
// with SendMail. `templates` must outlive the channel.
std::unique_ptr<Channel> MakeChannel(const ChannelSpec& spec, ChannelSecrets secrets,
                                     const Templates& templates);

}  // namespace sluice::notifier
