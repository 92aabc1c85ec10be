#include "daemon/status_page.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/markup.h"
#include "common/time.h"

namespace pgvault::daemon {
namespace {

constexpr int kWidth = 640, kHeight = 60;

std::string When(int64_t unix_seconds) {
  return unix_seconds > 0 ? FormatIsoSeconds(unix_seconds) : "never";
}

std::string Mb(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

// Backups on a time axis: one circle per backup (red when damaged), x by stop time.
std::string TimelineSvg(const info::RepoInfo& info, int64_t now) {
  int64_t first = now - 86400;
  for (const auto& b : info.backups)
    if (b.intact()) first = std::min(first, b.header->stop_time_unix_micros / 1000000);
  double span = static_cast<double>(std::max<int64_t>(now - first, 1));
  std::string svg = fmt::format(
      "<svg class=\"timeline\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" aria-label=\"backups over time\"><line x1=\"10\" y1=\"30\" x2=\"{2}\" "
      "y2=\"30\" stroke=\"#888\"/>",
      kWidth, kHeight, kWidth - 10);
  double x = 10;
  for (const auto& b : info.backups) {
    if (b.intact()) {
      const int64_t stop_seconds = b.header->stop_time_unix_micros / 1000000;
      x = 10 + (kWidth - 20) * static_cast<double>(stop_seconds - first) / span;
    }
    svg += fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"30\" r=\"6\" fill=\"{}\"><title>{} {}</title></circle>", x,
        b.intact() ? "#2a7" : "#d33", HtmlEscape(b.id),
        b.intact() ? b.header->stop_time : "damaged");
  }
  svg += fmt::format("<text x=\"10\" y=\"55\" font-size=\"11\">{}</text>", When(first));
  svg += fmt::format("<text x=\"{}\" y=\"55\" font-size=\"11\" text-anchor=\"end\">now</text>",
                     kWidth - 10);
  return svg + "</svg>";
}

// Repository size after each backup (new backup bytes, cumulative), as a polyline.
std::string SizeSvg(const info::RepoInfo& info) {
  std::vector<double> sizes;
  double total = 0;
  for (const auto& b : info.backups)
    if (b.intact()) sizes.push_back(total += static_cast<double>(b.header->stats.bytes_new));
  if (sizes.empty()) return "";
  std::string points;
  for (size_t i = 0; i < sizes.size(); i++) {
    double x = sizes.size() == 1 ? kWidth / 2.0 : 10 + (kWidth - 20.0) * i / (sizes.size() - 1);
    double y = kHeight - 5 - (kHeight - 10) * sizes[i] / std::max(total, 1.0);
    points += fmt::format("{:.1f},{:.1f} ", x, y);
  }
  return fmt::format(
      "<svg class=\"size\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\" "
      "aria-label=\"repository size\"><polyline fill=\"none\" stroke=\"#37c\" stroke-width=\"2\" "
      "points=\"{2}\"/><text x=\"10\" y=\"12\" font-size=\"11\">{3} in backups</text></svg>",
      kWidth, kHeight, points, Mb(static_cast<uint64_t>(total)));
}

std::string NewestTable(const info::RepoInfo& info) {
  std::map<std::string, const repo::ListedBackup*> newest;
  for (const auto& b : info.backups)
    if (b.intact()) newest[TierOf(b)] = &b;
  if (newest.empty()) return "<p class=\"bad\">no backup yet</p>";
  std::string html =
      "<table><tr><th>tier</th><th>last backup</th><th>finished</th><th>duration</th>"
      "<th>read</th><th>stored</th></tr>";
  for (const auto& [tier, b] : newest) {
    const auto& h = *b->header;
    html += fmt::format(
        "<tr><td>{}</td><td class=\"backup-id\">{}</td><td>{}</td><td>{:.1f} s</td><td>{}</td>"
        "<td>{}</td></tr>",
        HtmlEscape(tier), HtmlEscape(b->id), HtmlEscape(h.stop_time.substr(0, 19)),
        h.stats.duration_seconds, Mb(h.stats.bytes_read), Mb(h.stats.bytes_new));
  }
  return html + "</table>";
}

std::string JobsTable(const ClusterState& c) {
  std::string html =
      "<table><tr><th>job</th><th>last success</th><th>runs ok / failed</th><th>next run</th>"
      "<th>last error</th></tr>";
  for (const auto& [kind, j] : c.jobs)
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td class=\"bad\">{}</td></tr>",
        HtmlEscape(kind), When(j.last_success_unix), j.successes, j.failures, When(j.next_run_unix),
        HtmlEscape(j.last_error));
  return html + "</table>";
}

// The health checks before the last backup: verdict, check, what was measured, the hint.
std::string HealthTable(const ClusterState& c) {
  if (c.health.empty()) return "";
  std::string html = fmt::format(
      "<table class=\"health\"><caption>health checks, {}</caption>"
      "<tr><th>verdict</th><th>check</th><th>measured</th><th>hint</th></tr>",
      When(c.health_checked_unix));
  for (const auto& h : c.health)
    html +=
        fmt::format("<tr><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    h.verdict == check::Verdict::kOk ? "ok" : "bad", check::VerdictName(h.verdict),
                    HtmlEscape(h.name), HtmlEscape(h.value), HtmlEscape(h.hint));
  return html + "</table>";
}

std::string ClusterSection(const ClusterState& c, int64_t now) {
  std::string html = fmt::format("<section><h2>cluster {}</h2>", HtmlEscape(c.name));
  if (!c.info) {
    html += "<p class=\"bad\">repository not readable (see the daemon's log)</p>";
  } else {
    uint64_t segments = ArchivedSegments(*c.info), missing = MissingSegments(*c.info);
    html += NewestTable(*c.info) + TimelineSvg(*c.info, now) + SizeSvg(*c.info);
    html += fmt::format(
        "<p>WAL: {} segments archived, <span class=\"{}\">{} missing</span>; "
        "repository {}; archive lag {}</p>",
        segments, missing ? "bad" : "ok", missing, Mb(RepositoryBytes(*c.info)),
        c.archive_lag_seconds ? fmt::format("{:.0f} s", *c.archive_lag_seconds)
                              : std::string("not measured"));
  }
  return html + HealthTable(c) + JobsTable(c) + "</section>";
}

}  // namespace

std::string HtmlEscape(const std::string& text) { return EscapeMarkup(text); }

std::string RenderStatusPage(const std::vector<ClusterState>& clusters,
                             const std::vector<AlertEvent>& alerts, int64_t now_unix) {
  std::string html =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"30\"><title>pgvault status</title><style>"
      "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
      "margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
      ".bad{color:#c00}.ok{color:#070}svg{display:block;margin:.5em 0}</style></head><body>";
  html += fmt::format("<h1>pgvault status</h1><p>as of {}</p>", When(now_unix));
  for (const auto& c : clusters) html += ClusterSection(c, now_unix);
  html += "<section><h2>recent alerts</h2>";
  if (alerts.empty()) html += "<p>none</p>";
  html += "<ul class=\"alerts\">";
  for (auto it = alerts.rbegin(); it != alerts.rend(); ++it)
    html += fmt::format("<li class=\"{}\">{} {} {}: {}</li>",
                        it->event == "resolved" ? "ok" : "bad", When(it->time_unix),
                        HtmlEscape(it->cluster), HtmlEscape(it->event), HtmlEscape(it->message));
  return html + "</ul></section></body></html>\n";
}

}  // namespace pgvault::daemon
