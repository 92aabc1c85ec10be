// pgvault's S3 driver behind a hostile network (issue 14, storage faults): every command talks to
// the Ceph RADOS Gateway through S3FaultProxy (s3_fault_proxy.h), which fails requests on purpose.
// Retryable faults (5xx, 429/503 SlowDown, resets, cut bodies, answers later than --s3-timeout)
// must cost retries and nothing else: backup, archive-push, archive-get, restore, verify, expire
// and gc succeed and the restored cluster equals the source. Faults that are not retryable, or
// that outlast the attempts, must fail the command with one error line naming the object, and
// must never leave anything reported stored that is not: a clean connection then verifies the
// repository and finds the failed object absent or whole.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "s3_fault_proxy.h"
#include "s3_gateway.h"

namespace pgvault::test {
namespace {

// pgvault aborts a request that moves nothing for this long; the proxy holds delayed answers
// longer than that.
constexpr int kS3TimeoutS = 2;
constexpr int kDelayMs = 4000;

// Every retryable kind, in turn.
const std::vector<S3Fault> kRetryable = {S3Fault::kInternalError500, S3Fault::kResetResponse,
                                         S3Fault::kSlowDown503,      S3Fault::kTruncateBody,
                                         S3Fault::kUnavailable503,   S3Fault::kResetRequest,
                                         S3Fault::kSlowDown429,      S3Fault::kDelayResponse};

S3Gateway* gateway = nullptr;
S3FaultProxy* proxy = nullptr;

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

class S3FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gateway = StartS3Gateway(); }
  static void TearDownTestSuite() {
    delete proxy;
    proxy = nullptr;
    StopS3Gateway();
    gateway = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(gateway, nullptr);
    // A proxy of each test's own: its counts are the test's.
    delete proxy;
    proxy = new S3FaultProxy(gateway->env.at("S3_ENDPOINT"));
    proxy->SetDelayMs(kDelayMs);
  }

  // A repository on a new bucket prefix whose every command, and every archive_command and
  // restore_command of servers given env(), goes through the proxy.
  std::unique_ptr<TestRepo> NewRepo() {
    S3Location location = gateway->Location(NewS3Prefix());
    for (std::string& entry : location.env)
      if (entry.starts_with("AWS_ENDPOINT_URL=")) entry = "AWS_ENDPOINT_URL=" + proxy->endpoint();
    location.env.push_back(fmt::format("PGVAULT_S3_TIMEOUT={}", kS3TimeoutS));
    // Small packs: more objects, so more requests to fail.
    return std::make_unique<TestRepo>(RepoCipher::kPassphrase,
                                      std::vector<std::string>{"--pack-size", "1"}, location);
  }
  // The same repository reached directly, around the proxy.
  static Env Clean() { return {"AWS_ENDPOINT_URL=" + gateway->env.at("S3_ENDPOINT")}; }

  static std::unique_ptr<PgCluster> NewSource(const TestRepo& repo) {
    return PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  }

  // The object keys of the repository whose names contain `part`, listed around the proxy.
  static std::vector<std::string> KeysWith(const TestRepo& repo, const std::string& prefix,
                                           const std::string& part) {
    std::vector<std::string> keys;
    for (const auto& [key, size] : repo.Objects(prefix))
      if (key.find(part) != std::string::npos) keys.push_back(key);
    return keys;
  }

  // Around the proxy: the repository lists exactly the backup `id`, and it verifies.
  static void ExpectOnlyBackupAndVerifies(const TestRepo& repo, const std::string& id) {
    auto info = repo.Run({"info", "--json"}, Clean());
    ASSERT_EQ(info.exit_code, 0) << info.err;
    auto backups = nlohmann::json::parse(info.out)["backups"];
    ASSERT_EQ(backups.size(), 1u) << info.out;
    EXPECT_EQ(backups[0]["id"], id);
    auto verify = repo.Run({"verify"}, Clean());
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  }

