// The one mapping between ManifestHeader and the manifest's JSON (manifest.cc).
#include <gtest/gtest.h>

#include <functional>

#include "repo/manifest.h"

namespace pgvault::repo {
namespace {

using nlohmann::json;

// A header as the first format (pgvault 0.1.0, before delta blocks and retention) wrote it.
json Format1Header() {
  return json::parse(R"({
    "backup_id": "20261128-120000F", "type": "full", "parent": null,
    "pgvault_version": "0.1.0", "pg_version": 150004, "system_identifier": "7312345678901234567",
    "timeline": 1, "start_lsn": "0/2000028", "stop_lsn": "0/2000138",
    "start_wal": "000000010000000000000002", "stop_wal": "000000010000000000000002",
    "wal_segment_size": 16777216,
    "start_time": "2026-11-28T12:00:00.000000Z", "stop_time": "2026-11-28T12:00:01.500000Z",
    "start_time_unix_micros": 1795867200000000, "stop_time_unix_micros": 1795867201500000,
    "block_size": 131072, "compression": "zstd", "cipher": "aes-256-gcm",
    "pgdata": "/var/lib/postgresql/15/main",
    "tablespaces": [{"oid": "16384", "location": "/srv/ts1"}],
    "backup_label": "START WAL LOCATION: 0/2000028\n", "tablespace_map": "16384 /srv/ts1\n",
    "stats": {"files": 970, "bytes_read": 23000000, "blocks": 1000, "zero_blocks": 10,
              "reused_blocks": 0, "new_blocks": 990, "bytes_new_raw": 22000000,
              "bytes_new": 3000000, "packs_written": 1, "files_vanished": 0,
              "duration_seconds": 1.5,
              "cpu_seconds": {"read": 0.1, "hash": 0.2, "compress": 0.3, "encrypt": 0.05,
                              "write": 0.01}},
    "parts": 1, "manifest_bytes": 40000})");
}

// Found by fuzz/names_fuzz.cc (crash-93e734ec): repo-sync checks every backups/ object with
// VerifyManifestObject; a stray object named "backups/<id>" terminated it (std::out_of_range).
TEST(ManifestHeaderTest, VerifyingAStrayBackupDirectoryObjectIsCorruption) {
  pipeline::Codec codec(std::nullopt, pipeline::Compression::kNone, 0);
  Status s = VerifyManifestObject(codec, "backups/20261202-020546F", AsBytes("x"));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "'backups/20261202-020546F' is not a manifest object");
}

TEST(ManifestHeaderTest, Format1HeaderReadsWithTheDocumentedDefaults) {
  auto h = ParseManifestHeader("20261128-120000F", Format1Header());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->backup_id, "20261128-120000F");
  EXPECT_FALSE(h->parent.has_value());
  EXPECT_EQ(h->pg_version, 150004);
  EXPECT_EQ(h->timeline, 1u);
  EXPECT_EQ(h->start_lsn, 0x2000028u);
  EXPECT_EQ(h->stop_lsn, 0x2000138u);
  EXPECT_EQ(h->wal_segment_size, 16u << 20);
  EXPECT_EQ(h->block_size, 131072u);
  ASSERT_EQ(h->tablespaces.size(), 1u);
  EXPECT_EQ(h->tablespaces[0].oid, "16384");
  EXPECT_EQ(h->tablespaces[0].location, "/srv/ts1");
  EXPECT_EQ(h->stats.files, 970u);
  EXPECT_DOUBLE_EQ(h->stats.duration_seconds, 1.5);
  EXPECT_DOUBLE_EQ(h->stats.cpu_seconds.compress, 0.3);
  EXPECT_EQ(h->parts, 1u);
  // Optional fields the first format lacks.
  EXPECT_EQ(h->stats.delta_blocks, 0u);
  EXPECT_EQ(h->retain_until, "");
  EXPECT_EQ(h->retain_until_unix, 0);
  EXPECT_FALSE(h->tiers.has_value());
  EXPECT_FALSE(ManifestHeaderToJson(*h).contains("tiers"));
}

TEST(ManifestHeaderTest, TiersRoundTripAndAreTyped) {
  json j = Format1Header();
  j["tiers"] = json::array({"daily", "monthly"});
  auto h = ParseManifestHeader("20261128-120000F", j);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_TRUE(h->tiers.has_value());
  EXPECT_EQ(*h->tiers, (std::vector<std::string>{"daily", "monthly"}));
  EXPECT_EQ(ManifestHeaderToJson(*h)["tiers"], j["tiers"]);
  h->tiers = std::vector<std::string>{};  // joined none: written as []
  EXPECT_EQ(ManifestHeaderToJson(*h)["tiers"], json::array());
  j["tiers"] = "daily";
  EXPECT_EQ(ParseManifestHeader("20261128-120000F", j).status().message(),
            "manifest of backup '20261128-120000F' is damaged: field 'tiers' is not an array");
  j["tiers"] = json::array({1});
  EXPECT_EQ(ParseManifestHeader("20261128-120000F", j).status().message(),
            "manifest of backup '20261128-120000F' is damaged: field 'tiers' is not an array of "
            "strings");
}

