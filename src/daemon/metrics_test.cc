#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>
#include <sstream>

namespace pgvault::daemon {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A strict parser of the Prometheus text format 0.0.4: every sample belongs to a family
// declared by one HELP and one TYPE line before it, families are contiguous, names and labels
// are valid, values are numbers, no series repeats, and histograms are complete and cumulative.
class Parsed {
 public:
  explicit Parsed(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) Line(line);
  }
  std::vector<std::string> errors;
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    return std::nullopt;
  }

 private:
  void Line(const std::string& line) {
    static const std::regex kMeta(R"(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+))");
    static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+))");
    std::smatch m;
    if (std::regex_match(line, m, kMeta)) return Meta(m[1], m[2], m[3]);
    if (!std::regex_match(line, m, kSample)) return Error("malformed line: " + line);
    Sample s{m[1], Labels(m[2], line), 0};
    std::string v = m[3];
    char* end = nullptr;
    s.value = v == "+Inf" ? INFINITY : std::strtod(v.c_str(), &end);
    if (v != "+Inf" && (end == v.c_str() || *end)) Error("bad value: " + line);
    std::string family = FamilyOf(s.name);
    if (family != current_) Error("sample outside its family: " + line);
    std::string key = s.name + "{" + std::string(m[2]) + "}";
    if (!series_.insert(key).second) Error("duplicate series: " + key);
    samples.push_back(std::move(s));
  }
  void Meta(const std::string& kind, const std::string& name, const std::string& rest) {
    static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                 "untyped"};
    if (kind == "HELP") {
      if (!helped_.insert(name).second) Error("second HELP for " + name);
      current_ = name;
      return;
    }
    if (!kTypes.count(rest)) Error("bad TYPE " + rest);
    if (types.count(name)) Error("second TYPE for " + name);
    if (current_ != name) Error("TYPE without HELP for " + name);
    types[name] = rest;
    if (rest == "counter" && !name.ends_with("_total")) Error("counter not _total: " + name);
    if (!name.starts_with("pgvault_")) Error("no pgvault_ prefix: " + name);
  }
  std::map<std::string, std::string> Labels(const std::string& text, const std::string& line) {
    static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)\"(,|$))");
    std::map<std::string, std::string> labels;
    auto begin = text.cbegin();
    std::smatch m;
    while (begin != text.cend()) {
      if (!std::regex_search(begin, text.cend(), m, kLabel, std::regex_constants::match_continuous))
        return Error("bad labels: " + line), labels;
      if (!labels.emplace(m[1], m[2]).second) Error("repeated label: " + line);
      begin = m[0].second;
    }
    return labels;
  }
  std::string FamilyOf(const std::string& name) const {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string base = name.substr(0, name.size() - std::strlen(suffix));
      if (name.ends_with(suffix) && types.count(base) && types.at(base) == "histogram") return base;
    }
    return name;
  }
  void Error(const std::string& e) { errors.push_back(e); }
  std::string current_;
  std::set<std::string> helped_, series_;
};

// Histograms: buckets cumulative, ending in +Inf, whose count equals _count.
void CheckHistograms(const Parsed& p) {
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // series -> (le, n)
  for (const auto& s : p.samples) {
    if (!s.name.ends_with("_bucket")) continue;
    auto labels = s.labels;
    std::string le = labels["le"];
    labels.erase("le");
    std::string key = s.name.substr(0, s.name.size() - 7);
    for (const auto& [k, v] : labels) key += "," + k + "=" + v;
    buckets[key].emplace_back(le == "+Inf" ? INFINITY : std::stod(le), s.value);
  }
  ASSERT_FALSE(buckets.empty());
  for (const auto& [key, list] : buckets) {
    EXPECT_TRUE(std::isinf(list.back().first)) << key;
    for (size_t i = 1; i < list.size(); i++) {
      EXPECT_LT(list[i - 1].first, list[i].first) << key;
      EXPECT_LE(list[i - 1].second, list[i].second) << key;
    }
  }
}

info::RepoInfo TwoBackups() {
  info::RepoInfo info;
  for (int i = 0; i < 2; i++) {
    repo::ManifestHeader h;
    h.backup_id = "20260601-00000" + std::to_string(i) + "F";
    h.stop_time_unix_micros = 1780272000000000 + i * 1500000;
    h.stats.duration_seconds = 2.5 + i;
    h.stats.bytes_read = 1000 + i;
    h.stats.bytes_new = 300 + i;
    h.manifest_bytes = 10;
    info.backups.push_back({h.backup_id, h, ""});
  }
  info.backups.push_back({"20260601-000009F", std::nullopt, "manifest unreadable"});
  info.wal.push_back({.timeline = 1, .segments = 4, .bytes = 5000});
  repo::TimelineRange tl;
  tl.missing = 2;
  info.timelines.push_back(tl);
  return info;
}

