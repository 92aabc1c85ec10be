#include "info/info.h"

#include <fmt/format.h>

#include <map>

#include "pg/wal_names.h"
#include "repo/manifest.h"
#include "repo/wal_ranges.h"
#include "repo/wal_store.h"

namespace pgvault::info {

using nlohmann::json;

Result<json> CollectInfo(repo::Repository& repo) {
  const auto& params = repo.config().params;
  json out{{"repository", repo.Describe()},
           {"repo_id", repo.config().repo_id},
           {"cipher", params.encrypted ? "aes-256-gcm" : "none"},
           {"compression", pipeline::CompressionName(params.compression)},
           {"block_size", params.block_size}};
  PGV_ASSIGN_OR_RETURN(auto listed, repo.ListBackupHeaders());
  json backups = json::array();
  for (const auto& backup : listed) {
    const std::string& id = backup.id;
    if (!backup.intact()) {
      // Listed, so that it can be expired, but nothing from its manifest can be trusted.
      backups.push_back({{"id", id}, {"status", "damaged"}, {"reason", backup.damage}});
      continue;
    }
    const json& h = *backup.header;
    const json& s = h.value("stats", json::object());
    double read = s.value("bytes_read", 0.0), raw_new = s.value("bytes_new_raw", 0.0),
           stored_new = s.value("bytes_new", 0.0);
    backups.push_back({
        {"id", id},
        {"status", "ok"},
        {"type", h.value("type", "full")},
        {"parent", h.value("parent", json(nullptr))},
        {"start_time", h.value("start_time", "")},
        {"stop_time", h.value("stop_time", "")},
        {"start_lsn", h.value("start_lsn", "")},
        {"stop_lsn", h.value("stop_lsn", "")},
        {"start_wal", h.value("start_wal", "")},
        {"stop_wal", h.value("stop_wal", "")},
        {"timeline", h.value("timeline", 0)},
        {"pg_version", h.value("pg_version", 0)},
        {"system_identifier", h.value("system_identifier", "")},
        {"files", s.value("files", 0)},
        {"bytes_read", s.value("bytes_read", 0ull)},
        {"bytes_new", s.value("bytes_new", 0ull)},
        {"bytes_new_raw", s.value("bytes_new_raw", 0ull)},
        {"dedup_ratio", raw_new > 0 ? read / raw_new : 0.0},
        {"compression_ratio", stored_new > 0 ? raw_new / stored_new : 0.0},
        {"duration_seconds", s.value("duration_seconds", 0.0)},
        {"encrypted", h.value("cipher", "") != "none"},
        {"tablespaces", h.value("tablespaces", json::array())},
    });
  }
  out["backups"] = backups;

  // Timelines, their WAL ranges, and gaps from the oldest backup's first segment onwards.
  uint64_t segment_size = 16 << 20;
  PGV_ASSIGN_OR_RETURN(auto ranges, repo::DescribeArchive(repo, segment_size));
  json timelines_json = json::array();
  for (const auto& r : ranges) {
    json t{{"timeline", r.tli},
           {"first", r.first},
           {"last", r.last},
           {"segments", r.segments},
           {"missing_segments", r.missing},
           {"gaps", r.gaps}};
    if (r.parent) {
      t["parent_timeline"] = r.parent->tli;
      t["switch_lsn"] = pg::FormatLsn(r.parent->switch_lsn);
    }
    timelines_json.push_back(t);
  }
  out["timelines"] = timelines_json;

  PGV_ASSIGN_OR_RETURN(auto wal, repo.ListWal());
  std::map<uint32_t, json> timelines;
  for (const auto& w : wal) {
    uint32_t tl = pg::TimelineOfWalFile(w.name);
    json& t = timelines[tl];
    if (t.is_null()) t = {{"timeline", tl}, {"segments", 0}, {"bytes", 0ull}, {"history", false}};
    t["bytes"] = t["bytes"].get<uint64_t>() + w.stored_size;
    auto kind = pg::ClassifyWalFileName(w.name);
    if (kind == pg::WalFileKind::kHistory) {
      t["history"] = true;
      continue;
    }
    if (kind != pg::WalFileKind::kSegment) continue;
    if (!t.contains("first")) t["first"] = w.name;
    t["last"] = w.name;
    t["segments"] = t["segments"].get<int>() + 1;
  }
  json wal_json = json::array();
  for (auto& [tl, t] : timelines) wal_json.push_back(t);
  out["wal"] = wal_json;
  return out;
}

std::string FormatText(const json& info) {
  std::string out = fmt::format(
      "repository: {} (cipher {}, compression {}, block size {} KiB)\n",
      info["repository"].get<std::string>(), info["cipher"].get<std::string>(),
      info["compression"].get<std::string>(), info["block_size"].get<uint32_t>() / 1024);
  if (info["backups"].empty()) out += "no backups\n";
  for (const auto& b : info["backups"]) {
    if (b.value("status", "ok") == "damaged") {
      std::string id = b["id"].get<std::string>();
      out += fmt::format("backup {}: DAMAGED: {}\n  HINT: {}\n", id, b["reason"].get<std::string>(),
                         repo::DamagedBackupHint(id));
      continue;
    }
    out += fmt::format(
        "backup {} ({}): {} .. {}, lsn {} .. {}, timeline {}, {} files, {:.1f} MB read, {:.1f} MB "
        "new, dedup {:.1f}x, compression {:.1f}x\n",
        b["id"].get<std::string>(), b["type"].get<std::string>(),
        b["start_time"].get<std::string>(), b["stop_time"].get<std::string>(),
        b["start_lsn"].get<std::string>(), b["stop_lsn"].get<std::string>(),
        b["timeline"].get<int>(), b["files"].get<uint64_t>(), b["bytes_read"].get<uint64_t>() / 1e6,
        b["bytes_new"].get<uint64_t>() / 1e6, b["dedup_ratio"].get<double>(),
        b["compression_ratio"].get<double>());
  }
  for (const auto& t : info["timelines"]) {
    std::string branch;
    if (t.contains("parent_timeline"))
      branch = fmt::format(" (from timeline {} at {})", t["parent_timeline"].get<uint32_t>(),
                           t["switch_lsn"].get<std::string>());
    std::string gaps = "no gaps";
    if (t["missing_segments"].get<uint64_t>() > 0) {
      gaps = fmt::format("GAP: {} segments missing:", t["missing_segments"].get<uint64_t>());
      for (const auto& g : t["gaps"]) gaps += " " + g.get<std::string>();
    }
    out += fmt::format("wal timeline {}{}: {} segments, {} .. {}, {}\n",
                       t["timeline"].get<uint32_t>(), branch, t["segments"].get<uint64_t>(),
                       t["first"].get<std::string>().empty() ? "-" : t["first"].get<std::string>(),
                       t["last"].get<std::string>().empty() ? "-" : t["last"].get<std::string>(),
                       gaps);
  }
  return out;
}

}  // namespace pgvault::info
