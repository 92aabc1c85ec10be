// Data page checksums (issue 11): backup checks every page of a cluster made with
// initdb --data-checksums, reports a page damaged on disk by file and block with its own exit
// code, keeps it in the manifest for info, and verify checks the pages it reads back.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"

namespace pgvault::test {
namespace {

// backup completed, but data pages failed their checksum (src/common/status.h, Code::kWarning)
constexpr int kExitWarning = 11;
constexpr uint64_t kPage = 8192;
constexpr uint64_t kDamagedBlock = 5;

// Overwrites 64 bytes in the middle of a page of a stopped cluster's file.
void WriteGarbage(const std::string& path, uint64_t block) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << path;
  f.seekp(static_cast<std::streamoff>(block * kPage + kPage / 2));
  std::string garbage(64, '\xAB');
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  ASSERT_TRUE(f.good());
}

// pd_checksum of a page as PostgreSQL stored it.
uint32_t StoredChecksum(const std::string& path, uint64_t block) {
  std::string data = ReadFile(path);
  uint16_t v = 0;
  std::memcpy(&v, data.data() + block * kPage + 8, sizeof v);
  return v;
}

TEST(PageChecksumTest, BackupReportsAPageDamagedOnDiskByFileAndBlock) {
  TestRepo repo(RepoCipher::kNone);
  auto pg = PgCluster::Create({.archive_command = repo.ArchiveCommand(), .env = repo.env()});
  ASSERT_EQ(pg->Scalar("SHOW data_checksums"), "on");
  // No autovacuum: nothing may read (or rewrite) the damaged page but the backup.
  pg->Exec("CREATE TABLE victim(id int, pad text) WITH (autovacuum_enabled = off)");
  pg->Exec("INSERT INTO victim SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g");
  pg->Exec("CHECKPOINT");
  const std::string rel = pg->Scalar("SELECT pg_relation_filepath('victim')");

  ProcessResult clean = repo.Backup(*pg);
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  nlohmann::json info = repo.Info();
  ASSERT_EQ(info["backups"].size(), 1u);
  EXPECT_EQ(info["backups"][0]["data_checksums"], true);
  EXPECT_GT(info["backups"][0]["pages_checked"].get<uint64_t>(), 100u);
  EXPECT_EQ(info["backups"][0]["pages_failed"], 0);
  EXPECT_TRUE(info["backups"][0]["page_checksum_errors"].empty());

  pg->Stop();
  const std::string file = pg->pgdata() + "/" + rel;
  WriteGarbage(file, kDamagedBlock);
  const uint32_t stored = StoredChecksum(file, kDamagedBlock);
  pg->Start();

  ProcessResult damaged = repo.Backup(*pg);
  ASSERT_EQ(damaged.exit_code, kExitWarning) << damaged.err;
  std::string id = BackupIdFromSummary(damaged.out);
  ASSERT_FALSE(id.empty()) << damaged.out;  // the backup completed
  EXPECT_NE(damaged.err.find(fmt::format("WARN: page checksum mismatch in '{}' block {}: stored {}",
                                         rel, kDamagedBlock, stored)),
            std::string::npos)
      << damaged.err;
  EXPECT_NE(ErrorText(damaged.err)
                .find(fmt::format("warning: backup {} is complete, but 1 data page failed its "
                                  "checksum (listed above; 'pgvault info' lists them)\n",
                                  id)),
            std::string::npos)
      << damaged.err;
  info = repo.Info();
  ASSERT_EQ(info["backups"].size(), 2u);
  const nlohmann::json& b = info["backups"][1];
  EXPECT_EQ(b["id"], id);
  EXPECT_EQ(b["pages_failed"], 1);
  ASSERT_EQ(b["page_checksum_errors"].size(), 1u);
  EXPECT_EQ(b["page_checksum_errors"][0]["path"], rel);
  EXPECT_EQ(b["page_checksum_errors"][0]["block"], kDamagedBlock);
  EXPECT_EQ(b["page_checksum_errors"][0]["stored"], stored);
  EXPECT_NE(b["page_checksum_errors"][0]["computed"], stored);
  ProcessResult text = repo.Run({"info"});
  EXPECT_NE(text.out.find(fmt::format("'{}' block {}: stored {}", rel, kDamagedBlock, stored)),
            std::string::npos)
      << text.out;

  // verify reads the pages back: the clean backup passes, the damaged one names the page.
  ProcessResult verify = repo.Run({"verify"});
  EXPECT_EQ(verify.exit_code, kExitCorruption) << verify.out;
  EXPECT_NE(verify.out.find(fmt::format("'{}': page checksum mismatch in block {}: stored {}", rel,
                                        kDamagedBlock, stored)),
            std::string::npos)
      << verify.out;
  ProcessResult verify_clean =
      repo.Run({"verify", "--backup", info["backups"][0]["id"].get<std::string>()});
  EXPECT_EQ(verify_clean.exit_code, 0) << verify_clean.out;
  EXPECT_NE(verify_clean.out.find(" page checksums verified"), std::string::npos)
      << verify_clean.out;

  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // ids have 1 s resolution
  ProcessResult off = repo.Backup(*pg, {"--checksum-page=off"});
  EXPECT_EQ(off.exit_code, 0) << off.err;
  info = repo.Info();
  ASSERT_EQ(info["backups"].size(), 3u);
  EXPECT_EQ(info["backups"][2]["data_checksums"], true);
  EXPECT_EQ(info["backups"][2]["pages_checked"], 0);
  EXPECT_EQ(info["backups"][2]["pages_failed"], 0);
}

}  // namespace
}  // namespace pgvault::test
