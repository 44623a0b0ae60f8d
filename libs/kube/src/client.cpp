#include <algorithm>
#include <sluice/kube/client.hpp>
#include <thread>

namespace sluice::kube {
namespace {

std::string JsonString(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string ObjectName(const Json& object) {
  const auto meta = object.find("metadata");
  return meta != object.end() && meta->is_object() ? JsonString(*meta, "name") : "";
}

void AddQuery(std::string& path, std::string_view key, std::string_view value) {
  path += path.find('?') == std::string::npos ? '?' : '&';
  path += key;
  path += '=';
  path += http::UrlEncode(value);
}

}  // namespace

std::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

Client::Client(Credentials creds, ClientOptions options)
    : creds_(std::move(creds)), options_(std::move(options)), token_(creds_) {
  if (!options_.transport)
    options_.transport = [](const http::ClientRequest& r) { return http::Send(r); };
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
  options_.max_attempts = std::max(1, options_.max_attempts);
}

RequestInfo Client::Info(Verb verb, const Resource& r, std::string_view ns,
                         std::string_view name) const {
  RequestInfo info;
  info.verb = verb;
  info.resource = r;
  info.ns = r.namespaced ? std::string(ns) : "";
  info.name = std::string(name);
  info.identity = options_.identity;
  info.server = creds_.server;
  return info;
}

http::ClientResponse Client::Exchange(const Call& call) {
  http::ClientRequest req;
  req.method = call.method;
  req.url = creds_.server + call.path_and_query;
  req.timeout = options_.timeout;
  req.max_response_bytes = options_.max_response_bytes;
  req.ca_pem = creds_.ca_pem;
  req.ca_file = creds_.ca_file;
  req.client_cert_pem = creds_.client_cert_pem;
  req.client_cert_file = creds_.client_cert_file;
  req.client_key_pem = creds_.client_key_pem;
  req.client_key_file = creds_.client_key_file;
  req.headers.emplace_back("Accept", "application/json");
  req.headers.emplace_back("User-Agent", "sluice-" + options_.identity);
  if (const std::string token = token_.Token(); !token.empty()) {
    req.headers.emplace_back("Authorization", "Bearer " + token);
  }
  if (!call.content_type.empty()) req.headers.emplace_back("Content-Type", call.content_type);
  req.body = call.body;
  return options_.transport(req);
}

Json Client::Perform(const Call& call) {
  // A 429 was not processed, so any verb may go again; a 5xx or a lost connection may hide a
  // write that landed, so only reads are repeated here (the caller re-reads and decides).
  const bool read = call.info.verb == kGet || call.info.verb == kList;
  std::chrono::milliseconds backoff = options_.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    std::optional<ApiError> error;
    try {
      const http::ClientResponse res = Exchange(call);
      if (res.status >= 200 && res.status < 300) {
        if (res.body.empty()) return Json::object();
        auto j = Json::parse(res.body, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
          throw ApiError(ErrorKind::kServerError, res.status,
                         std::string(VerbName(call.info.verb)) + " " +
                             call.info.resource.QualifiedName() + ": the answer is not JSON",
                         ApiStatus{}, std::nullopt, false);
        }
        return j;
      }
      error.emplace(MakeApiError(call.info, res.status, res.body, res.Header("Retry-After")));
    } catch (const http::HttpError& e) {
      error.emplace(MakeTransportError(call.info, e.what(), e.IsRetryable()));
    }
    const bool again = error->IsRetryable() && attempt < options_.max_attempts &&
                       (error->Kind() == ErrorKind::kThrottled || read);
    if (!again) throw *error;
    std::chrono::milliseconds wait = backoff;
    if (const auto ra = error->RetryAfter()) {
      wait = std::max(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*ra));
    }
    options_.sleep(std::min(wait, options_.max_wait));
    backoff = std::min(backoff * 2, options_.max_wait);
  }
}

Json Client::Get(const Resource& r, std::string_view ns, std::string_view name) {
  return Perform({Info(kGet, r, ns, name), "GET", r.Path(ns, name), "", ""});
}

