#pragma once

// A streamed response (server-sent events, a long download): the body handed over chunk by
// chunk as it arrives instead of kept whole. Its own header so that client.hpp, included
// everywhere, stays as it is.

#include <functional>
#include <sluice/http/client.hpp>
#include <string_view>

namespace sluice::http {

// Performs `req` like Send. A 2xx body is given to `on_data` as it arrives (never kept); return
// false from it to stop reading (the exchange then ends without an error). Any other status's
// body is kept in the response as Send keeps it, bounded by max_response_bytes. req.timeout
// bounds the whole exchange, as with Send: a stream ends with a retryable HttpError when it
// runs out. Throws HttpError on a transport failure.
ClientResponse SendStreaming(const ClientRequest& req,
                             const std::function<bool(std::string_view)>& on_data);

}  // namespace sluice::http
