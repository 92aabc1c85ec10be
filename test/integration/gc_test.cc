// gc and catalog-export against a real PostgreSQL 15: a stopped (live) backup keeps gc from
// deleting and expire from running, the same backup once kill -9'd no longer does; repository
// bytes fall after expire + gc by what the removed backup held alone; catalog-export writes every
// backup into backup_catalog of a real database and a second export updates the rows. The gc
// tests run on a local repository and on one in a bucket of the test Ceph RADOS Gateway (suites
// Posix/GcTest and S3/GcTest), where gc deletes with DeleteObjects requests.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "s3_gateway.h"

namespace pgvault::test {
namespace {

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

// The requests that deleted packs of `repo` (in the test gateway's plain bucket) so far: one
// DeleteObjects request for many, or one DELETE a pack.
struct PackDeletes {
  size_t batches = 0;
  size_t singles = 0;
  size_t manifest_singles = 0;  // expire's DELETEs of manifest objects: the log shows DELETEs
};
PackDeletes PackDeleteRequests(const TestRepo& repo) {
  S3Gateway* s3 = StartS3Gateway();
  std::string bucket_and_prefix = repo.path().substr(std::string("s3:/").size());
  return {.batches = s3->LoggedRequests("POST /" + s3->env.at("S3_BUCKET") + "/?delete="),
          .singles = s3->LoggedRequests("DELETE " + bucket_and_prefix + "/packs/"),
          .manifest_singles = s3->LoggedRequests("DELETE " + bucket_and_prefix + "/backups/")};
}

uint64_t Sum(const std::map<std::string, uint64_t>& packs) {
  uint64_t total = 0;
  for (const auto& [name, size] : packs) total += size;
  return total;
}

class GcTest : public RepoStoreTest {};

TEST_P(GcTest, AStoppedBackupBlocksGcAndExpireAndOnceKilledItNoLongerDoes) {
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kPassphrase, {"--pack-size", "1"});
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "5", "-q"});
  source->SwitchWalAndWaitArchived();
  ProcessResult first = repo.Backup(*source);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // The big table replaced by other data: the packs that held only its blocks are garbage
  // (pgbench -i would write the same frozen pages again, and packs mixing blocks of files that
  // stay are kept by a plain gc; repack_test.cc frees those with gc --repack).
  source->Exec("DROP TABLE pgbench_accounts");
  source->Exec(
      "CREATE TABLE filler AS SELECT g, md5(g::text) AS m FROM generate_series(1, 200000) g");
  ProcessResult second = repo.Backup(*source);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  std::string first_id = BackupIdFromSummary(first.out),
              second_id = BackupIdFromSummary(second.out);
  ProcessResult expire = repo.Run({"expire", "--backup", first_id, "--gc-grace", "864000"});
  ASSERT_EQ(expire.exit_code, 0) << expire.err;
  ProcessResult mark = repo.Run({"gc", "--gc-grace", "0"});
  ASSERT_EQ(mark.exit_code, 0) << mark.err;
  ASSERT_NE(mark.out.find("marked "), std::string::npos) << mark.out;

  std::vector<std::string> args = repo.Flags();
  args.insert(args.end(),
              {"--log-level", "info", "backup", "--pgdata", source->pgdata(), "--pg-host",
               "127.0.0.1", "--pg-port", std::to_string(source->port()), "--jobs", "1"});
  auto stopped = StartPgvault(args, repo.env());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (stopped->Running() && std::chrono::steady_clock::now() < deadline &&
         stopped->StderrSoFar().find(" started at ") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stopped->Signal(SIGSTOP);  // alive, holding its lock
  auto packs_before = repo.Objects("packs/");
  ProcessResult blocked = repo.Run({"gc", "--gc-grace", "0"});
  ASSERT_EQ(blocked.exit_code, 0) << blocked.err;
  EXPECT_NE(blocked.out.find("no pack deleted while backup "), std::string::npos) << blocked.out;
  EXPECT_EQ(repo.Objects("packs/"), packs_before);
  ProcessResult expire_blocked = repo.Run({"expire", "--backup", second_id});
  EXPECT_EQ(expire_blocked.exit_code, kExitConflict) << expire_blocked.err;
  EXPECT_NE(expire_blocked.err.find("is running (pid " + std::to_string(stopped->pid())),
            std::string::npos)
      << expire_blocked.err;

  pid_t killed_pid = stopped->pid();
  stopped->Signal(SIGKILL);
  ProcessResult killed = stopped->Wait();
  ASSERT_EQ(killed.exit_code, -SIGKILL) << killed.err;
  ProcessResult gc = repo.Run({"gc", "--gc-grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  ReportFigure("gc with a stale backup lock", gc.err + gc.out);
  EXPECT_NE(gc.err.find(fmt::format("WARN: removed the stale lock of backup '")), std::string::npos)
      << gc.err;
  EXPECT_NE(gc.err.find(fmt::format("' (pid {} on host '{}', started ", killed_pid, HostName())),
            std::string::npos)
      << gc.err;
  EXPECT_NE(gc.err.find("): the process is no longer running"), std::string::npos) << gc.err;
  EXPECT_EQ(gc.out.find("no pack deleted"), std::string::npos) << gc.out;
  // Whether packs go depends on how blocks fell into packs (the bytes test covers that).
  EXPECT_LE(Sum(repo.Objects("packs/")), Sum(packs_before));
  EXPECT_EQ(repo.Objects("locks/"), (std::map<std::string, uint64_t>{}));
  ProcessResult verify = repo.Run({"verify", "--backup", second_id});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

TEST_P(GcTest, RepositoryBytesFallByWhatTheRemovedBackupHeldAlone) {
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kNone, {"--pack-size", "1"});
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "1", "-q"});
  // ~12 MB of random hex that compresses about 2:1: each worker's share of it fills several 1 MiB
  // packs alone whatever order the workers take the files in. (pgbench_accounts compresses so
  // well that a worker's share of it could straddle two packs mixed with catalog blocks that
  // stay, and then nothing is garbage: seen in CI.)
  source->Exec(
      "CREATE TABLE doomed AS SELECT g, md5(random()::text) || md5(random()::text) AS m "
      "FROM generate_series(1, 120000) g");
  source->SwitchWalAndWaitArchived();
  ProcessResult first = repo.Backup(*source);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto after_first = repo.Objects("packs/");
  source->Exec("DROP TABLE doomed");  // its packs go with the first backup
  source->Exec(
      "CREATE TABLE filler AS SELECT g, md5(g::text) AS m FROM generate_series(1, 200000) g");
  ProcessResult second = repo.Backup(*source);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto before = repo.Objects("packs/");
  // What the first backup held alone: its packs that the second does not reference. Every pack
  // the second wrote is new; a pack of the first that the second reuses stays (gc below must
  // keep it, or verify fails).
  std::string first_id = BackupIdFromSummary(first.out);
  ASSERT_EQ(repo.Run({"expire", "--backup", first_id, "--gc-grace", "864000"}).exit_code, 0);
  ProcessResult mark = repo.Run({"gc", "--gc-grace", "0", "--json"});
  ASSERT_EQ(mark.exit_code, 0) << mark.err;
  nlohmann::json marked = nlohmann::json::parse(mark.out);
  uint64_t held_alone =
      marked["bytes"].get<uint64_t>() - marked["bytes_referenced"].get<uint64_t>();
  PackDeletes deletes_before = repo.on_s3() ? PackDeleteRequests(repo) : PackDeletes{};
  ProcessResult gc = repo.Run({"gc", "--gc-grace", "0", "--json"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  nlohmann::json collected = nlohmann::json::parse(gc.out);
  if (repo.on_s3()) {
    // One DeleteObjects request for every 1000 packs (here fewer), no DELETE of a single pack.
    uint64_t packs_deleted = collected["packs_deleted"].get<uint64_t>();
    PackDeletes deletes = PackDeleteRequests(repo);
    size_t batches = deletes.batches - deletes_before.batches;
    ReportFigure("packs deleted", std::to_string(packs_deleted));
    ReportFigure("DeleteObjects requests of the deleting gc run", std::to_string(batches));
    EXPECT_GT(packs_deleted, 1u);
    EXPECT_EQ(batches, (packs_deleted + 999) / 1000);
    EXPECT_EQ(deletes.singles, deletes_before.singles);
    EXPECT_GT(deletes.manifest_singles, 0u);  // so a DELETE of a pack would have been seen
  }
  auto after = repo.Objects("packs/");
  uint64_t freed = Sum(before) - Sum(after);
  ReportFigure("repository pack bytes before expire + gc", std::to_string(Sum(before)));
  ReportFigure("repository pack bytes after expire + gc", std::to_string(Sum(after)));
  ReportFigure("bytes freed", std::to_string(freed));
  ReportFigure("bytes the removed backup held alone", std::to_string(held_alone));
  ReportFigure("pack bytes the removed backup wrote", std::to_string(Sum(after_first)));
  EXPECT_EQ(freed, held_alone);
  EXPECT_EQ(collected["bytes_deleted"].get<uint64_t>(), freed);
  EXPECT_GT(freed, 0u);
  for (const auto& [name, size] : before)
    if (!after_first.count(name)) {
      EXPECT_TRUE(after.count(name)) << "deleted a new pack " << name;
    }
  ProcessResult verify = repo.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

INSTANTIATE_REPO_STORES(GcTest);

TEST(CatalogExportTest, EveryBackupIsARowAndASecondExportUpdatesIt) {
  TestRepo repo(RepoCipher::kPassphrase);
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->RunPgbench({"-i", "-s", "1", "-q"});
  source->SwitchWalAndWaitArchived();
  for (int i = 0; i < 2; ++i) ASSERT_EQ(repo.Backup(*source).exit_code, 0);
  std::string db =
      fmt::format("host=127.0.0.1 port={} user=postgres dbname=postgres", source->port());
  ProcessResult first = repo.Run({"catalog-export", "--db", db});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("2 backups inserted, 0 updated"), std::string::npos) << first.out;
  ProcessResult again = repo.Run({"catalog-export", "--db", db});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 backups inserted, 2 updated"), std::string::npos) << again.out;

  nlohmann::json info = repo.Info();
  ASSERT_EQ(info["backups"].size(), 2u);
  EXPECT_EQ(source->Scalar("SELECT count(*) FROM backup_catalog"), "2");
  for (const auto& b : info["backups"]) {
    std::string id = b["id"];
    auto rows = source->Query(fmt::format(
        "SELECT backup_size_bytes, encryption_status, backup_type, metadata->>'stop_lsn', "
        "backup_location FROM backup_catalog WHERE id = '{}'",
        id));
    ASSERT_EQ(rows.size(), 1u) << id;
    EXPECT_EQ(rows[0][0], std::to_string(b["bytes_read"].get<uint64_t>()));
    EXPECT_EQ(rows[0][1], "encrypted (aes-256-gcm)");
    EXPECT_EQ(rows[0][2], "full");
    EXPECT_EQ(rows[0][3], b["stop_lsn"].get<std::string>());
    EXPECT_EQ(rows[0][4], repo.path() + "/backups/" + id);
  }
  ProcessResult bad = repo.Run({"catalog-export", "--db", "host=127.0.0.1 port=1 password=s3cret"});
  EXPECT_EQ(bad.exit_code, kExitPg) << bad.err;
  EXPECT_EQ(bad.err.find("s3cret"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace pgvault::test
