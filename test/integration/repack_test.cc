// gc --repack against a real PostgreSQL 15 on a posix repository: tables that stay and tables that
// are dropped share packs; once the backup that held the dropped ones is expired, gc --repack
// copies the live blocks out of the mostly dead packs and a gc after the grace period deletes
// them. The repository's pack bytes fall by the dead bytes of those packs, every kept backup
// (and one taken afterwards, which reuses blocks at their old locations) verifies and restores.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "mixed_tables.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

constexpr int kPairs = 30;

struct PackFiles {
  std::map<std::string, uint64_t> packs, redirects;  // file name -> size
};

PackFiles ListPackFiles(const TestRepo& repo) {
  PackFiles out;
  for (const std::string& rel : FilesUnder(repo.path(), "packs/")) {
    struct stat st {};
    if (::stat((repo.path() + "/" + rel).c_str(), &st) != 0) continue;
    (rel.find(".moved.") == std::string::npos ? out.packs : out.redirects)[rel] = st.st_size;
  }
  return out;
}

uint64_t Sum(const std::map<std::string, uint64_t>& files) {
  uint64_t total = 0;
  for (const auto& [name, size] : files) total += size;
  return total;
}

TEST(RepackTest, RepackFreesTheDeadBytesOfMixedPacksAndEveryBackupRestores) {
  TestRepo repo(RepoCipher::kPassphrase, {"--pack-size", "1"});
  auto source = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  CreateMixedTables(*source, kPairs);
  source->SwitchWalAndWaitArchived();
  ProcessResult first = repo.Backup(*source, {"--jobs", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  DropDoomedTables(*source, kPairs);
  ProcessResult second = repo.Backup(*source, {"--jobs", "1"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto expected = TableChecksums(*source, StayTables(kPairs));
  std::string first_id = BackupIdFromSummary(first.out),
              second_id = BackupIdFromSummary(second.out);
  ASSERT_EQ(repo.Run({"expire", "--backup", first_id, "--gc-grace", "864000"}).exit_code, 0);

  PackFiles before = ListPackFiles(repo);
  ProcessResult dry = repo.Run({"gc", "--repack", "--gc-grace", "0", "--dry-run", "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  ProcessResult repack = repo.Run({"gc", "--repack", "--gc-grace", "0", "--json"});
  ASSERT_EQ(repack.exit_code, 0) << repack.err;
  nlohmann::json r = nlohmann::json::parse(repack.out);
  nlohmann::json d = nlohmann::json::parse(dry.out);
  EXPECT_EQ(d["packs_repacked"], r["packs_repacked"]);
  EXPECT_EQ(d["bytes_freeable"], r["bytes_freeable"]);
  uint64_t held_alone = r["bytes"].get<uint64_t>() - r["bytes_referenced"].get<uint64_t>();
  uint64_t freeable = r["bytes_freeable"].get<uint64_t>();
  EXPECT_GT(r["packs_repacked"].get<uint64_t>(), 0u) << repack.out;
  EXPECT_GT(r["redirects_written"].get<uint64_t>(), 0u) << repack.out;
  EXPECT_EQ(r["packs_deleted"].get<uint64_t>(), 0u);  // nothing before the next run
  EXPECT_NE(ReadFile(repo.path() + "/config").find("\"format\": 2"), std::string::npos);
  // verify between the runs: the old packs are still there; the new ones hold the same blocks
  // (verify checks every redirect against them).
  ProcessResult verify_between = repo.Run({"verify"});
  EXPECT_EQ(verify_between.exit_code, 0) << verify_between.out << verify_between.err;

  ProcessResult gc = repo.Run({"gc", "--gc-grace", "0", "--json"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  nlohmann::json g = nlohmann::json::parse(gc.out);
  PackFiles after = ListPackFiles(repo);
  uint64_t written = 0, removed = 0;
  for (const auto& [name, size] : after.packs)
    if (!before.packs.count(name)) written += size;
  for (const auto& [name, size] : before.packs)
    if (!after.packs.count(name)) removed += size;
  ReportFigure("gc --repack", repack.out);
  ReportFigure("pack bytes before gc", std::to_string(Sum(before.packs)));
  ReportFigure("pack bytes after gc --repack and gc", std::to_string(Sum(after.packs)));
  ReportFigure("pack bytes no backup referenced (plain gc frees these)",
               std::to_string(held_alone));
  ReportFigure("pack bytes of repacked packs (freeable)", std::to_string(freeable));
  ReportFigure("pack bytes written by repack (live blocks + trailers)", std::to_string(written));
  ReportFigure("dead bytes of repacked packs freed", std::to_string(freeable - written));
  ReportFigure("redirect objects / bytes",
               fmt::format("{} / {}", after.redirects.size(), Sum(after.redirects)));
  EXPECT_EQ(removed, held_alone + freeable);
  EXPECT_EQ(g["bytes_deleted"].get<uint64_t>(), removed);
  EXPECT_EQ(Sum(after.packs), Sum(before.packs) - held_alone - freeable + written);
  EXPECT_GE(written, r["bytes_copied"].get<uint64_t>());
  EXPECT_GT(freeable, written) << "the repacked packs were mostly dead";
  EXPECT_EQ(after.redirects.size(), r["redirects_written"].get<size_t>());

  // A backup after the repack reuses its parent's blocks at their old locations.
  source->Exec("CREATE TABLE later AS SELECT g FROM generate_series(1, 1000) g");
  source->SwitchWalAndWaitArchived();
  ProcessResult third = repo.Backup(*source);
  ASSERT_EQ(third.exit_code, 0) << third.err;
  std::string third_id = BackupIdFromSummary(third.out);
  ProcessResult verify = repo.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("verify: OK (2 backups"), std::string::npos) << verify.out;
  for (const std::string& id : {second_id, third_id}) {
    TempDir target("restore");
    std::string pgdata = target.Sub("pgdata");
    ProcessResult restore = repo.Run({"restore", "--pgdata", pgdata, "--backup", id});
    ASSERT_EQ(restore.exit_code, 0) << restore.err;
    ReportFigure("restore of " + id + " after repack", LastLine(restore.out));
    auto restored = PgCluster::Adopt(pgdata, {.env = repo.env()});
    restored->WaitForRecoveryEnd();
    EXPECT_EQ(TableChecksums(*restored, StayTables(kPairs)), expected) << id;
    restored->Stop();
  }
  // Nothing is left to repack, delete or mark.
  ProcessResult settled = repo.Run({"gc", "--repack", "--gc-grace", "0", "--json"});
  ASSERT_EQ(settled.exit_code, 0) << settled.err;
  nlohmann::json s = nlohmann::json::parse(settled.out);
  EXPECT_EQ(s["packs_repacked"].get<uint64_t>(), 0u) << settled.out;
  EXPECT_EQ(s["packs_deleted"].get<uint64_t>(), 0u) << settled.out;

  // Corruption of redirect objects (issue 14's matrix, for the object kind repack adds): each
  // damage on a copy of the repository; verify fails naming the redirect, restore of the
  // backup whose blocks moved fails naming it (or the pack it stands for) and leaves nothing
  // startable, or writes exactly the pristine bytes.
  TempDir pristine("pristine");
  ASSERT_EQ(
      repo.Run({"restore", "--pgdata", pristine.Sub("pgdata"), "--backup", second_id}).exit_code,
      0);
  auto comparable = [](const std::string& pgdata) {
    auto snap = TreeSnapshot(pgdata);
    snap.erase("postgresql.auto.conf");
    return snap;
  };
  auto pristine_snapshot = comparable(pristine.Sub("pgdata"));
  std::vector<std::string> redirects;
  for (const auto& [name, size] : ListPackFiles(repo).redirects) redirects.push_back(name);
  ASSERT_FALSE(redirects.empty());
  int cases = 0, detected = 0;
  for (const std::string damage : {"flip_first", "flip_middle", "flip_last", "truncate_half",
                                   "truncate_one", "delete", "swap", "older"}) {
    SCOPED_TRACE("redirect x " + damage);
    if ((damage == "swap" || damage == "older") && redirects.size() < 2) continue;
    TempDir scratch("redirect-damage");
    std::string copy = scratch.Sub("repo");
    CopyTree(repo.path(), copy);
    const std::string& key = redirects[0];
    std::string path = copy + "/" + key, other = copy + "/" + redirects[1 % redirects.size()];
    DamageFile(path, damage, other);
    // The old pack a redirect stands for is named by its id (the key without ".moved.N"). A
    // swap also takes the other redirect away: a read of its old pack may fail first.
    auto old_pack_of = [](const std::string& redirect) {
      std::string name = std::filesystem::path(redirect).filename().string();
      return name.substr(0, name.find('.'));
    };
    const std::string& other_key = redirects[1 % redirects.size()];
    auto named = [&](const ProcessResult& r) {
      for (const std::string& n : {key, old_pack_of(key), other_key, old_pack_of(other_key)})
        if (r.out.find(n) != std::string::npos || r.err.find(n) != std::string::npos) return true;
      return false;
    };
    std::vector<std::string> flags = {"--repo", copy};
    auto run = [&](std::vector<std::string> args) {
      args.insert(args.begin(), flags.begin(), flags.end());
      return RunPgvault(args, repo.env());
    };
    ++cases;
    ProcessResult v = run({"verify"});
    EXPECT_NE(v.exit_code, 0) << "verify missed the damage\n" << v.out;
    EXPECT_TRUE(named(v)) << "verify does not name '" << key << "'\n" << v.out << v.err;
    ProcessResult info = run({"info", "--json"});
    EXPECT_EQ(info.exit_code, 0) << info.err;
    TempDir target("redirect-restore");
    std::string pgdata = target.Sub("pgdata");
    ProcessResult r = run({"restore", "--pgdata", pgdata, "--backup", second_id});
    if (r.exit_code == 0) {
      EXPECT_EQ(comparable(pgdata), pristine_snapshot) << "restore wrote different bytes";
    } else {
      EXPECT_TRUE(named(r)) << "restore's error does not name '" << key << "'\n" << r.err;
      EXPECT_FALSE(std::filesystem::exists(pgdata + "/global/pg_control") &&
                   !std::filesystem::exists(pgdata + "/PGVAULT_RESTORE_INCOMPLETE"))
          << "a failed restore left a startable directory";
    }
    if (v.exit_code != 0 && named(v)) ++detected;
  }
  ReportFigure("redirect corruptions detected / tried", fmt::format("{} / {}", detected, cases));
}

}  // namespace
}  // namespace pgvault::test
