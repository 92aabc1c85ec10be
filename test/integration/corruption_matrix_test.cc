// The corruption matrix (issue 14, "Corruption"): every kind of repository object, damaged in
// every way storage or a person can damage it, must be detected by verify (non-zero exit, the
// object named), must leave info working, and must never make restore write a wrong byte: a
// restore either fails naming the object (its target empty or marked incomplete) or equals a
// restore from the pristine repository byte for byte.
//
// One source cluster (pgbench scale 1) with two backups and archived WAL around them per suite;
// each case damages a `cp -a` copy of that repository. CorruptionMatrixTest runs on an encrypted
// repository, CorruptionMatrixPlainTest on an unencrypted one (CRCs and keyed block ids), which
// also hosts the hostile-manifest cases (`../`, absolute paths, links leaving the target).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "exit_codes.h"
#include "pg_cluster.h"
#include "repo/manifest.h"
#include "repo/repository.h"
#include "storage/posix/posix_storage.h"
#include "suite_source.h"

namespace pgvault::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

enum class Obj {
  kPack,
  kManifest,
  kManifestPart,
  kKey,           // the key object the suite's passphrase opens
  kKeyRedundant,  // a second key object, for another passphrase
  kConfig,
  kCluster,
  kWalInRange,  // a segment of the newest backup's own start..stop range
  kWalBetween,  // a segment between the two backups
  kWalAfter,    // a segment after the newest backup's end
  kBackupFile,  // the newest backup's .backup history file
  kCatalog,     // the newest backup's verify record
};
enum class Dmg {
  kFlipFirst,
  kFlipMiddle,
  kFlipLast,
  kTruncHalf,
  kTruncOne,
  kDelete,
  kSwap,
  kOlder
};

const char* ObjName(Obj o) {
  switch (o) {
    case Obj::kPack:
      return "pack";
    case Obj::kManifest:
      return "manifest";
    case Obj::kManifestPart:
      return "manifest_part";
    case Obj::kKey:
      return "key";
    case Obj::kKeyRedundant:
      return "key_redundant";
    case Obj::kConfig:
      return "config";
    case Obj::kCluster:
      return "cluster";
    case Obj::kWalInRange:
      return "wal_in_range";
    case Obj::kWalBetween:
      return "wal_between";
    case Obj::kWalAfter:
      return "wal_after";
    case Obj::kBackupFile:
      return "backup_file";
    case Obj::kCatalog:
      return "catalog_record";
  }
  return "?";
}
const char* DmgName(Dmg d) {
  switch (d) {
    case Dmg::kFlipFirst:
      return "flip_first";
    case Dmg::kFlipMiddle:
      return "flip_middle";
    case Dmg::kFlipLast:
      return "flip_last";
    case Dmg::kTruncHalf:
      return "truncate_half";
    case Dmg::kTruncOne:
      return "truncate_one";
    case Dmg::kDelete:
      return "delete";
    case Dmg::kSwap:
      return "swap";
    case Dmg::kOlder:
      return "older";
  }
  return "?";
}

struct Case {
  Obj obj;
  Dmg dmg;
};

// An unencrypted repository has no key objects.
std::vector<Case> AllCases(bool with_keys) {
  std::vector<Case> out;
  for (Obj o : {Obj::kPack, Obj::kManifest, Obj::kManifestPart, Obj::kKey, Obj::kKeyRedundant,
                Obj::kConfig, Obj::kCluster, Obj::kWalInRange, Obj::kWalBetween, Obj::kWalAfter,
                Obj::kBackupFile, Obj::kCatalog})
    for (Dmg d : {Dmg::kFlipFirst, Dmg::kFlipMiddle, Dmg::kFlipLast, Dmg::kTruncHalf,
                  Dmg::kTruncOne, Dmg::kDelete, Dmg::kSwap, Dmg::kOlder}) {
      // config and cluster are single objects written once: nothing to swap or roll back to.
      bool single = o == Obj::kConfig || o == Obj::kCluster;
      if (single && (d == Dmg::kSwap || d == Dmg::kOlder)) continue;
      if (!with_keys && (o == Obj::kKey || o == Obj::kKeyRedundant)) continue;
      out.push_back({o, d});
    }
  return out;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("{}_{}", ObjName(info.param.obj), DmgName(info.param.dmg));
}

