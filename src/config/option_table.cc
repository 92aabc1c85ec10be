#include "config/option_table.h"

#include <algorithm>
#include <iterator>

#include "config/option_rows.h"

namespace pgvault::config {
namespace {
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

Type TypeOf(const OptionSpec& spec) {
  switch (spec.field.index()) {
    case 0:
      return Type::kString;
    case 4:
      return Type::kBool;
    case 5:
      return Type::kList;
    default:
      return Type::kInt;
  }
}

std::string EnvName(std::string_view option) {
  std::string env = "PGVAULT_";
  for (char c : option) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

const std::vector<CommandSpec>& CommandTable() {
  using C = Command;
  static const std::vector<CommandSpec> kCommands = {
      {C::kRepoCreate, "repo-create", "create a repository (encrypted unless --cipher none)", "",
       0},
      {C::kBackup, "backup",
       "back up a running cluster into the repository (pin|unpin --backup ID: keep one always)",
       "[pin|unpin]", 1},
      {C::kRestore, "restore", "restore a backup into an empty directory, ready to recover", "", 0},
      {C::kArchivePush, "archive-push", "archive_command: store one WAL file (PATH)", "PATH", 1},
      {C::kArchiveGet, "archive-get", "restore_command: fetch WAL file NAME into DEST", "NAME DEST",
       2},
      {C::kInfo, "info", "list backups and archived WAL", "", 0},
      {C::kCheck, "check",
       "health checks: archiving reaches the repository, lag, disk space, repository writable", "",
       0},
      {C::kVerify, "verify", "read back every block and WAL file (of one backup with --backup ID)",
       "", 0},
      {C::kKeyAdd, "key-add", "add a passphrase or key file that unlocks the repository", "", 0},
      {C::kRepoSync, "repo-sync", "copy what replica --to lacks from replica --from, verifying it",
       "", 0},
      {C::kExpire, "expire",
       "remove the backups the retention policy lets go (or one: --backup ID) and their data", "",
       0},
      {C::kHold, "hold", "set|clear a legal hold on everything a backup (--backup ID) needs",
       "set|clear", 1},
      {C::kDrill, "drill",
       "restore a backup into a scratch cluster, start it, run checks, record the RTO", "", 0},
      {C::kGc, "gc",
       "delete packs no backup needs: those a gc marked at least --gc-grace seconds ago", "", 0},
      {C::kCatalogExport, "catalog-export",
       "write every backup into table backup_catalog of a PostgreSQL database (--db)", "", 0},
      {C::kDaemon, "daemon",
       "run scheduled backups, verify, expire and drills for the clusters in --config; serve "
       "/metrics",
       "", 0},
      {C::kWalStream, "wal-stream",
       "receive WAL from the server over a replication slot into the repository (sub-second RPO)",
       "", 0},
      {C::kVersion, "version", "print the version", "", 0},
  };
  return kCommands;
}

const std::vector<OptionSpec>& OptionTable() {
  static const std::vector<OptionSpec> kTable = BuildOptionTable();
  return kTable;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const auto& c : CommandTable())
    if (c.name == name) return &c;
  return nullptr;
}

const OptionSpec* FindOption(std::string_view name) {
  for (const auto& o : OptionTable())
    if (o.name == name) return &o;
  return nullptr;
}

bool Takes(const OptionSpec& spec, Command command) { return (spec.commands & Bit(command)) != 0; }

std::string NearestName(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_distance = 3;
  for (auto c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance || (best.empty() && word.size() >= 3 && c.starts_with(word)))
      best_distance = std::min(d, best_distance), best = c;
  }
  return std::string(best);
}

std::vector<std::string_view> CommandNames() {
  std::vector<std::string_view> out;
  for (const auto& c : CommandTable()) out.push_back(c.name);
  return out;
}

std::vector<std::string_view> OptionNames() {
  std::vector<std::string_view> out;
  for (const auto& o : OptionTable()) out.push_back(o.name);
  return out;
}

}  // namespace pgvault::config
