#include "check/check.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <thread>

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
      session.Query("SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), "
                    "coalesce(last_archived_time::text, ''), coalesce(last_failed_wal, ''), "
                    "coalesce(last_failed_time::text, ''), "
                    "coalesce(extract(epoch FROM now() - last_archived_time)::float8, 0), "
                    "pg_walfile_name(pg_current_wal_lsn()), "
                    "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') "
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
  return ArchiverStatus{.archived_count = std::atoll(r[0].value_or("0").c_str()),
                        .failed_count = std::atoll(r[1].value_or("0").c_str()),
                        .last_archived_wal = last_archived,
                        .last_archived_time = r[3].value_or(""),
                        .last_failed_wal = r[4].value_or(""),
                        .last_failed_time = r[5].value_or(""),
                        .seconds_since_last_archived = std::atof(r[6].value_or("0").c_str()),
                        .current_wal = current,
                        .ready_segments = std::atoll(r[8].value_or("0").c_str()),
                        .lag_segments = lag_segments};
}

}  // namespace

Result<CheckResult> RunCheck(repo::Repository& repo, const CheckOptions& options) {
  PGV_ASSIGN_OR_RETURN(auto session, pg::PgSession::Connect(options.conn));
  CheckResult out{.server = options.conn.Describe(), .repository = repo.Describe()};
  PGV_ASSIGN_OR_RETURN(pg::ServerInfo server, pg::ProbeServer(*session));
  out.archive_command = server.archive_command;
  if (server.archive_mode == "off" || server.archive_command.empty() ||
      server.archive_command == "(disabled)")
    return std::move(Status::Pg(fmt::format("'{}' does not archive WAL (archive_mode = {})",
                                            options.conn.Describe(), server.archive_mode)))
        .WithHint(pg::ArchivingHint(repo.Describe()));
  if (server.in_recovery)
    return std::move(Status::Pg(fmt::format("'{}' is in recovery", options.conn.Describe())))
        .WithHint("run check against the primary: a standby cannot switch WAL");
  PGV_RETURN_IF_ERROR(repo.CheckCluster(server.system_id, server.major(), server.wal_segment_size));

  PGV_RETURN_IF_ERROR(SwitchAndWait(repo, *session, options, out));
  PGV_ASSIGN_OR_RETURN(out.archiver, ReadArchiver(*session, server.wal_segment_size));

  // Continuity from the oldest backup (or the first archived segment) to the newest segment.
  PGV_ASSIGN_OR_RETURN(auto ranges, repo::DescribeArchive(repo, server.wal_segment_size));
  for (const auto& range : ranges) {
    out.missing_segments += range.missing;
    for (const auto& g : range.gaps) out.wal_gaps.push_back(g);
  }
  return out;
}

}  // namespace pgvault::check
