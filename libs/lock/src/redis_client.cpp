#include <hiredis/hiredis.h>

#include <cctype>
#include <charconv>
#include <sluice/lock/redis_client.hpp>

namespace sluice::lock {
namespace {

constexpr std::string_view kScheme = "redis://";
constexpr int kDefaultPort = 6379;

[[noreturn]] void Invalid(std::string_view url, const std::string& problem) {
  throw std::invalid_argument("invalid Redis URL \"" + RedactRedisUrl(url) + "\": " + problem);
}

std::string PercentDecode(std::string_view url, std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= s.size()) Invalid(url, "truncated %-escape");
    const auto [ptr, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != s.data() + i + 3) Invalid(url, "bad %-escape");
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(d.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((d.count() % 1000) * 1000);
  return tv;
}

}  // namespace

std::string RedactRedisUrl(std::string_view url) {
  std::string out(url);
  const auto start = out.find("://");
  if (start == std::string::npos) return out;
  const auto authority_end = out.find_first_of("/?", start + 3);
  const auto at = out.rfind('@', authority_end == std::string::npos ? out.size() : authority_end);
  if (at == std::string::npos || at < start) return out;
  const auto colon = out.find(':', start + 3);
  if (colon != std::string::npos && colon < at) {
    out.replace(colon + 1, at - colon - 1, "***");
  }
  return out;
}

RedisConfig ParseRedisUrl(std::string_view url) {
  RedisConfig config;
  config.url = std::string(url);
  if (url.substr(0, 9) == "rediss://") Invalid(url, "TLS (rediss://) is not supported");
  if (url.substr(0, kScheme.size()) != kScheme) Invalid(url, "must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find('?') != std::string_view::npos || rest.find('#') != std::string_view::npos) {
    Invalid(url, "query parameters are not supported");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);

  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      config.username = PercentDecode(url, userinfo);
    } else {
      config.username = PercentDecode(url, userinfo.substr(0, colon));
      config.password = PercentDecode(url, userinfo.substr(colon + 1));
    }
    authority = authority.substr(at + 1);
  }

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) Invalid(url, "unterminated [IPv6] host");
    config.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') Invalid(url, "unexpected text after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) Invalid(url, "empty port");
    }
  } else {
    const auto colon = authority.rfind(':');
    config.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) Invalid(url, "empty port");
    }
  }
  if (config.host.empty()) Invalid(url, "missing host");

  config.port = kDefaultPort;
  if (!port.empty() && (!ParseInt(port, config.port) || config.port < 1 || config.port > 65535)) {
    Invalid(url, "port \"" + std::string(port) + "\" must be a number from 1 to 65535");
  }
  config.db = 0;
  if (!path.empty() && (!ParseInt(path, config.db) || config.db < 0)) {
    Invalid(url, "database \"" + std::string(path) + "\" must be a non-negative number");
  }
  return config;
}

RedisReply ConvertReply(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        out.elements.push_back(ConvertReply(*reply.element[i]));
      }
      break;
    case REDIS_REPLY_NIL:
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

RedisClient::RedisClient(RedisConfig config) {
  const auto timeout = config.timeout;
  config_ = ParseRedisUrl(config.url);
  config_.timeout = timeout;
}

RedisClient::~RedisClient() { DropLocked(); }

void RedisClient::DropLocked() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

void RedisClient::ConnectLocked() {
  const std::string where = config_.host + ":" + std::to_string(config_.port);
  const timeval tv = ToTimeval(config_.timeout);
  context_ = redisConnectWithTimeout(config_.host.c_str(), config_.port, tv);
  if (context_ == nullptr) throw RedisUnavailable("cannot connect to Redis at " + where);
  if (context_->err != 0) {
    const std::string error = context_->errstr;
    DropLocked();
    throw RedisUnavailable("cannot connect to Redis at " + where + ": " + error);
  }
  redisSetTimeout(context_, tv);

  auto handshake = [&](const std::vector<std::string>& argv, const char* what) {
    std::vector<const char*> args;
    std::vector<size_t> lengths;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lengths.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(args.size()), args.data(), lengths.data()));
    if (raw == nullptr) {
      const std::string error = context_->errstr;
      DropLocked();
      throw RedisUnavailable("Redis " + std::string(what) + " at " + where + " failed: " + error);
    }
    const RedisReply reply = ConvertReply(*raw);
    freeReplyObject(raw);
    if (reply.IsError()) {
      DropLocked();
      throw RedisUnavailable("Redis " + std::string(what) + " at " + where +
                             " refused: " + reply.str);
    }
  };
  if (!config_.password.empty()) {
    if (config_.username.empty()) {
      handshake({"AUTH", config_.password}, "AUTH");
    } else {
      handshake({"AUTH", config_.username, config_.password}, "AUTH");
    }
  }
  if (config_.db != 0) handshake({"SELECT", std::to_string(config_.db)}, "SELECT");
}

RedisReply RedisClient::Command(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument("Redis command without arguments");
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  std::lock_guard lock(mu_);
  if (context_ == nullptr) ConnectLocked();
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(args.size()), args.data(), lengths.data()));
  if (raw == nullptr) {
    const std::string error = context_->errstr;
    DropLocked();
    throw RedisUnavailable("Redis " + argv[0] + " failed, connection dropped: " + error);
  }
  RedisReply reply = ConvertReply(*raw);
  freeReplyObject(raw);
  return reply;
}

bool RedisClient::Ping() {
  try {
    const auto reply = Command({"PING"});
    return reply.type == RedisReply::Type::kStatus && reply.str == "PONG";
  } catch (const RedisUnavailable&) {
    return false;
  }
}

}  // namespace sluice::lock