TEST(MetricsTest, TextFormatIsStrictlyValidAndCarriesTheValues) {
  std::vector<ClusterState> clusters(2);
  clusters[0].name = "main \"db\"";
  clusters[0].info = TwoBackups();
  clusters[0].archive_lag_seconds = 12.5;
  clusters[0].archive_lag_segments = 3;
  clusters[0].health = {
      {.name = "connectivity", .value = "PostgreSQL 15.4"},
      {.name = "disk_spool", .verdict = check::Verdict::kWarning, .value = "1 GiB free"},
      {.name = "archive", .verdict = check::Verdict::kCritical, .value = "not archiving"}};
  clusters[0].health_checked_unix = 1780272300;
  clusters[0].jobs["backup"].Record(true, 3.0, 1780272100);
  clusters[0].jobs["backup"].Record(false, 400.0, 1780272200);
  clusters[0].errors_total["unavailable"] = 3;
  clusters[1].name = "reports";  // repository not readable: only pgvault_repository_up 0
  std::string text = RenderMetrics(clusters);
  Parsed p(text);
  EXPECT_TRUE(p.errors.empty()) << p.errors[0] << "\n" << text;
  CheckHistograms(p);
  using M = std::map<std::string, std::string>;
  M full{{"cluster", "main \\\"db\\\""}, {"tier", "full"}};
  EXPECT_EQ(p.Value("pgvault_backup_last_success_timestamp_seconds", full), 1780272001.5);
  EXPECT_EQ(p.Value("pgvault_backup_last_duration_seconds", full), 3.5);
  EXPECT_EQ(p.Value("pgvault_backup_last_read_bytes", full), 1001);
  EXPECT_EQ(p.Value("pgvault_backup_last_stored_bytes", full), 301);
  EXPECT_EQ(p.Value("pgvault_backups", full), 2);
  M main{{"cluster", "main \\\"db\\\""}};
  EXPECT_EQ(p.Value("pgvault_backups", {{"cluster", main["cluster"]}, {"tier", "damaged"}}), 1);
  EXPECT_EQ(p.Value("pgvault_repository_bytes", main), 300 + 301 + 20 + 5000);
  EXPECT_EQ(p.Value("pgvault_wal_segments", main), 4);
  EXPECT_EQ(p.Value("pgvault_wal_gap_segments", main), 2);
  EXPECT_EQ(p.Value("pgvault_archive_lag_seconds", main), 12.5);
  EXPECT_EQ(p.Value("pgvault_archive_lag_segments", main), 3);
  EXPECT_EQ(p.Value("pgvault_health_check_timestamp_seconds", main), 1780272300);
  auto check_label = [&](const char* name) {
    return M{{"cluster", main["cluster"]}, {"check", name}};
  };
  EXPECT_EQ(p.Value("pgvault_health_check_ok", check_label("connectivity")), 1);
  EXPECT_EQ(p.Value("pgvault_health_check_ok", check_label("disk_spool")), 0);
  EXPECT_EQ(p.Value("pgvault_health_check_ok", check_label("archive")), 0);
  EXPECT_EQ(p.Value("pgvault_health_check_critical", check_label("disk_spool")), 0);
  EXPECT_EQ(p.Value("pgvault_health_check_critical", check_label("archive")), 1);
  EXPECT_EQ(p.Value("pgvault_repository_up", M{{"cluster", "reports"}}), 0);
  M job{{"cluster", main["cluster"]}, {"job", "backup"}};
  EXPECT_EQ(p.Value("pgvault_job_duration_seconds_count", job), 2);
  EXPECT_EQ(p.Value("pgvault_job_duration_seconds_sum", job), 403);
  job["le"] = "5";
  EXPECT_EQ(p.Value("pgvault_job_duration_seconds_bucket", job), 1);
  job["le"] = "+Inf";
  EXPECT_EQ(p.Value("pgvault_job_duration_seconds_bucket", job), 2);
  EXPECT_EQ(p.Value("pgvault_job_runs_total",
                    {{"cluster", main["cluster"]}, {"job", "backup"}, {"result", "failure"}}),
            1);
  EXPECT_EQ(
      p.Value("pgvault_errors_total", {{"cluster", main["cluster"]}, {"kind", "unavailable"}}), 3);
  EXPECT_EQ(p.types["pgvault_job_duration_seconds"], "histogram");
}

TEST(MetricsTest, StrictParserRejectsBrokenText) {
  EXPECT_FALSE(Parsed("pgvault_x{a=\"1\"} 1\n").errors.empty());  // no HELP/TYPE
  EXPECT_FALSE(Parsed("# HELP pgvault_x h\n# TYPE pgvault_x gauge\npgvault_x{a=1} 1\n")
                   .errors.empty());  // unquoted label
  EXPECT_FALSE(Parsed("# HELP pgvault_x h\n# TYPE pgvault_x counter\npgvault_x{} 1\n")
                   .errors.empty());  // counter without _total
  EXPECT_TRUE(Parsed("# HELP pgvault_x h\n# TYPE pgvault_x gauge\npgvault_x{a=\"\\\"\"} 1\n")
                  .errors.empty());
}

}  // namespace
}  // namespace pgvault::daemon
