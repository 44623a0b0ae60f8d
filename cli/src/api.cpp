#include "api.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sluice/http/client.hpp>
#include <sstream>
#include <thread>

#include "format.hpp"
#include "render.hpp"

namespace sluice::cli {

using nlohmann::json;

std::chrono::milliseconds Duration(const std::string& s, const char* flag) {
  const auto d = ParseDuration(s);
  if (!d) {
    throw UsageError(std::string(flag) + " '" + s +
                     "': not a duration; use e.g. 500ms, 10s, 2m, 1h30m or 7d");
  }
  return *d;
}

std::string Env(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string Token(const Global& g) {
  if (!g.token.empty()) return g.token;
  std::ifstream in(g.token_file);
  if (!in) {
    throw std::runtime_error(
        "no API token: run 'sluice login --api-url URL --token TOKEN', pass "
        "--token, set SLUICE_TOKEN, or (in the repository) run 'make up' "
        "to write " +
        g.token_file);
  }
  std::string t;
  std::getline(in, t);
  return t;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": check the path and its permissions");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Enc(const std::string& s) { return sluice::http::UrlEncode(s); }

std::string Query(const std::string& name, const std::string& value) {
  return "?" + name + "=" + sluice::http::UrlEncode(value);
}

int Call(const Global& g, const std::string& method, const std::string& path,
         const std::optional<json>& body) {
  sluice::http::ClientRequest req;
  req.method = method;
  req.url = g.api + path;
  req.headers.emplace_back("Authorization", "Bearer " + Token(g));
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump();
  }
  const auto res = sluice::http::Send(req);
  json parsed = json::parse(res.body, nullptr, false);
  if (res.status >= 400) return PrintError(g, res.status, parsed, res.body);
  std::cout << (parsed.is_discarded() ? res.body : parsed.dump(g.raw ? -1 : 2)) << "\n";
  return 0;
}

Answer Request(const Global& g, const std::string& method, const std::string& path,
               const std::string& body, const std::string& content_type,
               std::vector<std::pair<std::string, std::string>> headers) {
  sluice::http::ClientRequest req;
  req.method = method;
  req.url = g.api + path;
  req.timeout = std::chrono::seconds(30);
  req.headers = std::move(headers);
  req.headers.emplace_back("Authorization", "Bearer " + Token(g));
  if (method == "POST" || method == "PUT") {
    req.headers.emplace_back("Content-Type", content_type);
    req.body = body;
  }
  const auto res = sluice::http::Send(req);
  return {res.status, json::parse(res.body, nullptr, false), res.body,
          res.Header("ETag").value_or("")};
}

int PrintError(const Global& g, long status, const json& body, const std::string& raw) {
  if (!body.is_discarded() && body.contains("error")) {
    const auto& e = body["error"];
    std::cerr << "error " << status << " " << e.value("code", "") << ": " << e.value("message", "");
    if (e.contains("field") && e["field"].is_string() && !e["field"].get<std::string>().empty()) {
      std::cerr << " (field: " << e["field"].get<std::string>() << ")";
    }
    std::cerr << "\n";
    if (e.contains("next") && e["next"].is_string()) {
      std::cerr << "next: " << e["next"].get<std::string>() << "\n";
    }
  } else {
    std::cerr << "error " << status << ": " << raw << "\n";
  }
  const std::string hint = HintFor(status, g.api);
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  return ExitCodeForHttpStatus(status) == 0 ? kExitError : ExitCodeForHttpStatus(status);
}

int PrintError(const Global& g, const Answer& a) { return PrintError(g, a.status, a.body, a.raw); }

namespace {

// The answer as -o asks, onto `out`.
void Render(std::ostream& out, const Global& g, const json& body, const Table& table) {
  if (g.raw) {
    out << body.dump() << "\n";
  } else if (g.format == Format::kJson) {
    out << body.dump(2) << "\n";
  } else if (g.format == Format::kYaml) {
    out << ToYaml(body);
  } else {
    for (const auto& line : table(body)) out << line << "\n";
  }
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int Print(const Global& g, const json& body, const Table& table) {
  Render(std::cout, g, body, table);
  return 0;
}

int Show(const Global& g, const std::string& path, const Table& table) {
  const auto a = Request(g, "GET", path);
  if (a.status != 200) return PrintError(g, a);
  return Print(g, a.body, table);
}

Table Items(std::vector<Column> cols, std::string empty, const char* key) {
  return [cols = std::move(cols), empty = std::move(empty), key](const json& body) {
    return RenderTable(ListItems(body, key), cols, empty);
  };
}

std::vector<std::string> Fields(const json& body) { return RenderFields(body); }

int WatchFrames(const Global& g, const std::function<Answer()>& fetch,
                std::chrono::milliseconds interval, const Table& table,
                const std::function<std::optional<int>(const json&)>& done) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::string last_frame, last_problem;
  for (;;) {
    std::string problem;
    try {
      const auto a = fetch();
      if (a.status == 200) {
        std::ostringstream frame;
        Render(frame, g, a.body, table);
        const std::string heading =
            UtcNow() + "  every " + std::to_string(interval.count()) + "ms, Ctrl-C stops";
        if (tty && frame.str() == last_frame) {
          // The time line only; the cursor goes back to the end of the frame.
          std::cout << "\0337\033[H" << heading << "\033[K\0338" << std::flush;
        } else if (tty) {
          std::cout << "\033[H\033[2J" << heading << "\n\n" << frame.str() << std::flush;
        } else if (frame.str() != last_frame) {
          std::cout << "--- " << UtcNow() << "\n" << frame.str() << std::flush;
        }
        last_frame = frame.str();
        if (const auto rc = done(a.body)) return *rc;
      } else if (a.status == 401 || a.status == 403 || a.status == 404) {
        return PrintError(g, a);
      } else {
        problem = "the API answered " + std::to_string(a.status) + "; retrying";
      }
    } catch (const sluice::http::HttpError& e) {
      problem = std::string("the API cannot be reached (") + e.what() + "); retrying";
    }
    if (!problem.empty() && problem != last_problem) std::cerr << problem << std::endl;
    last_problem = problem;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace sluice::cli
