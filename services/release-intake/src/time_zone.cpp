#include "time_zone.hpp"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

namespace sluice::release_intake {
namespace {

using std::chrono::seconds;

const char* const kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
const char* const kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// 1970-01-01 was a Thursday.
int DayOfWeek(std::int64_t day) { return static_cast<int>(((day % 7) + 7 + 4) % 7); }

std::uint64_t BigEndian(std::string_view b, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::string Clock(int minute) {
  const int h = minute / 60 % 24;
  const int m = minute % 60;
  return std::string{static_cast<char>('0' + h / 10), static_cast<char>('0' + h % 10), ':',
                     static_cast<char>('0' + m / 10), static_cast<char>('0' + m % 10)};
}

bool OnDay(const spec::DeploymentWindow& w, int dow) {
  return std::find(w.days.begin(), w.days.end(), dow) != w.days.end();
}

}  // namespace

TimeZone TimeZone::Fixed(std::string name, seconds offset) {
  TimeZone z;
  z.name_ = std::move(name);
  z.initial_ = offset;
  return z;
}

TimeZone TimeZone::FromTransitions(std::string name, seconds initial,
                                   std::vector<std::int64_t> transitions,
                                   std::vector<seconds> offsets) {
  TimeZone z;
  z.name_ = std::move(name);
  z.initial_ = initial;
  z.transitions_ = std::move(transitions);
  z.offsets_ = std::move(offsets);
  z.offsets_.resize(z.transitions_.size(), initial);
  return z;
}

std::optional<TimeZone> TimeZone::FromTzif(std::string name, std::string_view b) {
  constexpr std::size_t kHeader = 44;
  auto block = [&](std::size_t at, std::size_t time_size, std::size_t& end, TimeZone& out) -> bool {
    if (b.size() < at + kHeader || b.substr(at, 4) != "TZif") return false;
    const std::size_t isut = BigEndian(b, at + 20, 4), isstd = BigEndian(b, at + 24, 4),
                      leap = BigEndian(b, at + 28, 4), timecnt = BigEndian(b, at + 32, 4),
                      typecnt = BigEndian(b, at + 36, 4), charcnt = BigEndian(b, at + 40, 4);
    if (typecnt == 0 || typecnt > 256 || timecnt > 100000) return false;
    std::size_t p = at + kHeader;
    end = p + timecnt * time_size + timecnt + typecnt * 6 + charcnt + leap * (time_size + 4) +
          isstd + isut;
    if (b.size() < end) return false;
    std::vector<std::int64_t> times(timecnt);
    for (auto& t : times) {
      const std::uint64_t raw = BigEndian(b, p, time_size);
      t = time_size == 8 ? static_cast<std::int64_t>(raw)
                         : static_cast<std::int64_t>(static_cast<std::int32_t>(raw));
      p += time_size;
    }
    std::vector<std::size_t> idx(timecnt);
    for (auto& i : idx) i = static_cast<unsigned char>(b[p++]);
    std::vector<seconds> type_offsets(typecnt);
    for (auto& o : type_offsets) {
      o = seconds(static_cast<std::int32_t>(BigEndian(b, p, 4)));
      p += 6;
    }
    out.transitions_ = std::move(times);
    out.offsets_.clear();
    for (auto i : idx) {
      if (i >= typecnt) return false;
      out.offsets_.push_back(type_offsets[i]);
    }
    out.initial_ = type_offsets[0];
    return true;
  };
  TimeZone z;
  z.name_ = std::move(name);
  std::size_t end = 0;
  if (!block(0, 4, end, z)) return std::nullopt;
  if (b[4] >= '2') {
    std::size_t end2 = 0;
    if (!block(end, 8, end2, z)) return std::nullopt;
  }
  return z;
}

std::optional<TimeZone> TimeZone::Load(const std::string& name, const std::string& dir) {
  if (name == "UTC") return Fixed("UTC", seconds(0));
  if (name.empty() || name.find("..") != std::string::npos || name.front() == '/') {
    return std::nullopt;
  }
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string s = bytes.str();
  if (s.size() > (1 << 20)) return std::nullopt;
  return FromTzif(name, s);
}

std::optional<TimeZone> TimeZone::Cached(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::optional<TimeZone>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  if (cache.size() > 1000) cache.clear();  // names come from specs: bounded all the same
  return cache[name] = Load(name);
}

std::map<std::string, TimeZone> ZonesOf(const std::vector<spec::DeploymentWindow>& windows) {
  std::map<std::string, TimeZone> out;
  for (const auto& w : windows) {
    if (out.count(w.time_zone) != 0) continue;
    if (auto z = TimeZone::Cached(w.time_zone)) out.emplace(w.time_zone, std::move(*z));
  }
  return out;
}

seconds TimeZone::OffsetAt(std::int64_t utc) const {
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  if (it == transitions_.begin()) return initial_;
  return offsets_[static_cast<std::size_t>(it - transitions_.begin() - 1)];
}

WindowState CheckWindows(const std::vector<spec::DeploymentWindow>& windows,
                         const std::map<std::string, TimeZone>& zones, std::int64_t now_ms) {
  WindowState state;
  if (windows.empty()) return state;
  state.open = false;
  const std::int64_t now = FloorDiv(now_ms, 1000);
  for (const auto& w : windows) {
    const auto zone = zones.find(w.time_zone);
    if (zone == zones.end()) continue;
    const TimeZone& z = zone->second;
    const std::int64_t local = now + z.OffsetAt(now).count();
    const std::int64_t day = FloorDiv(local, 86400);
    const int minute = static_cast<int>((local - day * 86400) / 60);
    const int dow = DayOfWeek(day);
    const bool overnight = w.end_minute < w.start_minute;
    const bool open = overnight
                          ? (OnDay(w, dow) && minute >= w.start_minute) ||
                                (OnDay(w, DayOfWeek(day - 1)) && minute < w.end_minute)
                          : OnDay(w, dow) && minute >= w.start_minute && minute < w.end_minute;
    if (open) return WindowState{true, std::nullopt, ""};
    for (int k = 0; k <= 8; ++k) {
      if (!OnDay(w, DayOfWeek(day + k))) continue;
      const std::int64_t local_open = (day + k) * 86400 + w.start_minute * 60;
      std::int64_t utc = local_open - z.OffsetAt(local_open - z.OffsetAt(now).count()).count();
      utc = local_open - z.OffsetAt(utc).count();
      if (utc <= now) continue;
      if (!state.next_open_ms || utc * 1000 < *state.next_open_ms) {
        state.next_open_ms = utc * 1000;
        state.next_open_local = std::string(kDayNames[DayOfWeek(day + k)]) + " " +
                                Clock(w.start_minute) + " " + w.time_zone;
      }
      break;
    }
  }
  return state;
}

std::string DescribeWindow(const spec::DeploymentWindow& w) {
  std::string days;
  const bool run = !w.days.empty() &&
                   w.days.back() - w.days.front() + 1 == static_cast<int>(w.days.size()) &&
                   w.days.size() > 2;
  if (run) {
    days = std::string(kDays[w.days.front()]) + "-" + kDays[w.days.back()];
  } else {
    for (int d : w.days) days += (days.empty() ? "" : ",") + std::string(kDays[d]);
  }
  return days + " " + Clock(w.start_minute) + "-" + Clock(w.end_minute) + " " + w.time_zone;
}

}  // namespace sluice::release_intake
