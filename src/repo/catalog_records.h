// The typed bodies of catalog records (repo/catalog.h): what `verify` and `drill` write for a
// backup, each with one JSON mapping (docs/repository-format.md, "Verify and drill records").
// Shared by the commands that write them and by `info`, which shows the newest of each.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgvault::repo {

// One problem, by the object (file path, pack, WAL or manifest object) it was found in.
struct RecordProblem {
  std::string object;  // "" when the problem names no single object
  std::string message;
};

struct VerifyRecord {
  bool passed = false;
  std::string time;                  // when verify ran (UTC, ISO 8601)
  double seconds = 0;                // how long it took
  std::vector<std::string> checked;  // e.g. "manifest", "blocks", "wal", "pack indexes"
  double sample_percent = 100;       // share of blocks read (verify --sample)
  uint64_t files = 0, blocks = 0, bytes_read = 0;
  std::vector<RecordProblem> problems;
};

// One drill check: automatic ("connect postgres", "rows public.subjects", "foreign key ...",
// "amcheck", "roles") or from the --checks file (its name).
struct DrillCheck {
  std::string name;
  bool passed = false;
  std::string value;   // what was found: a count, a query's result, "ok"
  std::string detail;  // expectation or why it failed ("" when none)
  double seconds = 0;
};

struct DrillRecord {
  bool passed = false;
  std::string time;    // when the drill started (UTC, ISO 8601)
  std::string target;  // "end of the archived WAL", "time '...'", ...
  std::string failed;  // the first failed check and its value ("" when it passed)
  double restore_seconds = 0, replay_seconds = 0, checks_seconds = 0;
  double rto_seconds = 0;  // restore + replay: until the database was usable
  std::vector<DrillCheck> checks;
};

nlohmann::json VerifyRecordToJson(const VerifyRecord& record);
nlohmann::json DrillRecordToJson(const DrillRecord& record);
// kCorruption naming the backup and field for a missing or mistyped field.
Result<VerifyRecord> ParseVerifyRecord(std::string_view backup_id, const nlohmann::json& j);
Result<DrillRecord> ParseDrillRecord(std::string_view backup_id, const nlohmann::json& j);

// "'path': message" -> {path, message}; anything else -> {"", line}.
RecordProblem ProblemFromLine(const std::string& line);

}  // namespace pgvault::repo