  // Asserts a failed command: non-zero exit, one "error: " line naming an object of the
  // repository whose key contains key_part, and what went wrong.
  static void ExpectOneLineError(const ProcessResult& r, const TestRepo& repo,
                                 const std::string& key_part, const std::string& why) {
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    std::vector<std::string> lines = ErrorLines(r.err);
    ASSERT_FALSE(lines.empty()) << r.err;
    EXPECT_TRUE(lines[0].starts_with("error: ")) << r.err;
    // The object by its URL (s3 driver) or by its repository key (repo layer).
    EXPECT_TRUE(lines[0].find("'" + repo.path() + "/") != std::string::npos ||
                lines[0].find(" '" + key_part.substr(1)) != std::string::npos)
        << r.err;
    EXPECT_NE(lines[0].find(key_part.substr(1)), std::string::npos) << r.err;
    EXPECT_NE(lines[0].find(why), std::string::npos) << r.err;
    for (size_t line_idx = 1; line_idx < lines.size(); ++line_idx)
      EXPECT_TRUE(lines[line_idx].starts_with("HINT: ")) << r.err;
  }

  static void ReportFaults(const std::string& what, size_t requests_before = 0) {
    std::string kinds;
    size_t total = 0;
    for (const auto& [fault, count] : proxy->FaultCounts()) {
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", count, S3FaultName(fault));
      total += count;
    }
    ReportFigure(what + ": requests, faults injected",
                 fmt::format("{}, {} ({})", proxy->RequestCount() - requests_before, total, kinds));
  }
};

