#include <nlohmann/json.hpp>
#include <sluice/http/errors.hpp>

namespace sluice::http {

ApiException::ApiException(ApiError e) : error_(std::move(e)) {}

ApiException BadRequest(std::string field, std::string message) {
  return ApiException(ApiError{400, "invalid_field", std::move(message), std::move(field)});
}

ApiException Unauthorized(std::string message) {
  return ApiException(ApiError{401, "unauthorized", std::move(message), ""});
}

ApiException Forbidden(std::string message) {
  return ApiException(ApiError{403, "forbidden", std::move(message), ""});
}

ApiException NotFound(std::string message) {
  return ApiException(ApiError{404, "not_found", std::move(message), ""});
}

ApiException Conflict(std::string code, std::string message) {
  return ApiException(ApiError{409, std::move(code), std::move(message), ""});
}

ApiException Unavailable(std::string message, int retry_after_seconds) {
  return ApiException(
      ApiError{503, "unavailable", std::move(message), "", std::max(0, retry_after_seconds)});
}

void WriteError(httplib::Response& res, const ApiError& e) {
  nlohmann::json body = {{"error", {{"code", e.code}, {"message", e.message}, {"field", e.field}}}};
  if (!e.detail.is_null()) body["error"]["detail"] = e.detail;
  res.status = e.status;
  if (e.retry_after_seconds > 0) {
    res.set_header("Retry-After", std::to_string(e.retry_after_seconds));
  }
  if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  // Replace errors that cannot be encoded (invalid UTF-8 in a message) instead of throwing.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

}  // namespace sluice::http
