#include "pg/session.h"

#include <fmt/format.h>

#include "pg/libpq.h"

namespace pgvault::pg {

std::string ConnOptions::Describe() const {
  if (!conninfo.empty()) return "the --db database";
  return fmt::format("{}:{}", host.empty() ? "localhost" : host, port);
}

Result<std::unique_ptr<PgSession>> PgSession::Connect(const ConnOptions& options) {
  std::vector<std::pair<std::string, std::string>> params;
  if (options.conninfo.empty()) {
    params = {{"host", options.host},
              {"port", std::to_string(options.port)},
              {"user", options.user},
              {"dbname", options.dbname}};
  } else {
    params = {
        {"dbname", options.conninfo}};  // expanded: libpq defaults (PGPORT, ...) fill the rest
  }
  params.emplace_back("application_name", "pgvault");
  params.emplace_back("connect_timeout", "10");
  PGV_ASSIGN_OR_RETURN(const PqApi* pq, Pq());
  std::string msg;
  PGconn* conn = PqConnect(*pq, params, !options.conninfo.empty(), msg);
  if (!conn)
    return std::move(Status::Pg(fmt::format("cannot connect to PostgreSQL at '{}': {}",
                                            options.Describe(), msg)))
        .WithHint(options.conninfo.empty()
                      ? "is the cluster running? check --pg-host, --pg-port and --pg-user"
                      : "is the server running? check the connection string given as --db");
  return std::unique_ptr<PgSession>(new PgSession(conn, options));
}

// A session exists only once libpq loaded.
PgSession::~PgSession() { (*Pq())->finish(conn_); }

Result<std::vector<Row>> PgSession::Query(const std::string& sql,
                                          const std::vector<std::string>& params) {
  const PqApi* pq = *Pq();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* res = pq->exec_params(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
  return TakeRows(*pq, conn_, res, options_.Describe());
}

Result<std::string> PgSession::Scalar(const std::string& sql,
                                      const std::vector<std::string>& params) {
  PGV_ASSIGN_OR_RETURN(auto rows, Query(sql, params));
  if (rows.empty() || rows[0].empty() || !rows[0][0])
    return Status::Pg(
        fmt::format("PostgreSQL at '{}' returned no value for: {}", options_.Describe(), sql));
  return *rows[0][0];
}

}  // namespace pgvault::pg
