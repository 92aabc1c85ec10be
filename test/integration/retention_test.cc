// Tiered retention against a real PostgreSQL 15 (issue 10): backups taken with --now on chosen
// days across 14 simulated months, one forced into a tier and one pinned; expire --dry-run
// --json plans exactly what expire then does, the expected backups of each tier remain, info
// lists them with their tiers, and the newest restores. Run on a local repository and on one in
// a bucket of the test Ceph RADOS Gateway (suites Posix/RetentionTest and S3/RetentionTest).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "repo/layout.h"
#include "s3_gateway.h"

namespace pgvault::test {
namespace {

// daily 7 days, weekly 4 weeks, monthly 12 months, a PITR window of 2 days, in UTC.
const std::vector<std::string> kPolicy = {"--retention-daily",   "7d",  "--retention-weekly", "4w",
                                          "--retention-monthly", "12m", "--retention-pitr",   "2d"};
constexpr char kNow[] = "2026-02-28T12:00:00Z";

struct Step {
  std::string at;      // --now of the backup
  std::string tier;    // --tier, or ""
  std::string joined;  // the tiers the backup prints
  std::string action;  // what expire at kNow does: "keep" or "expire"
  std::string reason;  // its reason (start)
};

// Counted by hand: 16 backups; 3 go (their tiers ended), 13 stay.
const std::vector<Step> kSteps = {
    {"2025-01-01T02:00:00Z", "", "daily+weekly+monthly", "expire",
     "daily+weekly+monthly ended 2026-01-01T02:00:00"},
    {"2025-01-15T02:00:00Z", "", "daily+weekly", "keep", "pinned"},
    {"2025-03-01T02:00:00Z", "", "daily+weekly+monthly", "keep",
     "daily+weekly+monthly until 2026-03-01T02:00:00"},
    {"2025-12-01T02:00:00Z", "", "daily+weekly+monthly", "keep",
     "daily+weekly+monthly until 2026-12-01T02:00:00"},
    {"2026-01-01T02:00:00Z", "", "daily+weekly+monthly", "keep",
     "daily+weekly+monthly until 2027-01-01T02:00:00"},
    {"2026-01-05T02:00:00Z", "", "daily+weekly", "expire",
     "daily+weekly ended 2026-02-02T02:00:00"},
    {"2026-02-01T02:00:00Z", "", "daily+weekly+monthly", "keep",
     "daily+weekly+monthly until 2027-02-01T02:00:00"},
    {"2026-02-02T02:00:00Z", "", "daily+weekly", "keep", "daily+weekly until 2026-03-02T02:00:00"},
    {"2026-02-10T02:00:00Z", "", "daily+weekly", "keep", "daily+weekly until 2026-03-10T02:00:00"},
    {"2026-02-10T14:00:00Z", "monthly", "monthly", "keep", "monthly until 2027-02-10T14:00:00"},
    {"2026-02-16T02:00:00Z", "", "daily+weekly", "keep", "daily+weekly until 2026-03-16T02:00:00"},
    {"2026-02-20T02:00:00Z", "", "daily", "expire", "daily ended 2026-02-27T02:00:00"},
    {"2026-02-24T02:00:00Z", "", "daily+weekly", "keep", "daily+weekly until 2026-03-24T02:00:00"},
    {"2026-02-24T20:00:00Z", "", "no tier", "keep", "the oldest backup of the PITR window"},
    {"2026-02-27T02:00:00Z", "", "daily", "keep", "inside the PITR window"},
    {"2026-02-28T02:00:00Z", "", "daily", "keep", "the newest backup"},
};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

class RetentionTest : public RepoStoreTest {};

TEST_P(RetentionTest, FourteenMonthsOfBackupsKeepExactlyTheTiersAndTheNewestRestores) {
  std::unique_ptr<TestRepo> repo_on_store = NewRepo(RepoCipher::kNone);
  TestRepo& repo = *repo_on_store;
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  source->Exec("CREATE TABLE t (i int)");
  source->SwitchWalAndWaitArchived();
  std::vector<std::string> ids;
  for (size_t i = 0; i < kSteps.size(); ++i) {
    const Step& step = kSteps[i];
    source->Exec(fmt::format("INSERT INTO t VALUES ({})", i));
    std::vector<std::string> args = With({"--now", step.at, "--jobs", "1"}, kPolicy);
    if (!step.tier.empty()) args = With(args, {"--tier", step.tier});
    ProcessResult r = repo.Backup(*source, args);
    ASSERT_EQ(r.exit_code, 0) << step.at << "\n" << r.err;
    ids.push_back(BackupIdFromSummary(r.out));
    EXPECT_NE(r.out.find(fmt::format("backup {} joined tiers {};", ids.back(), step.joined)),
              std::string::npos)
        << step.at << "\n"
        << r.out;
  }
  ProcessResult pin = repo.Run({"backup", "pin", "--backup", ids[1]});
  ASSERT_EQ(pin.exit_code, 0) << pin.err;
  EXPECT_EQ(pin.out,
            fmt::format("backup {} pinned: expire keeps it whatever the policy\n", ids[1]));

  std::vector<std::string> expire =
      With({"expire", "--json", "--now", kNow, "--gc-grace", "0"}, kPolicy);
  ProcessResult dry = repo.Run(With(expire, {"--dry-run"}));
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  auto planned = nlohmann::json::parse(dry.out);
  ASSERT_EQ(planned["backups"].size(), kSteps.size()) << dry.out;
  std::set<std::string> kept;
  for (size_t i = 0; i < kSteps.size(); ++i) {
    const auto& b = planned["backups"][i];
    EXPECT_EQ(b["id"], ids[i]);
    EXPECT_EQ(b["action"], kSteps[i].action) << kSteps[i].at << ": " << b.dump();
    EXPECT_TRUE(b["reason"].get<std::string>().starts_with(kSteps[i].reason))
        << kSteps[i].at << ": " << b.dump();
    if (kSteps[i].action == "keep") kept.insert(ids[i]);
  }
  EXPECT_EQ(kept.size(), 13u);
  EXPECT_EQ(planned["expired"], nlohmann::json::array());
  EXPECT_EQ(planned["pitr_from_backup"], ids[13]);
  EXPECT_EQ(repo.Info()["backups"].size(), kSteps.size());  // the dry run removed nothing

  ProcessResult real = repo.Run(expire);
  ASSERT_EQ(real.exit_code, 0) << real.err;
  auto done = nlohmann::json::parse(real.out);
  EXPECT_EQ(done["backups"], planned["backups"]);
  EXPECT_EQ(done["wal_cut"], planned["wal_cut"]);
  std::set<std::string> expired;
  for (const auto& e : done["expired"]) expired.insert(e["id"].get<std::string>());
  EXPECT_EQ(expired, (std::set<std::string>{ids[0], ids[5], ids[11]}));

  ProcessResult info = repo.Run(With({"info", "--json"}, kPolicy));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto listed = nlohmann::json::parse(info.out);
  std::set<std::string> remaining;
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& b : listed["backups"]) {
    remaining.insert(b["id"].get<std::string>());
    by_id[b["id"].get<std::string>()] = b;
  }
  EXPECT_EQ(remaining, kept);
  std::set<std::string> stored;  // the backups whose manifest the store still holds
  for (const auto& [key, size] : repo.Objects("backups/"))
    if (auto id = repo::BackupIdFromManifestKey(key)) stored.insert(*id);
  EXPECT_EQ(stored, kept);
  EXPECT_EQ(by_id[ids[1]]["pinned"], true);
  EXPECT_EQ(by_id[ids[2]]["tiers"], nlohmann::json::array({"daily", "weekly", "monthly"}));
  EXPECT_EQ(by_id[ids[2]]["retention_date"], "2026-03-01T02:00:00.000000Z");
  EXPECT_EQ(by_id[ids[9]]["tiers"], nlohmann::json::array({"monthly"}));
  EXPECT_EQ(by_id[ids[13]]["tiers"], nlohmann::json::array());
  EXPECT_EQ(by_id[ids[13]]["retention_date"], nullptr);
  EXPECT_EQ(by_id[ids[15]]["pinned"], false);
  // The oldest kept backup's own WAL is the oldest still needed.
  EXPECT_EQ(done["wal_cut"], by_id[ids[1]]["start_wal"]);

