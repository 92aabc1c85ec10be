#include "check/check.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "check/health_probe.h"
#include "common/time.h"
#include "pg/probe.h"
#include "pg/wal_names.h"
#include "repo/layout.h"
#include "repo/wal_ranges.h"

namespace pgvault::check {

namespace {

// The archiver's last failure, as a clause for an error message; "" when it never failed.
std::string LastFailure(pg::PgSession& session) {
  auto failed = session.Query(
      "SELECT coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), "
      "failed_count FROM pg_stat_archiver");
  if (!failed.ok() || failed->empty() || (*failed)[0][0].value_or("").empty()) return "";
  return fmt::format("; the archiver last failed on '{}' at {} ({} failures)",
                     (*failed)[0][0].value_or(""), (*failed)[0][1].value_or(""),
                     (*failed)[0][2].value_or("0"));
}

// End to end: switches WAL and waits for the fresh segment to appear in the repository.
Status SwitchAndWait(repo::Repository& repo, pg::PgSession& session, const CheckOptions& options,
                     CheckResult& out) {
  double t0 = MonotonicSeconds();
  // A transaction with an id writes a commit record: without new WAL since the last switch,
  // pg_switch_wal() would switch nothing and name a segment archived long ago.
  PGV_ASSIGN_OR_RETURN(std::string xid, session.Scalar("SELECT pg_current_xact_id()::text"));
  (void)xid;
  PGV_ASSIGN_OR_RETURN(std::string segment,
                       session.Scalar("SELECT pg_walfile_name(pg_switch_wal())"));
  out.switched_segment = segment;
  auto key = repo::WalKey(segment);
  if (!key) return Status::Pg(fmt::format("server returned an odd WAL file name '{}'", segment));
  for (;;) {
    PGV_ASSIGN_OR_RETURN(bool archived, repo.HasWal(segment));
    if (archived) break;
    if (MonotonicSeconds() - t0 > options.timeout_seconds)
      return std::move(Status::Pg(fmt::format(
                           "WAL segment '{}' did not reach repository '{}' within {} s{}", segment,
                           repo.Describe(), options.timeout_seconds, LastFailure(session))))
          .WithHint(
              "check archive_command and the server log; raise --archive-timeout if the "
              "archive is just slow");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  out.arrival_seconds = MonotonicSeconds() - t0;
  return Status::Ok();
}

// The archiver's view: how far behind the current WAL position it is.
Result<ArchiverStatus> ReadArchiver(pg::PgSession& session, uint64_t segment_size) {
  PGV_ASSIGN_OR_RETURN(
      auto rows,
      session.Query(
          "SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), "
          "coalesce(last_archived_time::text, ''), coalesce(last_failed_wal, ''), "
          "coalesce(last_failed_time::text, ''), "
          "coalesce(extract(epoch FROM now() - coalesce(last_archived_time, "
          "pg_postmaster_start_time()))::float8, 0), "
          "CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END, "
          "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), "
          "coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) "
          "FROM pg_stat_archiver"));
  if (rows.empty()) return Status::Pg("pg_stat_archiver returned no row");
  const pg::Row& r = rows[0];
  std::string last_archived = r[2].value_or("");
  std::string current = r[7].value_or("");
  uint32_t tli_a = 0, tli_c = 0;
  uint64_t seg_a = 0, seg_c = 0;
  int64_t lag_segments = -1;
  if (pg::ParseSegmentName(last_archived, tli_a, seg_a, segment_size) &&
      pg::ParseSegmentName(current, tli_c, seg_c, segment_size) && tli_a == tli_c)
    lag_segments = static_cast<int64_t>(seg_c) - static_cast<int64_t>(seg_a) - 1;
  int64_t ready = std::atoll(r[8].value_or("0").c_str());
  double since = std::atof(r[6].value_or("0").c_str());
  return ArchiverStatus{.archived_count = std::atoll(r[0].value_or("0").c_str()),
                        .failed_count = std::atoll(r[1].value_or("0").c_str()),
                        .last_archived_wal = last_archived,
                        .last_archived_time = r[3].value_or(""),
                        .last_failed_wal = r[4].value_or(""),
                        .last_failed_time = r[5].value_or(""),
                        .seconds_since_last_archived = since,
                        .current_wal = current,
                        .ready_segments = ready,
                        .lag_segments = lag_segments,
                        .failing = r[9].value_or("") == "t",
                        .lag_seconds = ready > 0 ? since : 0};
}

std::string VersionText(int version) {
  return fmt::format("PostgreSQL {}.{}", version / 10000, version % 100);
}

// archive: the archiver's state before a WAL switch, then the switch (not on a standby).
HealthCheck CheckArchive(repo::Repository& repo, pg::PgSession& session,
                         const pg::ServerInfo& server, const CheckOptions& options,
                         CheckResult& out) {
  ArchiveFacts facts{.archiving = server.archive_mode != "off" && !server.archive_command.empty() &&
                                  server.archive_command != "(disabled)",
                     .primary_archives = server.in_recovery && server.archive_mode != "always",
                     .standby = server.in_recovery};
  const std::string hint = pg::ArchivingHint(repo.Describe());
  if (!facts.archiving || facts.primary_archives)
    return ArchiveCheck(facts, options.thresholds.max_archive_lag_seconds, hint);
  auto archiver = ReadArchiver(session, server.wal_segment_size);
  if (!archiver.ok())
    return HealthCheck{.name = "archive",
                       .verdict = Verdict::kCritical,
                       .value = archiver.status().message(),
                       .hint =
                           "check that the user may read pg_stat_archiver (a superuser or "
                           "pg_monitor)",
                       .code = archiver.status().code()};
  out.archiver = *archiver;
  out.archiver_read = true;
  facts.failing = archiver->failing;
  facts.last_failed_wal = archiver->last_failed_wal;
  facts.lag_seconds = archiver->lag_seconds;
  facts.lag_segments = std::max<int64_t>(archiver->ready_segments, archiver->lag_segments);
  if (!server.in_recovery) {
    Status s = SwitchAndWait(repo, session, options, out);
    if (!s.ok()) facts.switch_error = s.message();
    facts.switched_segment = out.switched_segment;
    facts.arrival_seconds = out.arrival_seconds;
  }
  return ArchiveCheck(facts, options.thresholds.max_archive_lag_seconds, hint);
}

// The checks that need no server: the disks and the repository.
void CheckLocal(repo::Repository& repo, const CheckOptions& options, CheckResult& out) {
  const FreeSpace& min_free = options.thresholds.min_free;
  if (!options.spool_path.empty())
    out.checks.push_back(ProbeDisk("disk_spool", options.spool_path, min_free));
  if (!options.scratch_path.empty())
    out.checks.push_back(ProbeDisk("disk_scratch", options.scratch_path, min_free));
  if (repo.storage().features().local && !options.repo_location.empty())
    out.checks.push_back(ProbeDisk("disk_repository", options.repo_location, min_free));
  out.checks.push_back(ProbeRepositoryWritable(repo.storage()));
  out.checks.push_back(ProbeClockSkew(repo.storage(), options.thresholds));
}

}  // namespace

Result<CheckResult> RunCheck(repo::Repository& repo, const CheckOptions& options) {
  CheckResult out{.server = options.conn.Describe(), .repository = repo.Describe()};
  auto session = pg::PgSession::Connect(options.conn);
  Result<pg::ServerInfo> server =
      session.ok() ? pg::ProbeServer(**session) : Result<pg::ServerInfo>(session.status());
  if (!server.ok()) {
    const Status& s = server.status();
    out.checks.push_back(HealthCheck{
        .name = "connectivity",
        .verdict = Verdict::kCritical,
        .value = s.message(),
        .hint = s.hint().empty() ? "check --pg-host, --pg-port, --pg-user and that the server runs"
                                 : s.hint(),
        .code = s.code()});
    CheckLocal(repo, options, out);
    return out;
  }
  out.archive_command = server->archive_command;
  out.checks.push_back(
      HealthCheck{.name = "connectivity",
                  .value = fmt::format("{} at {}{}", VersionText(server->version), out.server,
                                       server->in_recovery ? " (standby)" : "")});

  Status cluster = repo.CheckCluster(server->system_id, server->major(), server->wal_segment_size);
  HealthCheck system{
      .name = "system_identifier",
      .value = fmt::format("system {} matches the repository", server->system_identifier)};
  if (!cluster.ok())
    system = HealthCheck{
        .name = "system_identifier",
        .verdict = Verdict::kCritical,
        .value = cluster.message(),
        .hint = cluster.hint().empty() ? "use a separate repository per cluster" : cluster.hint(),
        .code = cluster.code()};
  out.checks.push_back(system);
  // Archiving into a repository of another cluster proves nothing: no WAL switch then.
  if (cluster.ok()) out.checks.push_back(CheckArchive(repo, **session, *server, options, out));

  auto replication = ReadReplication(**session, server->in_recovery);
  if (replication.ok())
    out.checks.push_back(
        ReplicationCheck(*replication, options.thresholds.max_replication_lag_seconds));
  else
    out.checks.push_back(HealthCheck{.name = "replication",
                                     .verdict = Verdict::kWarning,
                                     .value = replication.status().message(),
                                     .hint = "grant pg_monitor to the check's user"});
  out.checks.push_back(ProbePgdata(**session, server->data_directory, options.thresholds.min_free));
  CheckLocal(repo, options, out);

  // Continuity from the oldest backup (or the first archived segment) to the newest segment.
  if (cluster.ok()) {
    PGV_ASSIGN_OR_RETURN(auto ranges, repo::DescribeArchive(repo, server->wal_segment_size));
    out.wal_checked = true;
    for (const auto& range : ranges) {
      out.missing_segments += range.missing;
      for (const auto& g : range.gaps) out.wal_gaps.push_back(g);
    }
  }
  return out;
}

}  // namespace pgvault::check
