#include "check/health_probe.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/time.h"
#include "pipeline/crypto.h"
#include "repo/layout.h"

namespace pgvault::check {
namespace {

int64_t Int(const std::optional<std::string>& v) { return std::atoll(v.value_or("0").c_str()); }
double Float(const std::optional<std::string>& v) { return std::atof(v.value_or("0").c_str()); }

HealthCheck Failed(HealthCheck c, const Status& s, const std::string& fallback_hint) {
  c.verdict = Verdict::kCritical;
  c.value = s.message();
  c.hint = s.hint().empty() ? fallback_hint : s.hint();
  c.code = s.code();
  return c;
}

}  // namespace

HealthCheck ProbeDisk(const std::string& name, const std::string& path, const FreeSpace& min_free) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0)
    return HealthCheck{.name = name,
                       .verdict = Verdict::kWarning,
                       .value = fmt::format("cannot examine '{}': {}", path, std::strerror(errno)),
                       .hint = fmt::format("create '{}' or fix the option that names it", path)};
  const uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
  return DiskCheck(name, path, uint64_t{st.f_bavail} * unit, uint64_t{st.f_blocks} * unit,
                   min_free);
}

HealthCheck ProbePgdata(pg::PgSession& session, const std::string& data_directory,
                        const FreeSpace& min_free) {
  auto skipped = [&](const std::string& why) {
    return HealthCheck{
        .name = "disk_pgdata",
        .value = fmt::format("skipped: data directory '{}' {}", data_directory, why)};
  };
  // postmaster.pid's fourth line is the port: the same number says it is this server's directory.
  auto port = session.Scalar("SELECT current_setting('port')");
  std::ifstream pid_file(data_directory + "/postmaster.pid");
  if (!port.ok() || !pid_file) return skipped("is not readable here (a remote server?)");
  std::string line;
  for (int line_idx = 0; line_idx < 4 && std::getline(pid_file, line); ++line_idx) {
  }
  if (line != *port) return skipped("here belongs to another server");
  return ProbeDisk("disk_pgdata", data_directory, min_free);
}

HealthCheck ProbeRepositoryWritable(storage::Storage& storage) {
  HealthCheck c{.name = "repository_writable"};
  const std::string hint =
      "check the repository's permissions (a local directory) or the credentials' write and "
      "delete rights (S3), and that it is reachable";
  Bytes nonce = pipeline::RandomBytes(4);
  uint32_t n = (uint32_t{nonce[0]} << 24) | (uint32_t{nonce[1]} << 16) | (uint32_t{nonce[2]} << 8) |
               nonce[3];
  const std::string key = repo::ProbeKey(NowUnixMicros(), n);
  const std::string body = fmt::format("pgvault check probe {}\n", key);
  double t0 = MonotonicSeconds();
  Status s = storage.Put(key, AsBytes(body), {.if_absent = true});
  if (!s.ok()) return Failed(c, s.Context(fmt::format("writing '{}'", key)), hint);
  auto back = storage.Get(key);
  Status del = storage.Delete(key);
  if (!back.ok()) return Failed(c, back.status().Context(fmt::format("reading '{}'", key)), hint);
  if (AsString(*back) != body)
    return Failed(
        c, Status::Corruption(fmt::format("'{}' read back differs from what was written", key)),
        hint);
  if (!del.ok()) return Failed(c, del.Context(fmt::format("deleting '{}'", key)), hint);
  c.value = fmt::format("probe object written, read back and deleted in {:.3f} s",
                        MonotonicSeconds() - t0);
  return c;
}

HealthCheck ProbeClockSkew(storage::Storage& storage, const Thresholds& thresholds) {
  const int64_t before = NowUnixMicros();
  auto server = storage.ServerTimeUnix();
  const int64_t after = NowUnixMicros();
  if (!server.ok())
    return Failed(HealthCheck{.name = "clock_skew"}, server.status(),
                  "check that the repository is reachable");
  if (!*server) return ClockSkewCheck(std::nullopt, thresholds);
  // The Date header has whole seconds; compare with the middle of the request.
  double local = static_cast<double>(before + after) / 2e6;
  return ClockSkewCheck(static_cast<double>(**server) - local, thresholds);
}

Result<ReplicationFacts> ReadReplication(pg::PgSession& session, bool standby) {
  if (standby) {
    // Replay lag counts only while received WAL waits for replay: an idle primary is not lag.
    PGV_ASSIGN_OR_RETURN(
        auto rows,
        session.Query("SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
                      "pg_last_wal_replay_lsn()), 0)::bigint, "
                      "CASE WHEN pg_last_wal_receive_lsn() IS DISTINCT FROM "
                      "pg_last_wal_replay_lsn() THEN coalesce(extract(epoch FROM now() - "
                      "pg_last_xact_replay_timestamp())::float8, 0) ELSE 0 END, "
                      "(SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming')"));
    if (rows.empty()) return Status::Pg("the standby's replication query returned no row");
    return ReplicationFacts{.standby = true,
                            .receiving = Int(rows[0][2]) > 0,
                            .lag_seconds = Float(rows[0][1]),
                            .lag_bytes = Int(rows[0][0])};
  }
  PGV_ASSIGN_OR_RETURN(
      auto rows,
      session.Query("SELECT count(*), coalesce(max(extract(epoch FROM replay_lag))::float8, 0), "
                    "coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::bigint "
                    "FROM pg_stat_replication"));
  if (rows.empty()) return Status::Pg("pg_stat_replication returned no row");
  return ReplicationFacts{.lag_seconds = Float(rows[0][1]),
                          .lag_bytes = Int(rows[0][2]),
                          .standby_count = Int(rows[0][0])};
}

}  // namespace pgvault::check
