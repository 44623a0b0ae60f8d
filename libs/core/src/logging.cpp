#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <mutex>
#include <sluice/core/logging.hpp>

namespace sluice::core {
namespace {

thread_local std::string t_trace_id;

std::mutex g_mu;
std::string g_service = "sluice";                         // guarded by g_mu
spdlog::level::level_enum g_level = spdlog::level::info;  // guarded by g_mu
spdlog::sink_ptr g_sink;                                  // guarded by g_mu

class TraceIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto& id = t_trace_id;
    dest.append(id.data(), id.data() + id.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TraceIdFlag>();
  }
};

// The message, escaped for JSON.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string escaped =
        JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::unique_ptr<spdlog::formatter> MakeFormatter(const std::string& service) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<TraceIdFlag>('*');
  formatter->add_flag<JsonMessageFlag>('?');
  formatter->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","service":")" +
                         JsonEscape(service) + R"(","logger":"%n","trace_id":"%*","msg":"%?"})");
  return formatter;
}

spdlog::sink_ptr SinkLocked() {
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_sink->set_formatter(MakeFormatter(g_service));
  }
  return g_sink;
}

}  // namespace

void InitLogging(std::string_view service, std::string_view level) {
  std::lock_guard lock(g_mu);
  g_service = std::string(service);
  g_level = spdlog::level::from_str(std::string(level));
  auto sink = SinkLocked();
  sink->set_formatter(MakeFormatter(g_service));
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
  auto def = std::make_shared<spdlog::logger>(g_service, sink);
  def->set_level(g_level);
  spdlog::set_default_logger(def);
}

std::shared_ptr<spdlog::logger> Logger(std::string_view module) {
  std::lock_guard lock(g_mu);
  const std::string name(module);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, SinkLocked());
  logger->set_level(g_level);
  logger->flush_on(spdlog::level::warn);
  spdlog::register_logger(logger);
  return logger;
}

TraceScope::TraceScope(std::string trace_id) : previous_(std::move(t_trace_id)) {
  t_trace_id = std::move(trace_id);
}

TraceScope::~TraceScope() { t_trace_id = std::move(previous_); }

const std::string& TraceScope::Current() { return t_trace_id; }

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

}  // namespace sluice::core
