// Tables that stay and tables that go, sharing packs: what gc --repack is for. Used by the repack
// tests on posix (repack_test.cc) and on S3 (s3_repo_test.cc).
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "pg_cluster.h"

namespace pgvault::test {

// stay_<n> (1000 rows of random text, about 100 KB) and doomed_<n> (4000 rows) created in turn,
// frozen and checkpointed, so that one backup worker (--jobs 1) packs them side by side: every
// pack holds some of each.
inline void CreateMixedTables(PgCluster& pg, int pairs) {
  for (int pair = 0; pair < pairs; ++pair)
    for (auto [name, rows] : {std::pair{"stay", 1000}, std::pair{"doomed", 4000}})
      pg.Exec(
          fmt::format("CREATE TABLE {}_{} AS SELECT g, md5(random()::text) || "
                      "md5(random()::text) AS m FROM generate_series(1, {}) g",
                      name, pair, rows));
  pg.Exec("VACUUM FREEZE");
  pg.Exec("CHECKPOINT");
}

inline void DropDoomedTables(PgCluster& pg, int pairs) {
  for (int pair = 0; pair < pairs; ++pair) pg.Exec(fmt::format("DROP TABLE doomed_{}", pair));
  pg.Exec("CHECKPOINT");
}

inline std::vector<std::string> StayTables(int pairs) {
  std::vector<std::string> tables;
  for (int pair = 0; pair < pairs; ++pair) tables.push_back(fmt::format("stay_{}", pair));
  return tables;
}

}  // namespace pgvault::test
