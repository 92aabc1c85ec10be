// pgvault against a real S3 server: a one-node Ceph RADOS Gateway started by the suite
// (scripts/s3/start-rgw.sh). Encrypted backup, WAL archive and restore; the gateway dying in the
// middle of a backup; Object Lock retention and legal holds; and a second repository that serves
// restore and archive-get while the first is down.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <ctime>
#include <set>
#include <thread>

#include "mixed_tables.h"
#include "pg_cluster.h"
#include "s3_gateway.h"
#include "storage/s3/s3_storage.h"

namespace pgvault::test {
namespace {

constexpr char kPassphrase[] = "PGVAULT_PASSPHRASE=s3 test passphrase";

S3Gateway* gateway = nullptr;

class S3RepoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gateway = StartS3Gateway(); }
  static void TearDownTestSuite() {
    StopS3Gateway();
    gateway = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(gateway, nullptr);
    prefix_ = NewS3Prefix();
  }

  Env S3Env() const {
    return {"AWS_ACCESS_KEY_ID=" + gateway->env["S3_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY=" + gateway->env["S3_SECRET_KEY"], kPassphrase};
  }
  // The Object Lock bucket under this test's prefix, as pgvault's driver sees it: for checks
  // made behind pgvault's back.
  auto OpenLockBucket() const {
    return storage::s3::S3Storage::Open(gateway->Options(prefix_, "S3_LOCK_BUCKET", true));
  }

  std::string RepoUrl(const std::string& bucket_var = "S3_BUCKET") const {
    return "s3://" + gateway->env[bucket_var] + "/" + prefix_;
  }
  std::vector<std::string> RepoArgs(const std::string& url) const {
    return {"--repo",        url,
            "--s3-endpoint", gateway->env["S3_ENDPOINT"],
            "--s3-region",   gateway->env["S3_REGION"]};
  }
  std::string ArchiveCommand(const std::vector<std::string>& repo_args) const {
    std::string cmd = PGVAULT_BINARY;
    for (const auto& a : repo_args) cmd += " " + a;
    return cmd + " archive-push %p";
  }
  ProcessResult Pgvault(const std::vector<std::string>& repo_args,
                        const std::vector<std::string>& args) {
    std::vector<std::string> all = repo_args;
    all.insert(all.end(), args.begin(), args.end());
    return RunPgvault(all, S3Env());
  }
  std::unique_ptr<PgCluster> MakeCluster(const std::vector<std::string>& repo_args) {
    ClusterOptions options{.archive_command = ArchiveCommand(repo_args), .env = S3Env()};
    return PgCluster::Create(options);
  }
  ProcessResult Backup(const std::vector<std::string>& repo_args, PgCluster& pg,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"backup",
                                     "--pgdata",
                                     pg.pgdata(),
                                     "--pg-host",
                                     "127.0.0.1",
                                     "--pg-port",
                                     std::to_string(pg.port())};
    args.insert(args.end(), extra.begin(), extra.end());
    return Pgvault(repo_args, args);
  }
  nlohmann::json Info(const std::vector<std::string>& repo_args) {
    auto r = Pgvault(repo_args, {"info", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  std::string prefix_;
};

const std::vector<std::string> kTables = {"pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                                          "pgbench_history", "marker"};

TEST_F(S3RepoTest, EncryptedBackupArchiveAndRestoreThroughTheGateway) {
  auto repo = RepoArgs(RepoUrl());
  auto r = Pgvault(repo, {"repo-create"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pg = MakeCluster(repo);
  pg->RunPgbench({"-i", "-s", "5", "-q"});
  r = Backup(repo, *pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::cout << r.out;
  pg->Exec("CREATE TABLE marker AS SELECT 'after the backup'::text AS note");
  pg->RunPgbench({"-c", "2", "-t", "200"});
  pg->SwitchWalAndWaitArchived();
  auto source = TableChecksums(*pg, kTables);

  // check's health checks on an S3 repository: the probe object goes up and away, the clock is
  // compared with the gateway's Date header, and there is no local disk of the repository.
  r = Pgvault(repo, {"check", "--json", "--pg-host", "127.0.0.1", "--pg-port",
                     std::to_string(pg->port()), "--min-free-space", "1MiB"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, nlohmann::json> checks;
  nlohmann::json report = nlohmann::json::parse(r.out);
  for (const auto& c : report["checks"]) checks[c["name"].get<std::string>()] = c;
  EXPECT_EQ(checks["repository_writable"]["verdict"], "ok") << r.out;
  EXPECT_EQ(checks["clock_skew"]["verdict"], "ok") << r.out;
  EXPECT_NE(checks["clock_skew"]["value"].get<std::string>().find("the repository's clock is "),
            std::string::npos)
      << r.out;
  EXPECT_EQ(checks.count("disk_repository"), 0u) << r.out;
  auto s3 = storage::s3::S3Storage::Open(gateway->Options(prefix_));
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  auto probes = (*s3)->List("probe/");
  ASSERT_TRUE(probes.ok()) << probes.status().ToString();
  EXPECT_TRUE(probes->empty()) << probes->front().key;

  TempDir target("restore");
  r = Pgvault(repo, {"restore", "--pgdata", target.Sub("pgdata"), "--jobs", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::cout << r.out;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = S3Env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kTables), source);
  auto info = Info(repo);
  EXPECT_EQ(info["cipher"], "aes-256-gcm");
  ASSERT_EQ(info["backups"].size(), 1u);
}

// wal-stream into an S3 repository: the streamed part of the segment in progress goes through
// the gateway every second; with the primary and wal-stream both killed (nothing but the bucket
// left), a restore from the bucket reaches the last row committed 2.5 s before the loss.
TEST_F(S3RepoTest, WalStreamIntoTheBucketRestoresTheLastCommit) {
  auto repo = RepoArgs(RepoUrl());
  ASSERT_EQ(Pgvault(repo, {"repo-create"}).exit_code, 0);
  auto pg = MakeCluster(repo);
  pg->Exec("CREATE TABLE counter (id bigint PRIMARY KEY)");
  ASSERT_EQ(Backup(repo, *pg).exit_code, 0);
  pg->SwitchWalAndWaitArchived();
  pg->SetArchiveCommand("");  // from here on only wal-stream stores WAL
  TempDir spool("spool");
  std::vector<std::string> args = repo;
  for (std::string a : {"--log-level", "info", "wal-stream", "--pg-host", "127.0.0.1", "--pg-user",
                        "postgres", "--create-slot", "--spool-path"})
    args.push_back(a);
  args.push_back(spool.path());
  args.push_back("--pg-port");
  args.push_back(std::to_string(pg->port()));
  auto stream = StartPgvault(args, S3Env());
  for (int i = 0; i < 600 && stream->Running() &&
                  stream->StderrSoFar().find("streaming WAL from") == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NE(stream->StderrSoFar().find("streaming WAL from"), std::string::npos)
      << stream->StderrSoFar();
  pg->Exec("INSERT INTO counter SELECT generate_series(1, 5000)");
  pg->RunPgbench({"-i", "-s", "1", "-q"});
  pg->Exec("INSERT INTO counter VALUES (5001)");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  pg->Crash();
  stream->Signal(SIGKILL);
  stream->Wait();
  TempDir target("restore");
  auto r = Pgvault(repo, {"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = S3Env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(restored->Scalar("SELECT max(id) FROM counter"), "5001") << stream->StderrSoFar();
  EXPECT_EQ(restored->Scalar("SELECT count(*) FROM pgbench_branches"), "1");
}

TEST_F(S3RepoTest, GatewayDyingMidBackupLeavesNoBackupAndTheNextOneWorks) {
  auto repo = RepoArgs(RepoUrl());
  ASSERT_EQ(Pgvault(repo, {"repo-create"}).exit_code, 0);
  auto pg = MakeCluster(repo);
  pg->RunPgbench({"-i", "-s", "10", "-q"});
  pg->SwitchWalAndWaitArchived();

  std::vector<std::string> args = repo;
  args.insert(args.end(), {"backup", "--pgdata", pg->pgdata(), "--pg-host", "127.0.0.1",
                           "--pg-port", std::to_string(pg->port()), "--jobs", "1"});
  auto backup = StartPgvault(args, S3Env());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  KillS3GatewayProcess();
  auto result = backup->Wait(std::chrono::seconds(300));
  EXPECT_NE(result.exit_code, 0);
  // One line naming what failed: the S3 request, after its retries.
  EXPECT_NE(result.err.find("error: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("failed after"), std::string::npos) << result.err;
  RestartS3GatewayProcess();

  auto info = Info(repo);
  EXPECT_EQ(info["backups"].size(), 0u) << "a half-written backup must not be visible";
  auto r = Backup(repo, *pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  info = Info(repo);
  EXPECT_EQ(info["backups"].size(), 1u);

  TempDir target("restore");
  r = Pgvault(repo, {"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(S3RepoTest, ObjectLockKeepsRetainedBackupsAndHoldsBlockExpiry) {
  auto repo = RepoArgs(RepoUrl("S3_LOCK_BUCKET"));
  auto r = Pgvault(repo, {"repo-create", "--object-lock"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pg = MakeCluster(repo);
  pg->RunPgbench({"-i", "-s", "2", "-q"});
  r = Backup(repo, *pg, {"--retain-days", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  pg->RunPgbench({"-c", "1", "-t", "300"});
  r = Backup(repo, *pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto info = Info(repo);
  ASSERT_EQ(info["backups"].size(), 2u);
  std::string retained = info["backups"][0]["id"], plain = info["backups"][1]["id"];

  // pgvault refuses to expire the retained backup and says why.
  r = Pgvault(repo, {"expire", "--backup", retained, "--gc-grace", "0"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_NE(r.err.find("error: backup '" + retained + "' is retained until"), std::string::npos)
      << r.err;

  // The gateway itself refuses to delete a locked object, whatever the client.
  auto s3 = OpenLockBucket();
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  auto packs = (*s3)->List("packs/");
  ASSERT_TRUE(packs.ok());
  ASSERT_FALSE(packs->empty());
  std::string manifest_key = "backups/" + retained + "/manifest";
  auto version = (*s3)->CurrentVersion(manifest_key);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  Status refused = (*s3)->DeleteVersion(manifest_key, *version);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("AccessDenied"), std::string::npos) << refused.ToString();
  auto stat = (*s3)->Stat(manifest_key);
  ASSERT_TRUE(stat.ok());
  EXPECT_GT(stat->retain_until_unix, ::time(nullptr) + 86000);

  // A legal hold blocks expiry until it is cleared.
  r = Pgvault(repo, {"hold", "set", "--backup", plain});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Pgvault(repo, {"expire", "--backup", plain, "--gc-grace", "0"});
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_NE(r.err.find("is on legal hold; it was kept"), std::string::npos) << r.err;
  r = Pgvault(repo, {"hold", "clear", "--backup", plain});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Pgvault(repo, {"expire", "--backup", plain, "--gc-grace", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("expired backup " + plain), std::string::npos) << r.out;
  info = Info(repo);
  ASSERT_EQ(info["backups"].size(), 1u);
  EXPECT_EQ(info["backups"][0]["id"], retained);

  // The retained backup is still complete.
  TempDir target("restore");
  r = Pgvault(repo, {"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// The response headers of a HEAD of `key` in the lock bucket under `prefix`, lowercased names.
std::map<std::string, std::string> HeadObject(const std::string& prefix, const std::string& key) {
  std::string cmd = fmt::format(
      "curl -sS -I --max-time 30 --aws-sigv4 'aws:amz:{}:s3' --user '{}:{}' "
      "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' '{}/{}/{}/{}'",
      gateway->env["S3_REGION"], gateway->env["S3_ACCESS_KEY"], gateway->env["S3_SECRET_KEY"],
      gateway->env["S3_ENDPOINT"], gateway->env["S3_LOCK_BUCKET"], prefix, key);
  std::map<std::string, std::string> headers;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return headers;
  char line[4096];
  while (::fgets(line, sizeof line, p)) {
    std::string l = line;
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    size_t colon = l.find(':');
    if (colon == std::string::npos) {
      if (l.starts_with("HTTP/")) headers["status"] = l;
      continue;
    }
    std::string name = l.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[name] = l.substr(l.find_first_not_of(' ', colon + 1));
  }
  ::pclose(p);
  return headers;
}

// "2027-12-02T15:04:05.000Z" (as the gateway answers) as unix seconds; 0 when missing.
int64_t IsoSeconds(const std::string& text) {
  std::tm tm{};
  if (text.size() < 19 || !::strptime(text.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
    return 0;
  return ::timegm(&tm);
}

TEST_F(S3RepoTest, StorageClassAndObjectLockComeFromTheBackupsTiers) {
  auto repo = RepoArgs(RepoUrl("S3_LOCK_BUCKET"));
  ASSERT_EQ(Pgvault(repo, {"repo-create", "--object-lock"}).exit_code, 0);
  auto s3 = OpenLockBucket();
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  auto packs_now = [&] {
    std::set<std::string> keys;
    auto listed = (*s3)->List("packs/");
    EXPECT_TRUE(listed.ok());
    if (listed.ok())
      for (const auto& o : *listed) keys.insert(o.key);
    return keys;
  };
  const std::vector<std::string> policy = {"--retention-daily",
                                           "7d",
                                           "--retention-monthly",
                                           "12m",
                                           "--retention-daily-storage-class",
                                           "STANDARD_IA",
                                           "--retention-monthly-storage-class",
                                           "GLACIER_IR",
                                           "--retention-monthly-lock"};
  auto with_policy = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), policy.begin(), policy.end());
    return extra;
  };
  auto pg = MakeCluster(repo);
  pg->RunPgbench({"-i", "-s", "2", "-q"});
  int64_t t0 = ::time(nullptr);

  // The first backup joins every tier: monthly's class, locked for monthly's 12 months.
  auto r = Backup(repo, *pg, with_policy({}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string first = BackupIdFromSummary(r.out);
  EXPECT_NE(r.out.find("stored its new objects with storage class GLACIER_IR (tier monthly), "
                       "locked (COMPLIANCE) until"),
            std::string::npos)
      << r.out;
  std::set<std::string> first_packs = packs_now();
  ASSERT_FALSE(first_packs.empty());
  for (const std::string& key : {"backups/" + first + "/manifest", *first_packs.begin()}) {
    auto h = HeadObject(prefix_, key);
    EXPECT_EQ(h["x-amz-storage-class"], "GLACIER_IR") << key << " " << h["status"];
    EXPECT_EQ(h["x-amz-object-lock-mode"], "COMPLIANCE") << key;
    int64_t until = IsoSeconds(h["x-amz-object-lock-retain-until-date"]);
    EXPECT_GT(until, t0 + 364 * 86400) << key;
    EXPECT_LT(until, t0 + 367 * 86400) << key;
    ReportFigure("monthly " + key.substr(0, key.find('/')),
                 h["x-amz-storage-class"] + ", " + h["x-amz-object-lock-mode"] + " until " +
                     h["x-amz-object-lock-retain-until-date"]);
  }

  // A daily backup: daily's class, no lock (daily has none); reused blocks keep their packs.
  pg->RunPgbench({"-c", "1", "-t", "300"});
  r = Backup(repo, *pg, with_policy({"--tier", "daily"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string daily = BackupIdFromSummary(r.out);
  EXPECT_NE(r.out.find("storage class STANDARD_IA (tier daily), not locked"), std::string::npos)
      << r.out;
  std::set<std::string> daily_packs;
  for (const auto& key : packs_now())
    if (!first_packs.count(key)) daily_packs.insert(key);
  ASSERT_FALSE(daily_packs.empty());
  for (const std::string& key : {"backups/" + daily + "/manifest", *daily_packs.begin()}) {
    auto h = HeadObject(prefix_, key);
    EXPECT_EQ(h["x-amz-storage-class"], "STANDARD_IA") << key << " " << h["status"];
    EXPECT_EQ(h.count("x-amz-object-lock-retain-until-date"), 0u) << key;
    ReportFigure("daily " + key.substr(0, key.find('/')), h["x-amz-storage-class"] + ", no lock");
  }
  EXPECT_EQ(HeadObject(prefix_, *first_packs.begin())["x-amz-storage-class"], "GLACIER_IR");

  // A monthly backup that reuses the daily one's blocks: their packs keep STANDARD_IA but get
  // the monthly lock (extended, never shortened).
  r = Backup(repo, *pg, with_policy({"--tier", "monthly"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& key : daily_packs) {
    auto h = HeadObject(prefix_, key);
    EXPECT_EQ(h["x-amz-storage-class"], "STANDARD_IA") << key;
    EXPECT_GT(IsoSeconds(h["x-amz-object-lock-retain-until-date"]), t0 + 364 * 86400) << key;
    ReportFigure("daily pack reused by monthly",
                 h["x-amz-storage-class"] + ", until " + h["x-amz-object-lock-retain-until-date"]);
  }
  // The monthly backup cannot be expired before its date; the daily one can.
  r = Pgvault(repo, {"expire", "--backup", first, "--gc-grace", "0"});
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
  r = Pgvault(repo, {"expire", "--backup", daily, "--gc-grace", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// gc --repack on S3: the same as on posix (repack_test.cc), through the gateway: redirects are
// objects like packs, the old packs go in a DeleteObjects batch of the gc after the grace period.
TEST_F(S3RepoTest, RepackThroughTheGatewayFreesTheDeadBytesAndRestores) {
  constexpr int kPairs = 15;
  auto repo = RepoArgs(RepoUrl());
  auto r = Pgvault(repo, {"repo-create", "--pack-size", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pg = MakeCluster(repo);
  CreateMixedTables(*pg, kPairs);
  pg->SwitchWalAndWaitArchived();
  auto first = Backup(repo, *pg, {"--jobs", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  DropDoomedTables(*pg, kPairs);
  auto second = Backup(repo, *pg, {"--jobs", "1"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto expected = TableChecksums(*pg, StayTables(kPairs));
  ASSERT_EQ(
      Pgvault(repo, {"expire", "--backup", BackupIdFromSummary(first.out), "--gc-grace", "864000"})
          .exit_code,
      0);
  auto repack = Pgvault(repo, {"gc", "--repack", "--gc-grace", "0", "--json"});
  ASSERT_EQ(repack.exit_code, 0) << repack.err;
  auto gc = Pgvault(repo, {"gc", "--gc-grace", "0", "--json"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  nlohmann::json p = nlohmann::json::parse(repack.out), g = nlohmann::json::parse(gc.out);
  ReportFigure("S3 gc --repack: packs repacked, bytes freeable, bytes copied",
               fmt::format("{}, {}, {}", p["packs_repacked"].get<uint64_t>(),
                           p["bytes_freeable"].get<uint64_t>(), p["bytes_copied"].get<uint64_t>()));
  ReportFigure("S3 pack bytes before / after gc --repack and gc",
               fmt::format("{} / {}", p["bytes"].get<uint64_t>(),
                           g["bytes"].get<uint64_t>() - g["bytes_deleted"].get<uint64_t>()));
  EXPECT_GT(p["packs_repacked"].get<uint64_t>(), 0u) << repack.out;
  EXPECT_GT(p["redirects_written"].get<uint64_t>(), 0u) << repack.out;
  EXPECT_EQ(g["bytes_deleted"].get<uint64_t>(), p["bytes"].get<uint64_t>() -
                                                    p["bytes_referenced"].get<uint64_t>() +
                                                    p["bytes_freeable"].get<uint64_t>());
  r = Pgvault(repo, {"verify"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  TempDir target("restore");
  r = Pgvault(repo, {"restore", "--pgdata", target.Sub("pgdata"), "--backup",
                     BackupIdFromSummary(second.out)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = S3Env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, StayTables(kPairs)), expected);
}

TEST_F(S3RepoTest, SecondRepositoryServesRestoreAndArchiveGetWhileTheFirstIsDown) {
  TempDir local("repo2");
  auto repo = RepoArgs(RepoUrl());
  repo.insert(repo.end(), {"--repo2", local.Sub("repo")});
  auto r = Pgvault(repo, {"repo-create"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pg = MakeCluster(repo);
  pg->RunPgbench({"-i", "-s", "2", "-q"});
  r = Backup(repo, *pg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  pg->Exec("CREATE TABLE marker AS SELECT 'archived to both'::text AS note");
  pg->RunPgbench({"-c", "1", "-t", "200"});
  pg->SwitchWalAndWaitArchived();
  auto source = TableChecksums(*pg, kTables);
  pg->Stop();
  // Both replicas hold the same objects.
  EXPECT_FALSE(FilesUnder(local.Sub("repo"), "packs/").empty());

  KillS3GatewayProcess();
  struct Restart {
    ~Restart() { RestartS3GatewayProcess(); }
  } restart_at_end;
  TempDir target("restore");
  r = Pgvault(repo, {"restore", "--pgdata", target.Sub("pgdata")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Recovery fetches every segment with archive-get while repo1 is down.
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = S3Env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kTables), source);
}

}  // namespace
}  // namespace pgvault::test
