#include "schedule/cron.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <sstream>
#include <vector>

namespace pgvault::schedule {
namespace {

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct FieldSpec {
  const char* name;
  int min, max;
  const char* const* names;  // names for min.. in order, or nullptr
  int name_count;
};

Status FieldError(const FieldSpec& f, const std::string& part, const std::string& text) {
  return std::move(Status::Config(fmt::format("invalid {} field '{}' in cron expression '{}'",
                                              f.name, part, text)))
      .WithHint(
          fmt::format("use numbers {}-{}{}, lists (1,5), ranges (1-5) and steps (*/15, 0-30/10); "
                      "5 fields: minute hour day-of-month month day-of-week",
                      f.min, f.max, f.names ? " or names" : ""));
}

bool ParseValue(const FieldSpec& f, std::string s, int& out) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  for (int i = 0; f.names && i < f.name_count; i++)
    if (s == f.names[i]) return out = (f.min == 1 ? i + 1 : i), true;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// One comma-separated element: *, N, N-M, with an optional /STEP.
bool ParseElement(const FieldSpec& f, const std::string& elem, std::vector<int>& values) {
  std::string range = elem;
  int step = 1;
  if (size_t slash = elem.find('/'); slash != std::string::npos) {
    range = elem.substr(0, slash);
    std::string step_text = elem.substr(slash + 1);
    auto [end, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
    if (step_text.empty() || ec != std::errc() || end != step_text.data() + step_text.size() ||
        step < 1)
      return false;
  }
  int lo = f.min, hi = f.max;
  if (range != "*") {
    size_t dash = range.find('-');
    if (!ParseValue(f, range.substr(0, dash), lo)) return false;
    if (dash != std::string::npos) {
      if (!ParseValue(f, range.substr(dash + 1), hi)) return false;
    } else {
      hi = elem.find('/') != std::string::npos ? f.max : lo;  // "5/15" means 5-max/15
    }
  }
  if (lo < f.min || hi > f.max || lo > hi) return false;
  for (int v = lo; v <= hi; v += step) values.push_back(v);
  return true;
}

template <size_t N>
Status ParseField(const FieldSpec& f, const std::string& part, const std::string& text,
                  std::bitset<N>& bits) {
  std::stringstream ss(part);
  std::string elem;
  bool any = false;
  while (std::getline(ss, elem, ',')) {
    std::vector<int> values;
    if (!ParseElement(f, elem, values)) return FieldError(f, part, text);
    for (int v : values) bits.set(v == 7 && N == 7 ? 0 : v);  // day-of-week 7 = Sunday
    any = true;
  }
  if (!any || part.back() == ',') return FieldError(f, part, text);
  return Status::Ok();
}

std::string Expand(const std::string& text) {
  static const std::map<std::string, std::string> kMacros = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  auto it = kMacros.find(text);
  return it == kMacros.end() ? text : it->second;
}

}  // namespace

Result<CronExpr> CronExpr::Parse(const std::string& text) {
  std::stringstream ss(Expand(text));
  std::vector<std::string> parts;
  for (std::string p; ss >> p;) parts.push_back(p);
  if (parts.size() != 5 && parts.size() != 6)
    return std::move(Status::Config(fmt::format("cron expression '{}' has {} fields, expected 5",
                                                text, parts.size())))
        .WithHint("write minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"");
  CronExpr c;
  c.text_ = text;
  if (parts.size() == 5) parts.insert(parts.begin(), "0");
  static const FieldSpec kSpecs[] = {
      {"second", 0, 59, nullptr, 0},     {"minute", 0, 59, nullptr, 0},
      {"hour", 0, 23, nullptr, 0},       {"day-of-month", 1, 31, nullptr, 0},
      {"month", 1, 12, kMonthNames, 12}, {"day-of-week", 0, 7, kDayNames, 7}};
  PGV_RETURN_IF_ERROR(ParseField(kSpecs[0], parts[0], text, c.seconds_));
  PGV_RETURN_IF_ERROR(ParseField(kSpecs[1], parts[1], text, c.minutes_));
  PGV_RETURN_IF_ERROR(ParseField(kSpecs[2], parts[2], text, c.hours_));
  PGV_RETURN_IF_ERROR(ParseField(kSpecs[3], parts[3], text, c.days_));
  PGV_RETURN_IF_ERROR(ParseField(kSpecs[4], parts[4], text, c.months_));
  PGV_RETURN_IF_ERROR(ParseField(kSpecs[5], parts[5], text, c.weekdays_));
  c.dom_star_ = parts[3][0] == '*';
  c.dow_star_ = parts[5][0] == '*';
  return c;
}

bool CronExpr::DayMatches(const LocalTime& t) const {
  bool dom = days_.test(t.day), dow = weekdays_.test(DayOfWeek(t));
  if (!dom_star_ && !dow_star_) return dom || dow;
  return dom && dow;
}

bool CronExpr::Matches(const LocalTime& t) const {
  return seconds_.test(t.second) && minutes_.test(t.minute) && hours_.test(t.hour) &&
         months_.test(t.month) && DayMatches(t);
}

std::optional<LocalTime> CronExpr::NextLocal(LocalTime t) const {
  const int horizon_year = t.year + 8;
  while (t.year <= horizon_year) {
    if (!months_.test(t.month)) {
      t = {t.month == 12 ? t.year + 1 : t.year, t.month == 12 ? 1 : t.month + 1, 1, 0, 0, 0};
    } else if (!DayMatches(t)) {
      t = CivilFromSeconds(NaiveSeconds({t.year, t.month, t.day, 0, 0, 0}) + 86400);
    } else if (!hours_.test(t.hour)) {
      t = CivilFromSeconds(NaiveSeconds({t.year, t.month, t.day, t.hour, 0, 0}) + 3600);
    } else if (!minutes_.test(t.minute)) {
      t = CivilFromSeconds(NaiveSeconds({t.year, t.month, t.day, t.hour, t.minute, 0}) + 60);
    } else if (!seconds_.test(t.second)) {
      t = CivilFromSeconds(NaiveSeconds(t) + 1);
    } else {
      return t;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> CronExpr::Next(int64_t unix_seconds, const TimeZone& zone) const {
  LocalTime from = CivilFromSeconds(NaiveSeconds(zone.ToLocal(unix_seconds)) + 1);
  // A few rounds cover a candidate that lies before unix_seconds (its first occurrence passed
  // in a repeated hour) and candidates inside a DST gap.
  for (int round = 0; round < 10000; round++) {
    std::optional<LocalTime> local = NextLocal(from);
    if (!local) return std::nullopt;
    if (auto instant = zone.FromLocal(*local, unix_seconds)) return instant;
    // Not after unix_seconds, or not on the clock at all (skipped by DST)?
    LocalTime probe = *local;
    int64_t end_of_gap = zone.FirstAtOrAfter(probe);
    if (zone.ToLocal(end_of_gap) != probe && end_of_gap > unix_seconds) return end_of_gap;
    from = CivilFromSeconds(NaiveSeconds(*local) + 1);
  }
  return std::nullopt;
}

}  // namespace pgvault::schedule