std::optional<Json> Client::GetIfExists(const Resource& r, std::string_view ns,
                                        std::string_view name) {
  try {
    return Get(r, ns, name);
  } catch (const ApiError& e) {
    if (e.Kind() == ErrorKind::kNotFound) return std::nullopt;
    throw;
  }
}

Json Client::List(const Resource& r, std::string_view ns, const ListOptions& options) {
  std::string base = r.namespaced && ns.empty()
                         ? Resource{r.group, r.version, r.resource, false}.Path("")
                         : r.Path(ns);
  if (!options.label_selector.empty()) AddQuery(base, "labelSelector", options.label_selector);
  if (!options.field_selector.empty()) AddQuery(base, "fieldSelector", options.field_selector);
  if (options.page_size > 0) AddQuery(base, "limit", std::to_string(options.page_size));
  Json result;
  std::string next;
  do {
    std::string path = base;
    if (!next.empty()) AddQuery(path, "continue", next);
    Json page = Perform({Info(kList, r, ns, ""), "GET", path, "", ""});
    next.clear();
    if (const auto meta = page.find("metadata"); meta != page.end() && meta->is_object()) {
      next = JsonString(*meta, "continue");
    }
    if (result.is_null()) {
      result = std::move(page);
      if (!result.contains("items") || !result["items"].is_array()) result["items"] = Json::array();
    } else if (const auto items = page.find("items"); items != page.end() && items->is_array()) {
      for (auto& item : *items) result["items"].push_back(std::move(item));
    }
  } while (!next.empty());
  if (result.contains("metadata") && result["metadata"].is_object()) {
    result["metadata"].erase("continue");
  }
  return result;
}

Json Client::Create(const Resource& r, std::string_view ns, const Json& object) {
  return Perform({Info(kCreate, r, ns, ObjectName(object)), "POST", r.Path(ns), object.dump(),
                  "application/json"});
}

Json Client::Update(const Resource& r, std::string_view ns, const Json& object) {
  const std::string name = ObjectName(object);
  if (name.empty())
    throw std::invalid_argument("kube::Client::Update: the object has no metadata.name");
  return Perform(
      {Info(kUpdate, r, ns, name), "PUT", r.Path(ns, name), object.dump(), "application/json"});
}

Json Client::Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                   const Json& patch) {
  return Perform({Info(kPatch, r, ns, name), "PATCH", r.Path(ns, name), patch.dump(),
                  std::string(PatchContentType(type))});
}

Json Client::Apply(const Resource& r, std::string_view ns, const Json& object, bool force) {
  const std::string name = ObjectName(object);
  if (name.empty())
    throw std::invalid_argument("kube::Client::Apply: the object has no metadata.name");
  std::string path = r.Path(ns, name);
  AddQuery(path, "fieldManager", options_.field_manager);
  if (force) AddQuery(path, "force", "true");
  return Perform(
      {Info(kPatch, r, ns, name), "PATCH", path, object.dump(), "application/apply-patch+yaml"});
}

void Client::Delete(const Resource& r, std::string_view ns, std::string_view name) {
  Perform({Info(kDelete, r, ns, name), "DELETE", r.Path(ns, name),
           R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})",
           "application/json"});
}

bool Client::DeleteIfExists(const Resource& r, std::string_view ns, std::string_view name) {
  try {
    Delete(r, ns, name);
    return true;
  } catch (const ApiError& e) {
    if (e.Kind() == ErrorKind::kNotFound) return false;
    throw;
  }
}

Json Client::UpdateWithRetry(const Resource& r, std::string_view ns, std::string_view name,
                             const std::function<bool(Json&)>& mutate, int attempts) {
  int tried = 0;
  return RetryOnConflict(attempts, [&]() -> Json {
    if (tried++ > 0) options_.sleep(std::chrono::milliseconds(10 * tried));
    Json object = Get(r, ns, name);
    if (!mutate(object)) return object;
    return Update(r, ns, object);
  });
}

}  // namespace sluice::kube