// backup (twice), archive-push (the server's archive_command), expire, gc, verify, restore and
// archive-get (the restored server's restore_command) while every 7th request fails, each kind
// of retryable fault in turn. Nothing is lost: the restored cluster equals the source.
TEST_F(S3FaultTest, EveryCommandSurvivesRetryableFaultsAndLosesNothing) {
  auto repo = NewRepo();
  auto pg = NewSource(*repo);
  pg->RunPgbench({"-i", "-s", "2", "-q"});
  pg->SwitchWalAndWaitArchived();
  const size_t requests_before = proxy->RequestCount();
  proxy->SetPlan({{.every = 7, .faults = kRetryable}});

  auto first = repo->Backup(*pg);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  pg->RunPgbench({"-c", "2", "-t", "300"});
  auto second = repo->Backup(*pg);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  pg->RunPgbench({"-c", "2", "-t", "300"});
  pg->SwitchWalAndWaitArchived();
  auto source = TableChecksums(*pg, kPgbenchTables);
  std::string logs = first.err + second.err;

  auto expire =
      repo->Run({"expire", "--backup", BackupIdFromSummary(first.out), "--gc-grace", "0"});
  ASSERT_EQ(expire.exit_code, 0) << expire.out << expire.err;
  auto gc = repo->Run({"gc", "--gc-grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  auto verify = repo->Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  logs += expire.err + gc.err + verify.err;

  TempDir target("restore");
  auto restore = repo->Run({"restore", "--pgdata", target.Sub("pgdata"), "--jobs", "4"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  logs += restore.err;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = repo->env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kPgbenchTables), source);
  proxy->SetPlan({});
  std::string server_logs = pg->ServerLog() + restored->ServerLog();

  // Around the proxy: the repository holds exactly the second backup, and it verifies.
  ASSERT_NO_FATAL_FAILURE(ExpectOnlyBackupAndVerifies(*repo, BackupIdFromSummary(second.out)));

  // Every fault cost a retry; none was taken for an answer. Error answers and late answers are
  // retried by pgvault alone; a connection closed before a whole answer head arrived may also be
  // retried by libcurl itself on a new connection, which pgvault does not see, so those kinds are
  // not counted here (their data is proven by the checksums and verify above).
  auto counts = proxy->FaultCounts();
  size_t faults = 0;
  for (S3Fault fault : {S3Fault::kInternalError500, S3Fault::kUnavailable503, S3Fault::kSlowDown503,
                        S3Fault::kSlowDown429, S3Fault::kDelayResponse})
    faults += counts[fault];
  const size_t retries = CountOf(logs + server_logs, "; retrying in ");
  ReportFaults("retryable faults, every 7th request", requests_before);
  ReportFigure("retries by pgvault (commands, archive_command, restore_command)",
               std::to_string(retries));
  ReportFigure("data lost", TableChecksums(*restored, kPgbenchTables) == source ? "0" : "some");
  for (S3Fault fault : kRetryable) EXPECT_GT(counts[fault], 0u) << S3FaultName(fault);
  EXPECT_GE(retries, faults);
  EXPECT_EQ(CountOf(logs + server_logs, "failed after"), 0u);
}

// A refusal (403) of the new packs fails the backup with one line naming the object; no backup
// appears, the repository still verifies, and the next backup works.
TEST_F(S3FaultTest, FailedBackupNamesTheObjectAndStoresNoBackup) {
  auto repo = NewRepo();
  auto pg = NewSource(*repo);
  pg->RunPgbench({"-i", "-s", "1", "-q"});
  auto base = repo->Backup(*pg);
  ASSERT_EQ(base.exit_code, 0) << base.err;
  const size_t requests_before = proxy->RequestCount();

  pg->RunPgbench({"-c", "1", "-t", "300"});
  proxy->SetPlan({{.method = "PUT", .target = "/packs/", .faults = {S3Fault::kAccessDenied403}}});
  auto refused = repo->Backup(*pg);
  ExpectOneLineError(refused, *repo, "/packs/", "HTTP 403 AccessDenied");
  EXPECT_EQ(refused.exit_code, kExitIo);
  EXPECT_EQ(CountOf(refused.err, "; retrying in "), 0u) << "a refusal is not retried";

  ReportFaults("failed backup (403 on packs)", requests_before);
  proxy->SetPlan({});

  ASSERT_NO_FATAL_FAILURE(ExpectOnlyBackupAndVerifies(*repo, BackupIdFromSummary(base.out)));
  auto again = repo->Backup(*pg);
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

// archive-push of one segment, run by hand while the server's own archiving is off: refused,
// reset before the upload, and reset after it (stored, answer lost). The first two leave no WAL
// object; the third leaves the segment whole, and archive-get gives back its exact bytes.
TEST_F(S3FaultTest, FailedArchivePushLeavesTheSegmentAbsentOrWhole) {
  auto repo = NewRepo();
  auto pg = NewSource(*repo);
  pg->Exec("CREATE TABLE t AS SELECT generate_series(1, 1000) AS i");
  pg->SwitchWalAndWaitArchived();
  pg->SetArchiveCommand("false");
  // After the insert: right after a switch, pg_current_wal_lsn() is the boundary, which
  // pg_walfile_name() counts to the segment already archived.
  pg->Exec("INSERT INTO t SELECT generate_series(1, 1000)");
  const std::string segment = pg->Scalar("SELECT pg_walfile_name(pg_current_wal_lsn())");
  pg->Exec("SELECT pg_switch_wal()");
  const std::string path = pg->pgdata() + "/pg_wal/" + segment;
  const size_t requests_before = proxy->RequestCount();

  auto push = [&] { return repo->Run({"archive-push", path}); };
  proxy->SetPlan({{.method = "PUT", .target = "/wal/", .faults = {S3Fault::kAccessDenied403}}});
  ExpectOneLineError(push(), *repo, segment, "HTTP 403 AccessDenied");
  proxy->SetPlan({{.method = "PUT", .target = "/wal/", .faults = {S3Fault::kResetRequest}}});
  ExpectOneLineError(push(), *repo, segment, "failed after 5 attempts");
  EXPECT_TRUE(KeysWith(*repo, "wal/", segment).empty()) << "a failed push stored its segment";
  auto verify = repo->Run({"verify"}, Clean());
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // The gateway stores the segment; every answer is lost.
  proxy->SetPlan({{.method = "PUT", .target = "/wal/", .faults = {S3Fault::kResetResponse}}});
  ExpectOneLineError(push(), *repo, segment, "failed after 5 attempts");
  proxy->SetPlan({});
  ReportFaults("failed archive-push (403, reset before, reset after)", requests_before);
  ASSERT_EQ(KeysWith(*repo, "wal/", segment).size(), 1u);
  TempDir fetched("fetched");
  auto get = repo->Run({"archive-get", segment, fetched.Sub(segment)}, Clean());
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ReadFile(fetched.Sub(segment)), ReadFile(path));
  verify = repo->Run({"verify"}, Clean());
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // The next push finds it there, identical; the server's archiving resumes.
  auto again = push();
  EXPECT_EQ(again.exit_code, 0) << again.err;
  pg->SetArchiveCommand(repo->ArchiveCommand());
  pg->SwitchWalAndWaitArchived();
}

// A pack the manifest names answered 404: restore fails naming the pack; the same restore through
// a clean connection then gives the source's data.
TEST_F(S3FaultTest, MissingPackFailsTheRestoreNamingThePack) {
  auto repo = NewRepo();
  auto pg = NewSource(*repo);
  pg->RunPgbench({"-i", "-s", "1", "-q"});
  auto backup = repo->Backup(*pg);
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  pg->SwitchWalAndWaitArchived();
  auto source = TableChecksums(*pg, kPgbenchTables);
  const size_t requests_before = proxy->RequestCount();

  TempDir missing("missing");
  proxy->SetPlan({{.method = "GET", .target = "/packs/", .faults = {S3Fault::kNoSuchKey404}}});
  auto r = repo->Run({"restore", "--pgdata", missing.Sub("pgdata")});
  ExpectOneLineError(r, *repo, "/packs/", "is missing from the repository");

  ReportFaults("failed restore (404 on packs)", requests_before);
  proxy->SetPlan({});

  TempDir target("restore");
  r = repo->Run({"restore", "--pgdata", target.Sub("pgdata")}, Clean());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto restored = PgCluster::Adopt(target.Sub("pgdata"), {.env = repo->env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(TableChecksums(*restored, kPgbenchTables), source);
}

// A backup whose manifest upload is reset on every attempt fails ("failed after 5 attempts",
// exit 6) and leaves its manifest parts beside its incomplete marker: verify calls them what an
// interrupted backup left (gc's to remove), not a backup that lost its manifest (DAMAGED).
TEST_F(S3FaultTest, BackupWhoseManifestUploadFailsLeavesAVerifiableRepository) {
  auto repo = NewRepo();
  auto pg = NewSource(*repo);
  pg->RunPgbench({"-i", "-s", "1", "-q"});
  auto base = repo->Backup(*pg);
  ASSERT_EQ(base.exit_code, 0) << base.err;
  pg->RunPgbench({"-c", "1", "-t", "300"});
  // Every attempt of the manifest's upload is reset before the gateway sees it.
  proxy->SetPlan({{.method = "PUT", .target = "/manifest", .faults = {S3Fault::kResetRequest}}});
  auto reset = repo->Backup(*pg);
  ExpectOneLineError(reset, *repo, "/manifest", "failed after 5 attempts");
  EXPECT_EQ(reset.exit_code, kExitUnavailable);
  EXPECT_EQ(CountOf(reset.err, "; retrying in "), 4u) << reset.err;
  proxy->SetPlan({});
  auto verify = repo->Run({"verify"}, Clean());
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("was interrupted"), std::string::npos) << verify.out;
  EXPECT_EQ(verify.out.find("lost its manifest"), std::string::npos) << verify.out;
}

// With every GET of packs cut short, restore and verify fail and never take a short body for
// data. Each gives up at the first read that fails for good: verify used to go on with every
// other file of the backup, each costing the same 5 attempts (a 40 MB backup ran past 600 s).
TEST_F(S3FaultTest, TruncatedPacksFailTheRestoreAndVerifyPromptly) {
  auto repo = NewRepo();
  auto pg = NewSource(*repo);
  pg->RunPgbench({"-i", "-s", "1", "-q"});
  auto backup = repo->Backup(*pg);
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  ProcessResult r;
  TempDir truncated("truncated");
  proxy->SetPlan({{.method = "GET", .target = "/packs/", .faults = {S3Fault::kTruncateBody}}});
  r = repo->Run({"restore", "--pgdata", truncated.Sub("pgdata")});
  ExpectOneLineError(r, *repo, "/packs/", "failed after 5 attempts");
  // verify reads the same packs: it fails, and says which read failed.
  auto v = repo->Run({"verify"});
  EXPECT_EQ(v.exit_code, kExitUnavailable) << v.out << v.err;
  EXPECT_NE(v.err.find("verify of backup"), std::string::npos) << v.err;
  EXPECT_EQ(CountOf(v.err, "failed after 5 attempts"), 1u) << v.err;
  EXPECT_NE((v.out + v.err).find("/packs/"), std::string::npos) << v.out << v.err;
  EXPECT_NE((v.out + v.err).find("failed after 5 attempts"), std::string::npos) << v.out << v.err;
  proxy->SetPlan({});
}

}  // namespace
}  // namespace pgvault::test
