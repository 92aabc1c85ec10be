// Two local replicas of one repository (--repo and --repo2): both receive every object, and a
// block or WAL file damaged in repo1 is read from repo2, while repo1 alone fails loudly.
#include <gtest/gtest.h>

#include "pg_cluster.h"

namespace pgvault::test {
namespace {

// Regular files only: empty directories (e.g. locks/ after a backup) are not objects.
std::map<std::string, std::string> Objects(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& [path, what] : TreeSnapshot(dir))
    if (what.starts_with("file ")) out[path] = what;
  return out;
}

const std::vector<std::string> kTables = {"pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                                          "pgbench_history", "marker"};

TEST(ReplicaTest, DamageInRepo1IsReadFromRepo2AndRepoSyncCatchesUpANewReplica) {
  TempDir dir("replicas");
  std::string key = dir.Sub("repo.key");
  std::vector<std::string> one = {"--repo", dir.Sub("r1"), "--key-file", key};
  std::vector<std::string> both = {"--repo",      dir.Sub("r1"), "--repo2",
                                   dir.Sub("r2"), "--key-file",  key};
  auto run = [](std::vector<std::string> flags, const std::vector<std::string>& args) {
    flags.insert(flags.end(), args.begin(), args.end());
    return RunPgvault(flags);
  };
  auto r = run(both, {"repo-create"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("created replica"), std::string::npos) << r.out;

  std::string archive = std::string(PGVAULT_BINARY) + " --repo " + dir.Sub("r1") + " --repo2 " +
                        dir.Sub("r2") + " --key-file " + key + " archive-push %p";
  auto pg = PgCluster::Create({.archive_command = archive});
  pg->RunPgbench({"-i", "-s", "2", "-q"});
  r = run(both, {"backup", "--pgdata", pg->pgdata(), "--pg-host", "127.0.0.1", "--pg-port",
                 std::to_string(pg->port())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  pg->Exec("CREATE TABLE marker AS SELECT 'after the backup'::text AS note");
  pg->RunPgbench({"-c", "1", "-t", "200"});
  pg->SwitchWalAndWaitArchived();
  auto source = TableChecksums(*pg, kTables);
  pg->Stop();
  EXPECT_EQ(Objects(dir.Sub("r1")), Objects(dir.Sub("r2")));

  // Damage every pack and every WAL segment in repo1.
  for (const auto& pack : FilesUnder(dir.Sub("r1"), "packs/")) FlipByte(dir.Sub("r1/" + pack), 64);
  for (const auto& wal : FilesUnder(dir.Sub("r1"), "wal/"))
    if (wal.size() == std::string("wal/00000001/000000010000000000000001").size())
      FlipByte(dir.Sub("r1/" + wal), 40);

  TempDir alone("alone");
  r = run(one, {"restore", "--pgdata", alone.Sub("pgdata")});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("error: "), std::string::npos);

  TempDir target("restore");
  r = run(both, {"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("read it from '" + dir.Sub("r2") + "' instead"), std::string::npos) << r.err;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"));
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kTables), source);
  restored->Stop();

  // A replica added later gets everything, verified on the way; a damaged source stops it.
  r = run({"--repo", dir.Sub("r2"), "--repo2", dir.Sub("r3"), "--key-file", key},
          {"repo-sync", "--from", "1", "--to", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Objects(dir.Sub("r2")), Objects(dir.Sub("r3")));
  r = run({"--repo", dir.Sub("r1"), "--repo2", dir.Sub("r4"), "--key-file", key},
          {"repo-sync", "--from", "1", "--to", "2"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
}

}  // namespace
}  // namespace pgvault::test
