// Helpers the PITR tests share (pitr_test, timeline_test, archive_async_test): exact marks of a
// pgbench database (time, LSN, xid, restore point and table checksums, recorded together) and a
// restored cluster to compare them with.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pg_cluster.h"

namespace pgvault::test {

// One string with row count and md5 of every pgbench table; the same SQL runs inside a mark's
// transaction and on the restored copy.
inline constexpr char kSumsSql[] =
    "(SELECT string_agg(x, ' ' ORDER BY x) FROM (SELECT tbl || '=' || "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) || '':'' || "
    "coalesce(md5(string_agg(md5(t::text) COLLATE \"C\", '''' ORDER BY md5(t::text) COLLATE "
    "\"C\")), '''') AS c FROM %I t', tbl), false, true, '')))[1]::text AS x FROM "
    "unnest(ARRAY['pgbench_accounts','pgbench_branches','pgbench_tellers','pgbench_history']) "
    "tbl) s)";

struct Mark {
  int id = 0;
  std::string time, lsn, xid, name, sums;
};

// Holds pgbench's writers off, then records time, LSN, xid, a restore point and the checksums
// in one transaction: nothing else can commit between them.
// Without concurrent writers (lock = false) one INSERT statement is as exact.
template <typename Db>
Mark RecordMark(Db& c, int id, bool lock = true) {
  std::string name = fmt::format("mark{}", id);
  std::string insert = fmt::format(
      "INSERT INTO marks SELECT {}, to_char(clock_timestamp() AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD HH24:MI:SS.US') || '+00', pg_current_wal_lsn()::text, txid_current()::text, "
      "pg_create_restore_point('{}')::text, {}",
      id, name, kSumsSql);
  c.Exec(lock ? "BEGIN; LOCK TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, "
                "pgbench_history IN EXCLUSIVE MODE; " +
                    insert + "; COMMIT;"
              : insert);
  auto row = c.Query(fmt::format("SELECT ts, lsn, xid, sums FROM marks WHERE id = {}", id))[0];
  return Mark{id, row[0], row[1], row[2], name, row[3]};
}

// The table RecordMark writes to.
inline constexpr char kCreateMarksTableSql[] =
    "CREATE TABLE marks(id int PRIMARY KEY, ts text, lsn text, xid text, point text, sums text)";

// A fixture with a key-file repository in a scratch directory (created by the test with
// Vault({"repo-create"})) and pgvault run against it.
class VaultTest : public ::testing::Test {
 protected:
  explicit VaultTest(const std::string& label) : work_(label) {}
  // pgvault --repo REPO --key-file KEY ARGS...
  ProcessResult VaultAt(const std::string& repo, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--repo", repo, "--key-file", key_};
    all.insert(all.end(), args.begin(), args.end());
    return RunPgvault(all);
  }
  ProcessResult Vault(const std::vector<std::string>& args) { return VaultAt(repo_, args); }
  // backup of a running cluster over TCP.
  ProcessResult Backup(const PgCluster& cluster) {
    return Vault({"backup", "--pgdata", cluster.pgdata(), "--pg-host", "127.0.0.1", "--pg-port",
                  std::to_string(cluster.port())});
  }
  // restore --start into pgdata, the server on 127.0.0.1:port; args are appended.
  ProcessResult RestoreAndStart(const std::string& pgdata, int port,
                                const std::vector<std::string>& args) {
    std::vector<std::string> all = {
        "restore",   "--pgdata",           pgdata,   "--pg-host", "127.0.0.1",
        "--pg-port", std::to_string(port), "--start"};
    all.insert(all.end(), args.begin(), args.end());
    return Vault(all);
  }

  TempDir work_;
  std::string repo_ = work_.Sub("repo");
  std::string key_ = work_.Sub("repo.key");
};

// A restored cluster started by `pgvault restore --start`, queried over libpq, stopped by
// pg_ctl when the test is done with it.
class Restored {
 public:
  Restored(std::string pgdata, int port) : pgdata_(std::move(pgdata)), port_(port) {}
  ~Restored() { Stop(); }
  std::vector<std::vector<std::string>> Query(const std::string& sql);
  std::string Scalar(const std::string& sql) { return Query(sql)[0][0]; }
  void Exec(const std::string& sql) { Query(sql); }
  void Stop();

 private:
  std::string pgdata_;
  int port_;
};

}  // namespace pgvault::test
