#include "pg/session.h"

#include <fmt/format.h>

namespace pgvault::pg {
namespace {

std::string FirstLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

}  // namespace

std::string ConnOptions::Describe() const {
  return fmt::format("{}:{}", host.empty() ? "localhost" : host, port);
}

Result<std::unique_ptr<PgSession>> PgSession::Connect(const ConnOptions& options) {
  std::string port = std::to_string(options.port);
  std::vector<const char*> keys, values;
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    keys.push_back(k);
    values.push_back(v.c_str());
  };
  add("host", options.host);
  add("port", port);
  add("user", options.user);
  add("dbname", options.dbname);
  add("application_name", std::string("pgvault"));
  add("connect_timeout", std::string("10"));
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 0);
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    std::string msg = FirstLine(conn ? PQerrorMessage(conn) : "out of memory");
    PQfinish(conn);
    return std::move(Status::Pg(fmt::format("cannot connect to PostgreSQL at '{}': {}",
                                            options.Describe(), msg)))
        .WithHint("is the cluster running? check --pg-host, --pg-port and --pg-user");
  }
  return std::unique_ptr<PgSession>(new PgSession(conn, options));
}

PgSession::~PgSession() { PQfinish(conn_); }

Result<std::vector<Row>> PgSession::Query(const std::string& sql,
                                          const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* res = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = FirstLine(res ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
    PQclear(res);
    return Status::Pg(fmt::format("PostgreSQL at '{}' failed: {}", options_.Describe(), msg));
  }
  std::vector<Row> rows;
  int nrows = PQntuples(res), ncols = PQnfields(res);
  for (int row_idx = 0; row_idx < nrows; ++row_idx) {
    Row row;
    for (int col_idx = 0; col_idx < ncols; ++col_idx) {
      if (PQgetisnull(res, row_idx, col_idx)) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(PQgetvalue(res, row_idx, col_idx), PQgetlength(res, row_idx, col_idx)));
    }
    rows.push_back(std::move(row));
  }
  PQclear(res);
  return rows;
}

Result<std::string> PgSession::Scalar(const std::string& sql, const std::vector<std::string>& params) {
  PGV_ASSIGN_OR_RETURN(auto rows, Query(sql, params));
  if (rows.empty() || rows[0].empty() || !rows[0][0])
    return Status::Pg(fmt::format("PostgreSQL at '{}' returned no value for: {}", options_.Describe(), sql));
  return *rows[0][0];
}

}  // namespace pgvault::pg
