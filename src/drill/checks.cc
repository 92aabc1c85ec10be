#include "drill/checks.h"

#include <fmt/format.h>
#include <unistd.h>

#include "common/time.h"
#include "config/forward.h"
#include "pg/session.h"
#include "restore/restore.h"

namespace pgvault::drill {
namespace {

using repo::DrillCheck;

pg::ConnOptions Conn(const ScratchServer& s, const std::string& db) {
  return {.host = s.socket_dir, .port = s.port, .user = s.user, .dbname = db};
}

DrillCheck Failed(std::string name, std::string value) {
  return {.name = std::move(name), .passed = false, .value = std::move(value)};
}

std::string Quoted(const std::string& ident) {
  std::string out = "\"";
  for (char c : ident) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + 1)
    out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

void RowCounts(pg::PgSession& session, const std::string& db, std::vector<DrillCheck>& out) {
  auto tables = session.Query(
      "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2");
  if (!tables.ok()) {
    out.push_back(Failed(fmt::format("tables {}", db), tables.status().message()));
    return;
  }
  for (const auto& t : *tables) {
    std::string table = Quoted(t[0].value_or("")) + "." + Quoted(t[1].value_or(""));
    std::string name = fmt::format("rows {}.{}.{}", db, t[0].value_or(""), t[1].value_or(""));
    double t0 = MonotonicSeconds();
    auto count = session.Scalar("SELECT count(*) FROM " + table);
    if (!count.ok()) {
      out.push_back(Failed(name, count.status().message()));
      continue;
    }
    out.push_back(
        {.name = name, .passed = true, .value = *count, .seconds = MonotonicSeconds() - t0});
  }
}

// Every foreign key, re-validated: rows of the referencing table whose key (all columns non-null,
// MATCH SIMPLE) has no referenced row.
void ForeignKeys(pg::PgSession& session, const std::string& db, std::vector<DrillCheck>& out) {
  auto fks = session.Query(
      "SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text, "
      "(SELECT string_agg(quote_ident(a.attname), E'\\x01' ORDER BY k.i) FROM unnest(c.conkey) "
      "WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), "
      "(SELECT string_agg(quote_ident(a.attname), E'\\x01' ORDER BY k.i) FROM unnest(c.confkey) "
      "WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) "
      "FROM pg_constraint c WHERE c.contype = 'f' ORDER BY 2, 1");
  if (!fks.ok()) {
    out.push_back(Failed(fmt::format("foreign keys {}", db), fks.status().message()));
    return;
  }
  for (const auto& fk : *fks) {
    std::string name =
        fmt::format("foreign key {}.{} on {}", db, fk[0].value_or(""), fk[1].value_or(""));
    auto from = Split(fk[3].value_or(""), '\x01'), to = Split(fk[4].value_or(""), '\x01');
    std::string not_null, join;
    for (size_t i = 0; i < from.size() && i < to.size(); ++i) {
      not_null += fmt::format("{}c.{} IS NOT NULL", i ? " AND " : "", from[i]);
      join += fmt::format("{}p.{} = c.{}", i ? " AND " : "", to[i], from[i]);
    }
    std::string sql = fmt::format(
        "SELECT count(*) FROM ONLY {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
        fk[1].value_or(""), not_null, fk[2].value_or(""), join);
    double t0 = MonotonicSeconds();
    auto violations = session.Scalar(sql);
    if (!violations.ok()) {
      out.push_back(Failed(name, violations.status().message()));
      continue;
    }
    bool ok = *violations == "0";
    out.push_back({.name = name,
                   .passed = ok,
                   .value = *violations,
                   .detail = ok ? "" : "rows without a referenced row",
                   .seconds = MonotonicSeconds() - t0});
  }
}

DrillCheck Roles(pg::PgSession& session) {
  auto roles = session.Scalar(
      "SELECT count(*) || ' (' || string_agg(rolname, ', ' ORDER BY rolname) || ')' FROM pg_roles "
      "WHERE rolname !~ '^pg_'");
  if (!roles.ok()) return Failed("roles", roles.status().message());
  return {.name = "roles", .passed = true, .value = *roles};
}

// pg_amcheck on every database's heaps and btree indexes (installs the amcheck extension in the
// scratch cluster); skipped when the program is not installed.
std::optional<DrillCheck> Amcheck(const ScratchServer& s) {
  std::string bin = restore::PgBin(s.pg_version, "pg_amcheck");
  if (bin.front() != '/' || ::access(bin.c_str(), X_OK) != 0) return std::nullopt;
  double t0 = MonotonicSeconds();
  auto run =
      restore::RunProgram({bin, "--all", "--install-missing", "--host", s.socket_dir, "--port",
                           std::to_string(s.port), "--username", s.user, "--no-password"},
                          "", config::SecretEnvNames());
  DrillCheck check{.name = "amcheck heaps and btree indexes"};
  check.seconds = MonotonicSeconds() - t0;
  if (!run.ok()) return Failed(check.name, run.status().message());
  check.passed = run->first == 0;
  std::string output = run->second.substr(0, 2000);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  check.value = check.passed ? "ok" : output.empty() ? fmt::format("exit {}", run->first) : output;
  return check;
}

}  // namespace

std::vector<DrillCheck> RunAutomaticChecks(const ScratchServer& server) {
  std::vector<DrillCheck> out;
  auto session = pg::PgSession::Connect(Conn(server, "postgres"));
  if (!session.ok()) return {Failed("connect postgres", session.status().message())};
  auto dbs = (*session)->Query("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1");
  if (!dbs.ok()) return {Failed("databases", dbs.status().message())};
  out.push_back(Roles(**session));
  for (const auto& row : *dbs) {
    std::string db = row[0].value_or("");
    double t0 = MonotonicSeconds();
    auto db_session = pg::PgSession::Connect(Conn(server, db));
    if (!db_session.ok()) {
      out.push_back(Failed("connect " + db, db_session.status().message()));
      continue;
    }
    out.push_back({.name = "connect " + db,
                   .passed = true,
                   .value = "ok",
                   .seconds = MonotonicSeconds() - t0});
    RowCounts(**db_session, db, out);
    ForeignKeys(**db_session, db, out);
  }
  if (auto amcheck = Amcheck(server)) out.push_back(std::move(*amcheck));
  return out;
}

std::vector<DrillCheck> RunUserChecks(const ScratchServer& server,
                                      const std::vector<UserCheck>& checks) {
  std::vector<DrillCheck> out;
  for (const auto& c : checks) {
    auto session = pg::PgSession::Connect(Conn(server, c.database));
    if (!session.ok()) {
      out.push_back(Failed(c.name, session.status().message()));
      continue;
    }
    double t0 = MonotonicSeconds();
    auto rows = (*session)->Query(c.sql);
    DrillCheck check{.name = c.name, .seconds = MonotonicSeconds() - t0};
    if (!rows.ok()) {
      out.push_back(Failed(c.name, rows.status().message()));
      continue;
    }
    check.value =
        rows->empty() || rows->front().empty() ? "no rows" : rows->front()[0].value_or("null");
    check.passed = true;
    std::vector<std::string> expected;
    if (c.expect) {
      expected.push_back("expected " + c.expect->Describe());
      check.passed = c.expect->Matches(check.value);
    }
    if (c.max_ms) {
      double ms = check.seconds * 1000;
      expected.push_back(fmt::format("within {:g} ms, took {:.1f} ms", *c.max_ms, ms));
      if (ms > *c.max_ms) check.passed = false;
    }
    for (const auto& e : expected) check.detail += (check.detail.empty() ? "" : "; ") + e;
    out.push_back(std::move(check));
  }
  return out;
}

}  // namespace pgvault::drill
