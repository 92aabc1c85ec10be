// Object names: every name layout.h builds parses back to what built it, and names it did not
// build (or could not have built) are refused.
#include "repo/layout.h"

#include <gtest/gtest.h>

namespace pgvault::repo {
namespace {

constexpr std::string_view kId = "20261128-210423F";

TEST(LayoutTest, NamesAreStable) {
  EXPECT_EQ(*WalKey("000000010000000000000003"), "wal/00000001/000000010000000000000003");
  EXPECT_EQ(*WalKey("00000002.history"), "wal/00000002/00000002.history");
  EXPECT_EQ(*WalKey("000000010000000000000003.00000028.backup"),
            "wal/00000001/000000010000000000000003.00000028.backup");
  EXPECT_FALSE(WalKey("../etc/passwd"));
  EXPECT_FALSE(WalKey("00000001000000000000000g"));
  EXPECT_EQ(*BackupIdFromManifestKey("backups/20261128-210423F/manifest"), "20261128-210423F");
  EXPECT_FALSE(BackupIdFromManifestKey("backups/../manifest"));
  EXPECT_EQ(ManifestPartKey(kId, 3), "backups/20261128-210423F/files.000003");
  EXPECT_EQ(*WalTimelinePrefix("0000000A0000000000000003"), "wal/0000000A/");
  EXPECT_FALSE(WalTimelinePrefix("../../etc"));
}

TEST(LayoutTest, OnlyTheConfigAndKeyObjectsAreOwnerOnly) {
  EXPECT_TRUE(IsOwnerOnlyKey("config"));
  EXPECT_TRUE(IsOwnerOnlyKey(KeyFileKey("0123456789abcdef")));
  EXPECT_FALSE(IsOwnerOnlyKey("configx"));
  EXPECT_FALSE(IsOwnerOnlyKey("packs/00/0011"));
  EXPECT_FALSE(IsOwnerOnlyKey("locks/gc"));
}

TEST(LayoutTest, PackNamesRoundTrip) {
  PackId id;
  for (size_t byte_idx = 0; byte_idx < id.size(); ++byte_idx)
    id[byte_idx] = static_cast<uint8_t>(byte_idx * 17 + 3);
  std::string key = PackKey(id);
  EXPECT_EQ(key, "packs/03/031425364758697a8b9cadbecfe0f102");
  EXPECT_EQ(PackIdFromKey(key), id);
  for (std::string_view bad : {
           "packs/03/031425364758697a8b9cadbecfe0f1",      // short
           "packs/04/031425364758697a8b9cadbecfe0f102",    // wrong fan-out directory
           "packs/03/031425364758697a8b9cadbecfe0f10z",    // not hex
           "packs/03/031425364758697A8B9CADBECFE0F102",    // not the name PackKey builds
           "wal/03/031425364758697a8b9cadbecfe0f102",      // not under packs/
           "packs/03/031425364758697a8b9cadbecfe0f102.x",  // trailing junk
       })
    EXPECT_FALSE(PackIdFromKey(bad)) << bad;
}

TEST(LayoutTest, WalNamesRoundTrip) {
  for (std::string_view name : {"000000010000000000000003", "000000010000000000000003.partial",
                                "00000002.history", "000000010000000000000003.00000028.backup"}) {
    auto key = WalKey(name);
    ASSERT_TRUE(key) << name;
    EXPECT_EQ(WalNameFromKey(*key), std::string(name));
  }
  for (std::string_view bad : {
           "wal/00000002/000000010000000000000003",  // filed under another timeline
           "wal/000000010000000000000003",           // no timeline directory
           "wal/00000001/junk",
           "packs/00000001/000000010000000000000003",
           "wal/00000001/x/000000010000000000000003",
       })
    EXPECT_FALSE(WalNameFromKey(bad)) << bad;
}

TEST(LayoutTest, ManifestNamesRoundTrip) {
  auto manifest = ParseManifestObjectKey(ManifestKey(kId));
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->backup_id, kId);
  EXPECT_FALSE(manifest->part);
  for (uint32_t part : {0u, 7u, 999999u, 1000000u, 4294967295u}) {
    auto parsed = ParseManifestObjectKey(ManifestPartKey(kId, part));
    ASSERT_TRUE(parsed) << part;
    EXPECT_EQ(parsed->backup_id, kId);
    EXPECT_EQ(parsed->part, part);
  }
  for (std::string_view bad : {
           "backups/20261128-210423F/files.1",           // not the zero-padded name
           "backups/20261128-210423F/files.00000x",      // not a number
           "backups/20261128-210423F/files.",            // no number
           "backups/20261128-210423F/files.4294967296",  // past uint32
           "backups/20261128-210423F/manifest.old",
           "backups/20261128-210423F/",
           "backups/not-an-id/manifest",
           "backups/../manifest",
           "locks/20261128-210423F/manifest",
       })
    EXPECT_FALSE(ParseManifestObjectKey(bad)) << bad;
}

// Found by fuzz/names_fuzz.cc (crash-93e734ec): an object named like a backup directory, with no
// slash after the id, made ParseManifestObjectKey throw std::out_of_range (substr past the end),
// which terminated repo-sync when such a stray object was in the repository.
TEST(LayoutTest, ABackupDirectoryNameAloneIsNoManifestObject) {
  EXPECT_FALSE(ParseManifestObjectKey("backups/20261202-020546F"));
  EXPECT_EQ(BackupDirFromKey("backups/20261202-020546F"), "20261202-020546F");
}

TEST(LayoutTest, BackupDirectoryOfAnObject) {
  EXPECT_EQ(BackupDirFromKey(ManifestPartKey(kId, 1)), std::string(kId));
  EXPECT_EQ(BackupDirFromKey("backups/stray/file"), "stray");
  EXPECT_EQ(BackupDirFromKey("backups/lonely"), "lonely");
  EXPECT_FALSE(BackupDirFromKey("backups/"));
  EXPECT_FALSE(BackupDirFromKey("backups//x"));
  EXPECT_FALSE(BackupDirFromKey("packs/ab/cd"));
}

TEST(LayoutTest, EveryBuiltNameHasItsKind) {
  PackId id{};
  EXPECT_EQ(ClassifyKey(kConfigKey), ObjectKind::kConfig);
  EXPECT_EQ(ClassifyKey(kClusterKey), ObjectKind::kCluster);
  EXPECT_EQ(ClassifyKey(KeyFileKey("abc")), ObjectKind::kKey);
  EXPECT_EQ(ClassifyKey(PackKey(id)), ObjectKind::kPack);
  EXPECT_EQ(ClassifyKey(*WalKey("00000002.history")), ObjectKind::kWal);
  EXPECT_EQ(ClassifyKey(ManifestKey(kId)), ObjectKind::kManifest);
  EXPECT_EQ(ClassifyKey(ManifestPartKey(kId, 0)), ObjectKind::kBackup);
  EXPECT_EQ(ClassifyKey(BackupLockKey(kId)), ObjectKind::kLock);
  EXPECT_EQ(ClassifyKey(BackupLeaseKey(kId)), ObjectKind::kLock);
  EXPECT_EQ(ClassifyKey(ProbeKey(1764633600000000, 0xdeadbeef)), ObjectKind::kProbe);
  EXPECT_EQ(ProbeKey(1764633600000000, 0xdeadbeef), "probe/1764633600000000-deadbeef");
  EXPECT_EQ(ClassifyKey("configuration"), ObjectKind::kOther);
  EXPECT_EQ(ClassifyKey("README"), ObjectKind::kOther);
}

}  // namespace
}  // namespace pgvault::repo