// Objects a restore of the newest backup cannot do without.
bool RestoreNeeds(Obj o, RepoCipher cipher) {
  switch (o) {
    case Obj::kPack:
    case Obj::kManifest:
    case Obj::kManifestPart:
    case Obj::kConfig:
    case Obj::kWalInRange:
      return true;
    case Obj::kKey:
      return cipher != RepoCipher::kNone;
    default:
      return false;
  }
}

// Whether the damage can be seen at all: a deleted catalog record reads as "never verified", a
// deleted spare key object as a key removed on purpose (docs: key-add, then delete the old one),
// a deleted .backup history file as one wal-stream never had (recovery does not read it).
bool Detectable(const Case& c) {
  if (c.dmg != Dmg::kDelete) return true;
  return c.obj != Obj::kCatalog && c.obj != Obj::kKeyRedundant && c.obj != Obj::kBackupFile;
}

// One line per case for the suite's closing table.
std::map<std::string, std::string>& Table() {
  static std::map<std::string, std::string> table;
  return table;
}

ProcessResult Pgvault(const TestRepo& base, const std::string& repo,
                      const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--repo", repo};
  all.insert(all.end(), args.begin(), args.end());
  Env env = base.env();
  return RunPgvault(all, env);
}

// Restored trees compare by content; postgresql.auto.conf names the repository it came from.
std::map<std::string, std::string> Comparable(const std::string& pgdata) {
  auto snap = TreeSnapshot(pgdata);
  snap.erase("postgresql.auto.conf");
  return snap;
}

