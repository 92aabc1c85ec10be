#include "daemon/status_page.h"

#include <gtest/gtest.h>

namespace pgvault::daemon {
namespace {

TEST(StatusPageTest, ShowsNewestBackupJobsAndAlertsEscaped) {
  ClusterState c{.name = "main<1>"};
  info::RepoInfo info;
  repo::ManifestHeader h;
  h.backup_id = "20260601-000000F";
  h.stop_time = "2026-06-01T00:00:00.000000Z";
  h.stop_time_unix_micros = 1780272000000000;
  info.backups.push_back({h.backup_id, h, ""});
  c.info = info;
  c.jobs["backup"].Record(false, 1, 1780272100);
  c.jobs["backup"].last_error = "cannot connect to 'x'";
  c.health = {{.name = "disk_spool",
               .verdict = check::Verdict::kCritical,
               .value = "1 MiB free at '/s<p>'",
               .hint = "free some space"}};
  c.health_checked_unix = 1780272100;
  AlertEvent alert{
      .event = "backup_failed", .cluster = "main<1>", .message = "a & b", .time_unix = 1780272100};
  std::string html = RenderStatusPage({c}, {alert}, 1780272200);
  EXPECT_NE(html.find("<h2>cluster main&lt;1&gt;</h2>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"backup-id\">20260601-000000F</td>"), std::string::npos);
  EXPECT_NE(html.find("<svg class=\"timeline\""), std::string::npos);
  EXPECT_NE(html.find("cannot connect to &#39;x&#39;"), std::string::npos);
  EXPECT_NE(html.find("backup_failed: a &amp; b"), std::string::npos);
  EXPECT_NE(html.find("<tr><td class=\"bad\">critical</td><td>disk_spool</td><td>1 MiB free at "
                      "&#39;/s&lt;p&gt;&#39;</td><td>free some space</td></tr>"),
            std::string::npos)
      << html;
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

}  // namespace
}  // namespace pgvault::daemon
