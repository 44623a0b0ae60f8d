#include "channels.hpp"

#include <sluice/core/ids.hpp>

#include "render.hpp"

namespace sluice::notifier {
namespace {

class HttpChannel final : public Channel {
 public:
  HttpChannel(ChannelSpec spec, ChannelSecrets secrets, const Templates& templates)
      : spec_(std::move(spec)), secrets_(std::move(secrets)), templates_(templates) {}
  const ChannelSpec& Spec() const override { return spec_; }
  Attempt Deliver(const Notification& n, core::SystemTime now) override {
    const auto text = templates_.Render(n, spec_.language);
    const auto req = BuildHttpRequest(spec_, secrets_, n, text, now);
    try {
      const auto resp = http::Send(req);
      Attempt a;
      a.outcome =
          ClassifyHttpResponse(spec_.type, resp.status, resp.body, resp.Header("Retry-After"));
      a.status_code = static_cast<int>(resp.status);
      a.response = TruncateUtf8(resp.body, 500);
      return a;
    } catch (const http::HttpError& e) {
      return {ClassifyTransportError(e.IsRetryable(), e.what()), 0, e.what()};
    }
  }

 private:
  ChannelSpec spec_;
  ChannelSecrets secrets_;
  const Templates& templates_;
};

class EmailChannel final : public Channel {
 public:
  EmailChannel(ChannelSpec spec, ChannelSecrets secrets, const Templates& templates)
      : spec_(std::move(spec)), secrets_(std::move(secrets)), templates_(templates) {}
  const ChannelSpec& Spec() const override { return spec_; }
  Attempt Deliver(const Notification& n, core::SystemTime now) override {
    const auto text = templates_.Render(n, spec_.language);
    const std::string id = core::NewUuid();
    SmtpRequest req;
    req.url = spec_.smtp_url;
    req.starttls = spec_.starttls;
    req.ca_file = spec_.ca_file;
    req.username = secrets_.username;
    req.password = secrets_.password;
    req.from = spec_.from;
    req.to = spec_.to;
    req.timeout = spec_.timeout;
    req.message = RenderEmail(n, text,
                              {.from = spec_.from,
                               .to = spec_.to,
                               .date = Rfc5322Date(now),
                               .message_id = id + "@sluice",
                               .boundary = "sluice-" + id});
    try {
      SendMail(req);
      return {{Outcome::Kind::kDelivered, std::nullopt, "250 accepted"}, 250, "accepted"};
    } catch (const SmtpError& e) {
      return {ClassifyTransportError(e.IsRetryable(), e.what()), static_cast<int>(e.Code()),
              e.what()};
    }
  }

 private:
  ChannelSpec spec_;
  ChannelSecrets secrets_;
  const Templates& templates_;
};

}  // namespace

std::unique_ptr<Channel> MakeChannel(const ChannelSpec& spec, ChannelSecrets secrets,
                                     const Templates& templates) {
  if (spec.type == ChannelType::kEmail) {
    return std::make_unique<EmailChannel>(spec, std::move(secrets), templates);
  }
  return std::make_unique<HttpChannel>(spec, std::move(secrets), templates);
}

}  // namespace sluice::notifier