template <RepoCipher kCipher>
class MatrixBase : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    repo_ = new TestRepo(kCipher);
    source_ = NewArchivingSource(*repo_);
    if (kCipher == RepoCipher::kPassphrase) {
      ProcessResult added =
          repo_->Run({"key-add"}, {"PGVAULT_NEW_PASSPHRASE=a second passphrase for the spares"});
      if (added.exit_code != 0) throw HarnessError("key-add failed: " + added.err);
    }
    source_->SwitchWalAndWaitArchived();
    old_id_ = BackupIdFromSummary(SuiteBackup(*repo_, *source_).out);
    std::this_thread::sleep_for(1100ms);  // backup ids have a resolution of one second
    // Two whole segments between the backups and three after the newest one.
    source_->RunPgbench({"-t", "200", "-n"});
    source_->SwitchWalAndWaitArchived();
    source_->Exec("CREATE TABLE after_old(n int)");
    source_->SwitchWalAndWaitArchived();
    new_id_ = BackupIdFromSummary(SuiteBackup(*repo_, *source_).out);
    for (int n = 1; n <= 3; ++n) {
      source_->Exec(fmt::format("INSERT INTO after_old VALUES ({})", n));
      source_->SwitchWalAndWaitArchived();
    }
    // Verify records for both backups (catalog objects), then the pristine restore.
    ProcessResult verified = repo_->Run({"verify"});
    if (verified.exit_code != 0) throw HarnessError("pristine verify failed: " + verified.out);
    pristine_ = new TempDir("pristine");
    ProcessResult restored =
        repo_->Run({"restore", "--pgdata", pristine_->Sub("pgdata"), "--backup", new_id_});
    if (restored.exit_code != 0) throw HarnessError("pristine restore failed: " + restored.err);
    pristine_snapshot_ = Comparable(pristine_->Sub("pgdata"));
    suite_start_ = std::chrono::steady_clock::now();
  }

  static void TearDownTestSuite() {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - suite_start_).count();
    std::string table = "object x damage -> verify | restore\n";
    for (const auto& [name, line] : Table()) table += fmt::format("  {:36} {}\n", name, line);
    ReportFigure(kCipher == RepoCipher::kNone ? "matrix_plain" : "matrix_encrypted", "\n" + table);
    ReportFigure("matrix_cases_seconds", fmt::format("{:.1f}", seconds));
    Table().clear();
    delete pristine_;
    delete source_;
    delete repo_;
  }

  // The repository key of the object a case damages, and another of the same kind (or "").
  std::pair<std::string, std::string> Pick(const std::string& repo, Obj o) {
    auto header = [&](const std::string& id) {
      auto opened = repo::Repository::Open(std::make_unique<storage::PosixStorage>(repo_->path()),
                                           {.passphrase = kTestPassphrase, .cache_kek = false});
      if (!opened.ok()) throw HarnessError(opened.status().ToString());
      auto h = (*opened)->ReadManifestHeader(id);
      if (!h.ok()) throw HarnessError(h.status().ToString());
      return *h;
    };
    auto wal = FilesUnder(repo, "wal/");
    auto segment = [&](const std::string& name) { return "wal/" + name.substr(0, 8) + "/" + name; };
    auto other_segment = [&](const std::string& not_this) {
      for (const auto& w : wal)
        if (w != not_this && w.size() == 4 + 9 + 24) return w;
      return std::string();
    };
    switch (o) {
      case Obj::kPack: {
        // The biggest pack the newest backup wrote (every block in it is the newest backup's;
        // pgbench touched most blocks of the old backup's packs).
        auto packs = FilesUnder(repo, "packs/");
        auto old_written = fs::last_write_time(repo + "/backups/" + old_id_ + "/manifest");
        std::sort(packs.begin(), packs.end(), [&](const auto& a, const auto& b) {
          bool a_new = fs::last_write_time(repo + "/" + a) > old_written;
          bool b_new = fs::last_write_time(repo + "/" + b) > old_written;
          if (a_new != b_new) return a_new;
          return fs::file_size(repo + "/" + a) > fs::file_size(repo + "/" + b);
        });
        return {packs.at(0), packs.at(1)};
      }
      case Obj::kManifest:
        return {"backups/" + new_id_ + "/manifest", "backups/" + old_id_ + "/manifest"};
      case Obj::kManifestPart:
        return {"backups/" + new_id_ + "/files.000000", "backups/" + old_id_ + "/files.000000"};
      case Obj::kKey:
      case Obj::kKeyRedundant: {
        auto keys = FilesUnder(repo, "keys/");
        if (keys.size() != 2) return {"", ""};
        // The suite's passphrase opens the older key object (repo-create wrote it).
        std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
          return fs::last_write_time(repo + "/" + a) < fs::last_write_time(repo + "/" + b);
        });
        return o == Obj::kKey ? std::pair{keys[0], keys[1]} : std::pair{keys[1], keys[0]};
      }
      case Obj::kConfig:
        return {"config", ""};
      case Obj::kCluster:
        return {"cluster", ""};
      case Obj::kWalInRange: {
        std::string w = segment(header(new_id_).start_wal);
        return {w, other_segment(w)};
      }
      case Obj::kWalBetween: {
        // After the old backup's own range (stop + 1), before the newest one's start.
        auto old_h = header(old_id_);
        auto new_h = header(new_id_);
        std::string after_old = segment(old_h.stop_wal);
        std::string before_new = segment(new_h.start_wal);
        std::vector<std::string> between;
        for (const auto& w : wal)
          if (w.size() == 4 + 9 + 24 && w > after_old && w < before_new) between.push_back(w);
        if (between.size() < 2) throw HarnessError("no WAL segment between the backups");
        return {between.back(), other_segment(between.back())};
      }
      case Obj::kWalAfter: {
        // After the newest backup's range, not the last one (its loss is a visible gap).
        std::string stop = segment(header(new_id_).stop_wal);
        std::vector<std::string> after;
        for (const auto& w : wal)
          if (w.size() == 4 + 9 + 24 && w > stop) after.push_back(w);
        if (after.size() < 3) throw HarnessError("too few WAL segments after the newest backup");
        return {after[1], other_segment(after[1])};
      }
      case Obj::kBackupFile: {
        std::string mine, other;
        for (const auto& w : wal) {
          if (!w.ends_with(".backup")) continue;
          if (w.find(header(new_id_).start_wal) != std::string::npos)
            mine = w;
          else
            other = w;
        }
        return {mine, other};
      }
      case Obj::kCatalog: {
        auto mine = FilesUnder(repo, "catalog/" + new_id_ + "/");
        auto other = FilesUnder(repo, "catalog/" + old_id_ + "/");
        if (mine.empty() || other.empty()) throw HarnessError("no verify records");
        return {mine[0], other[0]};
      }
    }
    return {"", ""};
  }

  static void Damage(const std::string& repo, const std::string& key, const std::string& other,
                     Dmg d) {
    DamageFile(repo + "/" + key, DmgName(d), other.empty() ? "" : repo + "/" + other);
  }

  void RunCase() {
    const Case c = GetParam();
    TempDir scratch("matrix");
    std::string repo = scratch.Sub("repo");
    CopyTree(repo_->path(), repo);
    auto [key, other] = Pick(repo, c.obj);
    if (key.empty()) GTEST_SKIP() << "no such object in this repository";
    if ((c.dmg == Dmg::kSwap || c.dmg == Dmg::kOlder) && other.empty())
      GTEST_SKIP() << "no second object of this kind";
    Damage(repo, key, other, c.dmg);
    // What the output must name: the object's key, or for a manifest header its backup.
    std::vector<std::string> names = {key};
    if (c.obj == Obj::kManifest) names.push_back(fmt::format("manifest of backup '{}'", new_id_));
    // A swap damages both objects: either may be the first one found.
    if (c.dmg == Dmg::kSwap) names.push_back(other);
    // A deleted object leaves no name behind: what is missing is said instead.
    if (c.dmg == Dmg::kDelete && c.obj == Obj::kManifest) {
      names.push_back(fmt::format("backup '{}' lost its manifest", new_id_));
      names.push_back(fmt::format("backup '{}' is not in repository", new_id_));
    }
    if (c.dmg == Dmg::kDelete && c.obj == Obj::kKey) names.push_back("no key object opens");
    // config is written last (repo-create, repo-sync): without it there is no repository.
    if (c.dmg == Dmg::kDelete && c.obj == Obj::kConfig) names.push_back("no pgvault repository at");
    if (c.obj == Obj::kWalInRange || c.obj == Obj::kWalBetween || c.obj == Obj::kWalAfter ||
        c.obj == Obj::kBackupFile)
      names.push_back(fs::path(key).filename().string());
    auto named = [&](const ProcessResult& r) {
      for (const auto& n : names)
        if (r.out.find(n) != std::string::npos || r.err.find(n) != std::string::npos) return true;
      return false;
    };
    std::string row;

    ProcessResult verify = Pgvault(*repo_, repo, {"verify"});
    bool v_named = named(verify);
    row += fmt::format("verify exit {} {}", verify.exit_code, v_named ? "named" : "NOT NAMED");
    EXPECT_GE(verify.exit_code, 0) << "verify crashed: " << verify.err;
    if (Detectable(c)) {
      EXPECT_NE(verify.exit_code, 0) << "verify missed the damage\n" << verify.out << verify.err;
      EXPECT_TRUE(v_named) << "verify does not name '" << key << "'\n" << verify.out << verify.err;
    }

    ProcessResult info = Pgvault(*repo_, repo, {"info", "--json"});
    EXPECT_GE(info.exit_code, 0) << "info crashed: " << info.err;
    EXPECT_LT(info.exit_code, 64) << info.err;
    if (info.exit_code != 0) {
      EXPECT_FALSE(info.err.empty()) << "info failed without a message";
    }
    if (c.obj == Obj::kManifest && c.dmg != Dmg::kDelete && info.exit_code == 0) {
      auto json = nlohmann::json::parse(info.out);
      bool listed_damaged = false;
      for (const auto& b : json["backups"])
        if (b["id"] == new_id_ && b["status"] == "damaged") listed_damaged = true;
      EXPECT_TRUE(listed_damaged) << info.out;
    }
    // Only objects needed to open the repository stop info; the rest it lists.
    if (c.obj != Obj::kConfig && c.obj != Obj::kKey && c.dmg != Dmg::kSwap) {
      EXPECT_EQ(info.exit_code, 0) << info.err;
    }
    if (c.obj == Obj::kCatalog && Detectable(c)) {
      EXPECT_TRUE(named(info)) << "info does not name the damaged record\n" << info.out;
    }
    row += fmt::format(" | info exit {}", info.exit_code);

    TempDir target("matrixrestore");
    std::string pgdata = target.Sub("pgdata");
    ProcessResult restore =
        Pgvault(*repo_, repo, {"restore", "--pgdata", pgdata, "--backup", new_id_});
    EXPECT_GE(restore.exit_code, 0) << "restore crashed: " << restore.err;
    if (restore.exit_code == 0) {
      // A pack's last bytes are its trailer, which restore does not read (manifests hold the
      // blocks' locations).
      bool trailer = c.obj == Obj::kPack && (c.dmg == Dmg::kFlipLast || c.dmg == Dmg::kTruncOne);
      EXPECT_TRUE(!RestoreNeeds(c.obj, kCipher) || trailer)
          << "restore succeeded without an object it needs\n"
          << restore.err;
      EXPECT_EQ(Comparable(pgdata), pristine_snapshot_) << "restore wrote different bytes";
      row += " | restore ok, equal";
    } else {
      bool r_named = named(restore);
      EXPECT_TRUE(r_named) << "restore's error does not name '" << key << "'\n" << restore.err;
      // Nothing that could start: no pg_control, or the incomplete marker.
      bool startable = fs::exists(pgdata + "/global/pg_control") &&
                       !fs::exists(pgdata + "/PGVAULT_RESTORE_INCOMPLETE");
      EXPECT_FALSE(startable) << "a failed restore left a startable directory";
      row +=
          fmt::format(" | restore exit {} {}", restore.exit_code, r_named ? "named" : "NOT NAMED");
    }
    Table()[fmt::format("{} x {}", ObjName(c.obj), DmgName(c.dmg))] = row;
  }

  static inline TestRepo* repo_ = nullptr;
  static inline PgCluster* source_ = nullptr;
  static inline TempDir* pristine_ = nullptr;
  static inline std::string old_id_, new_id_;
  static inline std::map<std::string, std::string> pristine_snapshot_;
  static inline std::chrono::steady_clock::time_point suite_start_;
};

class CorruptionMatrixTest : public MatrixBase<RepoCipher::kPassphrase> {};
class CorruptionMatrixPlainTest : public MatrixBase<RepoCipher::kNone> {};

TEST_P(CorruptionMatrixTest, DetectedNamedNeverWrongBytes) { RunCase(); }
TEST_P(CorruptionMatrixPlainTest, DetectedNamedNeverWrongBytes) { RunCase(); }

INSTANTIATE_TEST_SUITE_P(Objects, CorruptionMatrixTest, ::testing::ValuesIn(AllCases(true)),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(Objects, CorruptionMatrixPlainTest, ::testing::ValuesIn(AllCases(false)),
                         CaseName);

}  // namespace
}  // namespace pgvault::test
