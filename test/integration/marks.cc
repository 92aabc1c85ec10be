#include "marks.h"

#include <sys/stat.h>

#include "pg/session.h"

namespace pgvault::test {

std::vector<std::vector<std::string>> Restored::Query(const std::string& sql) {
  auto session = pg::PgSession::Connect({.host = "127.0.0.1", .port = port_, .user = "postgres"});
  if (!session.ok()) throw HarnessError(session.status().ToString());
  auto rows = (*session)->Query(sql);
  if (!rows.ok()) throw HarnessError(rows.status().ToString());
  std::vector<std::vector<std::string>> out;
  for (const auto& r : *rows) {
    std::vector<std::string> row;
    for (const auto& v : r) row.push_back(v.value_or(""));
    out.push_back(row);
  }
  return out;
}

void Restored::Stop() {
  struct stat st;
  if (::stat((pgdata_ + "/postmaster.pid").c_str(), &st) == 0)
    RunAsPostgres({std::string(kPgBin) + "/pg_ctl", "stop", "-s", "-m", "fast", "-D", pgdata_});
}

}  // namespace pgvault::test