  // A second run finds nothing more to expire.
  ProcessResult again = repo.Run(expire);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["expired"], nlohmann::json::array());

  TempDir target("restore");
  std::string pgdata = target.Sub("pgdata");
  ProcessResult restore = repo.Run({"restore", "--pgdata", pgdata, "--jobs", "2"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_TRUE(LastLine(restore.out).starts_with("restore of backup " + ids.back())) << restore.out;
  auto restored = PgCluster::Adopt(pgdata, {.env = repo.env()});
  restored->WaitForRecoveryEnd();
  EXPECT_EQ(restored->Scalar("SELECT count(*) FROM t"), std::to_string(kSteps.size()));
  restored->Stop();
}

INSTANTIATE_REPO_STORES(RetentionTest);

TEST(RetentionTest, ExpireWithoutAPolicyOrABackupIsRefusedWithAHint) {
  TestRepo repo(RepoCipher::kNone);
  ProcessResult r = repo.Run({"expire"});
  EXPECT_EQ(r.exit_code, kExitConfig) << r.err;
  EXPECT_EQ(ErrorText(r.err),
            "error: expire needs a retention policy or a backup to remove\n"
            "HINT: set retention-daily/-weekly/-monthly/-pitr (e.g. --retention-daily 30d) or "
            "pass --backup ID\n");
  r = repo.Run({"expire", "--retention-daily", "30 days"});
  EXPECT_EQ(r.exit_code, kExitConfig) << r.err;
  EXPECT_EQ(ErrorText(r.err),
            "error: bad --retention-daily '30 days'\n"
            "HINT: give a number and a unit: d (days), w (weeks), m (months), y (years), e.g. "
            "--retention-daily 30d\n");
  r = repo.Run({"info", "--retention-timezone", "Mars/Olympus"});
  EXPECT_EQ(r.exit_code, kExitConfig) << r.err;
  EXPECT_EQ(r.err.substr(0, r.err.find('\n')), "error: unknown time zone 'Mars/Olympus'");
  r = repo.Run({"backup", "pin", "--backup", "20250101-020000F"});
  EXPECT_EQ(r.exit_code, kExitNotFound) << r.err;
  r = repo.Run({"backup", "keep", "--backup", "20250101-020000F"});
  EXPECT_EQ(r.exit_code, kExitInvalidArgument) << r.err;
  EXPECT_EQ(ErrorText(r.err),
            "error: unknown backup action 'keep'\n"
            "HINT: use: pgvault backup pin|unpin --backup ID, or pgvault backup to take one\n");
}

}  // namespace
}  // namespace pgvault::test