TEST(ManifestHeaderTest, RoundTripKeepsEveryFieldAndTheFormat1Keys) {
  auto h = ParseManifestHeader("20261128-120000F", Format1Header());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  h->parent = "20261127-120000F";
  h->stats.delta_blocks = 7;
  h->retain_until = "2027-01-01T00:00:00.000000Z";
  h->retain_until_unix = 1798761600;
  json j = ManifestHeaderToJson(*h);
  // Every key the first format wrote, with the same JSON types: old readers read new backups.
  json old = Format1Header();
  for (const auto& [key, value] : old.items()) {
    ASSERT_TRUE(j.contains(key)) << key;
    if (key != "parent") {  // null in the old header, a string here
      EXPECT_EQ(std::string(j[key].type_name()), value.type_name()) << key;
    }
  }
  for (const auto& [key, value] : old["stats"].items()) {
    ASSERT_TRUE(j["stats"].contains(key)) << key;
    EXPECT_EQ(std::string(j["stats"][key].type_name()), value.type_name()) << key;
  }
  EXPECT_EQ(j["start_lsn"], "0/2000028");
  EXPECT_EQ(j["parent"], "20261127-120000F");
  EXPECT_EQ(j["retain_until_unix"], 1798761600);
  auto back = ParseManifestHeader("20261128-120000F", j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ManifestHeaderToJson(*back), j);
  EXPECT_EQ(back->parent, "20261127-120000F");
  EXPECT_EQ(back->stats.delta_blocks, 7u);
  EXPECT_EQ(back->retain_until_unix, 1798761600);
  // Without retention the optional fields are not written, as before.
  h->retain_until_unix = 0;
  h->retain_until.clear();
  EXPECT_FALSE(ManifestHeaderToJson(*h).contains("retain_until"));
  EXPECT_FALSE(ManifestHeaderToJson(*h).contains("retain_until_unix"));
}

TEST(ManifestHeaderTest, PageChecksumFieldsAreOptionalAndRoundTrip) {
  auto h = ParseManifestHeader("20261128-120000F", Format1Header());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  // A header from before page checksums: nothing checked, nothing failed.
  EXPECT_FALSE(h->data_checksums);
  EXPECT_TRUE(h->page_checksum_errors.empty());
  EXPECT_EQ(h->stats.pages_checked, 0u);
  EXPECT_EQ(h->stats.pages_failed, 0u);
  h->data_checksums = true;
  h->stats.pages_checked = 120;
  h->stats.pages_failed = 1;
  h->page_checksum_errors.push_back(
      {.path = "base/5/16384", .block = 3, .stored = 51937, .computed = 1234});
  json j = ManifestHeaderToJson(*h);
  EXPECT_EQ(j["data_checksums"], true);
  EXPECT_EQ(j["page_checksum_errors"][0]["path"], "base/5/16384");
  EXPECT_EQ(j["page_checksum_errors"][0]["stored"], 51937);
  auto back = ParseManifestHeader("20261128-120000F", j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->data_checksums);
  EXPECT_EQ(back->stats.pages_checked, 120u);
  EXPECT_EQ(back->stats.pages_failed, 1u);
  ASSERT_EQ(back->page_checksum_errors.size(), 1u);
  EXPECT_EQ(back->page_checksum_errors[0].block, 3u);
  EXPECT_EQ(back->page_checksum_errors[0].computed, 1234u);
  j["page_checksum_errors"][0].erase("block");
  EXPECT_EQ(ParseManifestHeader("20261128-120000F", j).status().message(),
            "manifest of backup '20261128-120000F' is damaged: field "
            "'page_checksum_errors[0].block' is missing");
  j["data_checksums"] = "on";
  EXPECT_EQ(ParseManifestHeader("20261128-120000F", j).status().message(),
            "manifest of backup '20261128-120000F' is damaged: field 'data_checksums' is not true "
            "or false");
}

Status ParseWith(const std::function<void(json&)>& change) {
  json j = Format1Header();
  change(j);
  return ParseManifestHeader("20261128-120000F", j).status();
}

TEST(ManifestHeaderTest, AMissingRequiredFieldIsCorruptionNamingIt) {
  Status s = ParseWith([](json& j) { j.erase("wal_segment_size"); });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'wal_segment_size' is "
            "missing");
  s = ParseWith([](json& j) { j["stats"]["cpu_seconds"].erase("hash"); });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'stats.cpu_seconds.hash' is "
            "missing");
  s = ParseWith([](json& j) { j.erase("stats"); });
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'stats' is missing");
}

TEST(ManifestHeaderTest, AMistypedFieldIsCorruptionNamingIt) {
  Status s = ParseWith([](json& j) { j["timeline"] = "1"; });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'timeline' is not an integer "
            "in range");
  s = ParseWith([](json& j) { j["stats"]["bytes_read"] = -1; });
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'stats.bytes_read' is not an "
            "integer in range");
  s = ParseWith([](json& j) { j["stop_lsn"] = "later"; });
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'stop_lsn' is not an LSN");
  s = ParseWith([](json& j) { j["tablespaces"][0]["oid"] = 16384; });
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'tablespaces[0].oid' is not a "
            "string");
  s = ParseWith([](json& j) { j["wal_segment_size"] = 12345; });
  EXPECT_EQ(s.message(),
            "manifest of backup '20261128-120000F' is damaged: field 'wal_segment_size' is not a "
            "power of two from 1 MiB to 1 GiB");
  // An optional field that is present must still have its type.
  s = ParseWith([](json& j) { j["retain_until_unix"] = "soon"; });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("'retain_until_unix'"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace pgvault::repo
