#pragma once

#include <httplib.h>

#include <exception>
#include <nlohmann/json.hpp>
#include <string>

namespace sluice::http {

// An error as the API reports it. Every error body has the same shape:
//   {"error":{"code":"invalid_field","message":"…","field":"tag"}}
// `field` is empty when the error is not about one field; `detail` is added when set.
struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
  std::string field;
  int retry_after_seconds = 0;  // sent as Retry-After when > 0
  // Facts about the refusal for a program to act on (e.g. the environment and the role a call
  // needs), written as error.detail when not null.
  nlohmann::json detail = nullptr;
};

// Thrown from handlers; the server turns it into the JSON error above.
class ApiException : public std::exception {
 public:
  explicit ApiException(ApiError e);
  const ApiError& Error() const { return error_; }
  const char* what() const noexcept override { return error_.message.c_str(); }

 private:
  ApiError error_;
};

ApiException BadRequest(std::string field, std::string message);         // 400 invalid_field
ApiException Unauthorized(std::string message);                          // 401 unauthorized
ApiException Forbidden(std::string message);                             // 403 forbidden
ApiException NotFound(std::string message);                              // 404 not_found
ApiException Conflict(std::string code, std::string message);            // 409 <code>
ApiException Unavailable(std::string message, int retry_after_seconds);  // 503 + Retry-After

void WriteError(httplib::Response& res, const ApiError& e);

}  // namespace sluice::http
